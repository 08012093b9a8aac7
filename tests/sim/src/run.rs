//! One seeded run: the event loop, the network and CPU model, fault injection and checkers.

mod gms;
mod objects;

use crate::{Sabotage, Scenario, SimRng, MIN_MESSAGE};
use argent_core::{Destination, Instant, NodeId, Protocol, RegionId, ViewId};
use argent_membership::gms::{Gms, GmsClient, GmsMsg, View};
use argent_qsm::{Event, PublishError, QsmNode, RegionView};
use bytes::Bytes;
use gms::Who;
use objects::{Objects, CONTROL, MESSAGE_HEADER};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

const REGION: RegionId = RegionId(1);
/// Violations recorded in detail per run (the count is always exact).
const MAX_DETAILED: usize = 10;
/// Hard stop for runs whose senders never finish publishing.
const MAX_VIRTUAL: Duration = Duration::from_secs(600);
/// After everything is delivered and acknowledged, the run goes on this long to check that
/// the region goes quiet: caches are cleaned up and no repair traffic remains.
const QUIET: Duration = Duration::from_millis(600);

/// The result of one seeded run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Seed of the run.
    pub seed: u64,
    /// Number of violations found.
    pub violations: u64,
    /// The first violations, described.
    pub details: Vec<String>,
    /// Messages delivered to members that stayed in the view.
    pub delivered: u64,
    /// Messages those members had to receive.
    pub expected: u64,
    /// Largest token datagram, bytes.
    pub max_token_bytes: u64,
    /// Datagrams re-multicast by senders.
    pub sender_retransmissions: u64,
    /// Copies forwarded by peers.
    pub peer_repairs: u64,
    /// Datagram copies lost: dropped by the network or by full receive buffers.
    pub lost_datagrams: u64,
    /// Of which dropped because a receive socket buffer was full.
    pub overflow_drops: u64,
    /// Pull requests sent.
    pub pulls: u64,
    /// NAKs sent by partitions.
    pub naks: u64,
    /// NAKs sent by single members after peer repair failed.
    pub naks_escalated: u64,
    /// Token rounds completed.
    pub rounds: u64,
    /// Token rounds regenerated.
    pub rounds_regenerated: u64,
    /// Largest send buffer, bytes.
    pub max_sender_buffer_bytes: u64,
    /// Largest bytes held by a receiver for one stream.
    pub max_receiver_buffer_bytes: u64,
    /// Virtual time when everything was delivered and acknowledged (or the run stopped).
    pub virtual_secs: f64,
    /// Every message delivered, crashed members included (the simulator's work).
    pub deliveries: u64,
    /// Views installed that disagree with another member's view of the same id, or that skip
    /// a view within one incarnation (membership runs only).
    pub view_disagreements: u64,
    /// Highest view id installed (membership runs only).
    pub views: u64,
    /// Members evicted by the GMS failure detector.
    pub evictions: u64,
    /// Views a member installed without a silent member by its own failure detection
    /// (static membership with `--member-timeout-ms`; one per member and region).
    pub presence_evictions: u64,
    /// Members that joined again as a new incarnation (after leaving or eviction).
    pub rejoins: u64,
    /// Joiners whose deliveries were checked from their join point to the end.
    pub joiners_checked: u64,
    /// Objects runs: updates published (one per sender message).
    pub object_updates_published: u64,
    /// Objects runs: updates applied by proxies, all members and incarnations.
    pub object_updates_applied: u64,
    /// Objects runs: deliveries a proxy skipped because its state included them (a
    /// joiner's overlap with its checkpoint).
    pub object_duplicates: u64,
    /// Objects runs: object joins completed (one per object per joining incarnation).
    pub object_joins: u64,
    /// Objects runs: of which completed while senders were still publishing.
    pub object_joins_during_traffic: u64,
    /// Objects runs: updates buffered by joiners when their join completed.
    pub object_join_backlog: u64,
    /// Objects runs: checkpoints refused because they did not cover the joiner's buffer
    /// (the joiner asked again).
    pub object_join_retries: u64,
    /// Objects runs: checkpoint requests published.
    pub object_join_requests: u64,
    /// Objects runs: requests repeated after no covering answer came in time.
    pub object_join_timeouts: u64,
    /// Objects runs: checkpoints members sent to joiners.
    pub object_checkpoints_sent: u64,
    /// Objects runs: updates a proxy or joiner refused (a gap: the join was inexact).
    pub object_rejected: u64,
    /// Objects runs: members whose final state was compared.
    pub object_members_checked: u64,
    /// Objects runs: members whose final state differs from another's, or still joining.
    pub object_divergent: u64,
}

