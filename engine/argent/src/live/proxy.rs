//! An open proxy: the object's [`Session`] bound to the node — a publisher for its frames,
//! a subscription (with fences) for its group, the region's members — with a delivery
//! thread once joined. Nothing here decides anything about the protocol.

use super::binding::{lock, member_keys, new_origin, not_member, publish};
use super::error::LiveError;
use super::options::{LiveStats, OpenOptions};
use crate::error::Error;
use crate::membership::GroupLease;
use crate::node::Node;
use argent_objects::object::{LiveObject, Position, Proxy};
use argent_objects::reference::ObjectId;
use argent_objects::session::{Session, SessionConfig, SessionEvent, Transmit};
use argent_runtime::{Delivery, GroupId, GroupMembers, Publisher, Subscription};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Changes a watcher may have unread before further ones are dropped for it (and counted in
/// [`LiveStats::watch_lagged`]): the delivery thread never waits for a watcher, and memory
/// stays bounded; the state itself is never affected.
const WATCH_QUEUE: usize = 65_536;
/// A proxy's publish ring, bytes: an object publishes little, and a message may still take
/// half of it (as much as a datagram holds).
pub(super) const OBJECT_PUBLISH_RING: usize = 128 << 10;
/// A proxy's delivery ring, datagrams (its thread drains it as they come).
pub(super) const OBJECT_DELIVERY_RING: usize = 256;
/// The longest a joiner waits for a delivery before it looks at its timers again.
const JOIN_POLL: Duration = Duration::from_millis(20);
/// The longest the delivery thread waits before it looks at the region's members again.
const SERVE_POLL: Duration = Duration::from_millis(50);

struct Shared<O: LiveObject> {
    id: ObjectId,
    group: GroupId,
    /// Lock order: `publisher`, then `session` (never the other way round).
    session: Mutex<Session<O>>,
    publisher: Mutex<Publisher>,
    watchers: Mutex<Vec<SyncSender<O::Change>>>,
    watch_lagged: AtomicU64,
    stop: AtomicBool,
    epoch: std::time::Instant,
}

/// An open proxy of a live object on a node.
pub struct Live<O: LiveObject> {
    shared: Arc<Shared<O>>,
    thread: Option<JoinHandle<()>>,
    /// The proxy's hold on its group (through the GMS): released after the thread stops.
    _lease: Option<GroupLease>,
}

impl<O: LiveObject> std::fmt::Debug for Live<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("id", &self.shared.id).field("group", &self.shared.group).finish()
    }
}

/// The session's clock: time since the proxy was opened.
fn now(epoch: std::time::Instant) -> argent_core::Instant {
    argent_core::Instant::from_nanos(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// Opens the object `id` carried by `group`: subscribe first, then join through a session.
pub(super) fn open<O>(
    node: &Node,
    id: ObjectId,
    group: GroupId,
    lease: Option<GroupLease>,
    options: OpenOptions,
) -> Result<Live<O>, LiveError>
where
    O: LiveObject + 'static,
    O::State: Send,
    O::Op: Send,
    O::Change: Clone + Send,
{
    // Subscribe before asking: every update from here on is buffered while joining.
    let mut sub =
        node.runtime.subscribe_sized(&[group], OBJECT_DELIVERY_RING).map_err(Error::from)?.with_fences();
    let mut publisher = node.runtime.publisher_sized(group, OBJECT_PUBLISH_RING).map_err(Error::from)?;
    let members = node.group_members(group).ok_or(not_member(group))?;
    let epoch = std::time::Instant::now();
    let cfg = SessionConfig {
        join_timeout: options.join_timeout,
        max_message: publisher.max_message(),
        ..SessionConfig::default()
    };
    let origin = new_origin(node.id().0);
    let mut session = Session::<O>::join(id, options.key, origin, cfg, now(epoch));
    session.handle_members(now(epoch), &member_keys(&members));
    let mut binding = Binding { id, group, publisher: &mut publisher, node: Some(node) };
    join(&mut session, &mut sub, &members, &mut binding, epoch)?;
    let shared = Arc::new(Shared {
        id,
        group,
        session: Mutex::new(session),
        publisher: Mutex::new(publisher),
        watchers: Mutex::new(Vec::new()),
        watch_lagged: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        epoch,
    });
    let s = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name(format!("argent-live-{id}"))
        .spawn(move || serve(&s, sub, &members))
        .map_err(LiveError::Thread)?;
    Ok(Live { shared, thread: Some(thread), _lease: lease })
}

/// Where a session's transmits go: the group's publisher and, while joining, the node that
/// asks its region for fences.
struct Binding<'a> {
    id: ObjectId,
    group: GroupId,
    publisher: &'a mut Publisher,
    node: Option<&'a Node>,
}

impl Binding<'_> {
    fn carry_out(&mut self, t: Transmit) -> Result<(), LiveError> {
        match t {
            Transmit::Publish(frame) => publish(self.publisher, self.id, &frame),
            Transmit::RequestFences { key, nonce } => match self.node {
                Some(node) => Ok(node.request_fences(self.group, key, nonce)?),
                None => {
                    tracing::error!(object = %self.id, "a member asked for fences: ignored");
                    Ok(())
                }
            },
        }
    }
}

