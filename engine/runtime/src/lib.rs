//! argent's runtime: one shard per core, each a pinned thread running a duty cycle —
//! receive a batch, run the protocol, flush a send batch, fire timers — over a batched
//! transport. Every region is owned by exactly one shard together with its sockets, buffers,
//! ring and flow control. Application threads talk to shards through bounded
//! single-producer rings: a byte ring per publisher and shard (messages written in place) and
//! a ring of delivered datagrams per subscription and shard (messages read in place, released
//! on drop).
//!
//! Many groups share a region: every message carries its group id in a 4-byte tag
//! ([`GROUP_TAG_LEN`]) inside the QSM datagram, written by the publisher handle in front of
//! the application's bytes and stripped again by the subscription, which delivers only its
//! groups' messages. A message to a group is multicast once in each of the group's regions.
//! Nothing is kept per group but entries of lookup tables: no ring, thread or socket.

mod delivery;
mod groups;
/// The publish ring's entry format; public (hidden) for its criterion benchmark only.
#[doc(hidden)]
pub mod pubring;
mod shard;
mod signal;

pub use argent_core::{NodeId, RegionId};
pub use argent_membership::GroupId;
pub use argent_qsm::stream_incarnation;
pub use argent_transport::Backend;
pub use delivery::{Delivery, GroupMessages, Messages};
pub use groups::GROUP_TAG_LEN;

use crate::groups::{GroupMap, GroupSet, Routes};
use crate::shard::{Command, Published, PublisherPort, Shard, ShardView, SubscriberPort};
use crate::signal::Signal;
use argent_transport::{SocketSpec, Waker};
use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;

/// Most shards a node may run (publisher handles keep a bit mask of shards per group).
pub const MAX_SHARDS: usize = 64;

/// A member of the static membership: its id, unicast address (shard i listens on
/// `port + i`) and number of shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// Node id.
    pub id: NodeId,
    /// Unicast address of its first shard.
    pub addr: SocketAddrV4,
    /// Shards it runs (1 to [`MAX_SHARDS`]); region r is owned by shard `r mod shards`.
    pub shards: usize,
}

/// A region: the nodes subscribed to the same groups, its multicast address and its groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// Region id.
    pub region: RegionId,
    /// IP multicast group and port of the region (regions may share one: receivers drop
    /// other regions' datagrams by the region id in the header).
    pub address: SocketAddrV4,
    /// Members (the first is the leader).
    pub members: Vec<NodeId>,
    /// The groups whose messages are multicast in this region. A node may be a member of
    /// several regions, but no two of them may carry the same group.
    pub groups: Vec<GroupId>,
}

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// This node.
    pub me: NodeId,
    /// Every member of the cluster.
    pub members: Vec<MemberSpec>,
    /// Regions (this node joins those it is a member of).
    pub regions: Vec<RegionSpec>,
    /// Interface for multicast (`IP_MULTICAST_IF`, joins).
    pub interface: Ipv4Addr,
    /// Transport backend; `None` probes (io_uring if allowed, else std).
    pub transport: Option<Backend>,
    /// Protocol settings.
    pub qsm: argent_qsm::Config,
    /// Socket receive and send buffer sizes requested, bytes.
    pub socket_buffer: usize,
    /// Datagrams per receive or send system call.
    pub batch: usize,
    /// Pin shard threads to cores.
    pub pin: bool,
    /// Bytes of each publisher's ring (one per shard the publisher reaches).
    pub publish_ring_bytes: usize,
    /// Datagrams each subscription's ring holds (one per shard it listens to).
    pub delivery_ring: usize,
    /// Version of the membership the regions come from (the GMS view id; 1 for a static
    /// file). Every member of a region must start its ring from the same version.
    pub start_view: u64,
    /// Per region, the version its member list dates from, if not `start_view` (the GMS's
    /// `RegionInfo::since`): the ring version every member and sender of it agrees on.
    pub region_since: HashMap<RegionId, u64>,
}

impl RuntimeConfig {
    /// Settings for `me` with defaults for everything but membership.
    pub fn new(me: NodeId, members: Vec<MemberSpec>, regions: Vec<RegionSpec>) -> Self {
        RuntimeConfig {
            me,
            members,
            regions,
            interface: Ipv4Addr::LOCALHOST,
            transport: None,
            // Without a membership service, members silent for 3 s are evicted locally
            // (`argent_qsm` presence); a node joined through the GMS turns this off.
            qsm: argent_qsm::Config {
                member_timeout: Some(Duration::from_secs(3)),
                ..argent_qsm::Config::default()
            },
            socket_buffer: 32 << 20,
            batch: 32,
            pin: true,
            publish_ring_bytes: 2 << 20,
            delivery_ring: 8192,
            start_view: 1,
            region_since: HashMap::new(),
        }
    }
}

