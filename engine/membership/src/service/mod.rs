//! The GMS on real sockets: a replica thread ([`GmsService`]) and a member's link to the
//! replicas ([`MemberLink`]), both moving [`GmsMsg`]s over UDP (fragmented when a view is
//! larger than a datagram). The protocol logic stays in the sans-IO [`crate::gms`] types;
//! this module only owns sockets, clocks and threads.

mod disk;
mod frag;
mod seal;

pub use disk::Disk;
pub use frag::{fragment, Reassembly, FRAG_HEADER, FRAG_PAYLOAD};

use crate::gms::{
    ClientConfig, ClientStatus, Gms, GmsClient, GmsConfig, GmsError, GmsMsg, GmsStats, Grant, KeyEpoch,
    Member, Peer, StatusReport, View,
};
use crate::groups::GroupId;
use argent_auth::{AuthConfig, ANONYMOUS, REPLICA_IDS};
use argent_core::{Instant, NodeId};
use seal::{Sealed, WireSeal};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;

/// Longest a service thread sleeps before checking for shutdown.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// A GMS service that could not start.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// Bad settings.
    #[error(transparent)]
    Gms(#[from] GmsError),
    /// The socket could not be opened.
    #[error("GMS socket on {addr}: {source}")]
    Socket {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: io::Error,
    },
    /// The replica list does not give this replica's address.
    #[error("replica {0} has no address in the replica list")]
    NoAddress(u64),
    /// The data directory could not be read or written.
    #[error("GMS data directory {dir}: {source}")]
    Disk {
        /// Directory.
        dir: std::path::PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// Time since a fixed start, as the sans-IO types want it.
#[derive(Copy, Clone, Debug)]
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.elapsed().as_nanos() as u64)
    }
    fn until(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.now())
    }
}

struct Wire {
    socket: UdpSocket,
    reasm: Reassembly,
    next_id: u32,
    buf: Vec<u8>,
    /// Messages that could not be decoded.
    malformed: u64,
    /// Keyed clusters: seals and opens every datagram.
    seal: Option<WireSeal>,
    /// Keyed clusters: messages refused because their sealer may not send them (a member
    /// speaking for another, a non-replica sending raft traffic or views).
    wrong_sender: u64,
}

impl Wire {
    /// A wire on `socket`; with `auth`, sealing as `id` (see [`argent_auth::REPLICA_IDS`]).
    fn new(socket: UdpSocket, auth: Option<(&AuthConfig, u32)>) -> Wire {
        Wire {
            socket,
            reasm: Reassembly::default(),
            next_id: 0,
            buf: vec![0; 65_536],
            malformed: 0,
            seal: auth.map(|(a, id)| WireSeal::new(a, id)),
            wrong_sender: 0,
        }
    }

    /// A wire of a process without a node id (status, id and key requests) on an ephemeral
    /// port of `peer`'s address family; with `auth`, sealed as [`ANONYMOUS`].
    fn anonymous(peer: SocketAddr, auth: Option<&AuthConfig>) -> io::Result<Wire> {
        let bind: SocketAddr = if peer.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
        Ok(Wire::new(UdpSocket::bind(bind)?, auth.map(|a| (a, ANONYMOUS))))
    }

    fn send(&mut self, to: SocketAddr, msg: &GmsMsg) {
        self.next_id = self.next_id.wrapping_add(1);
        for d in fragment(&msg.encode(), self.next_id) {
            let d = match &mut self.seal {
                Some(s) => s.seal(&d),
                None => &d,
            };
            if let Err(e) = self.socket.send_to(d, to) {
                tracing::debug!(%to, error = %e, "GMS send failed");
            }
        }
    }

    /// The replica's report with what this wire refused.
    fn report(&self, gms: &Gms) -> StatusReport {
        let mut r = gms.report();
        let a = self.seal.as_ref().map(WireSeal::stats).unwrap_or_default();
        r.refusals.unsealed = a.short + a.version + a.mode;
        r.refusals.forged = a.forged;
        r.refusals.replayed = a.replay + a.stale;
        r.refusals.unknown_epoch = a.epoch;
        r.refusals.wrong_sender = self.wrong_sender;
        r.refusals.malformed = self.malformed + self.reasm.malformed;
        r
    }

