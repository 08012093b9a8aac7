//! Sessions over an in-memory group: every frame published reaches every session in the
//! order published (the driver's FIFO, one total order here), and every fence request makes
//! every node publish a fence after what it published before. The simulator covers loss,
//! reordering between senders, churn and partitions.

use super::*;
use crate::frame::{encode, split, TAG_UPDATE};
use crate::key::{sign, ObjectKey};
use crate::object::{Proxy, Update};
use crate::object::{ReplicatedVar, VarOp};
use crate::reference::ObjectId;
use argent_core::Instant;
use std::collections::VecDeque;
use std::time::Duration;

type Var = ReplicatedVar<u64>;

enum Msg {
    Frame(Vec<u8>),
    Fence(u64, u64),
}

struct Group {
    now: Instant,
    nodes: Vec<(u32, Session<Var>)>,
    /// (sender node, message) in publication order.
    wire: VecDeque<(u32, Msg)>,
    failed: Vec<JoinError>,
    problems: Vec<Problem>,
}

fn cfg() -> SessionConfig {
    SessionConfig { ask_every: Duration::from_millis(50), ..SessionConfig::default() }
}

impl Group {
    fn new() -> Self {
        Group {
            now: Instant::ZERO,
            nodes: Vec::new(),
            wire: VecDeque::new(),
            failed: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn members(&self) -> Vec<u32> {
        self.nodes.iter().map(|(n, _)| *n).collect()
    }

    fn add(&mut self, node: u32, s: Session<Var>) {
        self.nodes.push((node, s));
        let members = self.members();
        let now = self.now;
        for (_, s) in &mut self.nodes {
            s.handle_members(now, &members);
        }
        self.collect();
    }

    /// Move every session's output onto the wire.
    fn collect(&mut self) {
        let senders: Vec<u32> = self.nodes.iter().map(|(n, _)| *n).collect();
        for (node, s) in self.nodes.iter_mut() {
            while let Some(t) = s.poll_transmit() {
                match t {
                    Transmit::Publish(f) => self.wire.push_back((*node, Msg::Frame(f))),
                    // Every node fences, after what it published so far.
                    Transmit::RequestFences { key, nonce } => {
                        for n in &senders {
                            self.wire.push_back((*n, Msg::Fence(key, nonce)));
                        }
                    }
                }
            }
            while let Some(e) = s.poll_event() {
                match e {
                    SessionEvent::Failed(e) => self.failed.push(e),
                    SessionEvent::Problem(p) => self.problems.push(p),
                    _ => {}
                }
            }
        }
    }

    /// Deliver everything, and fire timers every 10 ms, for `ms` virtual milliseconds.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 10 {
            while let Some((from, m)) = self.wire.pop_front() {
                let now = self.now;
                for (_, s) in &mut self.nodes {
                    match &m {
                        Msg::Frame(f) => s.handle_message(now, from, f),
                        Msg::Fence(k, n) => s.handle_fence(now, (*k, *n), from),
                    }
                }
                self.collect();
            }
            self.now += Duration::from_millis(10);
            let now = self.now;
            for (_, s) in &mut self.nodes {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            self.collect();
        }
    }

    fn value(&self, i: usize) -> Option<u64> {
        self.nodes[i].1.proxy().and_then(|p| p.state().get().copied())
    }
}

fn id() -> ObjectId {
    ObjectId(0xabc)
}

#[test]
fn a_joiner_gets_the_state_and_every_later_update_exactly_once() {
    let mut g = Group::new();
    g.add(1, Session::founding(id(), None, origin_for(1, 1), cfg()));
    g.nodes[0].1.submit(VarOp::Set(5)).unwrap();
    g.collect();
    g.run(20);
    assert_eq!(g.value(0), Some(5));
    // The joiner subscribes, asks, and updates keep flowing meanwhile.
    let joiner = Session::join(id(), None, origin_for(2, 1), cfg(), g.now);
    g.add(2, joiner);
    g.nodes[0].1.submit(VarOp::Set(6)).unwrap();
    g.collect();
    g.run(100);
    assert!(g.nodes[1].1.is_member(), "{:?}", g.nodes[1].1.waiting_for());
    assert_eq!(g.value(1), Some(6));
    g.nodes[1].1.submit(VarOp::Set(7)).unwrap();
    g.collect();
    g.run(20);
    assert_eq!((g.value(0), g.value(1)), (Some(7), Some(7)));
    let a = g.nodes[0].1.proxy().unwrap().checkpoint().unwrap();
    assert_eq!(a, g.nodes[1].1.proxy().unwrap().checkpoint().unwrap());
    assert_eq!(g.nodes[0].1.stats().checkpoints_sent, 1);
    assert!(g.failed.is_empty() && g.problems.is_empty(), "{:?} {:?}", g.failed, g.problems);
}

#[test]
fn a_member_answers_only_once_every_member_fenced() {
    let mut s = Session::<Var>::founding(id(), None, origin_for(1, 1), cfg());
    s.handle_members(Instant::ZERO, &[1, 2, 3]);
    let req = encode(crate::frame::TAG_REQUEST, id().0, &[&crate::frame::request(9, 1)]);
    s.handle_message(Instant::ZERO, 3, &req);
    let promise = s.poll_transmit().expect("a promise");
    assert!(matches!(&promise, Transmit::Publish(f) if f[0] == crate::frame::TAG_PENDING));
    s.handle_fence(Instant::ZERO, (9, 1), 1);
    s.handle_fence(Instant::ZERO, (9, 1), 2);
    assert_eq!(s.poll_transmit(), None, "member 3's fence is missing");
    // Member 3 leaves: it is not waited for.
    s.handle_members(Instant::ZERO, &[1, 2]);
    let answer = s.poll_transmit().expect("an answer");
    assert!(matches!(&answer, Transmit::Publish(f) if f[0] == crate::frame::TAG_CHECKPOINT));
}

#[test]
fn with_nobody_to_answer_a_joiner_starts_from_the_initial_state() {
    let mut g = Group::new();
    let joiner = Session::join(id(), None, origin_for(1, 1), cfg(), g.now);
    g.add(1, joiner);
    // Asks at 0, 50 and 100 ms; at 150 ms, with no answer or promise, it is first.
    g.run(140);
    assert!(!g.nodes[0].1.is_member());
    g.run(20);
    assert!(g.nodes[0].1.is_member());
    assert_eq!(g.nodes[0].1.stats().requests, 3, "asked unanswered_means_first times");
    assert_eq!(g.value(0), None);
}

#[test]
fn a_wrong_key_is_refused_and_forged_updates_are_counted() {
    let (right, wrong) = (ObjectKey::from_bytes([1; 32]), ObjectKey::from_bytes([2; 32]));
    let mut g = Group::new();
    g.add(1, Session::founding(id(), Some(right.clone()), origin_for(1, 1), cfg()));
    let joiner = Session::join(id(), Some(wrong), origin_for(2, 1), cfg(), g.now);
    g.add(2, joiner);
    g.run(50);
    assert_eq!(g.failed, vec![JoinError::Refused]);
    assert!(g.nodes[0].1.stats().rejected >= 1);
    // An update without the MAC, and one stamped with another node's origin.
    let m = &mut g.nodes[0].1;
    let forged = encode(TAG_UPDATE, id().0, &[b"not an update"]);
    m.handle_message(g.now, 2, &forged);
    assert!(matches!(m.poll_event(), Some(SessionEvent::Problem(Problem::Forged { tag: TAG_UPDATE }))));
    let mut other = Proxy::<Var>::new(origin_for(3, 1));
    let update = other.local(VarOp::Set(1)).unwrap();
    let signed = sign(encode(TAG_UPDATE, id().0, &[&update]), Some(&right));
    m.handle_message(g.now, 2, &signed);
    assert!(matches!(m.poll_event(), Some(SessionEvent::Problem(Problem::UpdateRefused(_)))));
    assert_eq!(m.proxy().unwrap().state().get(), None);
}

#[test]
fn an_update_too_large_is_refused_before_it_is_numbered() {
    let small = SessionConfig { max_message: 60, ..cfg() };
    let mut s = Session::<ReplicatedVar<String>>::founding(id(), None, origin_for(1, 1), small);
    let e = s.submit(VarOp::Set("x".repeat(100))).unwrap_err();
    assert!(matches!(e, SubmitError::TooLarge { max: 60, .. }), "{e}");
    s.submit(VarOp::Set("ok".into())).unwrap();
    let Some(Transmit::Publish(f)) = s.poll_transmit() else { panic!("no frame") };
    let (_, _, body) = split(&f).unwrap();
    let update = Update::<VarOp<String>>::decode(body).unwrap();
    assert_eq!(update.seq, 1, "the refused update took no number");
}

#[test]
fn a_joiner_that_never_gets_fenced_times_out() {
    let mut s = Session::<Var>::join(id(), None, origin_for(2, 1), cfg(), Instant::ZERO);
    s.handle_members(Instant::ZERO, &[1, 2]);
    // A member promises, so the joiner never concludes it is first.
    let promise = encode(crate::frame::TAG_PENDING, id().0, &[&crate::frame::request(origin_for(2, 1), 1)]);
    s.handle_message(Instant::ZERO, 1, &promise);
    let mut t = Instant::ZERO;
    while let Some(at) = s.poll_timeout() {
        t = at;
        s.handle_timeout(t);
    }
    let failed = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        SessionEvent::Failed(e) => Some(e),
        _ => None,
    });
    assert!(matches!(failed, Some(JoinError::Timeout { answers: 1, .. })), "{failed:?}");
    assert_eq!(t, Instant::ZERO + cfg().join_timeout);
}