/// Why the runtime could not start or serve a request.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// This node is not in the member list.
    #[error("node {0} is not listed among the members")]
    NotAMember(NodeId),
    /// A region lists a member that does not exist.
    #[error("region {region} lists member {node}, which is not in the member list")]
    UnknownMember {
        /// Region.
        region: RegionId,
        /// Member.
        node: NodeId,
    },
    /// A member with zero shards, or more than [`MAX_SHARDS`].
    #[error("member {node} has {shards} shards; use 1 to {MAX_SHARDS}")]
    BadShards {
        /// Member.
        node: NodeId,
        /// Shards it asks for.
        shards: usize,
    },
    /// The protocol refused a region's view (e.g. no members).
    #[error("region {region}: {reason}")]
    BadRegion {
        /// Region.
        region: RegionId,
        /// Why.
        reason: String,
    },
    /// Two regions with the same id.
    #[error("region {0} is listed twice")]
    DuplicateRegion(RegionId),
    /// A node would receive a group's messages twice.
    #[error("node {node} is a member of regions {first} and {second}, which both carry group {}: a node receives each group in one region", group.0)]
    GroupInTwoRegions {
        /// Node.
        node: NodeId,
        /// Group.
        group: GroupId,
        /// One region.
        first: RegionId,
        /// The other.
        second: RegionId,
    },
    /// Bad protocol settings.
    #[error("protocol settings: {0}")]
    Config(#[from] argent_qsm::ConfigError),
    /// Sockets could not be set up.
    #[error("transport: {0}")]
    Transport(#[from] argent_transport::TransportError),
    /// A group no region carries (to publish to).
    #[error("no region carries group {}: it is unknown", .0.0)]
    UnknownGroup(GroupId),
    /// A group this node does not receive (to subscribe).
    #[error("this node is not a member of group {} (or the group is unknown); only members receive", .0.0)]
    NotInGroup(GroupId),
    /// A subscription to no group at all.
    #[error("subscribe to at least one group")]
    NoGroups,
    /// A configuration uses the group id reserved for fences.
    #[error("region {region} carries group {}, which is reserved for fences: use another id", FENCE_GROUP.0)]
    ReservedGroup {
        /// The region.
        region: RegionId,
    },
    /// The shard is gone.
    #[error("the runtime has shut down")]
    Closed,
}

/// Why a message was not accepted for publishing.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The publisher's ring is full; wait for space ([`Publisher::wait_for_space`]).
    #[error("publish ring full: wait for the shard to take messages (wait_for_space)")]
    WouldBlock,
    /// The message does not fit in one datagram (or in the ring).
    #[error("message of {len} bytes exceeds the largest that fits in a datagram ({max} bytes, after the {GROUP_TAG_LEN}-byte group tag); raise datagram_size or split it")]
    TooLarge {
        /// Requested length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The group is unknown, or this publisher was made for another group.
    #[error("this publisher cannot reach group {}: the group is unknown, or the publisher was made for another group (publisher_any reaches every group)", .0.0)]
    NoRoute(GroupId),
    /// `claim`/`publish` without a group on a publisher that is not bound to one.
    #[error("this publisher is not bound to one group: use claim_to / publish_to")]
    NotBound,
    /// The node behind this handle has shut down.
    #[error("the node has shut down")]
    Closed,
}

/// Counters of one node, summed over shards.
#[derive(Clone, Debug, Default)]
pub struct NodeStats {
    /// Protocol counters.
    pub qsm: argent_qsm::Stats,
    /// Receive system calls (or completion batches).
    pub recv_calls: u64,
    /// Send system calls.
    pub send_calls: u64,
    /// Duty cycles run.
    pub cycles: u64,
    /// Members evicted after a silence.
    pub evictions: u64,
    /// Messages to groups that no longer had a region (its last member left): nobody to
    /// deliver them to, dropped and counted.
    pub unrouted: u64,
    /// Datagrams of this node's regions that arrived while no subscription took them, and
    /// were dropped because more than the hold (32 MiB per shard) waited.
    pub unclaimed_dropped: u64,
    /// Bytes in send buffers now.
    pub send_buffered: u64,
    /// Fences asked of this node that found its send buffer full (the requester asks again).
    pub fences_skipped: u64,
}

struct ShardHandle {
    cmds: crossbeam_channel::Sender<Command>,
    wake: ShardWake,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<NodeStats>>,
}

/// Applies GMS views to a running [`Runtime`] ([`Runtime::view_sink`]).
pub struct ViewSink {
    shards: Vec<(crossbeam_channel::Sender<Command>, ShardWake)>,
    region_shard: HashMap<RegionId, usize>,
    /// Members of the last view and their incarnations (`None`: from the start configuration).
    known: HashMap<NodeId, Option<u64>>,
    unknown_regions: std::collections::HashSet<RegionId>,
}

impl std::fmt::Debug for ViewSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewSink").field("shards", &self.shards.len()).finish_non_exhaustive()
    }
}