    /// Counts a message refused for its sender.
    fn refuse(&mut self, from: SocketAddr, who: Sealed) {
        self.wrong_sender += 1;
        tracing::debug!(%from, ?who, "dropping a GMS message its sealer may not send");
    }

    /// Wait up to `timeout` for one whole message, and who sealed it.
    fn recv(&mut self, timeout: Duration) -> Option<(SocketAddr, GmsMsg, Sealed)> {
        let _ = self.socket.set_read_timeout(Some(timeout.clamp(Duration::from_micros(100), MAX_SLEEP)));
        let (n, from) = self.socket.recv_from(&mut self.buf).ok()?;
        let (body, who) = match &mut self.seal {
            Some(s) => s.open(&mut self.buf[..n])?,
            None => (&self.buf[..n], Sealed::Open),
        };
        let whole = self.reasm.push(from, body, std::time::Instant::now())?;
        match GmsMsg::decode(&whole) {
            Ok(m) => Some((from, m, who)),
            Err(e) => {
                self.malformed += 1;
                tracing::debug!(%from, error = %e, "dropping a malformed GMS message");
                None
            }
        }
    }
}

/// A service thread and its stop flag: stopped and joined on shutdown or drop.
#[derive(Debug)]
struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Spawn `body` with the flag it must poll.
    fn spawn(name: String, body: impl FnOnce(&AtomicBool) + Send + 'static) -> io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name(name).spawn(move || body(&flag))?;
        Ok(Worker { stop, thread: Some(thread) })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Settings of a replica service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The replica (its `id` and `replicas` must match `peers`).
    pub gms: GmsConfig,
    /// UDP address of every replica, this one included, by raft id.
    pub peers: BTreeMap<u64, SocketAddr>,
    /// Where the replica keeps its raft log, hard state and snapshots, so it can restart
    /// under the same id; `None`: memory only (a crashed replica cannot come back).
    pub data_dir: Option<std::path::PathBuf>,
}

/// What a running replica reports.
#[derive(Clone, Debug)]
pub struct ServiceStatus {
    /// The replica's report (view, leader, suspects).
    pub report: StatusReport,
    /// Its counters.
    pub stats: GmsStats,
    /// Keyed: datagrams opened and refused by the seal's checks.
    pub auth: argent_auth::OpenStats,
    /// Keyed: messages refused because their sealer may not send them.
    pub wrong_sender: u64,
}

/// A GMS replica running on its own thread.
#[derive(Debug)]
pub struct GmsService {
    addr: SocketAddr,
    status: Arc<Mutex<ServiceStatus>>,
    worker: Worker,
}

impl GmsService {
    /// Bind this replica's address and start.
    pub fn start(cfg: ServiceConfig) -> Result<GmsService, ServiceError> {
        Self::start_keyed(cfg, None)
    }

