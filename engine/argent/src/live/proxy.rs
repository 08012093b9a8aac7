//! An open proxy: the object's [`Session`] registered with the node's object driver
//! ([`super::driver`]), which feeds it its group's deliveries and fences and publishes its
//! frames; the proxy's handle reads the state and submits updates. Nothing here decides
//! anything about the protocol.

use super::binding::{lock, member_keys, new_origin, not_member, publish};
use super::driver::{Core, Driven, RegionPublisher, Settled};
use super::durable::{data_dir, DurableStats, Store};
use super::error::LiveError;
use super::options::{LiveStats, OpenOptions, PUBLISH_WAIT};
use super::watch::{self, AsyncWatch, Offer, WatchSender};
use crate::error::Error;
use crate::membership::GroupLease;
use crate::node::Node;
use argent_objects::durable::Durability;
use argent_objects::object::{LiveObject, Position, Proxy, RequestId, Stamp, Stamped};
use argent_objects::reference::ObjectId;
use argent_objects::session::{Persist, Session, SessionConfig, SessionEvent, Transmit};
use argent_runtime::{AnyPublisher, Fencer, GroupId, PublishError};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Changes a watcher may have unread before further ones are dropped for it (and counted in
/// [`LiveStats::watch_lagged`]): the driver never waits for a watcher, and memory stays
/// bounded; the state itself is never affected.
const WATCH_QUEUE: usize = 65_536;
/// How long an opener waits for the driver beyond the join's own timeout.
const OPEN_GRACE: Duration = Duration::from_secs(5);

/// Where a watcher's changes go.
enum Watcher<C> {
    Blocking(SyncSender<C>),
    Async(WatchSender<C>),
}

/// A submitter waiting for the change its own update makes ([`Live::submit_wait`]).
struct Awaiter<C> {
    stamp: Stamp,
    matches: fn(&C, Stamp) -> bool,
    tx: SyncSender<C>,
}

/// A proxy's part shared between its handle and the driver.
struct Shared<O: LiveObject> {
    id: ObjectId,
    group: GroupId,
    origin: u64,
    session: Mutex<Session<O>>,
    /// The region's publisher (lock order: it, then `session`).
    publisher: RegionPublisher,
    fencer: Fencer,
    watchers: Mutex<Vec<Watcher<O::Change>>>,
    watch_lagged: AtomicU64,
    /// Where the end of the join goes (the opener waits for it).
    opened: Mutex<Option<SyncSender<Result<(), LiveError>>>>,
    /// A frame failed to publish for a reason other than room (logged once).
    publish_failing: AtomicBool,
    /// The session panicked in the driver: it is dropped there (the state may be half
    /// updated; the handle still reads it).
    broken: AtomicBool,
    /// Where the join's state came from (a [`StateSource`] as `u8`).
    source: AtomicU8,
    /// Submitters waiting for their update's change.
    awaiting: Mutex<Vec<Awaiter<O::Change>>>,
    /// A durable object's replica on this node's disk (written by the driver only).
    store: Option<Box<Mutex<Store>>>,
}

/// Where an open proxy's state came from ([`Live::state_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSource {
    /// A member's checkpoint: the object was held by some process.
    Checkpoint,
    /// Nobody held the object: the initial state. An object that is not durable lives only
    /// while some process holds it, so what this proxy writes lasts only as long as it (or
    /// a proxy opened meanwhile) stays open.
    Initial,
    /// Nobody held the object, a durable one: the state the disk kept (of the proxies that
    /// held it last, closed or crashed).
    Stored,
}

impl StateSource {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => StateSource::Initial,
            2 => StateSource::Stored,
            _ => StateSource::Checkpoint,
        }
    }
}

/// An open proxy of a live object on a node.
pub struct Live<O: LiveObject> {
    shared: Arc<Shared<O>>,
    core: Arc<Core>,
    key: u64,
    /// The proxy's hold on its group (through the GMS): released once unregistered.
    _lease: Option<GroupLease>,
}

impl<O: LiveObject> std::fmt::Debug for Live<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("id", &self.shared.id).field("group", &self.shared.group).finish()
    }
}

