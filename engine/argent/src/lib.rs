//! argent: live distributed objects over a scalable reliable multicast engine.
//!
//! This facade starts a node from a static membership file (or a [`ClusterConfig`] built in
//! code), and gives applications publishers and subscriptions by group name:
//!
//! ```no_run
//! let node = argent::Node::builder().config_file("cluster.toml").id(1).start()?;
//! let mut publisher = node.publisher("quotes")?;
//! let mut claim = publisher.claim(5)?;          // write in place ...
//! claim.bytes_mut().copy_from_slice(b"hello");
//! claim.commit();                                // ... then commit
//! publisher.publish(b"world")?;                  // or copy; WouldBlock when the ring is full
//! let mut sub = node.subscribe("quotes")?;
//! let batch = sub.recv()?;                       // blocking; try_recv / recv_async too
//! for msg in batch.messages() {                  // borrowed slices of the received datagram
//!     println!("{} bytes from {}", msg.len(), batch.sender_node());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Many groups share a region (the nodes listed in exactly the same groups), so one publisher
//! and one subscription serve any number of groups:
//!
//! ```no_run
//! # let node = argent::Node::builder().config_file("cluster.toml").id(1).start()?;
//! let (quotes, trades) = (node.group_id("quotes")?, node.group_id("trades")?);
//! let mut publisher = node.publisher_any()?;     // one ring per shard, whatever the groups
//! publisher.publish_to(trades, b"42 @ 7.5")?;    // claim_to(group, len) writes in place
//! let mut sub = node.subscribe_groups(&[quotes, trades])?;
//! let batch = sub.recv()?;
//! for (group, msg) in batch.group_messages() {   // only the subscribed groups' messages
//!     println!("{} bytes in group {}", msg.len(), group.0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod config;
pub mod live;

/// The object layer (references, types, object kinds), re-exported for applications.
pub use argent_objects as objects;
pub use live::{
    Directory, DirectoryError, Live, LiveError, LiveStats, ObjectKey, OpenOptions, DIRECTORY_ROLE,
};

pub use argent_runtime::{
    Backend, Closed, Delivery, GroupId, GroupMembers, GroupMessages, Messages, NodeId, NodeStats, PubClaim,
    PublishError, Publisher, RegionId, RegionSpec, Subscription, FENCE_GROUP, GROUP_TAG_LEN,
};
pub use config::{ClusterConfig, ConfigError};

use argent_membership::gms::{ClientConfig, ClientStatus, Member, View};
use argent_membership::service::{LinkEvent, MemberLink};
use argent_membership::Addressing;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use thiserror::Error;

/// Why a node could not start or serve a request.
#[derive(Debug, Error)]
pub enum Error {
    /// The membership file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Settings that do not fit together.
    #[error("{0}")]
    Invalid(String),
    /// The runtime.
    #[error(transparent)]
    Runtime(#[from] argent_runtime::RuntimeError),
    /// A group that is not in the membership file.
    #[error("no group named {0:?} in the membership file")]
    UnknownGroup(String),
}

/// Builds a [`Node`].
#[derive(Debug, Default)]
pub struct NodeBuilder {
    file: Option<PathBuf>,
    cluster: Option<ClusterConfig>,
    id: Option<u32>,
    transport: Option<Backend>,
    pin: Option<bool>,
    gms: Option<BTreeMap<u64, SocketAddr>>,
    interface: Option<std::net::Ipv4Addr>,
    wait_members: usize,
    gms_timeout: Option<Duration>,
    client: Option<ClientConfig>,
}

impl NodeBuilder {
    /// Read membership from a TOML file.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Use membership built in code.
    pub fn cluster(mut self, cluster: ClusterConfig) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Which member this process is (overrides the file's `[node]`).
    pub fn id(mut self, id: u32) -> Self {
        self.id = Some(id);
        self
    }

    /// Force a transport backend (overrides the file).
    pub fn transport(mut self, backend: Backend) -> Self {
        self.transport = Some(backend);
        self
    }

    /// Pin shard threads to cores (default on).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = Some(pin);
        self
    }

    /// The interface for IP multicast (overrides the file's `interface`; on a LAN, this
    /// node's own address).
    pub fn interface(mut self, addr: std::net::Ipv4Addr) -> Self {
        self.interface = Some(addr);
        self
    }

