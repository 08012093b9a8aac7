//! A running node: its shards (one pinned thread each), where each group goes, and the
//! handles it gives out.

use crate::config::{RegionSpec, RuntimeConfig, MAX_SHARDS};
use crate::error::RuntimeError;
use crate::groups::{RouteTable, FENCE_GROUP, FRAGMENT_GROUP, GROUP_TAG_LEN};
use crate::publisher::{shards_in, AnyPublisher, Lanes, PubLane, Publisher};
use crate::pubring;
use crate::shard::{Command, Published, PublisherPort, RegionMembers, Shard, SubscriberPort, COMMAND_QUEUE};
use crate::signal::{ShardWake, SharedWait, Signal};
use crate::stats::NodeStats;
use crate::subscription::{Joined, SubLane, Subscription};
use crate::topology::Topology;
use crate::view::{fresh_incarnation, GroupMembers, ViewSink};
use argent_core::{NodeId, RegionId, ViewId};
use argent_membership::GroupId;
use argent_transport::{Backend, SocketSpec};
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

struct ShardHandle {
    cmds: crossbeam_channel::Sender<Command>,
    wake: ShardWake,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<NodeStats>>,
}

/// The smallest publish ring [`Runtime::publisher_sized`] makes, bytes.
pub const MIN_PUBLISH_RING: usize = 64 << 10;
/// The smallest delivery ring [`Runtime::subscribe_sized`] makes, datagrams.
pub const MIN_DELIVERY_RING: usize = 64;

/// Sets the groups a running node joined ([`Runtime::groups_handle`]).
#[derive(Clone)]
pub struct GroupsHandle {
    joined: Arc<Joined>,
}

impl std::fmt::Debug for GroupsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupsHandle").finish_non_exhaustive()
    }
}

impl GroupsHandle {
    /// As [`Runtime::set_groups`].
    pub fn set(&self, groups: &[GroupId]) {
        let from_start: Vec<(GroupId, ViewId)> = groups.iter().map(|g| (*g, ViewId(0))).collect();
        self.joined.set(&from_start);
    }

    /// As [`Runtime::set_groups`], each group received from a region view on: messages of
    /// a group sent in an earlier view are not handed out (the joiner's side of the group's
    /// join point, see `argent_membership::gms::JoinedGroups`). Call it before the shards
    /// install the view that puts the node in the groups ([`crate::ViewSink::apply`]).
    pub fn set_since(&self, groups: &[(GroupId, ViewId)]) {
        self.joined.set(groups);
    }
}

/// Asks one group's region for fences ([`Runtime::fencer`]).
#[derive(Clone)]
pub struct Fencer {
    region: RegionId,
    cmds: crossbeam_channel::Sender<Command>,
    wake: ShardWake,
}

impl std::fmt::Debug for Fencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fencer").field("region", &self.region).finish_non_exhaustive()
    }
}

impl Fencer {
    /// As [`Runtime::request_fences`] for the fencer's group.
    pub fn request(&self, key: u64, nonce: u64) -> Result<(), RuntimeError> {
        self.cmds
            .send(Command::RequestFences { region: self.region, key, nonce })
            .map_err(|_| RuntimeError::Closed)?;
        self.wake.wake();
        Ok(())
    }

    /// The region it asks.
    pub fn region(&self) -> RegionId {
        self.region
    }
}

/// A running node: its shards, the regions they own and where each group goes.
pub struct Runtime {
    shards: Vec<ShardHandle>,
    /// Group → bit mask of the shards owning one of its regions (where publishers write).
    routes: Arc<RouteTable>,
    /// The regions known here, changed by views ([`ViewSink`]).
    topology: Arc<Mutex<Topology>>,
    /// The groups this node joined, shared with its subscriptions.
    joined: Arc<Joined>,
    members: RegionMembers,
    backend: Backend,
    cfg: RuntimeConfig,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("shards", &self.shards.len()).field("backend", &self.backend).finish()
    }
}

