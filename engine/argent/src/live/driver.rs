//! The node's object driver: one thread that serves every open proxy of the node, so a
//! cheap object costs no thread of its own. It holds one subscription per region that
//! carries open objects (woken through one [`SharedWait`]), hands each delivery to the
//! sessions it is for through the shipped [`Demux`] (frames by object id, fences by the
//! requester's origin), runs the joiners' timers, refreshes the regions' members, and
//! publishes the sessions' frames through one publisher per region (a region that pushes
//! back holds up no other region's objects) without ever waiting for room or for a lock:
//! a frame that does not fit, or a session or publisher busy with the application, goes
//! out on a later turn. A session that panics is dropped; the others go on.
//!
//! Opening registers a session (which then joins, driven here) and waits for the driver
//! to say it joined or failed; dropping the proxy unregisters it. Nothing here decides
//! anything about the protocol.

use super::binding::{lock, member_keys};
use super::error::LiveError;
use argent_objects::object::RequestId;
use argent_objects::session::Demux;
use argent_runtime::{AnyPublisher, GroupId, GroupMembers, RegionId, Runtime, SharedWait, Subscription};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The publish ring of a region's objects, per shard, bytes (a message may take half).
const OBJECTS_PUBLISH_RING: usize = 256 << 10;
/// A region subscription's delivery ring, datagrams (the driver drains it as they come).
const OBJECTS_DELIVERY_RING: usize = 1024;
/// Datagrams taken from one region before looking at the others and at the timers.
const BATCH: usize = 64;
/// The longest the driver waits before it looks at the regions' members again.
const SERVE_POLL: Duration = Duration::from_millis(50);
/// ... and while a proxy is joining (its requests are timed).
const JOIN_POLL: Duration = Duration::from_millis(20);
/// How soon the driver tries again to publish frames that found no room.
const RETRY: Duration = Duration::from_millis(2);

/// What one open session looks like to the driver (a proxy of any kind).
pub(super) trait Driven: Send + Sync {
    /// The object's id and the session's origin.
    fn object(&self) -> u128;
    fn origin(&self) -> u64;
    fn message(&self, now: argent_core::Instant, node: u32, msg: &[u8]);
    fn fence(&self, now: argent_core::Instant, request: RequestId, node: u32);
    fn members(&self, now: argent_core::Instant, keys: &[u32]);
    /// Handles the session's timer if due.
    fn timers(&self, now: argent_core::Instant);
    /// Takes the session's events (changes to watchers, the end of the join to the
    /// opener).
    fn settle(&self) -> Settled;
    /// Publishes what the session has to send, never waiting for room or for a lock held
    /// by the application; true when nothing is left.
    fn transmit(&self) -> bool;
    /// The driver stops: an opener still waiting hears it.
    fn abandon(&self);
}

/// A session's standing after [`Driven::settle`].
pub(super) struct Settled {
    pub(super) joining: bool,
    /// The join failed, or the session panicked: the driver forgets it.
    pub(super) failed: bool,
    pub(super) pending: bool,
}

/// One node's object driver, started by the first open ([`crate::Node::open`]).
#[derive(Default)]
pub(crate) struct Objects {
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects").finish_non_exhaustive()
    }
}

struct Running {
    core: Arc<Core>,
    thread: Option<JoinHandle<()>>,
}

/// What the driver shares with the proxies.
pub(super) struct Core {
    wait: SharedWait,
    epoch: std::time::Instant,
    inbox: Mutex<Inbox>,
    stop: AtomicBool,
    next_key: AtomicU64,
}

/// A region's publisher: every frame of the region's objects goes out through it (lock
/// order: the publisher, then a session).
pub(super) type RegionPublisher = Arc<Mutex<AnyPublisher>>;

/// Registrations waiting for the driver, and the regions with registered sessions: a
/// region's subscription and publisher are made by the registration that takes its count
/// from 0, and dropped by the driver when it goes back to 0, under this lock.
#[derive(Default)]
struct Inbox {
    cmds: Vec<Cmd>,
    regions: HashMap<RegionId, Slot>,
}

