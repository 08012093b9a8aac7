//! What a node needs to start: members, regions, transport and protocol settings.

use argent_core::{NodeId, RegionId};
use argent_membership::GroupId;
use argent_transport::Backend;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

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
    /// Messages larger than a datagram that a subscription holds partly received, at most
    /// (the oldest is dropped beyond, counted: a sender killed mid-message leaves one).
    pub partial_messages: usize,
    /// Bytes of such partial messages a subscription holds, at most.
    pub partial_bytes: usize,
    /// Version of the membership the regions come from (the GMS view id; 1 for a static
    /// file). Every member of a region must start its ring from the same version.
    pub start_view: u64,
    /// Per region, the version its member list dates from, if not `start_view` (the GMS's
    /// `RegionInfo::since`): the ring version every member and sender of it agrees on.
    pub region_since: HashMap<RegionId, u64>,
    /// The groups this node joined, when its regions carry others too (through the GMS, a
    /// region carries every group created with it); `None`: every group of its regions.
    pub groups: Option<Vec<GroupId>>,
    /// A cluster key: every datagram sealed and opened under it (`None`: unauthenticated).
    /// Sealing takes [`argent_auth::TRAILER`] bytes of each datagram.
    pub auth: Option<crate::guard::AuthConfig>,
    /// How the regions deliver: every member of the cluster must use the same.
    pub driver: Driver,
}

/// How a node's regions deliver (decision 014). Every member of a cluster runs the same
/// driver: a total-order region's messages are frames a QSM-only node would not understand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// QSM: reliable, in each sender's order.
    #[default]
    Qsm,
    /// QSM's streams ordered by a sequencer per region (`argent_vsync`): every member
    /// delivers the same sequence of messages from all senders, with a flush at each view
    /// change (virtual synchrony).
    TotalOrder,
}

impl Driver {
    /// The driver's name in configuration files and on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Qsm => "qsm",
            Driver::TotalOrder => "total-order",
        }
    }

    /// The driver named `name` ([`Driver::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [Driver::Qsm, Driver::TotalOrder].into_iter().find(|d| d.name() == name)
    }
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
            partial_messages: argent_wire::fragment::DEFAULT_PARTIALS,
            partial_bytes: argent_wire::fragment::DEFAULT_PARTIAL_BYTES,
            start_view: 1,
            region_since: HashMap::new(),
            groups: None,
            auth: None,
            driver: Driver::Qsm,
        }
    }
}