impl Runtime {
    /// Open sockets, start one pinned shard thread per configured shard, join regions.
    pub fn start(cfg: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let mut cfg = cfg;
        if cfg.qsm.incarnation == 0 {
            cfg.qsm.incarnation = fresh_incarnation();
        }
        if cfg.auth.is_some() {
            // The seal's trailer travels within the datagram size the file sets.
            cfg.qsm.datagram_size = cfg.qsm.datagram_size.saturating_sub(argent_auth::TRAILER);
        }
        cfg.qsm.validate()?;
        let me = cfg.members.iter().find(|m| m.id == cfg.me).ok_or(RuntimeError::NotAMember(cfg.me))?.clone();
        validate(&cfg)?;
        let shard_of = |r: RegionId| (r.0 as usize) % me.shards;
        let joined = Arc::new(Joined::new(cfg.groups.as_deref()));
        let topology = Topology::new(cfg.me, me.shards, &cfg.regions, joined.clone());
        let routes = Arc::new(RouteTable::new(topology.routes()));
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let epoch = std::time::Instant::now();
        let mut shards = Vec::with_capacity(me.shards);
        let members = RegionMembers::default();
        let mut backend = None;
        for index in 0..me.shards {
            // A shard owns its regions whether or not this node is a member: a sender need not
            // be one (it publishes and gets acknowledgements, but joins no group socket).
            let owned: Vec<RegionSpec> =
                cfg.regions.iter().filter(|r| shard_of(r.region) == index).cloned().collect();
            let mut joined: Vec<SocketAddrV4> =
                owned.iter().filter(|r| r.members.contains(&cfg.me)).map(|r| r.address).collect();
            joined.sort_unstable();
            joined.dedup();
            let spec = SocketSpec {
                unicast: SocketAddrV4::new(*me.addr.ip(), me.addr.port().wrapping_add(index as u16)),
                groups: joined,
                interface: cfg.interface,
                recv_buffer: cfg.socket_buffer,
                send_buffer: cfg.socket_buffer,
                ttl: 1,
                max_datagram: argent_wire_max(),
                batch: cfg.batch,
                gro: true,
            };
            let transport = argent_transport::open(cfg.transport, &spec)?;
            backend = Some(transport.backend());
            let (tx, rx) = crossbeam_channel::bounded(COMMAND_QUEUE);
            let sleeping = Arc::new(AtomicBool::new(false));
            let wake = ShardWake { sleeping: sleeping.clone(), waker: transport.waker() };
            let stats = Arc::new(Mutex::new(NodeStats::default()));
            let mut shard = Shard::new(
                &cfg,
                owned,
                transport,
                rx,
                sleeping,
                Published { stats: stats.clone(), members: members.clone() },
                epoch,
            )?;
            if let Some(auth) = &cfg.auth {
                shard.set_guard(crate::guard::Guard::new(auth, cfg.me.0, index));
            }
            // Spread the shards of the processes of one host over its cores.
            let slot = cfg.me.0 as usize + index;
            let core = if cfg.pin && !cores.is_empty() { Some(cores[slot % cores.len()]) } else { None };
            let thread = std::thread::Builder::new()
                .name(format!("argent-shard-{index}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    argent_transport::precise_timers();
                    shard.run();
                })
                .map_err(|source| {
                    RuntimeError::Transport(argent_transport::TransportError::Setup {
                        what: format!("spawning shard thread {index}"),
                        source,
                    })
                })?;
            shards.push(ShardHandle { cmds: tx, wake, thread: Some(thread), stats });
        }
        let backend = backend.unwrap_or(Backend::Std);
        tracing::info!(node = %cfg.me, shards = shards.len(), regions = cfg.regions.len(), transport = %backend, "runtime started");
        let topology = Arc::new(Mutex::new(topology));
        Ok(Runtime { shards, routes, topology, joined, members, backend, cfg })
    }