struct Slot {
    count: usize,
    publisher: RegionPublisher,
    /// Until the driver takes it.
    sub: Option<Subscription>,
}

enum Cmd {
    Add(Added),
    Remove(u64),
    /// A session has frames its application thread could not publish.
    Pending(u64),
}

struct Added {
    key: u64,
    entry: Arc<dyn Driven>,
    group: GroupId,
    region: RegionId,
    members: GroupMembers,
}

impl Objects {
    /// The running driver, started now if none runs.
    pub(super) fn core(&self, node: u32) -> Result<Arc<Core>, LiveError> {
        let mut running = lock(&self.running);
        if let Some(r) = running.as_ref() {
            return Ok(r.core.clone());
        }
        let core = Arc::new(Core {
            wait: SharedWait::new(),
            epoch: std::time::Instant::now(),
            inbox: Mutex::new(Inbox::default()),
            stop: AtomicBool::new(false),
            next_key: AtomicU64::new(1),
        });
        let c = core.clone();
        let thread = std::thread::Builder::new()
            .name(format!("argent-objects-{node}"))
            .spawn(move || Driver::new(c).run())
            .map_err(LiveError::Thread)?;
        *running = Some(Running { core: core.clone(), thread: Some(thread) });
        Ok(core)
    }

    /// Stops the driver and waits for it (open proxies keep their state, and stop hearing
    /// the group).
    pub(crate) fn stop(&self) {
        let Some(mut r) = lock(&self.running).take() else { return };
        r.core.stop.store(true, Ordering::Release);
        r.core.wait.notify();
        if let Some(t) = r.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Core {
    /// The sessions' clock: time since the driver started.
    pub(super) fn now(&self) -> argent_core::Instant {
        argent_core::Instant::from_nanos(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Registers the session `make` builds with the publisher of `region`, for an
    /// object carried by `group` on this node; returns its key.
    pub(super) fn add(
        &self,
        runtime: &Runtime,
        group: GroupId,
        members: GroupMembers,
        region: RegionId,
        make: impl FnOnce(&RegionPublisher) -> Arc<dyn Driven>,
    ) -> Result<u64, LiveError> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut inbox = lock(&self.inbox);
        let slot = match inbox.regions.entry(region) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let e = crate::error::Error::from;
                let sub = runtime
                    .subscribe_waking(&[group], OBJECTS_DELIVERY_RING, &self.wait)
                    .map_err(e)?
                    .with_fences();
                let publisher = runtime.publisher_any_sized(OBJECTS_PUBLISH_RING).map_err(e)?;
                v.insert(Slot { count: 0, publisher: Arc::new(Mutex::new(publisher)), sub: Some(sub) })
            }
        };
        slot.count += 1;
        let entry = make(&slot.publisher);
        inbox.cmds.push(Cmd::Add(Added { key, entry, group, region, members }));
        drop(inbox);
        self.wait.notify();
        Ok(key)
    }

    /// The session `key` has frames its application thread could not publish: the driver
    /// tries again.
    pub(super) fn pending(&self, key: u64) {
        lock(&self.inbox).cmds.push(Cmd::Pending(key));
        self.wait.notify();
    }

    /// Unregisters the session `key` (its proxy was dropped, or its opener gave up).
    pub(super) fn remove(&self, key: u64) {
        lock(&self.inbox).cmds.push(Cmd::Remove(key));
        self.wait.notify();
    }
}

/// A region's part of the driver.
struct Region {
    sub: Subscription,
    members: GroupMembers,
    /// The members' keys the sessions were last given.
    keys: Vec<u32>,
    /// Sessions registered per group (the subscription's groups).
    groups: HashMap<GroupId, usize>,
    sessions: HashSet<u64>,
    demux: Demux<u64>,
}

struct Entry {
    driven: Arc<dyn Driven>,
    group: GroupId,
    region: RegionId,
    joining: bool,
}

struct Driver {
    core: Arc<Core>,
    regions: HashMap<RegionId, Region>,
    entries: HashMap<u64, Entry>,
    /// Sessions with inputs since their events were last taken.
    touched: HashSet<u64>,
    /// Sessions with frames that found no room (or the publisher busy).
    pending: HashSet<u64>,
    joining: usize,
    next_tick: std::time::Instant,
}

impl Driver {
    fn new(core: Arc<Core>) -> Self {
        Driver {
            core,
            regions: HashMap::new(),
            entries: HashMap::new(),
            touched: HashSet::new(),
            pending: HashSet::new(),
            joining: 0,
            next_tick: std::time::Instant::now(),
        }
    }

