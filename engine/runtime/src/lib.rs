//! argent's runtime: one shard per core, each a pinned thread running a duty cycle —
//! receive a batch, run the protocol, flush a send batch, fire timers — over a batched
//! transport. Every region is owned by exactly one shard together with its sockets, buffers,
//! ring and flow control. Application threads talk to shards through bounded
//! single-producer rings: a byte ring per publisher (messages written in place) and a ring
//! of delivered datagrams per subscription (messages read in place, released on drop).

mod pubring;
mod shard;
mod signal;

pub use argent_core::{NodeId, RegionId};
pub use argent_qsm::{Delivery, PublishError};
pub use argent_transport::Backend;

use crate::shard::{Command, PublisherPort, Shard, SubscriberPort};
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

/// A member of the static membership: its id, unicast address (shard i listens on
/// `port + i`) and number of shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// Node id.
    pub id: NodeId,
    /// Unicast address of its first shard.
    pub addr: SocketAddrV4,
    /// Shards it runs; region r is owned by shard `r mod shards`.
    pub shards: usize,
}

/// A region: its multicast address and its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// Region id.
    pub region: RegionId,
    /// IP multicast group and port of the region.
    pub group: SocketAddrV4,
    /// Members (the first is the leader).
    pub members: Vec<NodeId>,
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
    /// Evict a member silent for this long from the local view (stand-in for the
    /// membership service); `None` never evicts.
    pub member_timeout: Option<Duration>,
    /// Bytes of each publisher's ring.
    pub publish_ring_bytes: usize,
    /// Datagrams each subscription's ring holds.
    pub delivery_ring: usize,
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
            qsm: argent_qsm::Config::default(),
            socket_buffer: 32 << 20,
            batch: 32,
            pin: true,
            member_timeout: Some(Duration::from_secs(3)),
            publish_ring_bytes: 2 << 20,
            delivery_ring: 8192,
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
    /// A member with zero shards.
    #[error("member {0} has 0 shards; use at least 1")]
    NoShards(NodeId),
    /// Bad protocol settings.
    #[error("protocol settings: {0}")]
    Config(#[from] argent_qsm::ConfigError),
    /// Sockets could not be set up.
    #[error("transport: {0}")]
    Transport(#[from] argent_transport::TransportError),
    /// A region this node is not a member of (to subscribe), or that does not exist.
    #[error("this node is not a member of region {0} (or the region is unknown); only members receive")]
    NotInRegion(RegionId),
    /// The shard is gone.
    #[error("the runtime has shut down")]
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
    /// Bytes in send buffers now.
    pub send_buffered: u64,
}

struct ShardHandle {
    cmds: crossbeam_channel::Sender<Command>,
    wake: ShardWake,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<NodeStats>>,
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

/// A running node: its shards and the regions they own.
pub struct Runtime {
    shards: Vec<ShardHandle>,
    region_shard: HashMap<RegionId, usize>,
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
            cfg.qsm.incarnation = incarnation();
        }
        cfg.qsm.validate()?;
        let me = cfg.members.iter().find(|m| m.id == cfg.me).ok_or(RuntimeError::NotAMember(cfg.me))?.clone();
        for m in &cfg.members {
            if m.shards == 0 {
                return Err(RuntimeError::NoShards(m.id));
            }
        }
        for r in &cfg.regions {
            if let Some(node) = r.members.iter().find(|n| !cfg.members.iter().any(|m| m.id == **n)) {
                return Err(RuntimeError::UnknownMember { region: r.region, node: *node });
            }
        }
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let epoch = std::time::Instant::now();
        let mut shards = Vec::with_capacity(me.shards);
        let mut region_shard = HashMap::new();
        let mut backend = None;
        for index in 0..me.shards {
            // A shard owns its regions whether or not this node is a member: a sender need not
            // be one (it publishes and gets acknowledgements, but joins no group socket).
            let owned: Vec<RegionSpec> =
                cfg.regions.iter().filter(|r| (r.region.0 as usize) % me.shards == index).cloned().collect();
            for r in &owned {
                region_shard.insert(r.region, index);
            }
            let joined: Vec<SocketAddrV4> =
                owned.iter().filter(|r| r.members.contains(&cfg.me)).map(|r| r.group).collect();
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
            let shard = Shard::new(&cfg, owned, transport, rx, sleeping, stats.clone(), epoch)?;
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
        tracing::info!(node = %cfg.me, shards = shards.len(), transport = %backend, "runtime started");
        Ok(Runtime { shards, region_shard, backend, cfg })
    }

    /// The transport backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The settings the runtime started with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    fn shard_of(&self, region: RegionId) -> Result<&ShardHandle, RuntimeError> {
        let i = self.region_shard.get(&region).ok_or(RuntimeError::NotInRegion(region))?;
        Ok(&self.shards[*i])
    }

    /// A publisher to `region`, with its own ring to the region's shard.
    pub fn publisher(&self, region: RegionId) -> Result<Publisher, RuntimeError> {
        let shard = self.shard_of(region)?;
        let (producer, consumer) = rtrb::RingBuffer::new(self.cfg.publish_ring_bytes);
        let space = Arc::new(Signal::default());
        let port = PublisherPort { region, ring: consumer, space: space.clone(), blocked: false };
        shard.cmds.send(Command::AddPublisher(port)).map_err(|_| RuntimeError::Closed)?;
        shard.wake.wake();
        let max_message =
            self.cfg.qsm.max_message_len().min(self.cfg.publish_ring_bytes / 2 - pubring::ENTRY_HEADER);
        Ok(Publisher { ring: producer, space, wake: shard.wake.clone(), max_message })
    }

    /// A subscription to `region`: every datagram delivered there, in per-sender order.
    pub fn subscribe(&self, region: RegionId) -> Result<Subscription, RuntimeError> {
        let member = self.cfg.regions.iter().any(|r| r.region == region && r.members.contains(&self.cfg.me));
        if !member {
            return Err(RuntimeError::NotInRegion(region));
        }
        let shard = self.shard_of(region)?;
        let (producer, consumer) = rtrb::RingBuffer::new(self.cfg.delivery_ring);
        let ready = Arc::new(Signal::default());
        let port =
            SubscriberPort { region, ring: producer, ready: ready.clone(), overflow: Default::default() };
        shard.cmds.send(Command::AddSubscriber(port)).map_err(|_| RuntimeError::Closed)?;
        shard.wake.wake();
        Ok(Subscription { ring: consumer, ready, wake: shard.wake.clone() })
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

/// An incarnation for this process's sender streams: a process that restarts under the same
/// node id must not reuse the previous process's stream (receivers would take its datagrams
/// for duplicates). Ten-millisecond clock ticks, never 0.
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
    sum.send_buffered += s.send_buffered;
}

/// Publishes to one region from one application thread.
pub struct Publisher {
    ring: rtrb::Producer<u8>,
    space: Arc<Signal>,
    wake: ShardWake,
    max_message: usize,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("free", &self.ring.slots()).finish()
    }
}

