//! One shard: a pinned thread owning some regions, their sockets and protocol state, running
//! the duty cycle — drain commands and publish rings, fire timers, flush a send batch,
//! hand deliveries to subscribers, then wait for a receive batch until the next deadline.

use crate::config::{RegionSpec, RuntimeConfig};
use crate::error::RuntimeError;
use crate::groups::{route_group, GroupMap};
use crate::guard::{socket_of, Guard};
use crate::pubring;
use crate::signal::Signal;
use crate::stats::NodeStats;
use argent_core::{Destination, Instant, NodeId, Protocol, RegionId, ViewId};
use argent_membership::GroupId;
use argent_qsm::{Delivery, Event, PublishError, QsmNode, RegionView};
use argent_transport::{Outgoing, Received, Transport};
use argent_vsync::{Output, TotalOrder};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod apply;

/// Deliveries held back for a full subscriber ring before the shard stops receiving.
const MAX_HELD_DELIVERIES: usize = 4096;
/// Datagrams of a region this node receives, kept while no subscription takes them (the
/// application subscribes after the node starts, and traffic may already flow); handed to
/// the first subscription of the region. Beyond this many bytes, the oldest are dropped and
/// counted. The node's own datagrams are not kept: they reach the subscriptions open when
/// they are delivered, and a publisher listed in its groups that never subscribes would
/// otherwise keep its last 32 MiB alive (cold memory for every new send block; 10 % of a
/// LAN publisher's CPU at 500 k msgs/s, decision 012).
const MAX_UNCLAIMED_BYTES: usize = 32 << 20;
/// Longest wait in the transport, so commands and statistics are looked at regularly.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// Longest wait while publishers are attached: bounds the delay of a commit whose wake-up
/// raced with the shard falling asleep.
const PUBLISHER_WAIT: Duration = Duration::from_millis(2);
/// How often shared statistics are refreshed.
const HOUSEKEEPING: Duration = Duration::from_millis(20);

/// Members of each region as installed by the shards (the region's current view here).
pub(crate) type RegionMembers = Arc<std::sync::RwLock<HashMap<RegionId, Vec<NodeId>>>>;

/// Commands queued for one shard (publishers and subscriptions added, membership views,
/// fence requests, shutdown). A sender waits while the queue is full: the shard takes every
/// queued command at the start of each duty cycle, at most `MAX_WAIT` apart.
pub(crate) const COMMAND_QUEUE: usize = 1024;

pub(crate) enum Command {
    AddPublisher(PublisherPort),
    AddSubscriber(SubscriberPort),
    /// A new membership view from the GMS.
    View(ShardView),
    /// Ask the region's nodes for fences ([`crate::Runtime::request_fences`]).
    RequestFences {
        region: RegionId,
        key: u64,
        nonce: u64,
    },
    Shutdown,
}

/// What a membership view changes for one shard.
pub(crate) struct ShardView {
    /// Every member's unicast address and shard count.
    pub(crate) members: HashMap<NodeId, (SocketAddrV4, usize)>,
    /// New views of regions this shard owns, with the view each last changed in: the ring
    /// view is installed if the ring changed, then the newer view as a cut
    /// (`QsmNode::install_cut`: a member joined or left one of the region's groups).
    pub(crate) regions: Vec<(RegionView, ViewId)>,
    /// Regions new to this node that this shard owns, with the view their ring dates from
    /// and the view they last changed in: installed (joined if this node is a member).
    pub(crate) added: Vec<(RegionSpec, ViewId, ViewId)>,
    /// Known regions of this shard whose groups changed (a group created in one of them).
    pub(crate) regrouped: Vec<(RegionId, Vec<GroupId>)>,
    /// Regions of this shard gone from the view: dropped.
    pub(crate) gone: Vec<RegionId>,
    /// Nodes gone from the membership: their streams are retired.
    pub(crate) departed: Vec<NodeId>,
    /// Key epochs new in this view (keyed clusters): opened at once, sealed under soon.
    pub(crate) keys: Vec<argent_auth::ClusterKey>,
    /// Sender streams of earlier incarnations of restarted nodes: retired.
    pub(crate) superseded: Vec<NodeId>,
}

