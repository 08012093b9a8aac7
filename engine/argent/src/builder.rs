//! Starting a node: from a membership file (or a [`ClusterConfig`] built in code), or joined
//! through the membership service.

use crate::config::{self, ClusterConfig};
use crate::error::Error;
use crate::membership::Membership;
use crate::node::{GmsParts, Node};
use argent_membership::gms::{ClientConfig, ClientStatus, Member, View};
use argent_membership::service::{LinkEvent, MemberLink};
use argent_membership::Addressing;
use argent_runtime::{Backend, GroupId, NodeId, RegionSpec};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

impl Node {
    /// Start building a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }
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
    key_file: Option<PathBuf>,
    encrypt: Option<bool>,
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

    /// Authenticate every datagram with the cluster key in this file (made by `argent key
    /// new`; overrides the file's `[security] key_file`).
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// With a key: encrypt bodies as well (AEAD; overrides `[security] encrypt`).
    pub fn encrypt(mut self, on: bool) -> Self {
        self.encrypt = Some(on);
        self
    }

    /// Open sockets and start the shards.
    ///
    /// With the GMS and neither a file nor a cluster, the node needs no configuration: the
    /// GMS gives it an id (unless [`NodeBuilder::id`] names one), and it takes a free port
    /// on the interface it reaches the GMS through (or [`NodeBuilder::interface`]).
    pub fn start(mut self) -> Result<Node, Error> {
        let mut cluster = match (self.cluster.take(), self.file.take()) {
            (Some(c), _) => {
                c.check().map_err(Error::Invalid)?;
                c
            }
            (None, Some(path)) => ClusterConfig::load(&path)?,
            (None, None) if self.gms.is_some() => self.config_free()?,
            (None, None) => {
                return Err(Error::Invalid(
                    "no membership: use config_file(), cluster(), or gms() to take everything from the membership service"
                        .into(),
                ))
            }
        };
        let id = self.id.or(cluster.node.as_ref().map(|n| n.id)).ok_or_else(|| {
            Error::Invalid("which member is this? set [node] id in the file or pass --id".into())
        })?;
        if let Some(k) = self.key_file.take() {
            cluster.security.key_file = Some(k);
        }
        if let Some(e) = self.encrypt {
            cluster.security.encrypt = e;
        }
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
                if cluster.protocol.window_datagrams.is_none() {
                    rc.qsm.window_datagrams = rc.qsm.window_for_buffer();
                }
            }
        }
        let names = cluster.groups.iter().map(|g| (g.name.clone(), GroupId(g.id))).collect();
        let Some(replicas) = self.gms else {
            let runtime = argent_runtime::Runtime::start(rc)?;
            return Ok(Node::new(runtime, cluster, id, names, None));
        };
        let timeout = self.gms_timeout.unwrap_or(Duration::from_secs(10));
        let client = self.client.unwrap_or_default();
        let (runtime, gms) = join_gms(&cluster, id, rc, replicas, self.wait_members, timeout, client)?;
        Ok(Node::new(runtime, cluster, id, names, Some(gms)))
    }
}

impl NodeBuilder {
    /// The membership of a node started with the GMS alone: itself, with an id from the GMS
    /// and a free port.
    fn config_free(&mut self) -> Result<ClusterConfig, Error> {
        let replicas = self.gms.clone().unwrap_or_default();
        let timeout = self.gms_timeout.unwrap_or(Duration::from_secs(10));
        let listed = || replicas.values().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
        let id = match self.id {
            Some(id) => id,
            None => {
                // Only this builder's key can apply: there is no file.
                let security = config::SecurityEntry {
                    key_file: self.key_file.clone(),
                    encrypt: self.encrypt.unwrap_or(false),
                };
                let auth = security.auth().map_err(Error::Invalid)?;
                let granted = argent_membership::service::ask_id_keyed(&replicas, timeout, auth.as_ref())
                    .map_err(|e| {
                        Error::Invalid(format!("asking the GMS at {} for a node id: {e}", listed()))
                    })?;
                let node = granted.ok_or_else(|| {
                    Error::Invalid(format!(
                        "no GMS replica at {} answered within {timeout:?}: is `argent gms` running there?",
                        listed()
                    ))
                })?;
                node.0
            }
        };
        self.id = Some(id);
        let interface = match self.interface {
            Some(i) => i,
            None => {
                replicas.values().next().and_then(|a| local_address_toward(*a)).unwrap_or(Ipv4Addr::LOCALHOST)
            }
        };
        self.interface = Some(interface);
        let addr = free_address(interface)?;
        let mut cluster: ClusterConfig =
            toml::from_str("").map_err(|e| Error::Invalid(format!("defaults: {e}")))?;
        cluster.interface = interface;
        cluster.members = vec![config::MemberEntry { id, addr, shards: 1 }];
        cluster.check().map_err(Error::Invalid)?;
        Ok(cluster)
    }
}

/// The local IPv4 address this host sends from toward `to` (no packet is sent).
fn local_address_toward(to: SocketAddr) -> Option<Ipv4Addr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect(to).ok()?;
    match s.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_unspecified() => Some(*a.ip()),
        _ => None,
    }
}

/// A free UDP port on `interface` (the system's choice; released for the runtime to bind).
fn free_address(interface: Ipv4Addr) -> Result<std::net::SocketAddrV4, Error> {
    let s = std::net::UdpSocket::bind((interface, 0))
        .map_err(|e| Error::Invalid(format!("no free UDP port on {interface}: {e}")))?;
    match s.local_addr() {
        Ok(SocketAddr::V4(a)) => Ok(a),
        Ok(other) => Err(Error::Invalid(format!("bound {other}, not an IPv4 address"))),
        Err(e) => Err(Error::Invalid(format!("no free UDP port on {interface}: {e}"))),
    }
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
    let groups_joined = groups.clone();
    let link = MemberLink::start_keyed(member, groups, replicas.clone(), client, tx, rc.auth.clone())
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
                                  // A region carries every group created with it; this node receives only those it joined.
    rc.groups = Some(groups_joined.clone());
    rc.start_view = view.id.0;
    // The ring views; the newer views of regions whose groups changed since come with the
    // first view applied below.
    rc.region_since = view.regions.iter().map(|r| (r.id, r.ring.0)).collect();
    rc.qsm.incarnation = incarnation;
    let runtime = argent_runtime::Runtime::start(rc)?;
    tracing::info!(node = id, view = view.id.0, members = view.members.len(), "joined through the GMS");
    let mut sink = runtime.view_sink();
    let membership =
        Arc::new(Membership::new(link.group_setter(), runtime.groups_handle(), NodeId(id), groups_joined));
    membership.view_installing(&view);
    sink.apply(&view);
    let status = Arc::new(std::sync::Mutex::new((ClientStatus::Member, view.id.0)));
    let follower = {
        let status = status.clone();
        let membership = membership.clone();
        std::thread::Builder::new()
            .name("argent-views".into())
            .spawn(move || {
                while let Ok(ev) = rx.recv() {
                    match ev {
                        LinkEvent::View(v) => {
                            membership.view_installing(&v);
                            sink.apply(&v);
                            status.lock().unwrap_or_else(|e| e.into_inner()).1 = v.id.0;
                            // After the runtime has the view: a join waiting for it may go on.
                            if let Some(me) = v.member(NodeId(id)) {
                                membership.installed_version(me.groups_version);
                            }
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
    Ok((runtime, GmsParts { link, follower: Some(follower), status, membership }))
}