/// Opens the object `id` carried by `group`: registers a joining session with the node's
/// object driver (which subscribes to the group's region first) and waits for the join.
pub(super) fn open<O>(
    node: &Node,
    id: ObjectId,
    group: GroupId,
    lease: Option<GroupLease>,
    durable: bool,
    options: OpenOptions,
) -> Result<Live<O>, LiveError>
where
    O: LiveObject + 'static,
    O::State: Send,
    O::Op: Send,
    O::Change: Clone + Send,
{
    let core = node.objects.core(node.id().0)?;
    let members = node.group_members(group).ok_or(not_member(group))?;
    let fencer = node.runtime.fencer(group).map_err(Error::from)?;
    let origin = new_origin(node.id().0);
    // A durable object: this proxy's replica, and the state the disk holds (rebuilt before
    // any traffic).
    let (store, stored) = match durable {
        true => {
            let (store, stored) = Store::open::<O>(&data_dir(options.data_dir.as_deref()), id, origin)?;
            (Some(Box::new(Mutex::new(store))), stored.map(|s| (s.checkpoint, s.position)))
        }
        false => (None, None),
    };
    let durability = Durability { log_limit: options.log_limit, stored };
    let (tx, rx) = sync_channel(1);
    let mut shared = None;
    let region = fencer.region();
    let key = core.add(&node.runtime, group, members.clone(), region, |publisher| {
        let max_message = lock(publisher).max_message();
        let cfg =
            SessionConfig { join_timeout: options.join_timeout, max_message, ..SessionConfig::default() };
        let now = core.now();
        let mut session = Session::<O>::join(id, options.key, origin, cfg, now);
        if store.is_some() {
            session = session.with_durability(durability);
        }
        session.handle_members(now, &member_keys(&members));
        let s = Arc::new(Shared {
            id,
            group,
            origin,
            session: Mutex::new(session),
            publisher: publisher.clone(),
            fencer,
            watchers: Mutex::new(Vec::new()),
            watch_lagged: AtomicU64::new(0),
            opened: Mutex::new(Some(tx)),
            publish_failing: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            source: AtomicU8::new(0),
            awaiting: Mutex::new(Vec::new()),
            store,
        });
        shared = Some(s.clone());
        s
    })?;
    let shared = shared.expect("made by add");
    let outcome = rx.recv_timeout(options.join_timeout + OPEN_GRACE);
    match outcome {
        Ok(Ok(())) => Ok(Live { shared, core, key, _lease: lease }),
        Ok(Err(e)) => {
            shared.close_store();
            Err(e)
        }
        Err(_) => {
            core.remove(key);
            shared.close_store();
            Err(LiveError::DriverStopped { id })
        }
    }
}

/// What a durable session asks to keep, in order, and the updates its state then includes
/// (the position's total): nothing for an object that is not durable.
fn to_persist<O: LiveObject>(session: &mut Session<O>) -> (Vec<Persist>, u64) {
    let persist = std::iter::from_fn(|| session.poll_persist()).collect();
    (persist, session.proxy().map_or(0, |p| p.position().total()))
}

impl<O: LiveObject> Shared<O> {
    /// A durable proxy closes: what it applied and did not write yet is written and synced,
    /// and its replica is closed (its lock freed) before this returns, so an open that
    /// follows reads every update this proxy applied, and a replica nobody writes any more.
    /// The driver may still hold the session for a turn: it writes nothing after this.
    fn close_store(&self) {
        let Some(store) = &self.store else { return };
        let mut store = lock(store);
        if !self.broken.load(Ordering::Relaxed) {
            let (persist, total) = to_persist(&mut lock(&self.session));
            store.write(persist, total);
        }
        store.close();
    }