    /// As [`GmsService::start`]; with `auth`, every datagram is sealed and opened under the
    /// cluster key, and a message is taken only from a sealer that may send it (raft
    /// traffic from the replica at that address, a member's requests from that member).
    pub fn start_keyed(cfg: ServiceConfig, auth: Option<AuthConfig>) -> Result<GmsService, ServiceError> {
        cfg.gms.validate()?;
        let me = cfg.gms.id;
        let bind = *cfg.peers.get(&me).ok_or(ServiceError::NoAddress(me))?;
        let socket = UdpSocket::bind(bind).map_err(|source| ServiceError::Socket { addr: bind, source })?;
        let addr = socket.local_addr().map_err(|source| ServiceError::Socket { addr: bind, source })?;
        let clock = Clock(std::time::Instant::now());
        let (gms, disk) = match &cfg.data_dir {
            None => (Gms::new(cfg.gms.clone(), clock.now())?, None),
            Some(dir) => {
                let (disk, restored) =
                    Disk::open(dir).map_err(|source| ServiceError::Disk { dir: dir.clone(), source })?;
                let resumed = !restored.entries.is_empty() || restored.snapshot.is_some();
                let gms =
                    Gms::restore(GmsConfig { persist: true, ..cfg.gms.clone() }, clock.now(), restored)?;
                if resumed {
                    tracing::info!(replica = me, dir = %dir.display(), view = %gms.view().id, "GMS replica restored from disk");
                }
                (gms, Some(disk))
            }
        };
        let status = Arc::new(Mutex::new(ServiceStatus {
            report: gms.report(),
            stats: gms.stats().clone(),
            auth: Default::default(),
            wrong_sender: 0,
        }));
        let wire = Wire::new(socket, auth.as_ref().map(|a| (a, REPLICA_IDS | me as u32)));
        let worker = {
            let status = status.clone();
            Worker::spawn(format!("argent-gms-{me}"), move |stop| {
                serve(gms, disk, wire, cfg.peers, clock, stop, &status)
            })
            .map_err(|source| ServiceError::Socket { addr, source })?
        };
        tracing::info!(replica = me, %addr, "GMS replica started");
        Ok(GmsService { addr, status, worker })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its current view, leader and counters.
    pub fn status(&self) -> ServiceStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Stop the thread.
    pub fn shutdown(self) {
        drop(self.worker);
    }
}

fn serve(
    mut gms: Gms,
    mut disk: Option<Disk>,
    mut wire: Wire,
    peers: BTreeMap<u64, SocketAddr>,
    clock: Clock,
    stop: &AtomicBool,
    status: &Mutex<ServiceStatus>,
) {
    let by_addr: HashMap<SocketAddr, u64> = peers.iter().map(|(id, a)| (*a, *id)).collect();
    let mut members: HashMap<NodeId, SocketAddr> = HashMap::new();
    let mut reported = (gms.view().id, gms.leader_id(), gms.suspects());
    while !stop.load(Ordering::Relaxed) {
        if let Some((from, msg, who)) = wire.recv(clock.until(gms.poll_timeout())) {
            let now = clock.now();
            let allowed = match (&msg, who) {
                (_, Sealed::Open) | (GmsMsg::StatusRequest | GmsMsg::AskId { .. }, _) => true,
                // Any key holder may hand out a new epoch (`argent key rotate`).
                (GmsMsg::AddKey(_), Sealed::Anonymous | Sealed::Member(_)) => true,
                (GmsMsg::Raft(_), Sealed::Replica(id)) => by_addr.get(&from) == Some(&id),
                (m, Sealed::Member(node)) => m.sender_node() == Some(NodeId(node)),
                _ => false,
            };
            if !allowed {
                wire.refuse(from, who);
            } else {
                match msg {
                    GmsMsg::StatusRequest => {
                        let report = wire.report(&gms);
                        wire.send(from, &GmsMsg::Status(Box::new(report)));
                    }
                    GmsMsg::AskId { nonce } => match gms.grant_id(now) {
                        Grant::Id(node) => wire.send(from, &GmsMsg::IdGranted { nonce, node: Some(node) }),
                        Grant::Full => wire.send(from, &GmsMsg::IdGranted { nonce, node: None }),
                        Grant::NotLeader(leader) => wire.send(from, &GmsMsg::NotLeader { leader }),
                    },
                    GmsMsg::AddKey(k) if wire.seal.is_some() => {
                        if gms.add_key(now, k) {
                            tracing::info!(replica = gms.id(), "a new key epoch proposed");
                        }
                    }
                    GmsMsg::AddKey(_) => {
                        tracing::warn!(%from, "a key epoch sent to a GMS without a key: ignored")
                    }
                    GmsMsg::Raft(_) => match by_addr.get(&from) {
                        Some(id) => gms.handle_message(now, Peer::Replica(*id), msg),
                        None => tracing::debug!(%from, "raft message from an address that is not a replica"),
                    },
                    msg => {
                        if let Some(node) = msg.sender_node() {
                            members.insert(node, from);
                            gms.handle_message(now, Peer::Member(node), msg);
                        }
                    }
                }
            }
        }
        let now = clock.now();
        if gms.poll_timeout() <= now {
            gms.handle_timeout(now);
        }
        // Durable before anything queued after it is sent (raft's rule).
        while let Some(op) = gms.poll_persist() {
            if let Some(d) = disk.as_mut() {
                if let Err(e) = d.write(op) {
                    tracing::error!(replica = gms.id(), error = %e, "GMS data directory write failed: replica stops");
                    return;
                }
            }
        }
        while let Some((peer, msg)) = gms.poll_transmit() {
            let to = match peer {
                Peer::Replica(id) => peers.get(&id).copied(),
                Peer::Member(node) => members.get(&node).copied(),
            };
            if let Some(to) = to {
                wire.send(to, &msg);
            }
        }
        let now_reported = (gms.view().id, gms.leader_id(), gms.suspects());
        if now_reported != reported {
            let (view, leader, suspects) = &now_reported;
            tracing::info!(replica = gms.id(), view = %view, leader = ?leader, suspects = ?suspects, "GMS state");
            reported = now_reported;
            if let Some(seal) = wire.seal.as_mut() {
                seal.learn(gms.view());
            }
        }
        let mut s = status.lock().expect("status lock");
        // The report holds the view by reference: refreshing it is cheap, and its refusal
        // counts move with every forged datagram.
        s.report = wire.report(&gms);
        if s.stats != *gms.stats() {
            s.stats = gms.stats().clone();
        }
        s.auth = wire.seal.as_ref().map(WireSeal::stats).unwrap_or_default();
        s.wrong_sender = wire.wrong_sender;
    }
}

/// Ask a replica for its status (view, leader, suspects); `None` if it does not answer in
/// `timeout`.
pub fn query_status(replica: SocketAddr, timeout: Duration) -> io::Result<Option<StatusReport>> {
    query_status_keyed(replica, timeout, None)
}

/// As [`query_status`], in a keyed cluster (sealed as a process without an id).
pub fn query_status_keyed(
    replica: SocketAddr,
    timeout: Duration,
    auth: Option<&AuthConfig>,
) -> io::Result<Option<StatusReport>> {
    let mut wire = Wire::anonymous(replica, auth)?;
    let deadline = std::time::Instant::now() + timeout;
    let mut next_try = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        if std::time::Instant::now() >= next_try {
            wire.send(replica, &GmsMsg::StatusRequest);
            next_try = std::time::Instant::now() + Duration::from_millis(200);
        }
        if let Some((from, GmsMsg::Status(report), who)) = wire.recv(Duration::from_millis(20)) {
            if from == replica && matches!(who, Sealed::Open | Sealed::Replica(_)) {
                return Ok(Some(*report));
            }
        }
    }
    Ok(None)
}

