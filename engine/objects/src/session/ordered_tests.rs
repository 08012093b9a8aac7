//! The kinds that need total order, over an in-memory group that delivers every frame to
//! every session in one order (the total-order driver's guarantee): joiners mid-stream end
//! with the same state as everyone, every replica makes the same decision for every update,
//! and a durable session's disk rebuilds its state, within its bound, after everyone left.

use super::*;
use crate::durable::{decode_records, encode_record, rebuild, Durability, RECORD_HEADER};
use crate::object::{
    Counter, CounterOp, LiveObject, Lock, LockOp, LogOp, Position, ReplicatedLog, Stamp, Stamped,
};
use crate::reference::ObjectId;
use argent_core::Instant;
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

enum Msg {
    Frame(Vec<u8>),
    Fence(u64, u64),
}

/// A replica's disk: the last base and the log after it.
#[derive(Default)]
struct Disk {
    base: Option<(Vec<u8>, Vec<u8>)>,
    log: Vec<u8>,
    /// The most the log held.
    peak: usize,
    /// The largest base written.
    largest_base: usize,
}

struct Node<O: LiveObject> {
    id: u32,
    session: Session<O>,
    /// Every change it handed out, in order.
    changes: Vec<O::Change>,
    disk: Disk,
}

struct Group<O: LiveObject> {
    now: Instant,
    nodes: Vec<Node<O>>,
    wire: VecDeque<(u32, Msg)>,
    problems: Vec<String>,
}

fn cfg() -> SessionConfig {
    SessionConfig { ask_every: Duration::from_millis(50), ..SessionConfig::default() }
}

const ID: ObjectId = ObjectId(0x0bde);

impl<O: LiveObject> Group<O>
where
    O::Change: std::fmt::Debug,
{
    fn new() -> Self {
        Group { now: Instant::ZERO, nodes: Vec::new(), wire: VecDeque::new(), problems: Vec::new() }
    }

    fn add(&mut self, id: u32, session: Session<O>) {
        self.nodes.push(Node { id, session, changes: Vec::new(), disk: Disk::default() });
        let members: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
        for n in &mut self.nodes {
            n.session.handle_members(self.now, &members);
        }
        self.collect();
    }

    /// Every session's outputs: frames and fences onto the wire, changes kept, records
    /// written to its disk (a base replaces the last and empties the log).
    fn collect(&mut self) {
        let ids: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
        for n in &mut self.nodes {
            while let Some(t) = n.session.poll_transmit() {
                match t {
                    Transmit::Publish(f) => self.wire.push_back((n.id, Msg::Frame(f))),
                    Transmit::RequestFences { key, nonce } => {
                        self.wire.extend(ids.iter().map(|&m| (m, Msg::Fence(key, nonce))));
                    }
                }
            }
            while let Some(p) = n.session.poll_persist() {
                match p {
                    Persist::Base { position, checkpoint } => {
                        n.disk.largest_base = n.disk.largest_base.max(position.len() + checkpoint.len());
                        n.disk.base = Some((position, checkpoint));
                        n.disk.log.clear();
                    }
                    Persist::Update(u) => n.disk.log.extend(encode_record(&u).unwrap()),
                }
                n.disk.peak = n.disk.peak.max(n.disk.log.len());
            }
            while let Some(e) = n.session.poll_event() {
                match e {
                    SessionEvent::Changed(c) => n.changes.push(c),
                    SessionEvent::Failed(e) => self.problems.push(format!("node {}: {e}", n.id)),
                    SessionEvent::Problem(p) => self.problems.push(format!("node {}: {p}", n.id)),
                    SessionEvent::Joined { .. } => {}
                }
            }
        }
    }

    /// Delivers up to `n` messages, in one order, to every session.
    fn deliver(&mut self, n: usize) {
        for _ in 0..n {
            let Some((from, m)) = self.wire.pop_front() else { return };
            for node in &mut self.nodes {
                match &m {
                    Msg::Frame(f) => node.session.handle_message(self.now, from, f),
                    Msg::Fence(k, nonce) => node.session.handle_fence(self.now, (*k, *nonce), from),
                }
            }
            self.collect();
        }
    }

    /// Delivers everything and runs timers for `ms` virtual milliseconds.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            self.deliver(usize::MAX);
            self.now += Duration::from_millis(10);
            for n in &mut self.nodes {
                if n.session.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.session.handle_timeout(self.now);
                }
            }
            self.collect();
        }
    }

    fn checkpoints(&self) -> Vec<Vec<u8>> {
        self.nodes.iter().map(|n| n.session.proxy().expect("joined").checkpoint().unwrap()).collect()
    }
}

/// What a random run does at one step.
#[derive(Clone, Debug)]
enum Step<Op> {
    /// Member `at` submits `op`.
    Submit { at: usize, op: Op },
    /// Up to `n` messages are delivered.
    Deliver { n: usize },
    /// A new node joins (mid-stream: frames are still in flight).
    Join,
}