impl ViewSink {
    /// Install `view`: every region this node runs gets its new members (departed members cut
    /// out of the ring, joiners added), departed nodes' streams are retired, and restarted
    /// nodes' old streams too. Regions created after the start are reported once and left
    /// alone (a node takes part in regions that exist when it starts).
    pub fn apply(&mut self, view: &argent_membership::gms::View) {
        let mut members = HashMap::new();
        for m in &view.members {
            match m.addr {
                std::net::SocketAddr::V4(a) => {
                    members.insert(m.node, (a, usize::from(m.shards).max(1)));
                }
                std::net::SocketAddr::V6(a) => {
                    tracing::warn!(node = %m.node, addr = %a, "IPv6 member addresses are not supported; ignoring")
                }
            }
        }
        let mut departed = Vec::new();
        let mut superseded = Vec::new();
        for (node, inc) in &self.known {
            match view.member(*node) {
                None => {
                    departed.push(*node);
                    // Its exact stream too, so late traffic cannot bring it back.
                    if let Some(old) = inc {
                        superseded.push(argent_qsm::stream_id(*node, stream_incarnation(*old)));
                    }
                }
                Some(m) => {
                    if let Some(old) = inc.filter(|i| *i != m.incarnation) {
                        superseded.push(argent_qsm::stream_id(*node, stream_incarnation(old)));
                    }
                }
            }
        }
        let present: std::collections::HashSet<RegionId> = view.regions.iter().map(|r| r.id).collect();
        let mut gone: Vec<Vec<RegionId>> = vec![Vec::new(); self.shards.len()];
        self.region_shard.retain(|r, shard| {
            let keep = present.contains(r);
            if !keep {
                tracing::warn!(region = %r, view = view.id.0, "region gone from the view (its last member left): dropped");
                gone[*shard].push(*r);
            }
            keep
        });
        self.known = view.members.iter().map(|m| (m.node, Some(m.incarnation))).collect();
        let mut per_shard: Vec<Vec<argent_qsm::RegionView>> = vec![Vec::new(); self.shards.len()];
        for r in &view.regions {
            match self.region_shard.get(&r.id) {
                Some(shard) => per_shard[*shard].push(argent_qsm::RegionView {
                    region: r.id,
                    id: argent_core::ViewId(r.since.0.max(1)),
                    members: r.members.clone(),
                }),
                None => {
                    if self.unknown_regions.insert(r.id) {
                        tracing::warn!(region = %r.id, view = view.id.0, "a region created after this node started: not joined (restart the node to take part)");
                    }
                }
            }
        }
        if !departed.is_empty() {
            tracing::warn!(view = view.id.0, departed = ?departed, "members left the view");
        }
        for (((cmds, wake), regions), gone) in self.shards.iter().zip(per_shard).zip(gone) {
            let v = ShardView {
                members: members.clone(),
                regions,
                gone,
                departed: departed.clone(),
                superseded: superseded.clone(),
            };
            let _ = cmds.send(Command::View(v));
            wake.waker.wake();
        }
    }
}

/// Wakes a shard blocked in its transport, only when it sleeps.
#[derive(Clone)]
pub(crate) struct ShardWake {
    sleeping: Arc<AtomicBool>,
    waker: Waker,
}

impl ShardWake {
    fn wake(&self) {
        // No fence on this per-message path: a commit that races with the shard falling asleep
        // (the flag read before the commit is visible) is picked up when the shard's short
        // sleep ends (`PUBLISHER_WAIT`). A plain load first, so the busy case costs no
        // read-modify-write.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}

/// The group id reserved for fences: a fence is a message of this group whose body is the
/// request's key and nonce (8 + 8 bytes, little-endian), published by a node's shard in
/// answer to [`Runtime::request_fences`] anywhere in the region; [`Delivery::fences`] yields
/// them to every subscription of the region.
pub const FENCE_GROUP: GroupId = GroupId(argent_wire::message::FENCE_GROUP);

/// Members of each region as installed by the shards (the region's current view here).
pub(crate) type RegionMembers = Arc<std::sync::RwLock<HashMap<RegionId, Vec<NodeId>>>>;

/// The members of one region as this node's shard has installed them
/// ([`Runtime::group_members`]); cheap to clone, readable from any thread.
#[derive(Clone)]
pub struct GroupMembers {
    region: RegionId,
    members: RegionMembers,
}

impl GroupMembers {
    /// The members now.
    pub fn now(&self) -> Vec<NodeId> {
        self.members.read().unwrap_or_else(|e| e.into_inner()).get(&self.region).cloned().unwrap_or_default()
    }
}

impl std::fmt::Debug for GroupMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMembers").field("region", &self.region).field("members", &self.now()).finish()
    }
}

/// A running node: its shards, the regions they own and where each group goes.
pub struct Runtime {
    shards: Vec<ShardHandle>,
    /// Group → bit mask of the shards owning one of its regions (where publishers write).
    routes: Arc<Routes>,
    /// Shards owning at least one region.
    all_lanes: u64,
    /// Group → the region this node receives it in.
    mine: GroupMap<RegionId>,
    region_shard: HashMap<RegionId, usize>,
    members: RegionMembers,
    backend: Backend,
    cfg: RuntimeConfig,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("shards", &self.shards.len()).field("backend", &self.backend).finish()
    }
}