    /// Runs `f` on the session for the driver; a panic in it (the object's own code) marks
    /// the session broken instead of stopping the driver.
    fn guarded(&self, f: impl FnOnce(&mut Session<O>)) {
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let mut session = lock(&self.session);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut session))).is_err() {
            self.broken.store(true, Ordering::Relaxed);
            tracing::error!(object = %self.id, "the object's session panicked: this proxy no longer follows the object");
        }
    }

    /// Tells the opener how the join ended (once).
    fn opened(&self, outcome: Result<(), LiveError>) {
        if let Some(tx) = lock(&self.opened).take() {
            let _ = tx.try_send(outcome);
        }
    }

    /// Carries out one transmit; a frame that cannot go now is put back, first in line.
    fn carry_out(&self, t: Transmit, p: &mut AnyPublisher, wait: Option<Duration>) -> Result<(), LiveError> {
        match t {
            Transmit::Publish(frame) => {
                let r = match wait {
                    Some(wait) => publish(p, self.group, self.id, &frame, wait),
                    None => p.publish_to(self.group, &frame).map_err(|e| match e {
                        PublishError::WouldBlock => LiveError::Stalled { id: self.id },
                        source => LiveError::Publish { id: self.id, source },
                    }),
                };
                if r.is_err() {
                    lock(&self.session).requeue_transmit(Transmit::Publish(frame));
                }
                r
            }
            Transmit::RequestFences { key, nonce } => {
                Ok(self.fencer.request(key, nonce).map_err(Error::from)?)
            }
        }
    }

    /// Publishes what the session has to send. Every transmit is taken from the session
    /// under the publisher's lock (held by the caller), so frames go out in the order the
    /// session made them; the session's lock is taken only to take a frame.
    fn transmit_with(&self, p: &mut AnyPublisher, wait: Option<Duration>) -> Result<(), LiveError> {
        loop {
            let next = lock(&self.session).poll_transmit();
            let Some(t) = next else { return Ok(()) };
            self.carry_out(t, p, wait)?;
        }
    }

    /// Hands `changes` to every watcher that has room (never waits for one).
    fn notify(&self, changes: &mut Vec<O::Change>)
    where
        O::Change: Clone,
    {
        {
            let mut awaiting = lock(&self.awaiting);
            if !awaiting.is_empty() {
                for change in changes.iter() {
                    if let Some(i) = awaiting.iter().position(|a| (a.matches)(change, a.stamp)) {
                        let _ = awaiting.swap_remove(i).tx.try_send(change.clone());
                    }
                }
            }
        }
        let mut watchers = lock(&self.watchers);
        for change in changes.drain(..) {
            watchers.retain(|w| {
                let offer = match w {
                    Watcher::Blocking(tx) => match tx.try_send(change.clone()) {
                        Ok(()) => Offer::Taken,
                        Err(TrySendError::Full(_)) => Offer::Full,
                        Err(TrySendError::Disconnected(_)) => Offer::Gone,
                    },
                    Watcher::Async(tx) => tx.offer(change.clone()),
                };
                match offer {
                    Offer::Taken => true,
                    Offer::Full => {
                        self.watch_lagged.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    Offer::Gone => false,
                }
            });
        }
    }
}

impl<O> Driven for Shared<O>
where
    O: LiveObject,
    O::State: Send,
    O::Op: Send,
    O::Change: Clone + Send,
{
    fn object(&self) -> u128 {
        self.id.0
    }

    fn origin(&self) -> u64 {
        self.origin
    }

    fn message(&self, now: argent_core::Instant, node: u32, msg: &[u8]) {
        self.guarded(|s| s.handle_message(now, node, msg));
    }

    fn fence(&self, now: argent_core::Instant, request: RequestId, node: u32) {
        self.guarded(|s| s.handle_fence(now, request, node));
    }

    fn members(&self, now: argent_core::Instant, keys: &[u32]) {
        self.guarded(|s| s.handle_members(now, keys));
    }

    fn timers(&self, now: argent_core::Instant) {
        self.guarded(|s| {
            if s.poll_timeout().is_some_and(|due| due <= now) {
                s.handle_timeout(now);
            }
        });
    }

    fn settle(&self) -> Settled {
        let mut changes = Vec::new();
        let (mut joined, mut failed) = (None, None);
        // A durable object: its store is held from taking the records to writing them, so
        // a close ([`Shared::close_store`]) finds each batch either on disk or still in the
        // session (lock order: the store, then the session).
        let mut store = self.store.as_ref().map(|s| lock(s));
        let mut restored_unused = false;
        let (joining, pending, (persist, total)) = {
            let mut session = lock(&self.session);
            while let Some(e) = session.poll_event() {
                match e {
                    SessionEvent::Changed(c) => changes.push(c),
                    SessionEvent::Problem(p) => {
                        tracing::warn!(object = %self.id, problem = %p, "live object")
                    }
                    SessionEvent::Joined { initial, stored, .. } => {
                        let source = match (initial, stored) {
                            (true, _) => StateSource::Initial,
                            (_, true) => StateSource::Stored,
                            _ => StateSource::Checkpoint,
                        };
                        self.source.store(source as u8, Ordering::Relaxed);
                        // What the disk held was not used: a member's state was newer.
                        restored_unused = !stored;
                        joined = Some(());
                    }
                    SessionEvent::Failed(e) => failed = Some(LiveError::join(self.id, e)),
                }
            }
            let persisted = to_persist(&mut session);
            (!session.is_member() && failed.is_none(), session.pending_transmits() > 0, persisted)
        };
        // A durable object: on disk (synced) before anyone hears of the changes or the join.
        if let Some(store) = store.as_mut() {
            if restored_unused {
                store.stats.restored = 0;
            }
            store.write(persist, total);
        }
        drop(store);
        if self.broken.load(Ordering::Relaxed) && failed.is_none() {
            failed = Some(LiveError::Broken { id: self.id });
        }
        if !changes.is_empty() {
            self.notify(&mut changes);
        }
        let failed = match (failed, joined) {
            (Some(e), _) => {
                self.opened(Err(e));
                true
            }
            (None, Some(())) => {
                self.opened(Ok(()));
                false
            }
            (None, None) => false,
        };
        Settled { joining, failed, pending }
    }

    fn transmit(&self) -> bool {
        // Never wait for the application: a writer may hold the publisher while it waits
        // for room, or read the state while it submits to another object.
        let mut publisher = match self.publisher.try_lock() {
            Ok(p) => p,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        let r = loop {
            let next = match self.session.try_lock() {
                Ok(mut s) => s.poll_transmit(),
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().poll_transmit(),
                Err(std::sync::TryLockError::WouldBlock) => return false,
            };
            let Some(t) = next else { break Ok(()) };
            if let Err(e) = self.carry_out(t, &mut publisher, None) {
                break Err(e);
            }
        };
        match r {
            Ok(()) => {
                self.publish_failing.store(false, Ordering::Relaxed);
                true
            }
            Err(LiveError::Stalled { .. }) => false,
            Err(e) => {
                if !self.publish_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(object = %self.id, error = %e, "a frame of the object's session was not published: retrying");
                }
                false
            }
        }
    }

    fn abandon(&self) {
        self.opened(Err(LiveError::DriverStopped { id: self.id }));
    }
}

