//! The simulation's state — nodes with their sockets, CPUs and applications, the event
//! queue, the run's bookkeeping — and the event loop.

use super::group_state::Groups;
use super::limits::{MAX_DETAILED, MAX_VIRTUAL, QUIET};
use super::outcome::Outcome;
use super::replicas::Objects;
use crate::rng::SimRng;
use crate::scenario::{Driver, Scenario};
use argent_core::{Instant, NodeId, RegionId, ViewId};
use argent_membership::gms::{Gms, GmsClient, GmsMsg, View};
use argent_qsm::QsmNode;
use argent_verify::Checker;
use argent_wire::fragment::Reassembly;
use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

/// An endpoint of GMS traffic.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Who {
    /// A replica, by index (raft id = index + 1).
    Replica(u32),
    /// A node's client.
    Node(u32),
}

pub(super) enum Ev {
    Arrive { node: u32, from: u32, data: Bytes, multicast: bool, kind: CopyKind },
    Wake { node: u32 },
    Timer { node: u32 },
    Crash { node: u32 },
    Install { node: u32, view: u64 },
    Pause { node: u32, until: Instant },
    GmsArrive { to: Who, from: Who, msg: GmsMsg },
    GmsTimer { who: Who },
    Leave { node: u32 },
    Rejoin { node: u32 },
    CrashGmsLeader,
    Cut { nodes: Vec<u32>, replica: Option<u32>, until: Instant },
    Heal,
    ObjectTimer { node: u32, incarnation: u64, at: Instant },
    GroupChange { node: u32 },
}

/// What a copy on the simulated network is, for the forge fault's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CopyKind {
    /// Sent by a node.
    Genuine,
    /// Duplicated by the network (the dup fault).
    Dup,
    /// Replayed by an attacker, byte for byte.
    Replay,
    /// Made by an attacker without the key.
    Forged,
}

pub(super) struct Entry {
    pub(super) at: Instant,
    pub(super) seq: u64,
    pub(super) ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq)) // min-heap
    }
}

/// A receive socket: bounded in bytes; arrivals beyond the bound are dropped.
#[derive(Default)]
pub(super) struct Socket {
    pub(super) queue: VecDeque<(u32, Bytes, CopyKind)>,
    pub(super) bytes: u64,
}

impl Socket {
    pub(super) fn push(&mut self, from: u32, data: Bytes, kind: CopyKind, limit: u64) -> bool {
        if self.bytes + data.len() as u64 > limit {
            return false;
        }
        self.bytes += data.len() as u64;
        self.queue.push_back((from, data, kind));
        true
    }

    pub(super) fn pop(&mut self) -> Option<(u32, Bytes, CopyKind)> {
        let (from, data, kind) = self.queue.pop_front()?;
        self.bytes -= data.len() as u64;
        Some((from, data, kind))
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }
}

/// A node's checkers of the senders' streams: from index 0, or, in membership runs, from
/// the first message it gets (a joiner starts where the sender's stream was).
pub(super) fn streams(sc: &Scenario) -> Vec<Checker> {
    let fresh = if sc.gms.is_some() { Checker::late() } else { Checker::new() };
    vec![fresh; sc.senders as usize]
}

/// Forge runs: node `n`'s guard for incarnation `incarnation`, under the run's key; its
/// counters start above every earlier incarnation's.
pub(super) fn guard(sc: &Scenario, seed: u64, n: u32, incarnation: u64) -> Option<argent_qsm::Guard> {
    (sc.faults.forge && sc.sabotage != crate::scenario::Sabotage::NoGuard)
        .then(|| argent_qsm::Guard::new(&cluster_key(seed, 1), NodeId(n), Some(incarnation << 40)))
}

/// Forge runs: the cluster's key (`salt` 1), or an outsider's (any other salt).
pub(super) fn cluster_key(seed: u64, salt: u64) -> argent_auth::AuthConfig {
    let mut secret = [0u8; argent_auth::KEY_LEN];
    let mut rng = SimRng::new(seed, 100 + salt);
    for b in &mut secret {
        *b = rng.below(256) as u8;
    }
    argent_auth::AuthConfig {
        keys: argent_auth::KeyRing::single(argent_auth::ClusterKey::from_bytes(1, secret)),
        mode: argent_auth::Mode::Mac,
    }
}

