//! The kinds that need total order, on real nodes in one process (loopback, real sockets)
//! running the total-order driver: concurrent conditional decrements never overdraw and
//! every replica decides alike, a log's entries take the same indices everywhere (a joiner
//! mid-stream included), a lock has one holder; the driver checks at open; a durable object
//! restores from disk once every proxy closed, and its log stays within its bound.

mod common;
mod ports;
use argent::objects::object::{Counter, Lock, ReplicatedLog, ReplicatedVar};
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, TypeError, TypeRequirement};
use argent::{Driver, Live, LiveError, Node, OpenOptions, StateSource};
use std::time::{Duration, Instant};

/// Members 0..n at `base + id`, one group "objects" of all of them, running `driver`.
fn nodes(base: u16, n: u32, driver: &str) -> Vec<Node> {
    let members: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let toml = format!(
        "[multicast]\nbase = \"239.252.{}.1\"\ncount = 4\nport = {}\n\
         [[group]]\nname = \"objects\"\nid = 1\nmembers = [{}]\n[protocol]\ndriver = \"{driver}\"\n",
        base % 200,
        base + 40,
        members.join(", ")
    );
    common::start(base, n, &toml)
}

fn ordered<O: argent::objects::typed::BuiltIn>(id: u128) -> Reference {
    Reference::of::<O>(ObjectId(id)).in_group("objects")
}

/// Waits until `f` holds, for at most 20 s.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not in 20 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn replicas_decide_alike_in_one_order() {
    let base = ports::block();
    let nodes = nodes(base, 3, "total-order");
    assert!(nodes.iter().all(|n| n.driver() == Driver::TotalOrder));

    // A counter of 30 and three processes withdrawing 1 at a time, 15 tries each: exactly
    // 30 withdrawals succeed, and every replica agrees on the count.
    let counter_ref = ordered::<Counter>(0xD1);
    let counters: Vec<Live<Counter>> =
        nodes.iter().map(|n| n.open_as(&counter_ref).expect("counter")).collect();
    assert_eq!(counters[0].increment(30).expect("increment"), (true, 30));
    until("every counter at 30", || counters.iter().all(|c| c.value() == 30));
    let won: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = counters
            .iter()
            .map(|c| {
                s.spawn(move || {
                    (0..15).filter(|_| c.decrement_if_at_least(1).expect("decrement").0).count() as u64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("withdrawer")).collect()
    });
    assert_eq!(won.iter().sum::<u64>(), 30, "withdrawals per process: {won:?}");
    // Every replica applied all 45 decrements (a refused one leaves the count at 0, so the
    // count alone does not say they are all in).
    until("every counter at 0, with all 15 refusals", || {
        counters.iter().all(|c| c.value() == 0 && c.read(|s| s.refused()) == 15)
    });
    let cp = counters[0].checkpoint().unwrap();
    assert!(counters.iter().all(|c| c.checkpoint().unwrap() == cp));

    // A log appended concurrently from three nodes, and a fourth proxy joining mid-stream:
    // the same entries at the same indices everywhere.
    let log_ref = ordered::<ReplicatedLog<i64>>(0xD2);
    let logs: Vec<Live<ReplicatedLog<i64>>> =
        nodes.iter().map(|n| n.open_as(&log_ref).expect("log")).collect();
    let late = std::thread::scope(|s| {
        for (i, log) in logs.iter().enumerate() {
            s.spawn(move || {
                for k in 0..200 {
                    log.append_nowait(i as i64 * 1_000 + k).expect("append");
                }
            });
        }
        std::thread::sleep(Duration::from_millis(20));
        nodes[1].open_as::<ReplicatedLog<i64>>(&log_ref).expect("late log")
    });
    let all: Vec<&Live<ReplicatedLog<i64>>> = logs.iter().chain([&late]).collect();
    until("600 entries everywhere", || all.iter().all(|l| l.len() == 600));
    let entries = logs[0].entries(0, 600);
    for l in &all {
        assert_eq!(l.entries(0, 600), entries);
    }
    // Each sender's entries in its order (the total order keeps per-sender FIFO).
    for i in 0..3i64 {
        let mine: Vec<i64> = entries.iter().map(|e| e.value).filter(|v| v / 1_000 == i).collect();
        assert_eq!(mine, (0..200).map(|k| i * 1_000 + k).collect::<Vec<_>>());
    }
    assert_eq!(late.state_source(), StateSource::Checkpoint);
    assert!(late.stats().proxy.applied < 600, "the late proxy restored a checkpoint");

    // A lock: refused to others while held, granted after the release.
    let lock_ref = ordered::<Lock>(0xD3);
    let locks: Vec<Live<Lock>> = nodes.iter().map(|n| n.open_as(&lock_ref).expect("lock")).collect();
    assert!(locks[0].acquire("alice", None).unwrap());
    assert!(!locks[1].acquire("bob", None).unwrap(), "held by alice");
    assert!(!locks[2].release("bob").unwrap(), "bob holds nothing");
    assert!(locks[2].acquire("alice", None).unwrap(), "alice renews from another node");
    until("alice holds it everywhere", || {
        locks.iter().all(|l| l.holder().is_some_and(|h| h.owner == "alice"))
    });
    assert!(locks[1].release("alice").unwrap(), "an owner releases from anywhere");
    assert!(locks[1].acquire("bob", Some(Duration::from_millis(200))).unwrap());
    assert!(!locks[0].acquire("carol", None).unwrap());
    std::thread::sleep(Duration::from_millis(250));
    assert!(locks[0].acquire("carol", None).unwrap(), "bob's lease ran out");
    drop((counters, logs, late, locks));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn the_driver_is_checked_at_open() {
    let base = ports::block();
    let qsm = nodes(base, 1, "qsm");
    assert_eq!(qsm[0].driver(), Driver::Qsm);
    // A total-order reference on a qsm node: the error names the problem and the fix.
    let e = qsm[0].open_as::<ReplicatedLog<String>>(&ordered::<ReplicatedLog<String>>(0xE1)).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, LiveError::Driver { node: "qsm", .. }), "{text}");
    assert!(text.contains("[protocol] driver = \"total-order\"") && text.contains("qsm"), "{text}");
    // A counter on the qsm driver: refused by the type check, whatever the opener asks.
    let on_qsm = Reference::new(ObjectId(0xE2), "counter", "qsm").with_setting("group", "objects");
    let e = qsm[0].open::<Counter>(&on_qsm, &TypeRequirement::new(Category::Counter)).unwrap_err();
    assert!(matches!(e, LiveError::Type(TypeError::ClassNeeds { .. })), "{e}");
    assert!(e.to_string().contains("needs reliability total-order"), "{e}");
    assert_eq!(qsm[0].stats().qsm.data_sent, 0, "nothing was sent");
    qsm.into_iter().for_each(Node::shutdown);

    // A qsm reference opens on a total-order node too (one order is more than each
    // sender's).
    let to = nodes(base + 8, 2, "total-order");
    let var_ref = Reference::of::<ReplicatedVar<i64>>(ObjectId(0xE3)).in_group("objects");
    assert_eq!(var_ref.driver.name, "qsm");
    let a: Live<ReplicatedVar<i64>> = to[0].open_as(&var_ref).expect("qsm object on a total-order node");
    let b: Live<ReplicatedVar<i64>> = to[1].open_as(&var_ref).expect("and on the other");
    a.set(5).unwrap();
    until("the value everywhere", || b.get() == Some(5));
    drop((a, b));
    to.into_iter().for_each(Node::shutdown);
}