    fn run(mut self) {
        let (mut to, mut released) = (Vec::new(), Vec::new());
        let mut ids = Vec::new();
        while !self.core.stop.load(Ordering::Acquire) {
            self.commands();
            ids.clear();
            ids.extend(self.regions.keys().copied());
            for &region in &ids {
                self.deliver(region, &mut to, &mut released);
            }
            if std::time::Instant::now() >= self.next_tick {
                self.tick();
            }
            self.settle();
            self.transmit();
            let now = std::time::Instant::now();
            let mut timeout = self.next_tick.saturating_duration_since(now);
            if !self.pending.is_empty() {
                timeout = timeout.min(RETRY);
            }
            let (core, regions) = (&self.core, &self.regions);
            core.wait.wait(timeout, || {
                core.stop.load(Ordering::Acquire)
                    || !lock(&core.inbox).cmds.is_empty()
                    || regions.values().any(|r| r.sub.has_queued())
            });
        }
        for e in self.entries.values().filter(|e| e.joining) {
            e.driven.abandon();
        }
    }

    /// Registrations and removals, in the order made.
    fn commands(&mut self) {
        let cmds = std::mem::take(&mut lock(&self.core.inbox).cmds);
        for cmd in cmds {
            match cmd {
                Cmd::Add(a) => self.add(a),
                Cmd::Remove(key) => self.remove(key),
                Cmd::Pending(key) => {
                    if self.entries.contains_key(&key) {
                        self.pending.insert(key);
                    }
                }
            }
        }
    }

    fn add(&mut self, a: Added) {
        let region = match self.regions.entry(a.region) {
            std::collections::hash_map::Entry::Occupied(r) => r.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                // The first registration of the region left its subscription in the inbox.
                let sub = lock(&self.core.inbox).regions.get_mut(&a.region).and_then(|s| s.sub.take());
                let Some(sub) = sub else {
                    tracing::error!(region = %a.region, "an object registered without its region's subscription");
                    a.entry.abandon();
                    self.release(a.region);
                    return;
                };
                v.insert(Region {
                    sub,
                    members: a.members,
                    keys: Vec::new(),
                    groups: HashMap::new(),
                    sessions: HashSet::new(),
                    demux: Demux::new(),
                })
            }
        };
        let count = region.groups.entry(a.group).or_insert(0);
        *count += 1;
        if *count == 1 {
            let groups: Vec<GroupId> = region.groups.keys().copied().collect();
            region.sub.set_groups(&groups);
        }
        region.sessions.insert(a.key);
        let held = region.demux.open(a.key, a.entry.object(), a.entry.origin());
        let now = self.core.now();
        for (request, node) in held {
            a.entry.fence(now, request, node);
        }
        self.entries
            .insert(a.key, Entry { driven: a.entry, group: a.group, region: a.region, joining: true });
        self.joining += 1;
        self.touched.insert(a.key);
        // A joiner's requests are timed: look at the timers soon.
        self.next_tick = self.next_tick.min(std::time::Instant::now() + JOIN_POLL);
    }