/// A node's reassembly of fragmented messages, with the runtime's default bounds.
pub(super) fn reassembly() -> Reassembly<NodeId> {
    use argent_wire::fragment::{DEFAULT_PARTIALS, DEFAULT_PARTIAL_BYTES};
    Reassembly::new(DEFAULT_PARTIALS, DEFAULT_PARTIAL_BYTES)
}

pub(super) struct App {
    pub(super) next: u64,
    pub(super) done: bool,
    /// Membership runs: publishing starts once every member is in the sender's view.
    pub(super) started: bool,
    /// Objects runs: the next message's frame, made but not yet published.
    pub(super) pending: Option<Vec<u8>>,
    /// Fragmented runs: what remains to publish of message `next`.
    pub(super) frags: VecDeque<Vec<u8>>,
    /// Fragmented runs: whether a fragment of message `next` is in the stream already.
    pub(super) frag_sent: bool,
}

pub(super) struct SimNode {
    pub(super) proto: QsmNode,
    pub(super) busy_until: Instant,
    pub(super) paused_until: Instant,
    pub(super) crashed: bool,
    pub(super) doomed: bool,
    pub(super) slow: u32,
    /// Unicast socket (tokens, acknowledgements, pulls, repairs), drained first.
    pub(super) unicast: Socket,
    /// The region's multicast socket (data).
    pub(super) multicast: Socket,
    pub(super) wake_scheduled: bool,
    pub(super) timer_at: Option<Instant>,
    pub(super) egress_free: Instant,
    pub(super) burst_bad: bool,
    pub(super) app: Option<App>,
    /// Per sender: where this node is in its stream (membership runs: from the first
    /// message it gets, where a joiner starts).
    pub(super) streams: Vec<Checker>,
    /// Forge runs: seals and opens this node's datagrams (the runtime's sans-IO guard).
    pub(super) guard: Option<argent_qsm::Guard>,
    /// Fragmented runs: messages being put back together, per sender stream.
    pub(super) reassembly: Reassembly<NodeId>,
    pub(super) delivered: u64,
    /// Membership runs: this node's GMS client and its timer.
    pub(super) client: Option<GmsClient>,
    pub(super) client_timer_at: Option<Instant>,
    /// Incarnation of the node's current protocol instance (1 at the start).
    pub(super) incarnation: u64,
    /// Region and members last installed in the protocol.
    pub(super) region: Option<(RegionId, Vec<NodeId>)>,
    /// First view of the current incarnation (the join point).
    pub(super) join_view: Option<ViewId>,
    /// Last view installed (and its incarnation), for the agreement checker.
    pub(super) last_view: Option<ViewId>,
    /// Per sender: first message index delivered in this incarnation (joiners start late).
    pub(super) first_index: Vec<Option<u64>>,
    /// Objects runs: this incarnation's proxies (or joiners).
    pub(super) objects: Option<Objects>,
    /// Objects runs: members and incarnations of the last membership view installed.
    pub(super) known: Vec<(u32, u64)>,
    /// Total-order runs: the layer over the region, from the first view installed.
    pub(super) to: Option<argent_vsync::TotalOrder>,
    /// Total-order runs: what this incarnation delivered in total order, and the message
    /// held back by `Sabotage::SwapOrder`.
    pub(super) to_log: super::to_log::ToLog,
    pub(super) to_swapped: Option<(NodeId, Vec<u8>)>,
    /// Total-order runs: a view was installed and its flush not finished yet.
    pub(super) to_flushing: bool,
    /// Total-order runs: the members of the view the layer delivers in (the last to begin
    /// in the order), whose fences the objects wait for.
    pub(super) to_members: Vec<u32>,
}