fn steps<Op: std::fmt::Debug + Clone>(op: impl Strategy<Value = Op>) -> impl Strategy<Value = Vec<Step<Op>>> {
    let step = prop_oneof![
        6 => (0usize..8, op).prop_map(|(at, op)| Step::Submit { at, op }),
        3 => (1usize..6).prop_map(|n| Step::Deliver { n }),
        1 => Just(Step::Join),
    ];
    proptest::collection::vec(step, 1..60)
}

/// Runs `steps` from two founding-free members (the first starts alone, the second joins),
/// then delivers everything: every replica's checkpoint and every update's change must be
/// the same everywhere.
fn run_ordered<O>(steps: Vec<Step<O::Op>>, durable: bool) -> Group<O>
where
    O: LiveObject,
    O::Op: Clone,
    O::Change: Stamped + PartialEq + std::fmt::Debug,
{
    let mut g = Group::<O>::new();
    let session = |id: u32, now| {
        let s = Session::<O>::join(ID, None, origin_for(id, 1), cfg(), now);
        if durable {
            s.with_durability(Durability { log_limit: 256, stored: None })
        } else {
            s
        }
    };
    g.add(1, session(1, g.now));
    g.run(200);
    g.add(2, session(2, g.now));
    g.run(100);
    let mut next = 3;
    for step in steps {
        match step {
            Step::Submit { at, op } => {
                let i = at % g.nodes.len();
                if g.nodes[i].session.is_member() {
                    g.nodes[i].session.submit(op).unwrap();
                    g.collect();
                }
            }
            Step::Deliver { n } => g.deliver(n),
            Step::Join => {
                g.add(next, session(next, g.now));
                next += 1;
            }
        }
    }
    g.run(500);
    assert!(g.problems.is_empty(), "{:?}", g.problems);
    let checkpoints = g.checkpoints();
    assert!(checkpoints.iter().all(|c| *c == checkpoints[0]), "replicas differ");
    // Every update's change (its outcome) is the same at every node that applied it live.
    let mut decided: BTreeMap<Stamp, &O::Change> = BTreeMap::new();
    for n in &g.nodes {
        for c in &n.changes {
            let first = decided.entry(c.stamp()).or_insert(c);
            assert_eq!(*first, c, "node {} decided otherwise", n.id);
        }
    }
    g
}

/// Every durable node's disk rebuilds its state, within the log's bound.
fn check_disks<O: LiveObject>(g: &Group<O>) {
    for n in &g.nodes {
        let (position, checkpoint) = n.disk.base.as_ref().expect("a base at the join");
        let records = decode_records(&n.disk.log);
        assert_eq!(records.clean, n.disk.log.len());
        let r = rebuild::<O>(checkpoint, &Position::decode(position).unwrap(), &records.bodies).unwrap();
        let proxy = n.session.proxy().unwrap();
        assert_eq!((&r.checkpoint, &r.position), (&proxy.checkpoint().unwrap(), proxy.position()));
        assert_eq!(r.stopped, None);
        let bound = 256usize.max(2 * n.disk.largest_base) + RECORD_HEADER + 64;
        assert!(n.disk.peak <= bound, "node {}: a log of {} bytes (bound {bound})", n.id, n.disk.peak);
    }
}

fn counter_op() -> impl Strategy<Value = CounterOp> {
    prop_oneof![(0u64..4).prop_map(CounterOp::Increment), (0u64..4).prop_map(CounterOp::DecrementIfAtLeast)]
}