enum Ev {
    Arrive { node: u32, from: u32, data: Bytes, multicast: bool },
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
}

struct Entry {
    at: Instant,
    seq: u64,
    ev: Ev,
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
struct Socket {
    queue: VecDeque<(u32, Bytes)>,
    bytes: u64,
}

impl Socket {
    fn push(&mut self, from: u32, data: Bytes, limit: u64) -> bool {
        if self.bytes + data.len() as u64 > limit {
            return false;
        }
        self.bytes += data.len() as u64;
        self.queue.push_back((from, data));
        true
    }

    fn pop(&mut self) -> Option<(u32, Bytes)> {
        let (from, data) = self.queue.pop_front()?;
        self.bytes -= data.len() as u64;
        Some((from, data))
    }

    fn clear(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }
}

struct App {
    next: u64,
    done: bool,
    /// Membership runs: publishing starts once every member is in the sender's view.
    started: bool,
    /// Objects runs: the next message's frame, made but not yet published.
    pending: Option<Vec<u8>>,
}

struct SimNode {
    proto: QsmNode,
    busy_until: Instant,
    paused_until: Instant,
    crashed: bool,
    doomed: bool,
    slow: u32,
    /// Unicast socket (tokens, acknowledgements, pulls, repairs), drained first.
    unicast: Socket,
    /// The region's multicast socket (data).
    multicast: Socket,
    wake_scheduled: bool,
    timer_at: Option<Instant>,
    egress_free: Instant,
    burst_bad: bool,
    app: Option<App>,
    expected_next: Vec<u64>,
    delivered: u64,
    /// Membership runs: this node's GMS client and its timer.
    client: Option<GmsClient>,
    client_timer_at: Option<Instant>,
    /// Incarnation of the node's current protocol instance (1 at the start).
    incarnation: u64,
    /// Region and members last installed in the protocol.
    region: Option<(RegionId, Vec<NodeId>)>,
    /// First view of the current incarnation (the join point).
    join_view: Option<ViewId>,
    /// Last view installed (and its incarnation), for the agreement checker.
    last_view: Option<ViewId>,
    /// Per sender: first message index delivered in this incarnation (joiners start late).
    first_index: Vec<Option<u64>>,
    /// Objects runs: this incarnation's proxies (or joiners).
    objects: Option<Objects>,
    /// Objects runs: members and incarnations of the last membership view installed.
    known: Vec<(u32, u64)>,
}

struct Sim<'a> {
    sc: &'a Scenario,
    nodes: Vec<SimNode>,
    queue: BinaryHeap<Entry>,
    seq: u64,
    net: SimRng,
    first_sender: u32,
    remaining: u64,
    apps_pending: u32,
    apps_done_at: Instant,
    faults_end: Instant,
    crashed: Vec<u32>,
    out: Outcome,
    /// Membership runs: the replicas, their timers, the views seen, what senders had
    /// published when they installed each view, and the current network cut.
    replicas: Vec<Option<Gms>>,
    replica_timer_at: Vec<Option<Instant>>,
    views_seen: HashMap<ViewId, Arc<View>>,
    sender_installs: Vec<Vec<(ViewId, u64)>>,
    cut: Option<(Vec<u32>, Option<u32>)>,
    gms_net: SimRng,
    /// Membership runs: faults are planned when traffic starts.
    fault_seed: Option<u64>,
    /// Membership runs: the view the first sender started in. Every other sender starts
    /// once it has installed it (or a later one), so that nothing is published before a
    /// founding member's join point (objects runs: founding members hold no checkpoint).
    start_view: Option<ViewId>,
    /// Counters of protocol instances replaced by a restart (a new incarnation).
    restarted_stats: argent_qsm::Stats,
    /// Objects runs: counters of sessions replaced by a restart.
    retired_object_stats: argent_objects::session::SessionStats,
    /// Objects runs: joining sessions started.
    object_joiners: u64,
    /// Static runs with the members' own failure detection: the member that crashes.
    presence_crashed: Option<u32>,
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
    fn new(sc: &'a Scenario, seed: u64) -> Self {
        let first_sender = sc.nodes - sc.senders;
        let mut qsm = sc.qsm.clone();
        if sc.objects && sc.gms.is_some() {
            // Members publish control messages: every incarnation's stream is its own.
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
                }),
                expected_next: vec![0; sc.senders as usize],
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
        }
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Entry { at, seq: self.seq, ev });
    }

    /// Decide from the seed which receivers are slowed, paused and crashed, and when.
    fn plan_faults(&mut self, seed: u64) {
        let mut plan = SimRng::new(seed, 2);
        let f = self.sc.faults;
        let receivers = self.first_sender;
        let est = self.sc.estimated_traffic();
        let mid = |plan: &mut SimRng| Instant::ZERO + plan.between(est / 10, est * 6 / 10);
        let pick = |plan: &mut SimRng, avoid: Option<u32>| -> Option<u32> {
            let pool: Vec<u32> = (0..receivers).filter(|n| Some(*n) != avoid).collect();
            (!pool.is_empty()).then(|| pool[plan.below(pool.len() as u64) as usize])
        };
        let mut crashed = None;
        if f.crash {
            if let Some(c) = pick(&mut plan, None) {
                let at = mid(&mut plan);
                self.nodes[c as usize].doomed = true;
                self.push(at, Ev::Crash { node: c });
                if let Some(timeout) = self.sc.qsm.member_timeout {
                    // The members' own failure detection evicts it (checked in `flush`): after
                    // the timeout, or, at a member that never heard from it (an early
                    // crash), once the startup grace has passed.
                    let grace = Instant::ZERO + argent_qsm::STARTUP_GRACE.max(timeout);
                    let detected = (at + timeout).max(grace) + 2 * argent_qsm::ALIVE_INTERVAL;
                    self.faults_end = self.faults_end.max(detected);
                    self.presence_crashed = Some(c);
                }
                let install = at + self.sc.detection;
                let oracle =
                    self.sc.sabotage != Sabotage::NoViewChange && self.sc.qsm.member_timeout.is_none();
                let survivors = if oracle { self.sc.nodes } else { 0 };
                for n in (0..survivors).filter(|n| *n != c) {
                    let skew = plan.between(Duration::ZERO, Duration::from_millis(1));
                    self.faults_end = self.faults_end.max(install + skew);
                    self.push(install + skew, Ev::Install { node: n, view: 2 });
                }
                crashed = Some(c);
            }
        }
        if f.pause {
            if let Some(p) = pick(&mut plan, crashed) {
                let at = mid(&mut plan);
                let until = at + plan.between(Duration::from_millis(20), Duration::from_millis(200));
                self.faults_end = self.faults_end.max(until);
                self.push(at, Ev::Pause { node: p, until });
            }
        }
        if f.slow {
            if let Some(s) = pick(&mut plan, crashed) {
                self.nodes[s as usize].slow = 4 + plan.below(13) as u32;
            }
        }
        let survivors = self.nodes.iter().filter(|n| !n.doomed).count() as u64;
        self.out.expected = survivors * u64::from(self.sc.senders) * self.sc.messages;
        self.remaining = self.out.expected;
    }

    /// Run until everything is delivered and acknowledged, then through the quiet period.
    /// Returns the completion time (or the time the run was stopped).
    fn event_loop(&mut self) -> Instant {
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
                Ev::Arrive { node, from, data, multicast } => self.arrive(node, from, data, multicast, now),
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
            }
            if done.is_none()
                && self.remaining == 0
                && self.apps_pending == 0
                && self.all_drained()
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

    /// Data and repair datagrams sent so far, all nodes.
    fn repair_activity(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.proto.stats())
            .chain(std::iter::once(&self.restarted_stats))
            .map(|s| {
                s.data_sent
                    + s.sender_retransmissions
                    + s.peer_repairs
                    + s.pulls_sent
                    + s.naks_sent
                    + s.naks_escalated
            })
            .sum()
    }

    fn check_quiet(&mut self, activity_at_completion: u64) {
        let extra = self.repair_activity() - activity_at_completion;
        if extra > 0 {
            self.violation(format!(
                "{extra} data or repair datagrams sent after everything was acknowledged"
            ));
        }
        let held: Vec<(usize, u64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.crashed)
            .map(|(i, n)| (i, n.proto.receive_held_bytes()))
            .filter(|(_, b)| *b > 0)
            .collect();
        if let Some((i, b)) = held.first() {
            self.violation(format!(
                "node {i} still holds {b} bytes {} ms after everything was acknowledged (cache not cleaned up)",
                QUIET.as_millis()
            ));
        }
    }

    fn quiesce(&self) -> Instant {
        self.apps_done_at.max(self.faults_end)
    }

    fn deadline(&self) -> Instant {
        if self.apps_pending > 0 {
            return Instant::ZERO + MAX_VIRTUAL;
        }
        self.quiesce() + self.sc.liveness
    }

    fn all_drained(&self) -> bool {
        self.nodes[self.first_sender as usize..].iter().all(|n| n.proto.send_drained())
    }

    fn violation(&mut self, what: String) {
        self.out.violations += 1;
        if self.out.details.len() < MAX_DETAILED {
            self.out.details.push(what);
        }
    }

    fn install(&mut self, n: u32, now: Instant, view: u64) {
        let node = &mut self.nodes[n as usize];
        if node.crashed {
            return;
        }
        let members = (0..self.sc.nodes).filter(|m| !self.crashed.contains(m)).map(NodeId).collect();
        let view = RegionView { region: REGION, id: ViewId(view), members };
        node.busy_until = node.busy_until.max(now);
        if let Err(e) = node.proto.install_view(node.busy_until, view) {
            self.violation(format!("node {n}: view refused: {e}"));
        }
        if self.sc.objects {
            self.objects_region(n);
        }
        self.flush(n);
    }

    fn crash(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        node.crashed = true;
        node.unicast.clear();
        node.multicast.clear();
        self.crashed.push(n);
    }

    fn pause(&mut self, n: u32, until: Instant) {
        let node = &mut self.nodes[n as usize];
        node.paused_until = node.paused_until.max(until);
    }

    fn arrive(&mut self, n: u32, from: u32, data: Bytes, multicast: bool, now: Instant) {
        let sock = self.sc.socket_buffer;
        let node = &mut self.nodes[n as usize];
        if node.crashed {
            return;
        }
        let socket = if multicast { &mut node.multicast } else { &mut node.unicast };
        if !socket.push(from, data, sock) {
            self.out.overflow_drops += 1;
            self.out.lost_datagrams += 1;
            return;
        }
        if !node.wake_scheduled {
            node.wake_scheduled = true;
            let at = now.max(node.busy_until).max(node.paused_until);
            self.push(at, Ev::Wake { node: n });
        }
    }

    fn wake(&mut self, n: u32, now: Instant) {
        let node = &mut self.nodes[n as usize];
        node.wake_scheduled = false;
        if node.crashed {
            return;
        }
        let ready = node.busy_until.max(node.paused_until);
        if ready > now {
            node.wake_scheduled = true;
            self.push(ready, Ev::Wake { node: n });
            return;
        }
        let Some((_, data)) = node.unicast.pop().or_else(|| node.multicast.pop()) else { return };
        node.busy_until = now + self.sc.cpu_per_input * node.slow;
        node.proto.handle_datagram(now, data);
        self.flush(n);
        let node = &mut self.nodes[n as usize];
        let queued = !node.unicast.queue.is_empty() || !node.multicast.queue.is_empty();
        if queued && !node.wake_scheduled {
            node.wake_scheduled = true;
            let at = node.busy_until;
            self.push(at, Ev::Wake { node: n });
        }
    }

    fn timer(&mut self, n: u32, now: Instant) {
        let node = &mut self.nodes[n as usize];
        if node.crashed || node.timer_at != Some(now) {
            return; // crashed, or superseded by a newer deadline
        }
        let ready = node.busy_until.max(node.paused_until);
        if ready > now {
            node.timer_at = Some(ready);
            self.push(ready, Ev::Timer { node: n });
            return;
        }
        node.timer_at = None;
        node.busy_until = now + self.sc.cpu_per_input * node.slow;
        node.proto.handle_timeout(now);
        self.flush(n);
    }

    /// Send what node `n` has to send, hand its events to the checkers and the
    /// application, and re-arm its timer. Runs at the node's local time (`busy_until`).
    fn flush(&mut self, n: u32) {
        loop {
            let mut progressed = false;
            while let Some(t) = {
                let node = &mut self.nodes[n as usize];
                node.proto.poll_transmit(node.busy_until)
            } {
                progressed = true;
                self.transmit(n, t.dest, t.payload);
            }
            while let Some(ev) = self.nodes[n as usize].proto.poll_event() {
                progressed = true;
                match ev {
                    Event::Deliver(d) => {
                        for msg in d.messages() {
                            let nth = self.nodes[n as usize].delivered;
                            self.nodes[n as usize].delivered += 1;
                            match self.sc.sabotage {
                                Sabotage::DropDelivery { node, nth: k } if node == n && k == nth => {}
                                Sabotage::DuplicateDelivery { node, nth: k } if node == n && k == nth => {
                                    self.check_delivery(n, d.sender, msg);
                                    self.check_delivery(n, d.sender, msg);
                                }
                                _ => self.check_delivery(n, d.sender, msg),
                            }
                        }
                    }
                    Event::Writable(_) => {
                        let t = self.nodes[n as usize].busy_until;
                        self.pump(n, t);
                    }
                    Event::Fence { key, nonce, .. } => self.object_fence(n, key, nonce),
                    Event::Evicted { node: gone, .. } => {
                        self.out.presence_evictions += 1;
                        if self.presence_crashed != Some(gone.0) {
                            self.violation(format!("node {n} evicted {gone}, which did not crash"));
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        let node = &mut self.nodes[n as usize];
        let next = node.proto.poll_timeout().map(|t| t.max(node.busy_until));
        if next.is_some() && next != node.timer_at {
            node.timer_at = next;
            let at = next.unwrap_or_default();
            self.push(at, Ev::Timer { node: n });
        }
    }

    fn transmit(&mut self, n: u32, dest: Destination, data: Bytes) {
        let sc = self.sc;
        let node = &mut self.nodes[n as usize];
        node.busy_until += sc.cpu_per_send * node.slow;
        let depart = node.busy_until.max(node.egress_free);
        let wire = Duration::from_nanos(data.len() as u64 * 1_000_000_000 / sc.bandwidth);
        node.egress_free = depart + wire;
        let arrive = depart + wire;
        match dest {
            Destination::Node(to) => self.copy(n, to.0, arrive, data, false),
            Destination::Region => {
                for to in (0..sc.nodes).filter(|m| *m != n) {
                    self.copy(n, to, arrive, data.clone(), true);
                }
            }
        }
    }

    /// One copy of a datagram on its way from `from` to `to`: loss, delay, duplication.
    fn copy(&mut self, from: u32, to: u32, depart: Instant, data: Bytes, multicast: bool) {
        let sc = self.sc;
        if self.separated(Who::Node(from), Who::Node(to)) {
            self.out.lost_datagrams += 1;
            return;
        }
        let Some(node) = self.nodes.get_mut(to as usize) else { return };
        if node.crashed {
            return;
        }
        let f = sc.faults;
        let mut lost = self.net.chance(sc.loss);
        if f.burst {
            let flip = if node.burst_bad { 0.2 } else { 0.002 };
            if self.net.chance(flip) {
                node.burst_bad = !node.burst_bad;
            }
            lost |= node.burst_bad && self.net.chance(0.5);
        }
        if lost {
            self.out.lost_datagrams += 1;
            return;
        }
        let jitter = if f.jitter { Duration::from_micros(200) } else { Duration::from_micros(5) };
        let mut at = depart + sc.latency + self.net.between(Duration::ZERO, jitter);
        if f.reorder && self.net.chance(0.1) {
            at += self.net.between(Duration::ZERO, Duration::from_micros(500));
        }
        if f.dup && self.net.chance(0.05) {
            let later = at + self.net.between(Duration::ZERO, Duration::from_micros(100));
            self.push(later, Ev::Arrive { node: to, from, data: data.clone(), multicast });
        }
        self.push(at, Ev::Arrive { node: to, from, data, multicast });
    }

    /// The application at a sender: publish until the buffer pushes back.
    fn pump(&mut self, n: u32, at: Instant) {
        let sc = self.sc;
        let mut t = at;
        if sc.objects {
            // Objects runs: control messages (checkpoint requests and answers) first.
            t = self.drain_outbox(n, t);
        }
        let node = &self.nodes[n as usize];
        let region = node.region.as_ref().map_or(REGION, |r| r.0);
        let Some(app) = node.app.as_ref() else { return };
        if sc.gms.is_some() && !app.started {
            return; // waits for the first view with every member
        }
        if node.objects.as_ref().is_some_and(Objects::joining) {
            return; // a sender that joined late publishes once it has joined the objects
        }
        loop {
            let next = self.nodes[n as usize].app.as_ref().map_or(sc.messages, |a| a.next);
            if next >= sc.messages {
                break;
            }
            if sc.objects && self.nodes[n as usize].app.as_ref().is_some_and(|a| a.pending.is_none()) {
                let f = self.object_update(n, next);
                if let Some(app) = self.nodes[n as usize].app.as_mut() {
                    app.pending = Some(f);
                }
            }
            let node = &mut self.nodes[n as usize];
            let Some(app) = node.app.as_mut() else { break };
            let frame = app.pending.as_deref().unwrap_or_default();
            let len = if frame.is_empty() { sc.size } else { sc.size.max(MESSAGE_HEADER + frame.len()) };
            match node.proto.claim(t, region, len) {
                Ok(mut claim) => {
                    write_message(&mut claim, n, app.next, frame);
                    claim.commit();
                    app.next += 1;
                    app.pending = None;
                    t += sc.cpu_per_message * node.slow;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => panic!("scenario validated, yet publish failed: {e}"),
            }
        }
        let node = &mut self.nodes[n as usize];
        let Some(app) = node.app.as_mut() else { return };
        node.busy_until = node.busy_until.max(t);
        if app.next == sc.messages && !app.done {
            app.done = true;
            self.apps_pending -= 1;
            self.apps_done_at = self.apps_done_at.max(t);
        }
    }

    fn check_delivery(&mut self, n: u32, sender: NodeId, msg: &[u8]) {
        let sc = self.sc;
        self.out.deliveries += 1;
        let node = &mut self.nodes[n as usize];
        node.busy_until += sc.cpu_per_message * node.slow;
        let doomed = node.doomed;
        let Some((from, index, frame)) = read_message(msg, sc.size) else {
            self.violation(format!("node {n}: corrupt message of {} bytes from {sender}", msg.len()));
            return;
        };
        if sc.objects && index & CONTROL != 0 {
            // A checkpoint request or answer, which any member publishes: to the objects.
            if argent_qsm::node_of(sender).0 != from {
                self.violation(format!(
                    "node {n}: control message claims sender {from} but came from {sender}"
                ));
                return;
            }
            self.object_frame(n, sender, frame);
            return;
        }
        let slot = from.checked_sub(self.first_sender).filter(|_| from == argent_qsm::node_of(sender).0);
        let Some(slot) = slot.filter(|s| *s < sc.senders) else {
            self.violation(format!("node {n}: message claims sender {from} but came from {sender}"));
            return;
        };
        if sc.gms.is_some() && node.first_index[slot as usize].is_none() {
            // A joiner starts where the sender's stream was when it joined; checked at the end.
            node.first_index[slot as usize] = Some(index);
            node.expected_next[slot as usize] = index;
        }
        if sc.objects {
            // Every delivery goes to the sessions, duplicates included.
            self.object_frame(n, sender, frame);
        }
        let node = &mut self.nodes[n as usize];
        let expected = &mut node.expected_next[slot as usize];
        match index.cmp(expected) {
            Ordering::Equal => {
                *expected += 1;
                if !doomed && self.remaining > 0 {
                    self.remaining -= 1;
                    self.out.delivered += 1;
                }
            }
            Ordering::Less => {
                let e = *expected;
                self.violation(format!("node {n}: duplicate message {index} from {sender} (expected {e})"))
            }
            Ordering::Greater => {
                let e = *expected;
                *expected = index + 1; // resynchronise: one gap is one violation
                self.violation(format!(
                    "node {n}: message {index} from {sender} out of order or after a gap (expected {e})"
                ))
            }
        }
    }

    fn finish(mut self, end: Instant) -> Outcome {
        let sc = self.sc;
        self.out.virtual_secs = end.as_secs_f64();
        if let Some(c) = self.presence_crashed {
            // Every survivor evicted the crashed member, once (one region).
            let survivors = self.nodes.iter().filter(|n| !n.crashed).count() as u64;
            if self.out.presence_evictions != survivors {
                let got = self.out.presence_evictions;
                self.violation(format!("{got} evictions of crashed node {c} for {survivors} survivors"));
            }
        }
        let mut s = self.restarted_stats.clone();
        for node in &self.nodes {
            s.merge(node.proto.stats());
            let o = &mut self.out;
            o.max_sender_buffer_bytes = o.max_sender_buffer_bytes.max(node.proto.max_send_buffered_bytes());
            o.max_receiver_buffer_bytes =
                o.max_receiver_buffer_bytes.max(node.proto.max_receive_held_bytes());
        }
        let o = &mut self.out;
        o.max_token_bytes = s.max_token_bytes;
        o.sender_retransmissions = s.sender_retransmissions;
        o.peer_repairs = s.peer_repairs;
        o.pulls = s.pulls_sent;
        o.naks = s.naks_sent;
        o.naks_escalated = s.naks_escalated;
        o.rounds = s.rounds_completed;
        o.rounds_regenerated = s.rounds_regenerated;
        let mut found = Vec::new();
        for (n, node) in self.nodes.iter().enumerate() {
            // Membership runs check members from their join points (finish_membership).
            if !node.doomed && sc.gms.is_none() {
                for (slot, got) in node.expected_next.iter().enumerate() {
                    if *got != sc.messages {
                        let s = self.first_sender + slot as u32;
                        found.push(format!("node {n}: got {got} of {} messages from n{s}", sc.messages));
                    }
                }
            }
            if let Some(app) = &node.app {
                if app.next != sc.messages {
                    found
                        .push(format!("sender {n}: published only {} of {} messages", app.next, sc.messages));
                } else if !node.proto.send_drained() {
                    found.push(format!("sender {n}: send buffer not acknowledged at the end"));
                }
            }
        }
        if self.out.max_sender_buffer_bytes > sc.qsm.send_buffer_bytes as u64 {
            found.push(format!(
                "send buffer reached {} bytes, bound {}",
                self.out.max_sender_buffer_bytes, sc.qsm.send_buffer_bytes
            ));
        }
        if self.out.max_receiver_buffer_bytes > sc.qsm.receive_bound_bytes() {
            found.push(format!(
                "a receiver held {} bytes for one stream, bound {}",
                self.out.max_receiver_buffer_bytes,
                sc.qsm.receive_bound_bytes()
            ));
        }
        for f in found {
            self.violation(f);
        }
        if sc.gms.is_some() {
            self.finish_membership();
        }
        if sc.objects {
            self.finish_objects();
        }
        self.out
    }
}

/// Message layout: sender id (u32), index (u64), check word (u32), then zeros; objects
/// runs: then the length of an object frame (u32) and the frame, then zeros up to the
/// scenario's size (a message is longer only for a frame that needs it).
fn write_message(buf: &mut [u8], sender: u32, index: u64, frame: &[u8]) {
    buf[0..4].copy_from_slice(&sender.to_le_bytes());
    buf[4..12].copy_from_slice(&index.to_le_bytes());
    buf[12..16].copy_from_slice(&check_word(sender, index).to_le_bytes());
    if frame.is_empty() {
        return;
    }
    buf[16..20].copy_from_slice(&(frame.len() as u32).to_le_bytes());
    let end = MESSAGE_HEADER + frame.len();
    buf[MESSAGE_HEADER..end].copy_from_slice(frame);
    buf[end..].fill(0);
}

/// Sender, index and object frame (empty when none) of a message written by
/// [`write_message`]; `None` if it is corrupt.
fn read_message(msg: &[u8], size: usize) -> Option<(u32, u64, &[u8])> {
    if msg.len() < size.max(MIN_MESSAGE) {
        return None;
    }
    let sender = u32::from_le_bytes(msg.get(0..4)?.try_into().ok()?);
    let index = u64::from_le_bytes(msg.get(4..12)?.try_into().ok()?);
    let check = u32::from_le_bytes(msg.get(12..16)?.try_into().ok()?);
    let (frame, rest) = match msg.get(16..MESSAGE_HEADER) {
        Some(len) => {
            let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
            let end = MESSAGE_HEADER.checked_add(len)?;
            (msg.get(MESSAGE_HEADER..end)?, &msg[end..])
        }
        None => (&msg[..0], &msg[16..]),
    };
    let padded = msg.len() == size || (msg.len() > size && rest.is_empty() && !frame.is_empty());
    (padded && check == check_word(sender, index) && rest.iter().all(|b| *b == 0))
        .then_some((sender, index, frame))
}

fn check_word(sender: u32, index: u64) -> u32 {
    let x = (u64::from(sender) << 40 ^ index).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}