    /// The transport backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A handle that applies membership views from the GMS to the running shards (from any
    /// thread). The runtime starts from one view's regions; later views change their members.
    pub fn view_sink(&self) -> ViewSink {
        let known = self.cfg.members.iter().map(|m| (m.id, None)).collect();
        let shards = self.shards.iter().map(|s| (s.cmds.clone(), s.wake.clone())).collect();
        let ring = self.cfg.auth.as_ref().map(|a| a.keys.clone());
        ViewSink::new(shards, self.topology.clone(), self.routes.clone(), known, ring)
    }

    fn topology(&self) -> std::sync::MutexGuard<'_, Topology> {
        self.topology.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings the runtime started with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// The shard owning `region`, if any region has that id.
    pub fn shard_of(&self, region: RegionId) -> Option<usize> {
        self.topology().shard_of(region)
    }

    /// The groups this node receives (it is a member of one of their regions), ascending.
    pub fn member_groups(&self) -> Vec<GroupId> {
        self.topology().member_groups()
    }

    /// The groups this node joined are now `groups` (the GMS installed the views that put
    /// it in their regions, or took it out): subscriptions may be made to them, and only
    /// to them. Subscriptions made earlier stop seeing the messages of groups left.
    pub fn set_groups(&self, groups: &[GroupId]) {
        self.groups_handle().set(groups);
    }

    /// A handle for [`Runtime::set_groups`] that other threads and objects may keep.
    pub fn groups_handle(&self) -> GroupsHandle {
        GroupsHandle { joined: self.joined.clone() }
    }

    /// The region in which this node receives `group`.
    pub fn region_of(&self, group: GroupId) -> Option<RegionId> {
        self.topology().region_of(group)
    }

    /// The members of the region in which this node receives `group`, as its shard has
    /// installed them (membership views change them); `None` if it receives no such group.
    pub fn group_members(&self, group: GroupId) -> Option<GroupMembers> {
        let region = self.region_of(group)?;
        Some(GroupMembers::new(region, self.members.clone()))
    }

    /// Ask every node of the region in which this node receives `group` — this one
    /// included — for a *fence*: a message of [`FENCE_GROUP`] naming `key` and `nonce`,
    /// published after everything that node had published there, which every subscription
    /// of the region sees ([`Delivery::fences`](crate::Delivery::fences)). A fence a subscriber delivers lies after
    /// its join point on that sender's stream; a subscriber that delivered a fence has
    /// everything its sender published before. The request travels once, unreliably: ask
    /// again with a new `nonce` if fences do not all come. Live objects join with it.
    pub fn request_fences(&self, group: GroupId, key: u64, nonce: u64) -> Result<(), RuntimeError> {
        let region = self.region_of(group).ok_or(RuntimeError::NotInGroup(group))?;
        let shard = self.shard_of(region).and_then(|i| self.shards.get(i)).ok_or(RuntimeError::Closed)?;
        shard.cmds.send(Command::RequestFences { region, key, nonce }).map_err(|_| RuntimeError::Closed)?;
        shard.wake.wake();
        Ok(())
    }

    /// What asks `group`'s region for fences, held apart from the runtime (a driver thread
    /// serving objects). A group stays in its region for as long as it exists.
    pub fn fencer(&self, group: GroupId) -> Result<Fencer, RuntimeError> {
        let region = self.region_of(group).ok_or(RuntimeError::NotInGroup(group))?;
        let shard = self.shard_of(region).and_then(|i| self.shards.get(i)).ok_or(RuntimeError::Closed)?;
        Ok(Fencer { region, cmds: shard.cmds.clone(), wake: shard.wake.clone() })
    }

    fn max_message(&self, ring_bytes: usize) -> usize {
        let datagram = match self.cfg.driver {
            crate::config::Driver::Qsm => self.cfg.qsm.max_message_len(),
            crate::config::Driver::TotalOrder => {
                argent_vsync::TotalOrder::max_message_len(self.cfg.qsm.max_message_len())
            }
        };
        let ring = (ring_bytes / 2).saturating_sub(pubring::ENTRY_HEADER);
        datagram.min(ring).saturating_sub(GROUP_TAG_LEN)
    }