pub(super) struct Sim<'a> {
    pub(super) sc: &'a Scenario,
    pub(super) nodes: Vec<SimNode>,
    pub(super) queue: BinaryHeap<Entry>,
    pub(super) seq: u64,
    pub(super) net: SimRng,
    pub(super) first_sender: u32,
    pub(super) remaining: u64,
    pub(super) apps_pending: u32,
    pub(super) apps_done_at: Instant,
    pub(super) faults_end: Instant,
    pub(super) crashed: Vec<u32>,
    pub(super) out: Outcome,
    /// Membership runs: the replicas, their timers, the views seen, what senders had
    /// published when they installed each view, and the current network cut.
    pub(super) replicas: Vec<Option<Gms>>,
    pub(super) replica_timer_at: Vec<Option<Instant>>,
    pub(super) views_seen: HashMap<ViewId, Arc<View>>,
    pub(super) sender_installs: Vec<Vec<(ViewId, u64)>>,
    pub(super) cut: Option<(Vec<u32>, Option<u32>)>,
    pub(super) gms_net: SimRng,
    /// Membership runs: faults are planned when traffic starts.
    pub(super) fault_seed: Option<u64>,
    /// Membership runs: the view the first sender started in. Every other sender starts
    /// once it has installed it (or a later one), so that nothing is published before a
    /// founding member's join point (objects runs: founding members hold no checkpoint).
    pub(super) start_view: Option<ViewId>,
    /// Counters of protocol instances replaced by a restart (a new incarnation).
    pub(super) restarted_stats: argent_qsm::Stats,
    /// Objects runs: counters of sessions replaced by a restart.
    pub(super) retired_object_stats: argent_objects::session::SessionStats,
    /// Objects runs: joining sessions started.
    pub(super) object_joiners: u64,
    /// Static runs with the members' own failure detection: the member that crashes.
    pub(super) presence_crashed: Option<u32>,
    /// Groups runs: the groups, what was published to them, and every node's part.
    pub(super) groups: Option<Box<Groups>>,
}

/// Run `sc` with `seed`. Deterministic: the same scenario and seed give the same outcome.
pub fn run(sc: &Scenario, seed: u64) -> Outcome {
    let mut sim = Sim::new(sc, seed);
    if sc.gms.is_some() {
        sim.start_gms(seed);
    } else {
        sim.plan_faults(seed);
        for n in 0..sc.nodes {
            sim.install(n, Instant::ZERO, 1);
        }
        for n in sim.first_sender..sc.nodes {
            sim.pump(n, Instant::ZERO);
            sim.flush(n);
        }
    }
    let end = sim.event_loop();
    sim.finish(end)
}

impl<'a> Sim<'a> {
    pub(super) fn new(sc: &'a Scenario, seed: u64) -> Self {
        let first_sender = sc.nodes - sc.senders;
        let mut qsm = sc.qsm.clone();
        if (sc.objects || sc.driver == Driver::TotalOrder) && sc.gms.is_some() {
            // Members publish control messages (objects' frames, the total-order layer's
            // records and reports): every incarnation's stream is its own.
            qsm.incarnation = argent_qsm::stream_incarnation(1);
        }
        let nodes = (0..sc.nodes)
            .map(|n| SimNode {
                proto: QsmNode::new(NodeId(n), qsm.clone()).expect("scenario validated"),
                busy_until: Instant::ZERO,
                paused_until: Instant::ZERO,
                crashed: false,
                doomed: false,
                slow: 1,
                unicast: Socket::default(),
                multicast: Socket::default(),
                wake_scheduled: false,
                timer_at: None,
                egress_free: Instant::ZERO,
                burst_bad: false,
                app: (n >= first_sender).then_some(App {
                    next: 0,
                    done: false,
                    started: false,
                    pending: None,
                    frags: VecDeque::new(),
                    frag_sent: false,
                }),
                streams: streams(sc),
                guard: guard(sc, seed, n, 1),
                reassembly: reassembly(),
                delivered: 0,
                client: None,
                client_timer_at: None,
                incarnation: 1,
                region: None,
                join_view: None,
                last_view: None,
                first_index: vec![None; sc.senders as usize],
                // Decided at the node's first region (founding member, or joiner).
                objects: sc.objects.then(|| Objects::new(n, 1)),
                known: Vec::new(),
                to: None,
                to_log: Default::default(),
                to_swapped: None,
                to_flushing: false,
                to_members: Vec::new(),
            })
            .collect();
        Sim {
            sc,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            net: SimRng::new(seed, 1),
            first_sender,
            remaining: 0,
            apps_pending: sc.senders,
            apps_done_at: Instant::ZERO,
            faults_end: Instant::ZERO,
            crashed: Vec::new(),
            out: Outcome { seed, ..Outcome::default() },
            replicas: Vec::new(),
            replica_timer_at: Vec::new(),
            views_seen: HashMap::new(),
            sender_installs: vec![Vec::new(); sc.senders as usize],
            cut: None,
            gms_net: SimRng::new(seed, 3),
            fault_seed: None,
            start_view: None,
            restarted_stats: argent_qsm::Stats::default(),
            retired_object_stats: Default::default(),
            object_joiners: 0,
            presence_crashed: None,
            groups: sc.groups.map(|g| Box::new(Groups::new(sc.nodes, sc.senders, g, seed))),
        }
    }