impl<O: LiveObject> Live<O> {
    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.shared.id
    }

    /// Where the state this proxy joined with came from: a member's checkpoint, or the
    /// initial state because nobody held the object.
    pub fn state_source(&self) -> StateSource {
        StateSource::from_u8(self.shared.source.load(Ordering::Relaxed))
    }

    /// A durable object's disk counters (`None` if the object is not durable).
    pub fn durable_stats(&self) -> Option<DurableStats> {
        self.shared.store.as_ref().map(|s| lock(s).stats)
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
        let r = s.transmit_with(&mut publisher, Some(PUBLISH_WAIT));
        if r.is_err() {
            // The frame waits in the session, first in line: the driver publishes it.
            self.core.pending(self.key);
        }
        r
    }

    /// Sends `op` and waits, up to `timeout`, until this proxy applies it; returns the
    /// change it made, which says what became of it (a conditional decrement applied or
    /// refused, a lock granted or not: decided at apply time, alike at every replica on the
    /// total-order driver). A durable object's update is on this node's disk by then.
    pub fn submit_wait(&self, op: O::Op, timeout: Duration) -> Result<O::Change, LiveError>
    where
        O::Change: Stamped,
    {
        let s = &self.shared;
        let (tx, rx) = sync_channel(1);
        let mut publisher = lock(&s.publisher);
        let stamp = {
            let mut session = lock(&s.session);
            let stamp = session.submit_stamped(op).map_err(|e| LiveError::submit(s.id, e))?;
            let matches: fn(&O::Change, Stamp) -> bool = |c, stamp| c.stamp() == stamp;
            lock(&s.awaiting).push(Awaiter { stamp, matches, tx });
            stamp
        };
        match s.transmit_with(&mut publisher, Some(PUBLISH_WAIT.min(timeout))) {
            Ok(()) => {}
            // The frame waits in the session, first in line: the driver publishes it.
            Err(LiveError::Stalled { .. }) => self.core.pending(self.key),
            Err(e) => {
                self.core.pending(self.key);
                lock(&s.awaiting).retain(|a| a.stamp != stamp);
                return Err(e);
            }
        }
        drop(publisher);
        rx.recv_timeout(timeout).map_err(|_| {
            lock(&s.awaiting).retain(|a| a.stamp != stamp);
            LiveError::Unconfirmed { id: s.id, waited: timeout }
        })
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
        lock(&self.shared.watchers).push(Watcher::Blocking(tx));
        rx
    }

    /// [`Live::watch`] for async programs: `watch.changed().await` gives every change applied
    /// from now on, in order, and `None` once this proxy is dropped (the same 65 536-change
    /// queue; with the feature `stream`, a `futures_core::Stream`).
    pub fn watch_async(&self) -> AsyncWatch<O::Change> {
        let (tx, rx) = watch::channel(WATCH_QUEUE);
        lock(&self.shared.watchers).push(Watcher::Async(tx));
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
        // The driver forgets the session; the lease (dropped next) leaves the group.
        self.core.remove(self.key);
        self.shared.close_store();
        for w in lock(&self.shared.watchers).drain(..) {
            if let Watcher::Async(tx) = w {
                tx.close();
            }
        }
    }
}