/// Hands one delivery to the session: its messages of the group, then its fences, once
/// the region's current members are known to the session.
fn feed<O: LiveObject>(
    session: &mut Session<O>,
    d: &Delivery,
    members: &GroupMembers,
    epoch: std::time::Instant,
) {
    let t = now(epoch);
    let node = d.sender_node().0;
    for (_, m) in d.group_messages() {
        session.handle_message(t, node, m);
    }
    let mut fences = d.fences().peekable();
    if fences.peek().is_some() {
        session.handle_members(t, &member_keys(members));
        for request in fences {
            session.handle_fence(t, request, node);
        }
    }
}

/// Logs a problem the session reports.
fn report(id: ObjectId, p: &argent_objects::session::Problem) {
    tracing::warn!(object = %id, problem = %p, "live object");
}

/// Drive the session until it has joined.
fn join<O: LiveObject>(
    session: &mut Session<O>,
    sub: &mut Subscription,
    members: &GroupMembers,
    binding: &mut Binding<'_>,
    epoch: std::time::Instant,
) -> Result<(), LiveError> {
    let id = binding.id;
    loop {
        while let Some(t) = session.poll_transmit() {
            binding.carry_out(t)?;
        }
        let mut joined = false;
        while let Some(e) = session.poll_event() {
            match e {
                SessionEvent::Joined { .. } => joined = true,
                SessionEvent::Failed(e) => return Err(LiveError::join(id, e)),
                SessionEvent::Problem(p) => report(id, &p),
                SessionEvent::Changed(_) => {} // nobody watches yet
            }
        }
        if joined {
            while let Some(t) = session.poll_transmit() {
                binding.carry_out(t)?;
            }
            return Ok(());
        }
        let t = now(epoch);
        let wait = match session.poll_timeout() {
            Some(due) if due <= t => {
                session.handle_timeout(t);
                continue;
            }
            Some(due) => (due - t).min(JOIN_POLL),
            None => JOIN_POLL,
        };
        match sub.recv_timeout(wait) {
            Some(d) => feed(session, &d, members, epoch),
            None => session.handle_members(now(epoch), &member_keys(members)),
        }
    }
}

/// Carry out what a member's session asks (answers, promises, refusals). Every transmit is
/// taken from the session under the publisher's lock, so frames go out in the order the
/// session made them.
fn transmit<O: LiveObject>(s: &Shared<O>) -> Result<(), LiveError> {
    let mut publisher = lock(&s.publisher);
    transmit_with(s, &mut publisher)
}

/// [`transmit`] with the publisher's lock held. The session's lock is taken only to take a
/// frame (the delivery thread keeps delivering while publishing waits for room), and a frame
/// that could not be published goes back to the session, first in line: a numbered update
/// is never dropped, so receivers never see a gap.
fn transmit_with<O: LiveObject>(s: &Shared<O>, publisher: &mut Publisher) -> Result<(), LiveError> {
    let mut binding = Binding { id: s.id, group: s.group, publisher, node: None };
    loop {
        let next = lock(&s.session).poll_transmit();
        let Some(t) = next else { return Ok(()) };
        if let Err(e) = binding.carry_out(t.clone()) {
            lock(&s.session).requeue_transmit(t);
            return Err(e);
        }
    }
}