    /// Every shard: a publisher writes to whichever shards its groups' regions are on, and
    /// views move regions in and out.
    fn make_lanes(&self, ring_bytes: usize) -> Result<Lanes, RuntimeError> {
        let lanes_mask = if self.shards.len() >= 64 { u64::MAX } else { (1u64 << self.shards.len()) - 1 };
        let space = Arc::new(Signal::default());
        let mut lanes: Vec<Option<PubLane>> = (0..self.shards.len()).map(|_| None).collect();
        for s in shards_in(lanes_mask) {
            let shard = &self.shards[s];
            let (producer, consumer) = rtrb::RingBuffer::new(ring_bytes);
            let port =
                PublisherPort { ring: consumer, space: space.clone(), blocked_on: None, taken: Vec::new() };
            shard.cmds.send(Command::AddPublisher(port)).map_err(|_| RuntimeError::Closed)?;
            shard.wake.wake();
            lanes[s] = Some(PubLane { ring: producer, wake: shard.wake.clone() });
        }
        Ok(Lanes::new(lanes, lanes_mask, self.routes.clone(), space, self.max_message(ring_bytes)))
    }

    /// A publisher bound to `group`: [`Publisher::claim`] and [`Publisher::publish`] go to
    /// it, in each of its regions. A sender need not be a member of the group.
    pub fn publisher(&self, group: GroupId) -> Result<Publisher, RuntimeError> {
        self.publisher_sized(group, self.cfg.publish_ring_bytes)
    }

    /// [`Runtime::publisher`] with rings of `ring_bytes` each (at least [`MIN_PUBLISH_RING`];
    /// a message may take at most half of it): for many low-rate publishers, such as the
    /// proxies of live objects.
    pub fn publisher_sized(&self, group: GroupId, ring_bytes: usize) -> Result<Publisher, RuntimeError> {
        let mask = self.routes.load().1.get(group).ok_or(RuntimeError::UnknownGroup(group))?;
        Ok(Publisher::new(self.make_lanes(ring_bytes.max(MIN_PUBLISH_RING))?, group, mask))
    }

    /// A publisher to every group ([`AnyPublisher::claim_to`], [`AnyPublisher::publish_to`]):
    /// one ring per shard, however many groups.
    pub fn publisher_any(&self) -> Result<AnyPublisher, RuntimeError> {
        Ok(AnyPublisher::new(self.make_lanes(self.cfg.publish_ring_bytes)?))
    }

    /// [`Runtime::publisher_any`] with rings of `ring_bytes` (at least [`MIN_PUBLISH_RING`]).
    pub fn publisher_any_sized(&self, ring_bytes: usize) -> Result<AnyPublisher, RuntimeError> {
        Ok(AnyPublisher::new(self.make_lanes(ring_bytes.max(MIN_PUBLISH_RING))?))
    }

    /// A subscription to `group`: its messages, in per-sender order.
    pub fn subscribe(&self, group: GroupId) -> Result<Subscription, RuntimeError> {
        self.subscribe_groups(&[group])
    }

    /// One subscription to several groups: their messages, in per-sender order within each
    /// region, each with its group ([`Delivery::group_messages`](crate::Delivery::group_messages)). This node must receive
    /// every one of them (be a member of one of its regions).
    pub fn subscribe_groups(&self, groups: &[GroupId]) -> Result<Subscription, RuntimeError> {
        self.subscribe_sized(groups, self.cfg.delivery_ring)
    }

    /// [`Runtime::subscribe_groups`] with rings of `slots` datagrams each (at least
    /// [`MIN_DELIVERY_RING`]): for many low-rate subscriptions, such as the proxies of live
    /// objects (a full ring holds the shard's deliveries back, as for any subscription).
    pub fn subscribe_sized(&self, groups: &[GroupId], slots: usize) -> Result<Subscription, RuntimeError> {
        self.subscribe_waking(groups, slots, &SharedWait::new())
    }