#[test]
fn a_durable_log_outlives_its_proxies_within_its_bound() {
    let base = ports::block();
    let nodes = nodes(base, 2, "total-order");
    let dir = tempfile::tempdir().unwrap();
    let opts =
        || OpenOptions { data_dir: Some(dir.path().into()), log_limit: 4096, ..OpenOptions::default() };
    let log_ref = ordered::<ReplicatedLog<String>>(0xF1).durable();
    let open = |n: &Node| {
        n.open_with::<ReplicatedLog<String>>(
            &log_ref,
            &TypeRequirement::of::<ReplicatedLog<String>>(),
            opts(),
        )
    };
    let a = open(&nodes[0]).expect("first");
    assert_eq!(a.state_source(), StateSource::Initial);
    let b = open(&nodes[1]).expect("second");
    for i in 0..300 {
        let l = if i % 2 == 0 { &a } else { &b };
        l.append_nowait(format!("entry {i:04} {}", "x".repeat(40))).unwrap();
    }
    // Its index is its place in the one order (after a's 150 own appends, wherever b's are).
    let last = a.append("last".into()).unwrap();
    assert!((150..=300).contains(&last), "{last}");
    until("301 entries at both", || a.len() == 301 && b.len() == 301);
    let expected = a.checkpoint().unwrap();
    let stats = a.durable_stats().expect("durable");
    assert!(stats.bases >= 2 && stats.records >= 1, "compacted: {stats:?}");
    // Every replica stays within its bound: the base, and a log of at most
    // max(4096, 2 x base) bytes plus one record.
    for replica in std::fs::read_dir(dir.path().join("objects").join(log_ref.id.to_string())).unwrap() {
        let replica = replica.unwrap().path();
        let base = std::fs::metadata(replica.join("base")).unwrap().len();
        let log = std::fs::metadata(replica.join("log")).unwrap().len();
        assert!(log <= 4096u64.max(2 * base) + 200, "{}: log {log} B, base {base} B", replica.display());
    }
    drop((a, b));
    // Nobody holds it now: the next open restores what the disk kept (and removes the
    // replicas of the proxies gone once its own base is down).
    let again = open(&nodes[1]).expect("reopen");
    assert_eq!(again.state_source(), StateSource::Stored);
    assert_eq!(again.len(), 301);
    assert_eq!(again.checkpoint().unwrap(), expected);
    assert_eq!(again.durable_stats().unwrap().restored, 301);
    assert_eq!(again.append("after".into()).unwrap(), 301);
    let replicas =
        std::fs::read_dir(dir.path().join("objects").join(log_ref.id.to_string())).unwrap().count();
    assert_eq!(replicas, 1, "the stale replicas were removed");
    drop(again);
    nodes.into_iter().for_each(Node::shutdown);
}