/// Hands a new key epoch to the GMS (`argent key rotate`): sends it, sealed as a process
/// without an id, to every replica until one reports a view that carries it; `Ok(false)` if
/// none does within `timeout`.
pub fn add_key_keyed(
    replicas: &BTreeMap<u64, SocketAddr>,
    auth: &AuthConfig,
    key: KeyEpoch,
    timeout: Duration,
) -> io::Result<bool> {
    let Some(first) = replicas.values().next() else { return Ok(false) };
    let mut wire = Wire::anonymous(*first, Some(auth))?;
    let deadline = std::time::Instant::now() + timeout;
    let mut next_try = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        if std::time::Instant::now() >= next_try {
            for to in replicas.values() {
                wire.send(*to, &GmsMsg::AddKey(key.clone()));
                wire.send(*to, &GmsMsg::StatusRequest);
            }
            next_try = std::time::Instant::now() + Duration::from_millis(200);
        }
        if let Some((_, GmsMsg::Status(report), Sealed::Replica(_))) = wire.recv(Duration::from_millis(20)) {
            if report.view.keys.iter().any(|k| k.epoch == key.epoch) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Asks the GMS for a node id no member holds ([`GmsMsg::AskId`]), trying each replica
/// and following the leader; `Ok(None)` if no replica answers within `timeout`.
pub fn ask_id(replicas: &BTreeMap<u64, SocketAddr>, timeout: Duration) -> io::Result<Option<NodeId>> {
    ask_id_keyed(replicas, timeout, None)
}

/// As [`ask_id`], in a keyed cluster (sealed as a process without an id; only a replica's
/// answer counts).
pub fn ask_id_keyed(
    replicas: &BTreeMap<u64, SocketAddr>,
    timeout: Duration,
    auth: Option<&AuthConfig>,
) -> io::Result<Option<NodeId>> {
    let Some(first) = replicas.values().next() else { return Ok(None) };
    let mut wire = Wire::anonymous(*first, auth)?;
    let nonce =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let addrs: Vec<SocketAddr> = replicas.values().copied().collect();
    let deadline = std::time::Instant::now() + timeout;
    let (mut target, mut next_try) = (0usize, std::time::Instant::now());
    while std::time::Instant::now() < deadline {
        if std::time::Instant::now() >= next_try {
            wire.send(addrs[target % addrs.len()], &GmsMsg::AskId { nonce });
            next_try = std::time::Instant::now() + Duration::from_millis(200);
            target += 1;
        }
        match wire
            .recv(Duration::from_millis(20))
            .filter(|(_, _, who)| matches!(who, Sealed::Open | Sealed::Replica(_)))
        {
            Some((_, GmsMsg::IdGranted { nonce: n, node }, _)) if n == nonce => {
                return node.map(Some).ok_or_else(|| io::Error::other("the GMS has no node id left to give"));
            }
            Some((_, GmsMsg::NotLeader { leader: Some(l) }, _)) => {
                if let Some(i) = replicas.keys().position(|id| *id == l) {
                    target = i;
                    next_try = std::time::Instant::now();
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Something the membership link tells its owner.
#[derive(Clone, Debug)]
pub enum LinkEvent {
    /// A view to install (in order).
    View(Arc<View>),
    /// The member's standing changed (admitted, left, evicted).
    Status(ClientStatus),
}

enum LinkCmd {
    SetGroups(Vec<GroupId>),
    Leave,
}

/// Changes a member's group set through its [`MemberLink`] (cloneable; does nothing once
/// the link stopped).
#[derive(Clone)]
pub struct GroupSetter {
    cmds: mpsc::Sender<LinkCmd>,
}

impl std::fmt::Debug for GroupSetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSetter").finish_non_exhaustive()
    }
}

impl GroupSetter {
    /// Change the group set (applied in a later view).
    pub fn set_groups(&self, groups: Vec<GroupId>) {
        let _ = self.cmds.send(LinkCmd::SetGroups(groups));
    }
}

/// A member's link to the GMS replicas, on its own thread.
#[derive(Debug)]
pub struct MemberLink {
    cmds: mpsc::Sender<LinkCmd>,
    worker: Worker,
}

impl MemberLink {
    /// Register `member` with `groups` at the replicas (raft id → address) and keep it
    /// registered; `events` receives views in order and status changes.
    pub fn start(
        member: Member,
        groups: Vec<GroupId>,
        replicas: BTreeMap<u64, SocketAddr>,
        cfg: ClientConfig,
        events: mpsc::Sender<LinkEvent>,
    ) -> io::Result<MemberLink> {
        Self::start_keyed(member, groups, replicas, cfg, events, None)
    }

    /// As [`MemberLink::start`]; with `auth`, sealed as the member's node id, and only the
    /// replicas' sealed messages are taken.
    pub fn start_keyed(
        member: Member,
        groups: Vec<GroupId>,
        replicas: BTreeMap<u64, SocketAddr>,
        cfg: ClientConfig,
        events: mpsc::Sender<LinkEvent>,
        auth: Option<AuthConfig>,
    ) -> io::Result<MemberLink> {
        if replicas.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no GMS replica addresses given"));
        }
        let any = *replicas.values().next().expect("non-empty");
        let bind = SocketAddr::new(if any.ip().is_loopback() { any.ip() } else { member.addr.ip() }, 0);
        let socket =
            UdpSocket::bind(bind).or_else(|_| UdpSocket::bind(SocketAddr::new(member.addr.ip(), 0)))?;
        let clock = Clock(std::time::Instant::now());
        let wire = Wire::new(socket, auth.as_ref().map(|a| (a, member.node.0)));
        let client = GmsClient::new(member, groups, replicas.keys().copied().collect(), cfg, clock.now());
        let (cmds, rx) = mpsc::channel();
        let worker = Worker::spawn("argent-gms-link".into(), move |stop| {
            link(client, wire, replicas, clock, stop, rx, events)
        })?;
        Ok(MemberLink { cmds, worker })
    }

    /// Change the group set (applied in a later view).
    pub fn set_groups(&self, groups: Vec<GroupId>) {
        let _ = self.cmds.send(LinkCmd::SetGroups(groups));
    }

    /// A handle that changes the group set from any thread, as [`MemberLink::set_groups`].
    pub fn group_setter(&self) -> GroupSetter {
        GroupSetter { cmds: self.cmds.clone() }
    }

    /// Say goodbye: the member is removed in the next view.
    pub fn leave(&self) {
        let _ = self.cmds.send(LinkCmd::Leave);
    }

    /// Stop the thread (without leaving: the GMS will evict after its timeout).
    pub fn shutdown(self) {
        drop(self.worker);
    }
}

fn link(
    mut client: GmsClient,
    mut wire: Wire,
    replicas: BTreeMap<u64, SocketAddr>,
    clock: Clock,
    stop: &AtomicBool,
    cmds: mpsc::Receiver<LinkCmd>,
    events: mpsc::Sender<LinkEvent>,
) {
    let by_addr: HashMap<SocketAddr, u64> = replicas.iter().map(|(id, a)| (*a, *id)).collect();
    let mut status = client.status();
    let mut leaving_since: Option<std::time::Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = cmds.try_recv() {
            let now = clock.now();
            match cmd {
                LinkCmd::SetGroups(g) => client.set_groups(now, g),
                LinkCmd::Leave => {
                    client.leave(now);
                    leaving_since = Some(std::time::Instant::now());
                }
            }
        }
        let wait = client.poll_timeout().map_or(MAX_SLEEP, |t| clock.until(t));
        if let Some((from, msg, who)) = wire.recv(wait) {
            match (by_addr.get(&from), who) {
                (Some(r), Sealed::Open) => client.handle_message(clock.now(), *r, msg),
                (Some(r), Sealed::Replica(id)) if id == *r => client.handle_message(clock.now(), *r, msg),
                _ => wire.refuse(from, who),
            }
        }
        let now = clock.now();
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.handle_timeout(now);
        }
        while let Some((r, msg)) = client.poll_transmit() {
            if let Some(to) = replicas.get(&r) {
                wire.send(*to, &msg);
            }
        }
        while let Some(v) = client.poll_view() {
            if let Some(seal) = wire.seal.as_mut() {
                seal.learn(&v);
            }
            if events.send(LinkEvent::View(v)).is_err() {
                return; // owner gone
            }
        }
        if client.status() != status {
            status = client.status();
            tracing::info!(node = %client.member().node, status = ?status, "membership");
            if events.send(LinkEvent::Status(status)).is_err() {
                return;
            }
        }
        if matches!(status, ClientStatus::Left | ClientStatus::Evicted) {
            return;
        }
        if leaving_since.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            return; // no answer to the goodbye: the GMS evicts us anyway
        }
    }
}