    /// [`Runtime::subscribe_sized`], waking `wait` when deliveries arrive: one thread serves
    /// many subscriptions ([`Subscription::try_recv`] on each, [`SharedWait::wait`] when
    /// none has any).
    pub fn subscribe_waking(
        &self,
        groups: &[GroupId],
        slots: usize,
        wait: &SharedWait,
    ) -> Result<Subscription, RuntimeError> {
        if groups.is_empty() {
            return Err(RuntimeError::NoGroups);
        }
        let mut by_shard: Vec<Vec<RegionId>> = vec![Vec::new(); self.shards.len()];
        let topology = self.topology();
        for g in groups {
            let region = topology.region_of(*g).ok_or(RuntimeError::NotInGroup(*g))?;
            let shard = topology.shard_of(region).ok_or(RuntimeError::NotInGroup(*g))?;
            if !by_shard[shard].contains(&region) {
                by_shard[shard].push(region);
            }
        }
        drop(topology);
        let ready = wait.signal.clone();
        let mut lanes = Vec::new();
        for (s, regions) in by_shard.into_iter().enumerate().filter(|(_, r)| !r.is_empty()) {
            let shard = &self.shards[s];
            let (producer, consumer) = rtrb::RingBuffer::new(slots.max(MIN_DELIVERY_RING));
            let port = SubscriberPort {
                regions,
                ring: producer,
                ready: ready.clone(),
                overflow: Default::default(),
            };
            shard.cmds.send(Command::AddSubscriber(port)).map_err(|_| RuntimeError::Closed)?;
            shard.wake.wake();
            lanes.push(SubLane { ring: consumer });
        }
        let partials = (self.cfg.partial_messages, self.cfg.partial_bytes);
        let framed = self.cfg.driver == crate::config::Driver::TotalOrder;
        Ok(Subscription::new(lanes, groups.to_vec(), self.joined.clone(), ready, partials, framed))
    }

    /// Counters summed over shards (refreshed by the shards every few milliseconds).
    pub fn stats(&self) -> NodeStats {
        let mut sum = NodeStats::default();
        for s in &self.shards {
            let st = s.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            sum.add(&st);
        }
        sum
    }

    /// Stop the shards and wait for them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for s in &self.shards {
            let _ = s.cmds.send(Command::Shutdown);
            s.wake.waker.wake();
        }
        for s in &mut self.shards {
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

fn argent_wire_max() -> usize {
    65_507
}

/// Refuse memberships the runtime cannot serve; the error names the offending entry.
fn validate(cfg: &RuntimeConfig) -> Result<(), RuntimeError> {
    for m in &cfg.members {
        if m.shards == 0 || m.shards > MAX_SHARDS {
            return Err(RuntimeError::BadShards { node: m.id, shards: m.shards });
        }
    }
    let mut ids = std::collections::HashSet::new();
    let mut carried: HashMap<(NodeId, GroupId), RegionId> = HashMap::new();
    for r in &cfg.regions {
        if !ids.insert(r.region) {
            return Err(RuntimeError::DuplicateRegion(r.region));
        }
        if r.groups.contains(&FENCE_GROUP) || r.groups.contains(&FRAGMENT_GROUP) {
            return Err(RuntimeError::ReservedGroup { region: r.region });
        }
        if let Some(node) = r.members.iter().find(|n| !cfg.members.iter().any(|m| m.id == **n)) {
            return Err(RuntimeError::UnknownMember { region: r.region, node: *node });
        }
        for n in &r.members {
            for g in &r.groups {
                if let Some(first) = carried.insert((*n, *g), r.region) {
                    if first != r.region {
                        return Err(RuntimeError::GroupInTwoRegions {
                            node: *n,
                            group: *g,
                            first,
                            second: r.region,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}