    /// Take membership from the GMS replicas (raft id → address) instead of the file: the
    /// file (or [`NodeBuilder::cluster`]) still gives this node's address, its groups and the
    /// protocol settings; the GMS decides who is in, the regions, their addresses and rings.
    pub fn gms(mut self, replicas: BTreeMap<u64, SocketAddr>) -> Self {
        self.gms = Some(replicas);
        self
    }

    /// With the GMS: start once the view has at least this many members (default: this node).
    pub fn wait_members(mut self, n: usize) -> Self {
        self.wait_members = n;
        self
    }

    /// With the GMS: how long to wait for admission (default 10 s).
    pub fn gms_timeout(mut self, t: Duration) -> Self {
        self.gms_timeout = Some(t);
        self
    }

    /// With the GMS: heartbeat and retry timing of this member.
    pub fn gms_client(mut self, c: ClientConfig) -> Self {
        self.client = Some(c);
        self
    }

    /// Open sockets and start the shards.
    pub fn start(self) -> Result<Node, Error> {
        let cluster = match (self.cluster, self.file) {
            (Some(c), _) => {
                c.check().map_err(Error::Invalid)?;
                c
            }
            (None, Some(path)) => ClusterConfig::load(&path)?,
            (None, None) => {
                return Err(Error::Invalid("no membership: use config_file() or cluster()".into()))
            }
        };
        let id = self.id.or(cluster.node.as_ref().map(|n| n.id)).ok_or_else(|| {
            Error::Invalid("which member is this? set [node] id in the file or pass --id".into())
        })?;
        let mut rc = cluster.runtime(id).map_err(Error::Invalid)?;
        if self.transport.is_some() {
            rc.transport = self.transport;
        }
        if let Some(pin) = self.pin {
            rc.pin = pin;
        }
        if let Some(i) = self.interface {
            rc.interface = i;
            if cluster.protocol.datagram_size.is_none() {
                rc.qsm.datagram_size = argent_transport::path_datagram(i).map_or(rc.qsm.datagram_size, |d| {
                    d.clamp(argent_qsm::MIN_DATAGRAM, config::MAX_AUTO_DATAGRAM)
                });
            }
        }
        let names = cluster.groups.iter().map(|g| (g.name.clone(), GroupId(g.id))).collect();
        let Some(replicas) = self.gms else {
            let runtime = argent_runtime::Runtime::start(rc)?;
            return Ok(Node { runtime, cluster, id, names, gms: None });
        };
        let timeout = self.gms_timeout.unwrap_or(Duration::from_secs(10));
        let client = self.client.unwrap_or_default();
        let (runtime, gms) = join_gms(&cluster, id, rc, replicas, self.wait_members, timeout, client)?;
        Ok(Node { runtime, cluster, id, names, gms: Some(gms) })
    }
}

/// The membership link of a node that joined through the GMS, and the thread applying views.
#[derive(Debug)]
struct GmsParts {
    link: MemberLink,
    follower: Option<std::thread::JoinHandle<()>>,
    status: Arc<std::sync::Mutex<(ClientStatus, u64)>>,
}

/// How long a starting node waits for its ports to be released before it concludes that
/// another process holds them.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Register with the GMS, wait for a view with this node (and `wait_members` members), start
/// the runtime from that view's regions, and follow later views.
fn join_gms(
    cluster: &ClusterConfig,
    id: u32,
    mut rc: argent_runtime::RuntimeConfig,
    replicas: BTreeMap<u64, SocketAddr>,
    wait_members: usize,
    timeout: Duration,
    client: ClientConfig,
) -> Result<(argent_runtime::Runtime, GmsParts), Error> {
    let me = cluster.members.iter().find(|m| m.id == id).expect("checked by runtime()");
    let groups: Vec<GroupId> =
        cluster.groups.iter().filter(|g| g.members.contains(&id)).map(|g| GroupId(g.id)).collect();
    if groups.len() > argent_membership::gms::MAX_GROUPS_PER_MEMBER {
        return Err(Error::Invalid(format!(
            "node {id} is in {} groups; the GMS accepts at most {}",
            groups.len(),
            argent_membership::gms::MAX_GROUPS_PER_MEMBER
        )));
    }
    if id > argent_membership::gms::MAX_NODE_ID {
        return Err(Error::Invalid(format!(
            "node id {id} is above {}: ids must fit 16 bits",
            argent_membership::gms::MAX_NODE_ID
        )));
    }
    // Milliseconds since the epoch: higher after every restart, as the GMS requires.
    let incarnation_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64);
    let incarnation = argent_runtime::stream_incarnation(incarnation_ms);
    let member = Member {
        node: NodeId(id),
        incarnation: incarnation_ms,
        addr: SocketAddr::V4(me.addr),
        shards: me.shards as u16,
        groups_version: 0,
    };
    // Choose the transport before joining: once in the view, the region waits for this
    // node, so a slow backend probe must not happen after (the result is cached).
    if rc.transport.is_none() {
        if let Err(why) = argent_transport::probe_uring() {
            tracing::info!(%why, "io_uring unavailable: the std transport will be used");
        }
    }
    // Registering would replace whatever incarnation of this id the GMS has: refuse first if
    // this node's ports stay taken, most often by another process running as the same id.
    // (A process just killed may hold them a little longer: its io_uring sockets are
    // released asynchronously after it exits; a restart waits for that.)
    for shard in 0..me.shards.max(1) {
        let addr = std::net::SocketAddrV4::new(*me.addr.ip(), me.addr.port().wrapping_add(shard as u16));
        let until = std::time::Instant::now() + PORT_RELEASE_WAIT;
        while let Err(e) = std::net::UdpSocket::bind(addr) {
            if std::time::Instant::now() >= until {
                return Err(Error::Invalid(format!(
                    "node {id}'s address {addr} is not free ({e}): is another process running as node {id}? \
                     every process needs its own id (--id); the GMS was not contacted"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (tx, rx) = mpsc::channel();
    let link = MemberLink::start(member, groups, replicas.clone(), client, tx)
        .map_err(|e| Error::Invalid(format!("GMS link: {e}")))?;
    let deadline = std::time::Instant::now() + timeout;
    let mine = |v: &View| v.member(NodeId(id)).is_some_and(|m| m.incarnation == incarnation_ms);
    let view = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(LinkEvent::View(v)) if mine(&v) && v.members.len() >= wait_members => break v,
            Ok(LinkEvent::Status(ClientStatus::Evicted)) => {
                return Err(Error::Invalid(format!(
                    "the GMS refused node {id}: it was evicted before it could install a view (unreachable for the eviction timeout?), or a newer incarnation of it is registered; start it again"
                )))
            }
            Ok(_) => {}
            Err(_) => {
                let addrs: Vec<String> = replicas.values().map(|a| a.to_string()).collect();
                return Err(Error::Invalid(format!(
                    "node {id} was not admitted with {wait_members} members within {timeout:?} by the GMS at {}: \
                     is `argent gms` running there, and are the other members up?",
                    addrs.join(",")
                )));
            }
        }
    };
    rc.members = view
        .members
        .iter()
        .map(|m| match m.addr {
            SocketAddr::V4(a) => {
                Ok(argent_runtime::MemberSpec { id: m.node, addr: a, shards: usize::from(m.shards).max(1) })
            }
            SocketAddr::V6(a) => {
                Err(Error::Invalid(format!("member {} has an IPv6 address {a}: not supported", m.node)))
            }
        })
        .collect::<Result<_, _>>()?;
    rc.regions = view
        .regions
        .iter()
        .map(|r| match r.addressing {
            Addressing::Multicast(address) | Addressing::Shared(address) => {
                Ok(RegionSpec { region: r.id, address, members: r.members.clone(), groups: r.groups.clone() })
            }
            Addressing::Unicast => Err(Error::Invalid(format!(
                "region {} is served by unicast fan-out, which the runtime does not support yet: \
                 give the GMS a larger multicast pool (--multicast-count)",
                r.id
            ))),
        })
        .collect::<Result<_, _>>()?;
    rc.qsm.member_timeout = None; // the GMS detects failures
    rc.start_view = view.id.0;
    rc.region_since = view.regions.iter().map(|r| (r.id, r.since.0)).collect();
    rc.qsm.incarnation = incarnation;
    let runtime = argent_runtime::Runtime::start(rc)?;
    tracing::info!(node = id, view = view.id.0, members = view.members.len(), "joined through the GMS");
    let mut sink = runtime.view_sink();
    sink.apply(&view);
    let status = Arc::new(std::sync::Mutex::new((ClientStatus::Member, view.id.0)));
    let follower = {
        let status = status.clone();
        std::thread::Builder::new()
            .name("argent-views".into())
            .spawn(move || {
                while let Ok(ev) = rx.recv() {
                    match ev {
                        LinkEvent::View(v) => {
                            sink.apply(&v);
                            status.lock().unwrap_or_else(|e| e.into_inner()).1 = v.id.0;
                        }
                        LinkEvent::Status(s) => {
                            if s == ClientStatus::Evicted {
                                tracing::error!(node = id, "evicted by the GMS: this node no longer takes part; restart it to rejoin");
                            }
                            status.lock().unwrap_or_else(|e| e.into_inner()).0 = s;
                        }
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("starting the view thread: {e}")))?
    };
    Ok((runtime, GmsParts { link, follower: Some(follower), status }))
}

/// A running argent node.
#[derive(Debug)]
pub struct Node {
    runtime: argent_runtime::Runtime,
    cluster: ClusterConfig,
    id: u32,
    names: HashMap<String, GroupId>,
    gms: Option<GmsParts>,
}

impl Node {
    /// Start building a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// This node's member id.
    pub fn id(&self) -> NodeId {
        NodeId(self.id)
    }

    /// The membership it runs with.
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// The transport backend in use.
    pub fn backend(&self) -> Backend {
        self.runtime.backend()
    }

    /// The id of the group named `name`.
    pub fn group_id(&self, name: &str) -> Result<GroupId, Error> {
        self.names.get(name).copied().ok_or_else(|| Error::UnknownGroup(name.into()))
    }

    /// The groups this node receives (it is listed among their members), ascending.
    pub fn member_groups(&self) -> Vec<GroupId> {
        self.runtime.member_groups()
    }

    /// The regions the node runs with (computed from the membership file's groups).
    pub fn regions(&self) -> &[RegionSpec] {
        &self.runtime.config().regions
    }

    /// A publisher to `group` (any member of the cluster may publish; it need not receive).
    pub fn publisher(&self, group: &str) -> Result<Publisher, Error> {
        Ok(self.runtime.publisher(self.group_id(group)?)?)
    }

    /// A publisher to any group: [`Publisher::claim_to`] and [`Publisher::publish_to`].
    pub fn publisher_any(&self) -> Result<Publisher, Error> {
        Ok(self.runtime.publisher_any()?)
    }

    /// A subscription to `group` (this node must be one of its members).
    pub fn subscribe(&self, group: &str) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe(self.group_id(group)?)?)
    }

    /// One subscription to several groups; [`Delivery::group_messages`] says which group each
    /// message went to.
    pub fn subscribe_groups(&self, groups: &[GroupId]) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe_groups(groups)?)
    }

    /// The current members of the region in which this node receives `group`.
    pub fn group_members(&self, group: GroupId) -> Option<GroupMembers> {
        self.runtime.group_members(group)
    }

    /// Ask every node of `group`'s region for a fence (see
    /// [`argent_runtime::Runtime::request_fences`]); live objects join with it.
    pub fn request_fences(&self, group: GroupId, key: u64, nonce: u64) -> Result<(), Error> {
        Ok(self.runtime.request_fences(group, key, nonce)?)
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        self.runtime.stats()
    }

    /// With the GMS: this member's standing and the last view id it installed.
    pub fn membership(&self) -> Option<(ClientStatus, u64)> {
        self.gms.as_ref().map(|g| *g.status.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stop the shards; with the GMS, leave the membership first so the others install a
    /// view without this node at once instead of waiting for the eviction timeout.
    pub fn shutdown(self) {
        if let Some(mut g) = self.gms {
            g.link.leave();
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while std::time::Instant::now() < deadline
                && g.status.lock().unwrap_or_else(|e| e.into_inner()).0 != ClientStatus::Left
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            g.link.shutdown();
            if let Some(t) = g.follower.take() {
                let _ = t.join();
            }
        }
        self.runtime.shutdown();
    }
}