    fn remove(&mut self, key: u64) {
        let Some(e) = self.entries.remove(&key) else { return };
        if e.joining {
            self.joining -= 1;
        }
        self.touched.remove(&key);
        self.pending.remove(&key);
        if let Some(region) = self.regions.get_mut(&e.region) {
            region.sessions.remove(&key);
            region.demux.close(key, e.driven.object());
            if let Some(count) = region.groups.get_mut(&e.group) {
                *count -= 1;
                if *count == 0 {
                    region.groups.remove(&e.group);
                    let groups: Vec<GroupId> = region.groups.keys().copied().collect();
                    if !groups.is_empty() {
                        region.sub.set_groups(&groups);
                    }
                }
            }
        }
        self.release(e.region);
    }

    /// One session of `region` is gone: the last one takes the region's subscription.
    fn release(&mut self, region: RegionId) {
        let mut inbox = lock(&self.core.inbox);
        let Some(slot) = inbox.regions.get_mut(&region) else { return };
        slot.count -= 1;
        if slot.count == 0 {
            inbox.regions.remove(&region);
            self.regions.remove(&region);
        }
    }

    /// Hands up to [`BATCH`] of `region`'s deliveries to their sessions.
    fn deliver(&mut self, region: RegionId, to: &mut Vec<u64>, released: &mut Vec<(RequestId, u32)>) {
        let Some(r) = self.regions.get_mut(&region) else { return };
        for _ in 0..BATCH {
            let Some(d) = r.sub.try_recv() else { return };
            let now = self.core.now();
            let node = d.sender_node().0;
            let mut keys = None;
            for (group, m) in d.group_messages() {
                r.demux.frame(m, node, to, released);
                for k in to.iter() {
                    // A frame counts only in the group its object is opened on.
                    let Some(e) = self.entries.get(k).filter(|e| e.group == group) else { continue };
                    e.driven.message(now, node, m);
                    if !released.is_empty() {
                        let keys = keys.get_or_insert_with(|| member_keys(&r.members));
                        e.driven.members(now, keys);
                    }
                    for &(request, from) in released.iter() {
                        e.driven.fence(now, request, from);
                    }
                    self.touched.insert(*k);
                }
            }
            for request in d.fences() {
                r.demux.fence(request, node, to);
                for k in to.iter() {
                    if let Some(e) = self.entries.get(k) {
                        // The members the fence is counted against are those of now.
                        let keys = keys.get_or_insert_with(|| member_keys(&r.members));
                        e.driven.members(now, keys);
                        e.driven.fence(now, request, node);
                        self.touched.insert(*k);
                    }
                }
            }
        }
    }

    /// Every [`SERVE_POLL`] (or [`JOIN_POLL`] while a session joins): members that left
    /// are no longer waited for, and joiners' timers run.
    fn tick(&mut self) {
        let now = self.core.now();
        for r in self.regions.values_mut() {
            let keys = member_keys(&r.members);
            let changed = keys != r.keys;
            for k in &r.sessions {
                let Some(e) = self.entries.get(k) else { continue };
                if changed || e.joining {
                    e.driven.members(now, &keys);
                    self.touched.insert(*k);
                }
            }
            r.keys = keys;
        }
        for (k, e) in self.entries.iter().filter(|(_, e)| e.joining) {
            e.driven.timers(now);
            self.touched.insert(*k);
        }
        let every = if self.joining > 0 { JOIN_POLL } else { SERVE_POLL };
        self.next_tick = std::time::Instant::now() + every;
    }

    /// Takes the events of the sessions that had inputs.
    fn settle(&mut self) {
        let mut failed = Vec::new();
        for k in self.touched.drain() {
            let Some(e) = self.entries.get_mut(&k) else { continue };
            let s = e.driven.settle();
            if e.joining && !s.joining {
                e.joining = false;
                self.joining -= 1;
            }
            if s.failed {
                failed.push(k);
            } else if s.pending {
                self.pending.insert(k);
            }
        }
        for k in failed {
            self.remove(k);
        }
    }

    /// Publishes the frames waiting (a session whose publisher or lock the application
    /// holds is tried again on a later turn).
    fn transmit(&mut self) {
        let entries = &self.entries;
        self.pending.retain(|k| entries.get(k).is_some_and(|e| !e.driven.transmit()));
    }
}