/// The shard's end of a publisher's ring: entries are `group tag | message`.
pub(crate) struct PublisherPort {
    pub(crate) ring: rtrb::Consumer<u8>,
    pub(crate) space: Arc<Signal>,
    /// The protocol pushed back in this region; wait for its `Writable`.
    pub(crate) blocked_on: Option<RegionId>,
    /// Regions that already took the entry at the head of the ring (a group multicast in
    /// several regions of this shard, one of which pushed back). Regions, not a count: the
    /// group's regions may change before the rest take it.
    pub(crate) taken: Vec<RegionId>,
}

/// The shard's end of a subscription's ring.
pub(crate) struct SubscriberPort {
    /// Regions whose deliveries it takes (the subscription filters by group).
    pub(crate) regions: Vec<RegionId>,
    pub(crate) ring: rtrb::Producer<Delivery>,
    pub(crate) ready: Arc<Signal>,
    pub(crate) overflow: VecDeque<Delivery>,
}

/// Unicast addresses of members, per region (a member's shard owning region r listens on
/// `port + r mod shards`), and the multicast address of each region.
struct Addresses {
    members: HashMap<NodeId, (SocketAddrV4, usize)>,
    regions: HashMap<RegionId, SocketAddrV4>,
}

impl Addresses {
    fn unicast(&self, node: NodeId, region: RegionId) -> Option<SocketAddrV4> {
        let (addr, shards) = self.members.get(&node)?;
        let port = addr.port().wrapping_add((region.0 as usize % shards) as u16);
        Some(SocketAddrV4::new(*addr.ip(), port))
    }
}

pub(crate) struct Shard {
    node: QsmNode,
    /// With the total-order driver: each region's layer over `node` (decision 014).
    layers: Layers,
    transport: Box<dyn Transport>,
    addrs: Addresses,
    views: HashMap<RegionId, RegionView>,
    /// The regions this shard owns (address, members, groups).
    specs: HashMap<RegionId, RegionSpec>,
    /// The members of `views`, shared with the runtime's handle.
    members: RegionMembers,
    /// Fences asked of this node that the send buffer had no room for (the requester asks
    /// again).
    fences_skipped: u64,
    /// Group → index in `region_lists` of the regions of this shard carrying it.
    routes: GroupMap<u32>,
    region_lists: Vec<Box<[RegionId]>>,
    cmds: crossbeam_channel::Receiver<Command>,
    sleeping: Arc<AtomicBool>,
    stats: Arc<Mutex<NodeStats>>,
    epoch: std::time::Instant,
    publishers: Vec<PublisherPort>,
    subscribers: Vec<SubscriberPort>,
    unrouted: u64,
    unclaimed: VecDeque<Delivery>,
    unclaimed_bytes: usize,
    unclaimed_dropped: u64,
    batch: usize,
    rx: Vec<Received>,
    tx: Vec<Outgoing>,
    cycles: u64,
    next_housekeeping: Instant,
    /// Keyed clusters: seals what this shard sends, opens what it receives.
    guard: Option<Guard>,
    looped_back: u64,
}