fn lock_op() -> impl Strategy<Value = LockOp> {
    let owner = prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(String::from);
    prop_oneof![
        (owner.clone(), proptest::option::of(1u64..50), 0u64..100)
            .prop_map(|(owner, lease_ms, at_ms)| LockOp::Acquire { owner, lease_ms, at_ms }),
        owner.prop_map(|owner| LockOp::Release { owner }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn counters_agree_and_never_overdraw(steps in steps(counter_op()), durable in any::<bool>()) {
        let g = run_ordered::<Counter>(steps, durable);
        let state = *g.nodes[0].session.proxy().unwrap().state();
        // The count is what the applied updates say (nothing overdrew: it is unsigned and
        // every refused decrement would have).
        let changes = &g.nodes[0].changes;
        let net = changes.iter().filter(|c| c.applied).fold(0i128, |v, c| match c.op {
            CounterOp::Increment(n) => v + i128::from(n),
            CounterOp::DecrementIfAtLeast(n) => v - i128::from(n),
        });
        prop_assert_eq!(net, i128::from(state.value()));
        for c in changes.iter().filter(|c| !c.applied) {
            prop_assert!(matches!(c.op, CounterOp::DecrementIfAtLeast(n) if n > c.value));
        }
        if durable {
            check_disks(&g);
        }
    }

    #[test]
    fn logs_agree_on_every_index(steps in steps(any::<u8>().prop_map(LogOp::Append)), durable in any::<bool>()) {
        let g = run_ordered::<ReplicatedLog<u8>>(steps, durable);
        let first = &g.nodes[0].changes;
        for (i, c) in first.iter().enumerate() {
            prop_assert_eq!(c.index, i as u64);
        }
        if durable {
            check_disks(&g);
        }
    }

    #[test]
    fn a_lock_has_one_holder_in_every_replica(steps in steps(lock_op()), durable in any::<bool>()) {
        let g = run_ordered::<Lock>(steps, durable);
        // The first node saw every change from the initial state (later ones start from a
        // checkpoint, and their changes are checked against its above).
        for n in &g.nodes[..1] {
            // Replay the changes: an acquire is granted only when the lock is free, expired
            // or the owner's already.
            let mut holder: Option<(String, Option<u64>)> = None;
            for c in &n.changes {
                if let LockOp::Acquire { owner, lease_ms, at_ms } = &c.op {
                    let free = holder.as_ref().map_or(true, |(h, e)| h == owner || e.is_some_and(|e| *at_ms >= e));
                    prop_assert_eq!(c.granted, free);
                    if c.granted {
                        holder = Some((owner.clone(), lease_ms.map(|l| at_ms + l)));
                    }
                } else if c.granted {
                    holder = None;
                }
                prop_assert_eq!(c.holder.as_ref(), holder.as_ref().map(|(h, _)| h));
            }
        }
        if durable {
            check_disks(&g);
        }
    }
}

#[test]
fn after_everyone_left_a_durable_object_restores_from_the_disk() {
    let mut g = Group::<ReplicatedLog<u32>>::new();
    let durable = || Durability { log_limit: 128, stored: None };
    g.add(1, Session::join(ID, None, origin_for(1, 1), cfg(), g.now).with_durability(durable()));
    g.run(200);
    g.add(2, Session::join(ID, None, origin_for(2, 1), cfg(), g.now).with_durability(durable()));
    g.run(100);
    for i in 0..100 {
        g.nodes[(i % 2) as usize].session.submit(LogOp::Append(i)).unwrap();
        g.collect();
        g.deliver(3);
    }
    g.run(100);
    let state = g.checkpoints()[0].clone();
    // Everyone leaves; the best replica on disk (here: both equal) is rebuilt.
    let disk = &g.nodes[1].disk;
    let (position, checkpoint) = disk.base.clone().unwrap();
    let records = decode_records(&disk.log);
    let r =
        rebuild::<ReplicatedLog<u32>>(&checkpoint, &Position::decode(&position).unwrap(), &records.bodies)
            .unwrap();
    assert_eq!(r.position.total(), 100);
    let mut fresh = Group::<ReplicatedLog<u32>>::new();
    let stored = Durability { log_limit: 128, stored: Some((r.checkpoint, r.position)) };
    fresh.add(3, Session::join(ID, None, origin_for(3, 1), cfg(), fresh.now).with_durability(stored));
    fresh.run(200);
    let s = &fresh.nodes[0].session;
    assert!(s.is_member());
    assert_eq!(s.proxy().unwrap().state().len(), 100);
    assert_eq!(s.proxy().unwrap().checkpoint().unwrap(), state);
    // It goes on from there: the next append takes index 100.
    fresh.nodes[0].session.submit(LogOp::Append(100)).unwrap();
    fresh.collect();
    fresh.run(20);
    assert_eq!(fresh.nodes[0].changes.last().map(|c| c.index), Some(100));
    assert!(fresh.problems.is_empty(), "{:?}", fresh.problems);
}

#[test]
fn a_submitter_learns_its_own_outcome_by_stamp() {
    let mut g = Group::<Counter>::new();
    g.add(1, Session::join(ID, None, origin_for(1, 1), cfg(), g.now));
    g.run(200);
    g.add(2, Session::join(ID, None, origin_for(2, 1), cfg(), g.now));
    g.run(100);
    let up = g.nodes[0].session.submit_stamped(CounterOp::Increment(1)).unwrap();
    g.collect();
    // Two withdrawals of 1 race for a count of 1: one wins, at both replicas.
    let a = g.nodes[0].session.submit_stamped(CounterOp::DecrementIfAtLeast(1)).unwrap();
    let b = g.nodes[1].session.submit_stamped(CounterOp::DecrementIfAtLeast(1)).unwrap();
    g.collect();
    g.run(50);
    assert_eq!(up.origin, origin_for(1, 1));
    for n in &g.nodes {
        let outcome = |s: Stamp| n.changes.iter().find(|c| c.stamp() == s).map(|c| c.applied);
        assert_eq!(outcome(up), Some(true));
        assert_eq!(outcome(a), Some(true), "submitted first, delivered first");
        assert_eq!(outcome(b), Some(false));
    }
}