#[test]
fn origins_carry_their_node() {
    let o = origin_for(0x12_3456, u64::MAX);
    assert!(sent_by(o, 0x12_3456) && !sent_by(o, 0x12_3457));
    assert!(sent_by(origin_for(0xff12_3456, 7), 0x12_3456), "the node id's low 24 bits");
}

#[test]
fn a_joiner_takes_answers_and_refusals_only_from_members() {
    use crate::frame::{checkpoint, request, TAG_REFUSED};
    let me = origin_for(2, 1);
    let mut s = Session::<Var>::join(id(), None, me, cfg(), Instant::ZERO);
    s.handle_members(Instant::ZERO, &[1, 2]);
    // Node 9 is not in the object's region: its refusal and its checkpoint are ignored.
    let refusal = encode(TAG_REFUSED, id().0, &[&request(me, 1)]);
    s.handle_message(Instant::ZERO, 9, &refusal);
    let stranger = Proxy::<Var>::new(origin_for(9, 1));
    let position = stranger.position().encode().unwrap();
    s.handle_message(
        Instant::ZERO,
        9,
        &checkpoint(id().0, me, 1, &position, &stranger.checkpoint().unwrap()),
    );
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(!events.iter().any(|e| matches!(e, SessionEvent::Failed(_))), "{events:?}");
    assert!(!s.is_member());
    assert_eq!(s.stats().not_member_answers, 2);
    // A member's refusal counts.
    s.handle_message(Instant::ZERO, 1, &refusal);
    let failed = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        SessionEvent::Failed(e) => Some(e),
        _ => None,
    });
    assert_eq!(failed, Some(JoinError::Refused));
}