impl Shard {
    pub(crate) fn new(
        cfg: &RuntimeConfig,
        regions: Vec<RegionSpec>,
        transport: Box<dyn Transport>,
        cmds: crossbeam_channel::Receiver<Command>,
        sleeping: Arc<AtomicBool>,
        shared: Published,
        epoch: std::time::Instant,
    ) -> Result<Self, RuntimeError> {
        let Published { stats, members: shared_members } = shared;
        let mut node = QsmNode::new(cfg.me, cfg.qsm.clone())?;
        let mut layers = Layers {
            total_order: cfg.driver == crate::config::Driver::TotalOrder,
            regions: HashMap::new(),
            released: Vec::new(),
            waiting: HashMap::new(),
        };
        let mut views = HashMap::new();
        for r in &regions {
            let view = RegionView {
                region: r.region,
                id: ViewId(cfg.region_since.get(&r.region).copied().unwrap_or(cfg.start_view).max(1)),
                members: r.members.clone(),
            };
            node.install_view(Instant::ZERO, view.clone())
                .map_err(|e| RuntimeError::BadRegion { region: r.region, reason: e.to_string() })?;
            layers.add(&view, cfg.me);
            views.insert(r.region, view);
        }
        let members = cfg.members.iter().map(|m| (m.id, (m.addr, m.shards))).collect();
        let addresses = regions.iter().map(|r| (r.region, r.address)).collect();
        let specs: HashMap<RegionId, RegionSpec> = regions.into_iter().map(|r| (r.region, r)).collect();
        let (routes, region_lists) = routes(specs.values());
        share_members(&shared_members, &views, &[]);
        Ok(Shard {
            node,
            layers,
            transport,
            addrs: Addresses { members, regions: addresses },
            views,
            specs,
            members: shared_members,
            fences_skipped: 0,
            routes,
            region_lists,
            cmds,
            sleeping,
            stats,
            epoch,
            publishers: Vec::new(),
            subscribers: Vec::new(),
            unrouted: 0,
            unclaimed: VecDeque::new(),
            unclaimed_bytes: 0,
            unclaimed_dropped: 0,
            batch: cfg.batch.max(1),
            rx: Vec::with_capacity(cfg.batch.max(1)),
            tx: Vec::with_capacity(cfg.batch.max(1)),
            cycles: 0,
            next_housekeeping: Instant::ZERO,
            guard: None,
            looped_back: 0,
        })
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    pub(crate) fn run(mut self) {
        loop {
            self.cycles += 1;
            if !self.commands() {
                self.publish_stats();
                // Subscribers waiting (a thread or a task) learn that the node shut down:
                // their rings are abandoned first, then they are woken.
                let waiting: Vec<_> = self.subscribers.drain(..).map(|s| s.ready).collect();
                waiting.iter().for_each(|w| w.notify());
                return;
            }
            let now = self.now();
            let published = self.drain_publishers(now);
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
            self.flush(now);
            self.events();
            if now >= self.next_housekeeping {
                self.housekeeping(now);
            }
            self.receive(published);
        }
    }

    /// Apply control commands; false on shutdown.
    fn commands(&mut self) -> bool {
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Command::AddPublisher(p) => self.publishers.push(p),
                Command::AddSubscriber(mut s) => {
                    // What arrived before anyone subscribed, in order.
                    let (mine, rest): (VecDeque<Delivery>, VecDeque<Delivery>) =
                        std::mem::take(&mut self.unclaimed)
                            .into_iter()
                            .partition(|d| s.regions.contains(&d.region));
                    self.unclaimed = rest;
                    self.unclaimed_bytes = self.unclaimed.iter().map(|d| d.datagram.len()).sum();
                    s.overflow.extend(mine);
                    self.subscribers.push(s);
                }
                Command::View(v) => self.apply_view(v),
                Command::RequestFences { region, key, nonce } => {
                    if !self.node.request_fences(region, key, nonce) {
                        tracing::warn!(%region, "fences asked for a region this shard does not have");
                    }
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    /// Seal and open every datagram with `guard` (a keyed cluster).
    pub(crate) fn set_guard(&mut self, mut guard: Guard) {
        guard.set_members(self.addrs.members.keys().map(|n| n.0));
        self.guard = Some(guard);
    }

    /// Forget handles the application dropped (a publisher's ring once drained).
    fn prune(&mut self) {
        self.subscribers.retain(|s| !s.ring.is_abandoned());
        self.publishers.retain(|p| !(p.ring.is_abandoned() && p.ring.is_empty()));
    }

    /// Move messages from publisher rings into the protocol's datagrams; returns how many.
    fn drain_publishers(&mut self, now: Instant) -> usize {
        let mut total = 0;
        let node = &mut self.node;
        let layers = &mut self.layers.regions;
        let (routes, lists) = (&self.routes, &self.region_lists);
        let unrouted = &mut self.unrouted;
        // A view that adds a region is queued for this shard before publishers may route to
        // it: a message this shard cannot route while commands wait is kept for the next cycle.
        let view_pending = !self.cmds.is_empty();
        for p in &mut self.publishers {
            if p.blocked_on.is_some() {
                continue;
            }
            let mut blocked = None;
            let taken = &mut p.taken;
            // The entry (tag included) is the protocol's message: receivers strip the tag.
            let n = pubring::drain(&mut p.ring, |msg| {
                let group = route_group(msg);
                let regions: &[RegionId] = match group.and_then(|g| routes.get(g)) {
                    Some(i) => &lists[*i as usize],
                    None if view_pending && group.is_some() => return false,
                    // A publisher bound to a group whose regions are gone (it routes by the
                    // shards it last knew): nobody to deliver to, counted below.
                    None => &[],
                };
                if regions.is_empty() {
                    *unrouted += 1; // the group's regions are gone: nobody to deliver to
                    return true;
                }
                if let ([region], true) = (regions, taken.is_empty()) {
                    // One region (the usual case): nothing to remember if it pushes back.
                    return match publish(node, layers, now, *region, msg) {
                        Ok(()) => true,
                        Err(PublishError::WouldBlock) => {
                            blocked = Some(*region);
                            false
                        }
                        Err(e) => {
                            tracing::error!(%region, error = %e, "dropping a message the protocol refused");
                            true
                        }
                    };
                }
                for region in regions {
                    if taken.contains(region) {
                        continue;
                    }
                    match publish(node, layers, now, *region, msg) {
                        Ok(()) => taken.push(*region),
                        Err(PublishError::WouldBlock) => {
                            blocked = Some(*region);
                            return false;
                        }
                        Err(e) => {
                            // Publisher::claim checks the size first, so this cannot happen; say so loudly.
                            tracing::error!(%region, error = %e, "dropping a message the protocol refused");
                            taken.push(*region);
                        }
                    }
                }
                taken.clear();
                true
            });
            p.blocked_on = blocked;
            if n > 0 {
                p.space.notify();
            }
            total += n;
        }
        total
    }

    /// Send everything the protocol has ready, in batches.
    fn flush(&mut self, now: Instant) {
        if let Some(g) = &mut self.guard {
            g.tick(now);
        }
        for layer in self.layers.regions.values_mut() {
            layer.flush(&mut self.node, now);
        }
        while let Some(t) = self.node.poll_transmit(now) {
            let to = match t.dest {
                Destination::Region => self.addrs.regions.get(&t.region).copied(),
                Destination::Node(n) => self.addrs.unicast(n, t.region),
            };
            let Some(to) = to else { continue };
            let (data, tail) = match &mut self.guard {
                Some(g) => g.seal(t.dest, t.payload),
                None => (t.payload, argent_transport::Tail::NONE),
            };
            self.tx.push(Outgoing::with_tail(to, data, tail));
            if self.tx.len() >= self.batch {
                self.send_batch();
            }
        }
        self.send_batch();
    }

    fn send_batch(&mut self) {
        if self.tx.is_empty() {
            return;
        }
        if let Err(e) = self.transport.send(&mut self.tx) {
            tracing::warn!(error = %e, "send failed; the protocol will repair what was lost");
            self.tx.clear();
        }
    }

    /// Hand deliveries to subscribers and `Writable` to publishers.
    fn events(&mut self) {
        for s in &mut self.subscribers {
            while let Some(d) = s.overflow.front() {
                match s.ring.push(d.clone()) {
                    Ok(()) => {
                        s.overflow.pop_front();
                    }
                    Err(_) => break,
                }
            }
        }
        while let Some(ev) = self.node.poll_event() {
            match ev {
                Event::Deliver(d) => match self.layers.regions.get_mut(&d.region) {
                    Some(layer) => layer.deliver(d),
                    None => self.hand_out(d),
                },
                Event::Writable(region) => self.writable(region),
                Event::Evicted { region, node, view } => {
                    // The protocol's own failure detection (no membership service): mirror
                    // the view it installed.
                    tracing::warn!(%node, %region, view = view.0, "member silent: evicted from the local view");
                    if let Some(v) = self.views.get_mut(&region) {
                        v.members.retain(|m| *m != node);
                        v.id = view;
                        if let Some(layer) = self.layers.regions.get_mut(&region) {
                            layer.view_installed(&self.node, v.clone());
                        }
                    }
                    share_members(&self.members, &self.views, &[]);
                }
                Event::Fence { region, key, nonce } => {
                    let msg = argent_wire::message::fence_message(key, nonce);
                    let now = self.now();
                    if publish(&mut self.node, &mut self.layers.regions, now, region, &msg).is_err() {
                        self.fences_skipped += 1;
                    }
                }
            }
        }
        // Total-order regions: what their layers released, in order.
        let mut out = std::mem::take(&mut self.layers.released);
        for (region, layer) in &mut self.layers.regions {
            while let Some(o) = layer.poll() {
                out.push((*region, o));
            }
        }
        for (region, o) in out.drain(..) {
            match o {
                Output::Deliver(d) => self.hand_out(d.item),
                Output::Writable => self.writable(region),
                Output::View { id, members } => {
                    tracing::debug!(%region, view = id.0, members = members.len(), "total order: view begins");
                }
            }
        }
        self.layers.released = out; // its room is kept for the next cycle
        for s in &self.subscribers {
            if s.ring.slots() < s.ring.buffer().capacity() {
                s.ready.notify();
            }
        }
    }

    /// Publishers held up by `region`'s push-back may go on.
    fn writable(&mut self, region: RegionId) {
        for p in self.publishers.iter_mut().filter(|p| p.blocked_on == Some(region)) {
            p.blocked_on = None;
        }
    }

    /// Hand a delivered datagram to the subscriptions of its region, or keep it for the
    /// first one.
    fn hand_out(&mut self, d: Delivery) {
        let mut taken = false;
        for s in self.subscribers.iter_mut().filter(|s| s.regions.contains(&d.region)) {
            taken = true;
            if !s.overflow.is_empty() {
                s.overflow.push_back(d.clone());
            } else if let Err(rtrb::PushError::Full(d)) = s.ring.push(d.clone()) {
                s.overflow.push_back(d);
            }
        }
        if !taken && d.sender_node() != self.node.id() && self.node.is_member(d.region) {
            self.unclaimed_bytes += d.datagram.len();
            self.unclaimed.push_back(d);
            while self.unclaimed_bytes > MAX_UNCLAIMED_BYTES {
                let Some(old) = self.unclaimed.pop_front() else { break };
                self.unclaimed_bytes -= old.datagram.len();
                self.unclaimed_dropped += 1;
            }
        }
    }

    /// Wait for and process one receive batch (without waiting if there is work queued).
    fn receive(&mut self, published: usize) {
        let held: usize = self.subscribers.iter().map(|s| s.overflow.len()).sum();
        let max = if held > MAX_HELD_DELIVERIES { 0 } else { self.batch };
        let pending = self.publishers.iter().any(|p| p.blocked_on.is_none() && !p.ring.is_empty());
        let now = self.now();
        let cap = if self.publishers.is_empty() { MAX_WAIT } else { PUBLISHER_WAIT };
        let mut timeout = match self.node.poll_timeout() {
            Some(t) => t.saturating_duration_since(now).min(cap),
            None => cap,
        };
        if published > 0 || pending || held > 0 {
            timeout = Duration::ZERO;
        } else {
            self.sleeping.store(true, Ordering::SeqCst);
            // A publisher may have committed between the check above and now.
            if self.publishers.iter().any(|p| p.blocked_on.is_none() && !p.ring.is_empty())
                || !self.cmds.is_empty()
            {
                timeout = Duration::ZERO;
            }
        }
        if max == 0 {
            // Holding deliveries for a slow reader: do not read more; give it the CPU.
            std::thread::sleep(Duration::from_micros(500));
            return;
        }
        let result = self.transport.recv(Some(timeout), max, &mut self.rx);
        self.sleeping.store(false, Ordering::SeqCst);
        if let Err(e) = result {
            tracing::warn!(error = %e, "receive failed");
            return;
        }
        let now = self.now();
        // This node's own multicast, looped back (the protocol drops it): dropped before it
        // is opened. No other host can send from this host's address (the kernel drops such
        // martians), and what is dropped here is never delivered.
        let own = self.addrs.members.get(&self.node.id()).copied();
        for r in self.rx.drain(..) {
            if own.is_some_and(|(addr, shards)| socket_of(addr, shards, r.from)) {
                self.looped_back += 1;
                continue;
            }
            let data = match &mut self.guard {
                Some(g) => match g.open(r.data, r.from, &self.addrs.members) {
                    Some(body) => body,
                    None => continue, // refused, counted
                },
                None => r.data,
            };
            self.node.handle_datagram(now, data);
        }
    }

    /// Refresh shared statistics.
    fn housekeeping(&mut self, now: Instant) {
        self.next_housekeeping = now + HOUSEKEEPING;
        self.prune();
        self.layers.report_waits(now);
        self.publish_stats();
    }

    fn publish_stats(&mut self) {
        let t = self.transport.stats();
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.qsm = self.node.stats().clone();
        s.recv_calls = t.recv_syscalls;
        s.send_calls = t.send_syscalls;
        s.cycles = self.cycles;
        s.evictions = self.node.stats().evictions;
        s.unrouted = self.unrouted;
        s.unclaimed_dropped = self.unclaimed_dropped;
        s.send_buffered = self.node.send_buffered_bytes();
        s.fences_skipped = self.fences_skipped;
        s.auth = self.guard.as_ref().map(Guard::stats).unwrap_or_default();
        s.looped_back = self.looped_back;
    }
}

/// What a shard publishes to the runtime's handle: its counters and its regions' members.
pub(crate) struct Published {
    pub(crate) stats: Arc<Mutex<NodeStats>>,
    pub(crate) members: RegionMembers,
}

/// Publish the members of this shard's region views to the runtime's handle; `gone`:
/// regions this shard dropped.
fn share_members(shared: &RegionMembers, views: &HashMap<RegionId, RegionView>, gone: &[RegionId]) {
    let mut members = shared.write().unwrap_or_else(|e| e.into_inner());
    for r in gone {
        members.remove(r);
    }
    for (r, v) in views {
        members.insert(*r, v.members.clone());
    }
}

/// For each group, the regions of this shard carrying it, as indices into a list of distinct
/// region lists (many groups share one: every group of a region has the same list).
fn routes<'a>(regions: impl Iterator<Item = &'a RegionSpec>) -> (GroupMap<u32>, Vec<Box<[RegionId]>>) {
    let mut per_group: HashMap<GroupId, Vec<RegionId>> = HashMap::new();
    for r in regions {
        for g in &r.groups {
            per_group.entry(*g).or_default().push(r.region);
        }
    }
    let mut lists: Vec<Box<[RegionId]>> = Vec::new();
    let mut interned: HashMap<Vec<RegionId>, u32> = HashMap::new();
    let mut entries = Vec::with_capacity(per_group.len());
    for (g, mut rs) in per_group {
        rs.sort_unstable();
        rs.dedup();
        let i = *interned.entry(rs).or_insert_with_key(|rs| {
            lists.push(rs.clone().into_boxed_slice());
            lists.len() as u32 - 1
        });
        entries.push((g, i));
    }
    (GroupMap::new(entries), lists)
}

/// The total-order driver's layers, one per region of the shard (none with QSM's driver).
struct Layers {
    total_order: bool,
    regions: HashMap<RegionId, TotalOrder>,
    /// What the layers released in a cycle, handed on in order (kept: no allocation per
    /// cycle).
    released: Vec<(RegionId, Output)>,
    /// Layers whose flush waits: since when, and when to say so next.
    waiting: HashMap<RegionId, (Instant, Instant)>,
}

impl Layers {
    /// Say which layers' flushes have waited long, and for what (every few seconds while
    /// they wait): a view change that does not end stalls the region.
    fn report_waits(&mut self, now: Instant) {
        const EVERY: Duration = Duration::from_secs(5);
        for (region, layer) in &self.regions {
            if !layer.flush_waiting() {
                self.waiting.remove(region);
                continue;
            }
            let (since, next) = self.waiting.entry(*region).or_insert((now, now + EVERY));
            if now >= *next {
                *next = now + EVERY;
                let waited = now.saturating_duration_since(*since).as_secs_f64();
                let what = layer.flush_summary().unwrap_or_default();
                tracing::warn!(%region, waited_secs = waited, "total-order view change still waiting: {what}");
            }
        }
    }

    /// A layer for the region of `view`, starting in it (installed in QSM), if the node
    /// runs the total-order driver.
    fn add(&mut self, view: &RegionView, me: NodeId) {
        if self.total_order {
            self.regions.insert(view.region, TotalOrder::new(view.clone(), me));
        }
    }
}

/// Publish `msg` in `region`: through its total-order layer if it has one.
fn publish(
    node: &mut QsmNode,
    layers: &mut HashMap<RegionId, TotalOrder>,
    now: Instant,
    region: RegionId,
    msg: &[u8],
) -> Result<(), PublishError> {
    match layers.get_mut(&region) {
        Some(layer) => layer.publish_with(node, now, msg.len(), |b| b.copy_from_slice(msg)),
        None => node.publish(now, region, msg),
    }
}