    pub(super) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Entry { at, seq: self.seq, ev });
    }

    /// Run until everything is delivered and acknowledged, then through the quiet period.
    /// Returns the completion time (or the time the run was stopped).
    pub(super) fn event_loop(&mut self) -> Instant {
        let mut now = Instant::ZERO;
        let mut done: Option<(Instant, u64)> = None;
        while let Some(Entry { at, ev, .. }) = self.queue.pop() {
            now = at;
            if let Some((t, _)) = done {
                if now > t + QUIET {
                    break;
                }
            } else if now > self.deadline() {
                self.violation(format!(
                    "liveness: not complete {:.3} s after faults stopped (at {:.3} s virtual); {} deliveries missing",
                    self.sc.liveness.as_secs_f64(),
                    self.quiesce().as_secs_f64(),
                    self.remaining
                ));
                return now;
            }
            match ev {
                Ev::Arrive { node, from, data, multicast, kind } => {
                    self.arrive(node, from, data, multicast, kind, now)
                }
                Ev::Wake { node } => self.wake(node, now),
                Ev::Timer { node } => self.timer(node, now),
                Ev::Crash { node } => self.crash(node),
                Ev::Install { node, view } => self.install(node, now, view),
                Ev::Pause { node, until } => self.pause(node, until),
                Ev::GmsArrive { to, from, msg } => self.gms_arrive(to, from, msg, now),
                Ev::GmsTimer { who } => self.gms_timer(who, now),
                Ev::Leave { node } => self.leave(node, now),
                Ev::Rejoin { node } => self.rejoin(node, now),
                Ev::CrashGmsLeader => self.crash_gms_leader(),
                Ev::Cut { nodes, replica, until } => {
                    self.cut = Some((nodes, replica));
                    self.push(until, Ev::Heal);
                }
                Ev::Heal => self.cut = None,
                Ev::ObjectTimer { node, incarnation, at } => self.object_timer(node, incarnation, at, now),
                Ev::GroupChange { node } => self.group_change(node, now),
            }
            if done.is_none()
                && self.remaining == 0
                && self.apps_pending == 0
                && self.all_drained()
                && self.nodes.iter().all(|n| n.crashed || n.proto.departing_streams() == 0)
                && (self.sc.gms.is_none() || self.members_complete(now))
                && (!self.sc.objects || self.objects_settled())
            {
                done = Some((now, self.repair_activity()));
            }
        }
        let Some((t, activity)) = done else { return now };
        self.check_quiet(activity);
        t
    }

    pub(super) fn quiesce(&self) -> Instant {
        self.apps_done_at.max(self.faults_end)
    }

    pub(super) fn deadline(&self) -> Instant {
        if self.apps_pending > 0 {
            return Instant::ZERO + MAX_VIRTUAL;
        }
        self.quiesce() + self.sc.liveness
    }

    pub(super) fn all_drained(&self) -> bool {
        if self.sc.driver == Driver::TotalOrder {
            // The sequencer publishes too (its order records), and every layer must have
            // published what it queued.
            return self.nodes.iter().filter(|n| !n.crashed).all(|n| {
                n.proto.send_drained()
                    && n.to.as_ref().is_none_or(|t| t.queued() == 0 && t.held() == 0 && !t.flush_waiting())
            });
        }
        self.nodes[self.first_sender as usize..].iter().all(|n| n.proto.send_drained())
    }

    pub(super) fn violation(&mut self, what: String) {
        self.out.violations += 1;
        if self.out.details.len() < MAX_DETAILED {
            self.out.details.push(what);
        }
    }
}