/// Shards in a mask, lowest first.
fn shards_in(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let s = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            s
        })
    })
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
        if r.groups.contains(&FENCE_GROUP) {
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

impl Runtime {
    /// Open sockets, start one pinned shard thread per configured shard, join regions.
    pub fn start(cfg: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let mut cfg = cfg;
        if cfg.qsm.incarnation == 0 {
            cfg.qsm.incarnation = incarnation();
        }
        cfg.qsm.validate()?;
        let me = cfg.members.iter().find(|m| m.id == cfg.me).ok_or(RuntimeError::NotAMember(cfg.me))?.clone();
        validate(&cfg)?;
        let shard_of = |r: RegionId| (r.0 as usize) % me.shards;
        let mut routes: HashMap<GroupId, u64> = HashMap::new();
        let mut mine = Vec::new();
        let mut all_lanes = 0u64;
        for r in &cfg.regions {
            let bit = 1u64 << shard_of(r.region);
            all_lanes |= bit;
            for g in &r.groups {
                *routes.entry(*g).or_default() |= bit;
            }
            if r.members.contains(&cfg.me) {
                mine.extend(r.groups.iter().map(|g| (*g, r.region)));
            }
        }
        let routes = Arc::new(Routes::new(routes.into_iter().collect()));
        let mine = GroupMap::new(mine);
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let epoch = std::time::Instant::now();
        let mut shards = Vec::with_capacity(me.shards);
        let mut region_shard = HashMap::new();
        let members = RegionMembers::default();
        let mut backend = None;
        for index in 0..me.shards {
            // A shard owns its regions whether or not this node is a member: a sender need not
            // be one (it publishes and gets acknowledgements, but joins no group socket).
            let owned: Vec<RegionSpec> =
                cfg.regions.iter().filter(|r| shard_of(r.region) == index).cloned().collect();
            for r in &owned {
                region_shard.insert(r.region, index);
            }
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
            };
            let transport = argent_transport::open(cfg.transport, &spec)?;
            backend = Some(transport.backend());
            let (tx, rx) = crossbeam_channel::unbounded();
            let sleeping = Arc::new(AtomicBool::new(false));
            let wake = ShardWake { sleeping: sleeping.clone(), waker: transport.waker() };
            let stats = Arc::new(Mutex::new(NodeStats::default()));
            let shard = Shard::new(
                &cfg,
                owned,
                transport,
                rx,
                sleeping,
                Published { stats: stats.clone(), members: members.clone() },
                epoch,
            )?;
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
        Ok(Runtime { shards, routes, all_lanes, mine, region_shard, members, backend, cfg })
    }

    /// The transport backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A handle that applies membership views from the GMS to the running shards (from any
    /// thread). The runtime starts from one view's regions; later views change their members.
    pub fn view_sink(&self) -> ViewSink {
        let known = self.cfg.members.iter().map(|m| (m.id, None)).collect();
        ViewSink {
            shards: self.shards.iter().map(|s| (s.cmds.clone(), s.wake.clone())).collect(),
            region_shard: self.region_shard.clone(),
            known,
            unknown_regions: std::collections::HashSet::new(),
        }
    }

    /// The settings the runtime started with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// The shard owning `region`, if any region has that id.
    pub fn shard_of(&self, region: RegionId) -> Option<usize> {
        self.region_shard.get(&region).copied()
    }

    /// The groups this node receives (it is a member of one of their regions), ascending.
    pub fn member_groups(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = self.mine.iter().map(|(g, _)| g).collect();
        v.sort_unstable();
        v
    }

    /// The region in which this node receives `group`.
    pub fn region_of(&self, group: GroupId) -> Option<RegionId> {
        self.mine.get(group).copied()
    }

    /// The members of the region in which this node receives `group`, as its shard has
    /// installed them (membership views change them); `None` if it receives no such group.
    pub fn group_members(&self, group: GroupId) -> Option<GroupMembers> {
        let region = self.region_of(group)?;
        Some(GroupMembers { region, members: self.members.clone() })
    }

    /// Ask every node of the region in which this node receives `group` — this one
    /// included — for a *fence*: a message of [`FENCE_GROUP`] naming `key` and `nonce`,
    /// published after everything that node had published there, which every subscription
    /// of the region sees ([`Delivery::fences`]). A fence a subscriber delivers lies after
    /// its join point on that sender's stream; a subscriber that delivered a fence has
    /// everything its sender published before. The request travels once, unreliably: ask
    /// again with a new `nonce` if fences do not all come. Live objects join with it.
    pub fn request_fences(&self, group: GroupId, key: u64, nonce: u64) -> Result<(), RuntimeError> {
        let region = self.region_of(group).ok_or(RuntimeError::NotInGroup(group))?;
        let shard =
            self.region_shard.get(&region).and_then(|i| self.shards.get(*i)).ok_or(RuntimeError::Closed)?;
        shard.cmds.send(Command::RequestFences { region, key, nonce }).map_err(|_| RuntimeError::Closed)?;
        shard.wake.wake();
        Ok(())
    }

    fn max_message(&self) -> usize {
        let datagram = self.cfg.qsm.max_message_len();
        let ring = (self.cfg.publish_ring_bytes / 2).saturating_sub(pubring::ENTRY_HEADER);
        datagram.min(ring).saturating_sub(GROUP_TAG_LEN)
    }

    fn make_publisher(
        &self,
        lanes_mask: u64,
        bound: Option<(GroupId, u64)>,
    ) -> Result<Publisher, RuntimeError> {
        let space = Arc::new(Signal::default());
        let mut lanes: Vec<Option<PubLane>> = (0..self.shards.len()).map(|_| None).collect();
        for s in shards_in(lanes_mask) {
            let shard = &self.shards[s];
            let (producer, consumer) = rtrb::RingBuffer::new(self.cfg.publish_ring_bytes);
            let port = PublisherPort { ring: consumer, space: space.clone(), blocked_on: None, partial: 0 };
            shard.cmds.send(Command::AddPublisher(port)).map_err(|_| RuntimeError::Closed)?;
            shard.wake.wake();
            lanes[s] = Some(PubLane { ring: producer, wake: shard.wake.clone() });
        }
        Ok(Publisher {
            lanes,
            lanes_mask,
            routes: self.routes.clone(),
            bound,
            space,
            max_message: self.max_message(),
        })
    }

    /// A publisher bound to `group`: [`Publisher::claim`] and [`Publisher::publish`] go to
    /// it, in each of its regions. A sender need not be a member of the group.
    pub fn publisher(&self, group: GroupId) -> Result<Publisher, RuntimeError> {
        let mask = self.routes.get(group).ok_or(RuntimeError::UnknownGroup(group))?;
        self.make_publisher(mask, Some((group, mask)))
    }

    /// A publisher to every group ([`Publisher::claim_to`], [`Publisher::publish_to`]):
    /// one ring per shard, however many groups.
    pub fn publisher_any(&self) -> Result<Publisher, RuntimeError> {
        self.make_publisher(self.all_lanes, None)
    }

    /// A subscription to `group`: its messages, in per-sender order.
    pub fn subscribe(&self, group: GroupId) -> Result<Subscription, RuntimeError> {
        self.subscribe_groups(&[group])
    }

    /// One subscription to several groups: their messages, in per-sender order within each
    /// region, each with its group ([`Delivery::group_messages`]). This node must receive
    /// every one of them (be a member of one of its regions).
    pub fn subscribe_groups(&self, groups: &[GroupId]) -> Result<Subscription, RuntimeError> {
        if groups.is_empty() {
            return Err(RuntimeError::NoGroups);
        }
        let mut by_shard: Vec<Vec<RegionId>> = vec![Vec::new(); self.shards.len()];
        for g in groups {
            let region = *self.mine.get(*g).ok_or(RuntimeError::NotInGroup(*g))?;
            let shard = self.shard_of(region).ok_or(RuntimeError::NotInGroup(*g))?;
            if !by_shard[shard].contains(&region) {
                by_shard[shard].push(region);
            }
        }
        let ready = Arc::new(Signal::default());
        let mut lanes = Vec::new();
        for (s, regions) in by_shard.into_iter().enumerate().filter(|(_, r)| !r.is_empty()) {
            let shard = &self.shards[s];
            let (producer, consumer) = rtrb::RingBuffer::new(self.cfg.delivery_ring);
            let port = SubscriberPort {
                regions,
                ring: producer,
                ready: ready.clone(),
                overflow: Default::default(),
            };
            shard.cmds.send(Command::AddSubscriber(port)).map_err(|_| RuntimeError::Closed)?;
            shard.wake.wake();
            lanes.push(SubLane { ring: consumer, wake: shard.wake.clone() });
        }
        Ok(Subscription { lanes, next: 0, filter: Arc::new(GroupSet::new(groups)), fences: false, ready })
    }

    /// Counters summed over shards (refreshed by the shards every few milliseconds).
    pub fn stats(&self) -> NodeStats {
        let mut sum = NodeStats::default();
        for s in &self.shards {
            let st = s.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            add_stats(&mut sum, &st);
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

/// A fresh sender-stream incarnation (from the clock, never 0): a restarted process gets a
/// new one, so its streams are new streams rather than duplicates of the old ones.
pub fn fresh_incarnation() -> u16 {
    incarnation()
}

fn incarnation() -> u16 {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    ((ms / 10) % 65_535) as u16 + 1
}

fn argent_wire_max() -> usize {
    65_507
}

fn add_stats(sum: &mut NodeStats, s: &NodeStats) {
    sum.qsm.merge(&s.qsm);
    sum.recv_calls += s.recv_calls;
    sum.send_calls += s.send_calls;
    sum.cycles += s.cycles;
    sum.evictions += s.evictions;
    sum.unrouted += s.unrouted;
    sum.unclaimed_dropped += s.unclaimed_dropped;
    sum.send_buffered += s.send_buffered;
    sum.fences_skipped += s.fences_skipped;
}

/// A publisher's ring to one shard.
struct PubLane {
    ring: rtrb::Producer<u8>,
    wake: ShardWake,
}

/// Publishes from one application thread, to one group ([`Runtime::publisher`]) or to any
/// ([`Runtime::publisher_any`]). Holds one byte ring per shard it reaches; each entry is
/// `group tag | message`, and the shard multicasts it in every region of the group it owns.
pub struct Publisher {
    /// Indexed by shard; `None` for shards this publisher does not reach.
    lanes: Vec<Option<PubLane>>,
    lanes_mask: u64,
    routes: Arc<Routes>,
    bound: Option<(GroupId, u64)>,
    space: Arc<Signal>,
    max_message: usize,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let free: Vec<usize> = self.lanes.iter().flatten().map(|l| l.ring.slots()).collect();
        f.debug_struct("Publisher").field("group", &self.bound.map(|b| b.0)).field("free", &free).finish()
    }
}

impl Publisher {
    /// The group this publisher is bound to, if any.
    pub fn group(&self) -> Option<GroupId> {
        self.bound.map(|(g, _)| g)
    }

    /// The largest message accepted (the datagram's room minus the group tag).
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Where `group` goes: the shards (lanes) holding its regions.
    #[inline]
    fn route(&self, group: Option<GroupId>) -> Result<(GroupId, u64), PublishError> {
        match (group, self.bound) {
            (None, Some(b)) => Ok(b),
            (None, None) => Err(PublishError::NotBound),
            (Some(g), Some((b, mask))) if g == b => Ok((g, mask)),
            // A publisher made for one group publishes to that group only.
            (Some(g), Some(_)) => Err(PublishError::NoRoute(g)),
            (Some(g), None) => match self.routes.get(g) {
                Some(mask) if mask & !self.lanes_mask == 0 => Ok((g, mask)),
                _ => Err(PublishError::NoRoute(g)),
            },
        }
    }

    /// Reserve `len` bytes for a message to the bound group, to write it in place;
    /// `WouldBlock` when the ring is full.
    pub fn claim(&mut self, len: usize) -> Result<PubClaim<'_>, PublishError> {
        let (group, mask) = self.route(None)?;
        self.claim_routed(group, mask, len)
    }

    /// Reserve `len` bytes for a message to `group`, to write it in place; `WouldBlock` when
    /// the ring is full.
    pub fn claim_to(&mut self, group: GroupId, len: usize) -> Result<PubClaim<'_>, PublishError> {
        let (group, mask) = self.route(Some(group))?;
        self.claim_routed(group, mask, len)
    }

    fn claim_routed(&mut self, group: GroupId, mask: u64, len: usize) -> Result<PubClaim<'_>, PublishError> {
        if len > self.max_message {
            return Err(PublishError::TooLarge { len, max: self.max_message });
        }
        if mask == 0 {
            return Err(PublishError::NoRoute(group));
        }
        let entry = GROUP_TAG_LEN + len;
        let first = mask.trailing_zeros() as usize;
        let rest = mask & mask.wrapping_sub(1);
        // A group whose regions live on several shards: the message is copied into the other
        // rings at commit; make sure they have room now (only this thread fills them).
        for s in shards_in(rest) {
            let lane = self.lanes[s].as_mut().ok_or(PublishError::NoRoute(group))?;
            if lane.ring.is_abandoned() {
                return Err(PublishError::Closed);
            }
            if pubring::reserve(&mut lane.ring, entry).is_none() {
                return Err(PublishError::WouldBlock);
            }
        }
        let (before, tail) = self.lanes.split_at_mut(first);
        let Some((Some(lane), after)) = tail.split_first_mut() else {
            return Err(PublishError::NoRoute(group));
        };
        let PubLane { ring, wake } = lane;
        if ring.is_abandoned() {
            return Err(PublishError::Closed);
        }
        let (chunk, skip) = pubring::reserve(ring, entry).ok_or(PublishError::WouldBlock)?;
        Ok(PubClaim { chunk: Some(chunk), skip, len, group, wake, first, rest, before, after })
    }

    /// Publish a copy of `msg` to the bound group; `WouldBlock` when the ring is full.
    pub fn publish(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let mut c = self.claim(msg.len())?;
        c.bytes_mut().copy_from_slice(msg);
        c.commit();
        Ok(())
    }

    /// Publish a copy of `msg` to `group`; `WouldBlock` when the ring is full.
    pub fn publish_to(&mut self, group: GroupId, msg: &[u8]) -> Result<(), PublishError> {
        let mut c = self.claim_to(group, msg.len())?;
        c.bytes_mut().copy_from_slice(msg);
        c.commit();
        Ok(())
    }

    /// Publish to the bound group, waiting while the ring is full.
    pub fn publish_blocking(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let (group, _) = self.route(None)?;
        self.publish_blocking_to(group, msg)
    }

    /// Publish to `group`, waiting while the ring is full.
    pub fn publish_blocking_to(&mut self, group: GroupId, msg: &[u8]) -> Result<(), PublishError> {
        self.publish_until(group, msg, None)
    }

    /// Publish to `group`, waiting at most `timeout` while the ring is full
    /// ([`PublishError::WouldBlock`] if it stays full).
    pub fn publish_within(
        &mut self,
        group: GroupId,
        msg: &[u8],
        timeout: Duration,
    ) -> Result<(), PublishError> {
        self.publish_until(group, msg, Some(std::time::Instant::now() + timeout))
    }

    fn publish_until(
        &mut self,
        group: GroupId,
        msg: &[u8],
        deadline: Option<std::time::Instant>,
    ) -> Result<(), PublishError> {
        loop {
            match self.publish_to(group, msg) {
                Err(PublishError::WouldBlock) if deadline.is_none_or(|d| std::time::Instant::now() < d) => {
                    self.wait_for_space_to(group, msg.len(), Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Whether an entry of `len` bytes fits in every ring of `mask` now.
    fn fits(&mut self, mask: u64, len: usize) -> bool {
        shards_in(mask).all(|s| {
            self.lanes[s]
                .as_mut()
                .is_some_and(|l| pubring::reserve(&mut l.ring, GROUP_TAG_LEN + len).is_some())
        })
    }

    fn wake_lanes(&self, mask: u64) {
        for s in shards_in(mask) {
            if let Some(l) = &self.lanes[s] {
                l.wake.wake();
            }
        }
    }

    /// Publish to the bound group, awaiting room in the ring.
    pub fn publish_async<'a>(&'a mut self, msg: &'a [u8]) -> PublishFuture<'a> {
        PublishFuture { publisher: self, group: None, msg }
    }

    /// Publish to `group`, awaiting room in the ring.
    pub fn publish_async_to<'a>(&'a mut self, group: GroupId, msg: &'a [u8]) -> PublishFuture<'a> {
        PublishFuture { publisher: self, group: Some(group), msg }
    }

    /// Wait up to `timeout` until the ring has room for a message of `len` bytes to the bound
    /// group (an unbound publisher: room in every ring).
    pub fn wait_for_space(&mut self, len: usize, timeout: Duration) -> bool {
        let mask = self.bound.map_or(self.lanes_mask, |(_, m)| m);
        self.wait_mask(mask, len, timeout)
    }

    /// Wait up to `timeout` until the rings of `group` have room for a message of `len` bytes.
    pub fn wait_for_space_to(&mut self, group: GroupId, len: usize, timeout: Duration) -> bool {
        match self.route(Some(group)) {
            Ok((_, mask)) => self.wait_mask(mask, len, timeout),
            Err(_) => false,
        }
    }

    fn wait_mask(&mut self, mask: u64, len: usize, timeout: Duration) -> bool {
        if self.fits(mask, len) {
            return true;
        }
        self.space.arm_thread();
        if self.fits(mask, len) {
            self.space.disarm();
            return true;
        }
        self.wake_lanes(mask);
        self.space.park(timeout);
        self.space.disarm();
        self.fits(mask, len)
    }

    /// Whether the shards have taken every message committed so far into the protocol.
    pub fn is_drained(&self) -> bool {
        self.lanes.iter().flatten().all(|l| l.ring.slots() == l.ring.buffer().capacity())
    }

    /// Make the shards pick up what was published (they are woken on every commit anyway
    /// when they sleep; this is for callers that batch).
    pub fn flush(&self) {
        self.wake_lanes(self.lanes_mask);
    }
}

/// Future of [`Publisher::publish_async`] and [`Publisher::publish_async_to`].
#[derive(Debug)]
pub struct PublishFuture<'a> {
    publisher: &'a mut Publisher,
    group: Option<GroupId>,
    msg: &'a [u8],
}

impl Future for PublishFuture<'_> {
    type Output = Result<(), PublishError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let p = &mut *this.publisher;
        let (group, mask) = match p.route(this.group) {
            Ok(r) => r,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match p.publish_to(group, this.msg) {
            Err(PublishError::WouldBlock) => {
                p.space.arm_task(cx.waker());
                if p.fits(mask, this.msg.len()) {
                    cx.waker().wake_by_ref();
                }
                p.wake_lanes(mask);
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// Space reserved in the publish ring(s): write the message, then [`PubClaim::commit`].
pub struct PubClaim<'a> {
    chunk: Option<rtrb::chunks::WriteChunk<'a, u8>>,
    skip: usize,
    len: usize,
    group: GroupId,
    wake: &'a ShardWake,
    /// The shard of `chunk`, and the other shards the group's regions live on.
    first: usize,
    rest: u64,
    /// The publisher's other lanes, below and above `first`.
    before: &'a mut [Option<PubLane>],
    after: &'a mut [Option<PubLane>],
}

impl std::fmt::Debug for PubClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubClaim").field("group", &self.group).field("len", &self.len).finish()
    }
}

impl PubClaim<'_> {
    /// Publish the message written.
    pub fn commit(mut self) {
        let Some(mut chunk) = self.chunk.take() else { return };
        let entry = pubring::payload(&mut chunk, self.skip, GROUP_TAG_LEN + self.len);
        entry[..GROUP_TAG_LEN].copy_from_slice(&self.group.0.to_le_bytes());
        for s in shards_in(self.rest) {
            let lane = if s < self.first { &mut self.before[s] } else { &mut self.after[s - self.first - 1] };
            let Some(lane) = lane else { continue };
            // Room was checked at claim time and only this thread fills the ring.
            if let Some((mut c, skip)) = pubring::reserve(&mut lane.ring, entry.len()) {
                pubring::payload(&mut c, skip, entry.len()).copy_from_slice(entry);
                pubring::commit_entry(c, skip, entry.len());
                lane.wake.wake();
            }
        }
        pubring::commit_entry(chunk, self.skip, GROUP_TAG_LEN + self.len);
        self.wake.wake();
    }

    /// The group the message goes to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The reserved bytes, to write the message in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self.chunk.as_mut() {
            Some(chunk) => &mut pubring::payload(chunk, self.skip, GROUP_TAG_LEN + self.len)[GROUP_TAG_LEN..],
            None => &mut [],
        }
    }
}

impl AsMut<[u8]> for PubClaim<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}