impl Publisher {
    /// Reserve `len` bytes to write a message in place; `WouldBlock` when the ring is full.
    pub fn claim(&mut self, len: usize) -> Result<PubClaim<'_>, PublishError> {
        if len > self.max_message {
            return Err(PublishError::TooLarge { len, max: self.max_message });
        }
        if self.ring.is_abandoned() {
            return Err(PublishError::Closed);
        }
        let (chunk, skip) = pubring::reserve(&mut self.ring, len).ok_or(PublishError::WouldBlock)?;
        Ok(PubClaim { chunk: Some(chunk), skip, len, wake: &self.wake })
    }

    /// Publish a copy of `msg`; `WouldBlock` when the ring is full.
    pub fn publish(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let mut c = self.claim(msg.len())?;
        c.bytes_mut().copy_from_slice(msg);
        c.commit();
        Ok(())
    }

    /// Publish, waiting while the ring is full.
    pub fn publish_blocking(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        loop {
            match self.publish(msg) {
                Err(PublishError::WouldBlock) => {
                    self.wait_for_space(msg.len(), Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Whether a contiguous entry of `len` bytes fits in the ring now.
    fn fits(&mut self, len: usize) -> bool {
        pubring::reserve(&mut self.ring, len).is_some()
    }

    /// Publish, awaiting room in the ring.
    pub fn publish_async<'a>(&'a mut self, msg: &'a [u8]) -> PublishFuture<'a> {
        PublishFuture { publisher: self, msg }
    }

    /// Wait up to `timeout` until the ring has room for a message of `len` bytes.
    pub fn wait_for_space(&mut self, len: usize, timeout: Duration) -> bool {
        if self.fits(len) {
            return true;
        }
        self.space.arm_thread();
        if self.fits(len) {
            self.space.disarm();
            return true;
        }
        self.wake.wake();
        self.space.park(timeout);
        self.space.disarm();
        self.fits(len)
    }

    /// Whether the shard has taken every message committed so far into the protocol.
    pub fn is_drained(&self) -> bool {
        self.ring.slots() == self.ring.buffer().capacity()
    }

    /// Make the shard pick up what was published (it is woken on every commit anyway when it
    /// sleeps; this is for callers that batch).
    pub fn flush(&self) {
        self.wake.wake();
    }
}

/// Future of [`Publisher::publish_async`].
#[derive(Debug)]
pub struct PublishFuture<'a> {
    publisher: &'a mut Publisher,
    msg: &'a [u8],
}

impl Future for PublishFuture<'_> {
    type Output = Result<(), PublishError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.publisher.publish(this.msg) {
            Err(PublishError::WouldBlock) => {
                this.publisher.space.arm_task(cx.waker());
                if this.publisher.fits(this.msg.len()) {
                    cx.waker().wake_by_ref();
                }
                this.publisher.wake.wake();
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// Space reserved in the publish ring: write the message, then [`PubClaim::commit`].
pub struct PubClaim<'a> {
    chunk: Option<rtrb::chunks::WriteChunk<'a, u8>>,
    skip: usize,
    len: usize,
    wake: &'a ShardWake,
}

impl std::fmt::Debug for PubClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubClaim").field("len", &self.len).finish()
    }
}

impl PubClaim<'_> {
    /// Publish the message written.
    pub fn commit(mut self) {
        if let Some(chunk) = self.chunk.take() {
            pubring::commit_entry(chunk, self.skip, self.len);
            self.wake.wake();
        }
    }
}

impl PubClaim<'_> {
    /// The reserved bytes, to write the message in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self.chunk.as_mut() {
            Some(chunk) => pubring::payload(chunk, self.skip, self.len),
            None => &mut [],
        }
    }
}

impl AsMut<[u8]> for PubClaim<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}

/// Receives what is delivered in one region, a datagram at a time.
pub struct Subscription {
    ring: rtrb::Consumer<Delivery>,
    ready: Arc<Signal>,
    wake: ShardWake,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("queued", &self.ring.slots()).finish()
    }
}

impl Subscription {
    /// The next delivered datagram, if one is ready. Its messages are slices of the
    /// received buffer, released when the `Delivery` is dropped.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        let d = self.ring.pop().ok();
        if d.is_some() {
            self.wake.wake(); // the shard may be holding deliveries back for room
        }
        d
    }

    /// Wait up to `timeout` for the next delivered datagram.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Delivery> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(d) = self.try_recv() {
                return Some(d);
            }
            if self.ring.is_abandoned() {
                return None;
            }
            self.ready.arm_thread();
            if !self.ring.is_empty() {
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
            if self.ring.is_abandoned() {
                return Err(Closed);
            }
        }
    }

    /// Whether the node behind this subscription has shut down.
    pub fn is_closed(&self) -> bool {
        self.ring.is_abandoned()
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
