//! The agreement on a flush's ends ([`crate::agree`]) as a model: survivors that stay, that
//! leave (their frames reach a random part of the others), and that began later; frames
//! delivered in any order across senders (in order per sender, as QSM's streams are), the
//! membership's departures learnt at any time. Every survivor that stays must accept one
//! decision, the same everywhere, and never change the one it used.

use crate::agree::{Absent, Agreement, Decision};
use crate::Frame;
use argent_qsm::NodeId;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone)]
struct Model {
    /// Survivors 0..n; which leave (and after how many of their steps they stop); which
    /// began later (never take part).
    n: u32,
    leaves: Vec<(u32, u32)>,
    later: BTreeSet<u32>,
    seed: u64,
}

fn model() -> impl Strategy<Value = Model> {
    (2u32..7, any::<u64>()).prop_flat_map(|(n, seed)| {
        let leaves = prop::collection::vec((0..n, 0u32..6), 0..n as usize);
        let later = prop::collection::btree_set(0..n, 0..2);
        (Just(n), leaves, later, Just(seed)).prop_map(|(n, leaves, later, seed)| {
            let mut seen = BTreeSet::new();
            // Somebody stays and took part, or there is nothing to check.
            let leaves: Vec<(u32, u32)> = leaves.into_iter().filter(|(x, _)| seen.insert(*x)).collect();
            Model { n, leaves, later, seed }
        })
    })
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A frame `f` from `y` to member `a`.
fn take(a: &mut Agreement, y: u32, f: &[u8]) {
    match Frame::decode(f) {
        Ok(Frame::Decide(d)) => a.offer(NodeId(y), d),
        Ok(Frame::State(s)) => a.state(NodeId(y), s),
        other => panic!("not an agreement frame: {other:?}"),
    }
}

/// One step of member `x`; what it accepted is logged in `used` (each change once), and the
/// frames it publishes are returned. A fresh decision names its coordinator, so two differ.
fn step(
    x: u32,
    a: &mut Agreement,
    absent: impl Fn(NodeId) -> Option<Absent>,
    used: &mut BTreeMap<u32, Vec<Decision>>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let fresh = || {
        Some(Decision {
            from_view: 1,
            to_view: 2,
            ballot: 0,
            ends: vec![(x, 1 + u64::from(x))],
            dropped: Vec::new(),
            relays: Vec::new(),
        })
    };
    a.step(absent, fresh, &mut out);
    if let Some(d) = a.accepted() {
        let log = used.entry(x).or_default();
        if log.last().is_none_or(|l| l.ends != d.ends) {
            log.push(d.clone());
        }
    }
    out
}

/// Runs the model; returns each staying member's decisions in the order it accepted them.
fn run(m: &Model) -> BTreeMap<u32, Vec<Decision>> {
    let mut rng = m.seed | 1;
    let leaving: BTreeMap<u32, u32> =
        m.leaves.iter().copied().filter(|(x, _)| !m.later.contains(x)).collect();
    let stays = |x: u32| !leaving.contains_key(&x) && !m.later.contains(&x);
    let survivors: Vec<NodeId> = (0..m.n).map(NodeId).collect();
    let mut members: BTreeMap<u32, Agreement> = (0..m.n)
        .filter(|x| !m.later.contains(x))
        .map(|x| (x, Agreement::new(1, 2, NodeId(x), survivors.clone())))
        .collect();
    // Frames in flight, per (sender, receiver), in order; a leaving sender's reach only a
    // random part of the receivers.
    let mut wire: BTreeMap<(u32, u32), VecDeque<Vec<u8>>> = BTreeMap::new();
    let mut steps: BTreeMap<u32, u32> = BTreeMap::new();
    // What each member knows: departures, and who began later.
    let mut knows_left: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut knows_later: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut used: BTreeMap<u32, Vec<Decision>> = BTreeMap::new();
    let rounds = 400;
    for round in 0..rounds + 200 {
        let quiet = round >= rounds; // everything learnt and delivered from now on
        let x = (next(&mut rng) % u64::from(m.n)) as u32;
        match next(&mut rng) % 4 {
            0 => {
                // Learn of a departure or of a later beginning.
                let y = (next(&mut rng) % u64::from(m.n)) as u32;
                if leaving.contains_key(&y) {
                    knows_left.insert((x, y));
                }
                if m.later.contains(&y) {
                    knows_later.insert((x, y));
                }
            }
            1 => {
                // Deliver the next frame of some sender to x.
                let y = (next(&mut rng) % u64::from(m.n)) as u32;
                let Some(f) = wire.get_mut(&(y, x)).and_then(|q| q.pop_front()) else { continue };
                if let Some(a) = members.get_mut(&x) {
                    take(a, y, &f);
                }
            }
            _ => {
                // A step of x: a member that left stops after its steps.
                let done = steps.entry(x).or_default();
                if leaving.get(&x).is_some_and(|limit| *done >= *limit) {
                    continue;
                }
                *done += 1;
                let Some(a) = members.get_mut(&x) else { continue };
                let absent = |y: NodeId| {
                    if knows_left.contains(&(x, y.0)) {
                        Some(Absent::Left)
                    } else if knows_later.contains(&(x, y.0)) {
                        Some(Absent::Later)
                    } else {
                        None
                    }
                };
                let out = step(x, a, absent, &mut used);
                for f in out {
                    for y in 0..m.n {
                        // A leaving member's frames reach some receivers only.
                        if !leaving.contains_key(&x) || next(&mut rng).is_multiple_of(2) {
                            wire.entry((x, y)).or_default().push_back(f.clone());
                        }
                    }
                }
            }
        }
        if quiet {
            for x in 0..m.n {
                for y in 0..m.n {
                    if leaving.contains_key(&y) {
                        knows_left.insert((x, y));
                    }
                    if m.later.contains(&y) {
                        knows_later.insert((x, y));
                    }
                }
            }
        }
    }
    // Drain: every staying member steps and takes every frame until nothing moves.
    for _ in 0..4 * m.n {
        for x in (0..m.n).filter(|x| stays(*x)) {
            let a = members.get_mut(&x).expect("a member");
            for y in 0..m.n {
                while let Some(f) = wire.get_mut(&(y, x)).and_then(|q| q.pop_front()) {
                    take(a, y, &f);
                }
            }
            let absent = |y: NodeId| {
                if leaving.contains_key(&y.0) {
                    Some(Absent::Left)
                } else if m.later.contains(&y.0) {
                    Some(Absent::Later)
                } else {
                    None
                }
            };
            let out = step(x, a, absent, &mut used);
            for f in out {
                for y in 0..m.n {
                    wire.entry((x, y)).or_default().push_back(f.clone());
                }
            }
        }
    }
    used.retain(|x, _| stays(*x));
    for x in (0..m.n).filter(|x| stays(*x)) {
        used.entry(x).or_default();
    }
    used
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn members_that_stay_accept_one_decision(m in model()) {
        let used = run(&m);
        let mut first: Option<&Decision> = None;
        for (x, log) in &used {
            prop_assert!(!log.is_empty(), "member {} accepted nothing: {:?}", x, used);
            prop_assert_eq!(log.len(), 1, "member {} changed the decision it used: {:?}", x, log);
            let d = &log[0];
            if let Some(f) = first {
                prop_assert_eq!(&f.ends, &d.ends, "members disagree: {:?}", used);
            }
            first = Some(d);
        }
    }
}

#[test]
fn a_coordinator_that_leaves_is_replaced_and_its_decision_kept() {
    // Survivors 0, 1, 2. Node 0 decides and only node 2 gets it; then node 0 leaves. Node 1
    // turns to itself and asks; node 2 tells it node 0's decision; node 1 publishes that.
    let s: Vec<NodeId> = (0..3).map(NodeId).collect();
    let mut a: Vec<Agreement> = (0..3).map(|x| Agreement::new(4, 5, NodeId(x), s.clone())).collect();
    let fresh = |x: u32| {
        move || {
            Some(Decision {
                from_view: 4,
                to_view: 5,
                ballot: 0,
                ends: vec![(x, 7)],
                dropped: vec![],
                relays: vec![],
            })
        }
    };
    let mut out = Vec::new();
    a[0].step(|_| None, fresh(0), &mut out);
    let decide = out.pop().expect("node 0 decides at once (the first ballot)");
    let Ok(Frame::Decide(d0)) = Frame::decode(&decide) else { panic!("a decision") };
    assert_eq!((d0.ballot, &d0.ends), (0, &vec![(0, 7)]));
    a[2].step(|_| None, fresh(2), &mut out);
    assert!(out.is_empty() && a[2].accepted().is_none());
    a[2].offer(NodeId(0), d0.clone());
    a[2].step(|_| None, fresh(2), &mut out);
    assert_eq!(a[2].accepted().map(|d| &d.ends), Some(&d0.ends));
    // Node 0 left: 1 and 2 turn to node 1.
    let left = |n: NodeId| (n == NodeId(0)).then_some(Absent::Left);
    a[1].step(left, fresh(1), &mut out);
    assert!(out.is_empty(), "node 1 waits for node 2's state before deciding");
    a[2].step(left, fresh(2), &mut out);
    let state = out.pop().expect("node 2 tells node 1");
    let Ok(Frame::State(st)) = Frame::decode(&state) else { panic!("a state") };
    assert_eq!((st.coordinator, st.accepted.as_ref().map(|d| d.ballot)), (1, Some(0)));
    a[1].state(NodeId(2), st);
    a[1].step(left, fresh(1), &mut out);
    let Ok(Frame::Decide(d1)) = Frame::decode(&out.pop().expect("node 1 publishes")) else { panic!() };
    assert_eq!((d1.ballot, &d1.ends), (1, &d0.ends), "node 0's decision, under node 1's ballot");
    a[2].offer(NodeId(1), d1);
    a[2].step(left, fresh(2), &mut out);
    assert_eq!(a[2].accepted().map(|d| (d.ballot, &d.ends)), Some((1, &d0.ends)));
    // A decision from the coordinator left behind is not taken any more.
    let mut late = d0.clone();
    late.ends = vec![(0, 99)];
    a[2].offer(NodeId(0), late);
    a[2].step(left, fresh(2), &mut out);
    assert_eq!(a[2].accepted().map(|d| &d.ends), Some(&d0.ends));
}

#[test]
fn decisions_and_states_round_trip_and_bad_ones_are_refused() {
    use crate::agree::{RelayPlan, State, MAX_HOLDERS};
    use crate::frame::{encode_decide, encode_state};
    use crate::FrameError;
    let d = Decision {
        from_view: 3,
        to_view: 5,
        ballot: 2,
        ends: vec![(1, 9), (1 << 16 | 4, 2)],
        dropped: vec![7],
        relays: vec![RelayPlan { stream: 1, lowest: 4, holders: vec![2, 5] }],
    };
    let mut f = Vec::new();
    encode_decide(&d, &mut f);
    assert_eq!(Frame::decode(&f), Ok(Frame::Decide(d.clone())));
    for cut in 1..f.len() {
        assert!(Frame::decode(&f[..cut]).is_err(), "a decision cut at {cut} bytes");
    }
    f.push(0);
    assert!(matches!(Frame::decode(&f), Err(FrameError::Trailing { .. })));
    for st in [
        State { from_view: 3, to_view: 5, coordinator: 4, accepted: None },
        State { from_view: 3, to_view: 5, coordinator: 4, accepted: Some(d.clone()) },
    ] {
        let mut f = Vec::new();
        encode_state(&st, &mut f);
        assert_eq!(Frame::decode(&f), Ok(Frame::State(st)));
    }
    let refused = |d: &Decision| {
        let mut f = Vec::new();
        encode_decide(d, &mut f);
        matches!(Frame::decode(&f), Err(FrameError::BadDecision { .. } | FrameError::BadViews { .. }))
    };
    assert!(refused(&Decision { ends: vec![(4, 2), (1, 9)], ..d.clone() }), "ends out of order");
    assert!(refused(&Decision { ends: vec![(1, 0)], relays: vec![], ..d.clone() }), "an end at 0");
    assert!(refused(&Decision { to_view: 3, ..d.clone() }), "views backwards");
    let plan = |lowest, holders: Vec<u32>| RelayPlan { stream: 1, lowest, holders };
    assert!(refused(&Decision { relays: vec![plan(9, vec![2])], ..d.clone() }), "a relay from its end");
    assert!(refused(&Decision { relays: vec![plan(1, vec![3; MAX_HOLDERS + 1])], ..d.clone() }), "holders");
    let mut f = Vec::new();
    encode_state(&State { from_view: 3, to_view: 5, coordinator: 4, accepted: None }, &mut f);
    f[5] = 2;
    assert!(matches!(Frame::decode(&f), Err(FrameError::BadDecision { .. })), "the accepted flag");
}