/// A subscription's ring from one shard.
struct SubLane {
    ring: rtrb::Consumer<argent_qsm::Delivery>,
    wake: ShardWake,
}

/// Receives the messages of one or more groups, a datagram at a time.
pub struct Subscription {
    /// One per shard owning a region of the subscribed groups (usually one).
    lanes: Vec<SubLane>,
    next: usize,
    filter: Arc<GroupSet>,
    /// Hand out datagrams that hold only fences, too.
    fences: bool,
    ready: Arc<Signal>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queued: usize = self.lanes.iter().map(|l| l.ring.slots()).sum();
        f.debug_struct("Subscription").field("queued", &queued).finish()
    }
}

impl Subscription {
    /// Hand out datagrams holding fences ([`Delivery::fences`]) even when they hold no
    /// message of the subscription's groups (otherwise such datagrams are skipped).
    pub fn with_fences(mut self) -> Self {
        self.fences = true;
        self
    }

    /// The next delivered datagram holding messages of the subscription's groups (or
    /// fences, see [`Subscription::with_fences`]), if one is ready. Its messages are slices of the received buffer, released when the `Delivery` is
    /// dropped.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        let n = self.lanes.len();
        for k in 0..n {
            let i = if self.next + k >= n { self.next + k - n } else { self.next + k };
            let lane = &mut self.lanes[i];
            while let Ok(d) = lane.ring.pop() {
                lane.wake.wake(); // the shard may be holding deliveries back for room
                let d = Delivery::new(d, self.filter.clone());
                if d.has_any() || (self.fences && d.fences().next().is_some()) {
                    self.next = if i + 1 == n { 0 } else { i + 1 };
                    return Some(d);
                }
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.lanes.iter().all(|l| l.ring.is_empty())
    }

    /// Wait up to `timeout` for the next delivered datagram.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Delivery> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(d) = self.try_recv() {
                return Some(d);
            }
            if self.is_closed() {
                return None;
            }
            self.ready.arm_thread();
            if !self.is_empty() {
                self.ready.disarm();
                continue;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                self.ready.disarm();
                return None;
            }
            self.ready.park((deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Wait for the next delivered datagram; `Err(Closed)` once the node has shut down.
    pub fn recv(&mut self) -> Result<Delivery, Closed> {
        loop {
            if let Some(d) = self.recv_timeout(Duration::from_millis(500)) {
                return Ok(d);
            }
            if self.is_closed() {
                return Err(Closed);
            }
        }
    }

    /// Whether the node behind this subscription has shut down.
    pub fn is_closed(&self) -> bool {
        self.lanes.iter().any(|l| l.ring.is_abandoned())
    }

    /// Await the next delivered datagram.
    pub fn recv_async(&mut self) -> RecvFuture<'_> {
        RecvFuture { sub: self }
    }
}

/// The node behind a handle has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the node has shut down")]
pub struct Closed;

/// Future of [`Subscription::recv_async`].
#[derive(Debug)]
pub struct RecvFuture<'a> {
    sub: &'a mut Subscription,
}

impl Future for RecvFuture<'_> {
    type Output = Delivery;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Delivery> {
        let this = self.get_mut();
        if let Some(d) = this.sub.try_recv() {
            return Poll::Ready(d);
        }
        this.sub.ready.arm_task(cx.waker());
        match this.sub.try_recv() {
            Some(d) => {
                this.sub.ready.disarm();
                Poll::Ready(d)
            }
            None => Poll::Pending,
        }
    }
}