/// The proxy's delivery loop: hand every delivery to the session, changes to watchers, and
/// the session's frames to the group.
fn serve<O: LiveObject>(s: &Shared<O>, mut sub: Subscription, members: &GroupMembers)
where
    O::Change: Clone,
{
    let mut changes = Vec::new();
    while !s.stop.load(Ordering::Acquire) {
        let d = sub.recv_timeout(SERVE_POLL);
        if d.is_none() && sub.is_closed() {
            return;
        }
        {
            let mut session = lock(&s.session);
            match &d {
                Some(d) => feed(&mut session, d, members, s.epoch),
                // Members that left are not waited for.
                None => session.handle_members(now(s.epoch), &member_keys(members)),
            }
            while let Some(e) = session.poll_event() {
                match e {
                    SessionEvent::Changed(c) => changes.push(c),
                    SessionEvent::Problem(p) => report(s.id, &p),
                    SessionEvent::Joined { .. } | SessionEvent::Failed(_) => {}
                }
            }
        }
        if !changes.is_empty() {
            notify(s, &mut changes);
        }
        // Only take the publisher's lock with something to publish (a writer may hold it,
        // waiting for room, and deliveries must go on meanwhile).
        let pending = lock(&s.session).pending_transmits() > 0;
        if let Err(e) = if pending { transmit(s) } else { Ok(()) } {
            tracing::warn!(object = %s.id, error = %e, "a frame for joiners was not published");
        }
    }
}

/// Hands `changes` to every watcher that has room (never waits for one).
fn notify<O: LiveObject>(s: &Shared<O>, changes: &mut Vec<O::Change>)
where
    O::Change: Clone,
{
    let mut watchers = lock(&s.watchers);
    for change in changes.drain(..) {
        watchers.retain(|w| match w.try_send(change.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.watch_lagged.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }
}

impl<O: LiveObject> Live<O> {
    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.shared.id
    }

    /// This proxy's origin (its identity in stamps and positions).
    pub fn origin(&self) -> u64 {
        lock(&self.shared.session).origin()
    }

    /// Runs `f` on the proxy (an open proxy has joined: `open` returns only then).
    fn with_proxy<R>(&self, f: impl FnOnce(&Proxy<O>) -> R) -> R {
        let session = lock(&self.shared.session);
        f(session.proxy().expect("an open proxy's session is a member: open returns only once joined"))
    }

    /// Sends `op` into the object's group; it is applied (here too) when delivered back.
    /// With [`LiveError::Stalled`] the update stays queued and goes out, in order, once the
    /// group accepts messages again.
    pub fn submit(&self, op: O::Op) -> Result<(), LiveError> {
        let s = &self.shared;
        // Under the publisher's lock: the proxy's sequence numbers are published in order.
        let mut publisher = lock(&s.publisher);
        lock(&s.session).submit(op).map_err(|e| LiveError::submit(s.id, e))?;
        transmit_with(s, &mut publisher)
    }

    /// Reads the replicated state.
    pub fn read<R>(&self, f: impl FnOnce(&O::State) -> R) -> R {
        self.with_proxy(|p| f(p.state()))
    }

    /// The state's checkpoint bytes (equal at proxies that applied the same updates).
    pub fn checkpoint(&self) -> Result<Vec<u8>, LiveError> {
        self.with_proxy(Proxy::checkpoint).map_err(|source| LiveError::Object { id: self.shared.id, source })
    }

    /// Which updates the state includes.
    pub fn position(&self) -> Position {
        self.with_proxy(|p| p.position().clone())
    }

    /// Every change applied from now on, in the order this proxy applies them (a watcher
    /// that falls 65 536 changes behind misses the next ones, counted in
    /// [`LiveStats::watch_lagged`]; read the state for the truth).
    pub fn watch(&self) -> Receiver<O::Change> {
        let (tx, rx) = sync_channel(WATCH_QUEUE);
        lock(&self.shared.watchers).push(tx);
        rx
    }

    /// Counters.
    pub fn stats(&self) -> LiveStats {
        let s = lock(&self.shared.session).stats();
        LiveStats {
            proxy: s.proxy,
            rejected: s.rejected,
            checkpoints_sent: s.checkpoints_sent,
            watch_lagged: self.shared.watch_lagged.load(Ordering::Relaxed),
        }
    }
}

impl<O: LiveObject> Drop for Live<O> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
