//! Live objects on real nodes in one process (loopback, real sockets): three proxies of a
//! replicated variable and of a replicated map under concurrent updates converge, a proxy
//! that joins mid-stream ends with the same state, and type errors stop an open before any
//! traffic.

mod common;
mod ports;
use argent::objects::object::{ReplicatedMap, ReplicatedVar};
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, Reliability, TypeRequirement};
use argent::{Live, LiveError, Node};
use std::time::{Duration, Instant};

type Var = ReplicatedVar<i64>;
type Map = ReplicatedMap<String, i64>;

/// Members 0..n at `base + id`, one group "objects" of all of them.
fn nodes(base: u16, n: u32) -> Vec<Node> {
    nodes_with(base, n, "")
}

/// [`nodes`] with `protocol` settings (TOML lines of `[protocol]`).
fn nodes_with(base: u16, n: u32, protocol: &str) -> Vec<Node> {
    let members: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let toml = format!(
        "[multicast]\nbase = \"239.253.{}.1\"\ncount = 4\nport = {}\n\
         [[group]]\nname = \"objects\"\nid = 1\nmembers = [{}]\n[protocol]\n{protocol}\n",
        base % 200,
        base + 40,
        members.join(", ")
    );
    common::start(base, n, &toml)
}

fn reference(id: u128, class: &str) -> Reference {
    Reference::new(ObjectId(id), class, "qsm").with_setting("group", "objects")
}

fn var_type() -> TypeRequirement {
    TypeRequirement::whole(Category::ReplicatedVar)
}

fn map_type() -> TypeRequirement {
    TypeRequirement::whole(Category::ReplicatedMap)
}

/// Waits until every proxy includes `total` updates.
fn settle<O: argent::objects::object::LiveObject>(proxies: &[&Live<O>], total: u64) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<u64> = proxies.iter().map(|p| p.position().total()).collect();
        if counts.iter().all(|&c| c == total) {
            return;
        }
        assert!(Instant::now() < until, "not settled in 30 s: {counts:?} of {total}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn proxies_converge_under_concurrent_updates_and_a_late_joiner_gets_the_same_state() {
    let base = ports::block();
    let nodes = nodes(base, 3);
    let (var_ref, map_ref) = (reference(0xA1, "replicated-var"), reference(0xA2, "replicated-map"));
    let vars: Vec<Live<Var>> =
        nodes.iter().map(|n| n.open(&var_ref, &var_type()).expect("open var")).collect();
    let maps: Vec<Live<Map>> =
        nodes.iter().map(|n| n.open(&map_ref, &map_type()).expect("open map")).collect();
    let watch = vars[1].watch();

    const PER_PROXY: u64 = 300;
    let late = std::thread::scope(|s| {
        for (i, (var, map)) in vars.iter().zip(&maps).enumerate() {
            s.spawn(move || {
                for k in 0..PER_PROXY as i64 {
                    var.set(i as i64 * 1_000 + k).expect("set");
                    let key = format!("k{}", k % 20);
                    if k % 7 == 3 {
                        map.remove(key).expect("remove");
                    } else {
                        map.put(key, i as i64 * 1_000 + k).expect("put");
                    }
                    if k % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            });
        }
        // A fourth proxy of each object joins while the others are updating.
        std::thread::sleep(Duration::from_millis(30));
        let var: Live<Var> = nodes[0].open(&var_ref, &var_type()).expect("late var");
        let map: Live<Map> = nodes[0].open(&map_ref, &map_type()).expect("late map");
        (var, map)
    });
    let (late_var, late_map) = late;
    let total = 3 * PER_PROXY;
    let all_vars: Vec<&Live<Var>> = vars.iter().chain([&late_var]).collect();
    let all_maps: Vec<&Live<Map>> = maps.iter().chain([&late_map]).collect();
    settle(&all_vars, total);
    settle(&all_maps, total);

    let expected = vars[0].checkpoint().expect("checkpoint");
    for v in &all_vars {
        assert_eq!(v.checkpoint().expect("checkpoint"), expected, "var {:?}", v.get());
    }
    let expected = maps[0].checkpoint().expect("checkpoint");
    for m in &all_maps {
        assert_eq!(m.checkpoint().expect("checkpoint"), expected);
    }
    assert_eq!(late_map.entries(), maps[2].entries());
    assert!(vars[0].get().is_some());
    // The late proxies applied only what their checkpoint lacked; nobody rejected anything.
    for v in &all_vars {
        let s = v.stats();
        assert_eq!(s.rejected, 0, "{s:?}");
    }
    assert!(late_var.stats().proxy.applied < total, "the late proxy restored a checkpoint");
    assert!(vars.iter().map(|v| v.stats().checkpoints_sent).sum::<u64>() >= 1);
    // Joins were fenced: every node was asked for fences, and none lacked room for one.
    for n in &nodes {
        let s = n.stats();
        assert!(s.qsm.fences_asked >= 1 && s.fences_skipped == 0, "{:?}", s.qsm);
    }
    assert!(nodes.iter().map(|n| n.stats().qsm.fence_requests).sum::<u64>() >= 2);
    // Watchers see changes as they are applied.
    assert!(watch.try_iter().count() > 0);
    drop((vars, maps, late_var, late_map));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn an_incompatible_type_fails_at_open_before_any_traffic() {
    let base = ports::block();
    let nodes = nodes(base, 2);
    let var_ref = reference(0xB1, "replicated-var");
    let e = nodes[0].open::<Var>(&var_ref, &TypeRequirement::new(Category::Chat)).expect_err("chat on a var");
    let text = e.to_string();
    assert!(matches!(e, LiveError::Type(_)), "{text}");
    assert!(text.contains("chat") && text.contains("replicated-var"), "{text}");
    let total = var_type().reliability(Reliability::TotalOrder);
    let text = nodes[0].open::<Var>(&var_ref, &total).expect_err("total order from qsm").to_string();
    assert!(text.contains("total-order") && text.contains("qsm"), "{text}");
    // A reference without a group, and one naming a group the node does not have.
    let e = nodes[0]
        .open::<Var>(&Reference::new(ObjectId(0xB2), "replicated-var", "qsm"), &var_type())
        .unwrap_err();
    assert!(e.to_string().contains("driver.settings.group"), "{e}");
    let nowhere = Reference::new(ObjectId(0xB3), "replicated-var", "qsm").with_setting("group", "nope");
    assert!(nodes[0].open::<Var>(&nowhere, &var_type()).is_err());
    // None of this sent anything: the node published nothing.
    assert_eq!(nodes[0].stats().qsm.data_sent, 0);
    // A value larger than one message is refused with its size, not lost.
    let big: Live<ReplicatedVar<String>> =
        nodes[0].open(&reference(0xB4, "replicated-var"), &var_type()).expect("open");
    let e = big.set("x".repeat(100_000)).expect_err("too large");
    assert!(matches!(e, LiveError::TooLarge { .. }) && e.to_string().contains("does not fit"), "{e}");
    big.set("small".into()).expect("a small value still goes through");
    let until = Instant::now() + Duration::from_secs(10);
    while big.get().as_deref() != Some("small") {
        assert!(Instant::now() < until, "the refused value left a gap: {:?}", big.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(big.stats().rejected, 0);
    drop(big);
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn an_authenticated_object_refuses_a_joiner_with_the_wrong_key() {
    use argent::{ObjectKey, OpenOptions};
    let base = ports::block();
    let nodes = nodes(base, 2);
    let keyed = reference(0xC1, "replicated-var").with_parameter("auth", "key");
    let key = ObjectKey::generate().expect("a key");
    let with = |k: Option<ObjectKey>| OpenOptions { key: k, ..OpenOptions::default() };
    let first: Live<Var> =
        nodes[0].open_with(&keyed, &var_type(), with(Some(key.clone()))).expect("first member");
    first.set(7).expect("set");
    // No key: refused before any traffic.
    let e = nodes[1].open::<Var>(&keyed, &var_type()).expect_err("no key");
    assert!(matches!(e, LiveError::KeyRequired { .. }), "{e}");
    // The wrong key: the member refuses the checkpoint request.
    let wrong = ObjectKey::generate().expect("another key");
    let e = nodes[1].open_with::<Var>(&keyed, &var_type(), with(Some(wrong))).expect_err("wrong key");
    assert!(matches!(e, LiveError::Refused { .. }), "{e}");
    assert!(e.to_string().contains("refused"), "{e}");
    assert!(first.stats().rejected >= 1, "the forged request was counted");
    // The right key joins and gets the state.
    let second: Live<Var> =
        nodes[1].open_with(&keyed, &var_type(), with(Some(key.clone()))).expect("right key");
    let until = Instant::now() + Duration::from_secs(10);
    while second.get() != Some(7) {
        assert!(Instant::now() < until, "the joiner has {:?}", second.get());
        std::thread::sleep(Duration::from_millis(10));
    }
    // A key for an object that does not use one is a mistake too.
    let plain = reference(0xC2, "replicated-var");
    let e = nodes[1].open_with::<Var>(&plain, &var_type(), with(Some(key))).expect_err("key not used");
    assert!(matches!(e, LiveError::KeyNotUsed { .. }), "{e}");
    drop((first, second));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn a_directory_names_references_for_every_node() {
    use argent::{Directory, DirectoryError, OpenOptions};
    let base = ports::block();
    let nodes = nodes(base, 2);
    let dir_ref = reference(0xD1, "replicated-map")
        .with_parameter("value_type", "string")
        .with_parameter("role", "directory");
    let a = Directory::open(&nodes[0], &dir_ref, OpenOptions::default()).expect("directory on a");
    let b = Directory::open(&nodes[1], &dir_ref, OpenOptions::default()).expect("directory on b");
    let counter = reference(0xD2, "replicated-var").with_name("counter");
    a.put("apps/counter", &counter).expect("put");
    let until = Instant::now() + Duration::from_secs(10);
    let found = loop {
        match b.get("apps/counter") {
            Ok(r) => break r,
            Err(DirectoryError::NotFound { .. }) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(found, counter);
    assert_eq!(b.names(), ["apps/counter"]);
    // Dereferencing by name: open what the directory holds.
    let v: Live<Var> = nodes[1].open(&found, &var_type()).expect("open by name");
    v.set(5).expect("set");
    // A stub whose description names the entry: opening it dereferences it first, so the
    // stored reference's parameters (here: authentication) apply.
    let key = argent::ObjectKey::generate().expect("key");
    let locked = reference(0xD3, "replicated-var").with_parameter("auth", "key");
    a.put("apps/locked", &locked).expect("put");
    let stub = reference(0xD3, "replicated-var")
        .with_description(format!("{}#apps/locked", dir_ref.to_uri().expect("uri")));
    let until = Instant::now() + Duration::from_secs(10);
    let e = loop {
        match nodes[1].open::<Var>(&stub, &var_type()) {
            Err(LiveError::Dereference { .. }) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10)) // not replicated here yet
            }
            Err(e) => break e,
            Ok(_) => panic!("opened an authenticated object without its key"),
        }
    };
    assert!(matches!(e, LiveError::KeyRequired { .. }), "{e}");
    let options = OpenOptions { key: Some(key), ..OpenOptions::default() };
    let opened: Live<Var> = nodes[1].open_with(&stub, &var_type(), options).expect("stub with the key");
    assert_eq!(nodes[1].dereference(&stub).expect("dereferenced"), locked);
    // An entry naming another object is refused, naming both.
    let wrong = reference(0xD4, "replicated-var")
        .with_description(format!("{}#apps/counter", dir_ref.to_uri().expect("uri")));
    let e = nodes[1].dereference(&wrong).expect_err("another object's entry").to_string();
    assert!(e.contains("names object") && e.contains("apps/counter"), "{e}");
    drop(opened);
    let e = b.get("nope").expect_err("missing");
    assert!(e.to_string().contains("no entry \"nope\""), "{e}");
    assert!(matches!(
        Directory::open(&nodes[0], &counter, OpenOptions::default()),
        Err(DirectoryError::NotADirectory { .. })
    ));
    drop((a, b, v));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn a_byte_stream_delivers_every_event_in_order_zero_copy() {
    use argent::{ObjectKey, OpenOptions};
    let base = ports::block();
    let nodes = nodes(base, 2);
    let stream = reference(0xE1, "event-stream");
    let rx = nodes[1].open_bytes(&stream, OpenOptions::default()).expect("subscriber");
    let tx = nodes[0].open_bytes(&stream, OpenOptions::default()).expect("publisher");
    const N: u32 = 2_000;
    for i in 0..N {
        let len = 8 + (i as usize % 300);
        tx.publish_with(len, |buf| {
            buf[..4].copy_from_slice(&i.to_le_bytes());
            buf[4..].fill(i as u8);
        })
        .expect("publish");
    }
    let mut next = 0u32;
    let until = Instant::now() + Duration::from_secs(20);
    while next < N {
        assert!(Instant::now() < until, "got {next} of {N}");
        for e in rx.recv_timeout(Duration::from_millis(100)) {
            let i = u32::from_le_bytes(e[..4].try_into().unwrap());
            assert_eq!(i, next, "in order, once");
            assert_eq!(e.len(), 8 + (i as usize % 300));
            assert!(e[4..].iter().all(|&b| b == i as u8), "intact");
            next += 1;
        }
    }
    // The wrong key: events fail the MAC and are dropped, counted.
    let keyed = reference(0xE2, "event-stream").with_parameter("auth", "key");
    let (k1, k2) = (ObjectKey::generate().unwrap(), ObjectKey::generate().unwrap());
    let with = |k: ObjectKey| OpenOptions { key: Some(k), ..OpenOptions::default() };
    let good = nodes[1].open_bytes(&keyed, with(k1.clone())).expect("keyed subscriber");
    let forger = nodes[0].open_bytes(&keyed, with(k2)).expect("wrong key");
    let honest = nodes[0].open_bytes(&keyed, with(k1)).expect("right key");
    forger.publish(b"forged").unwrap();
    honest.publish(b"genuine").unwrap();
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while got.is_empty() && Instant::now() < until {
        got.extend(good.recv_timeout(Duration::from_millis(100)));
    }
    assert_eq!(got, vec![bytes::Bytes::from_static(b"genuine")]);
    assert_eq!(good.rejected(), 1);
    drop((rx, tx, good, forger, honest));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn a_checkpoint_larger_than_a_message_reaches_a_joiner_in_parts() {
    let base = ports::block();
    // Small datagrams: the map's checkpoint (about 30 KB) takes several messages.
    let nodes = nodes_with(base, 2, "datagram_size = 4096");
    let map_ref = reference(0xC1, "replicated-map");
    let first: Live<Map> = nodes[0].open(&map_ref, &map_type()).expect("open map");
    const KEYS: i64 = 1_000;
    for k in 0..KEYS {
        first.put(format!("a fairly long key number {k}"), k).expect("put");
    }
    settle(&[&first], KEYS as u64);
    let state = first.checkpoint().expect("checkpoint");
    assert!(state.len() > 4 * 4096, "checkpoint of {} bytes", state.len());
    let joiner: Live<Map> = nodes[1].open(&map_ref, &map_type()).expect("the joiner reassembles the parts");
    assert_eq!(joiner.checkpoint().expect("checkpoint"), state);
    assert_eq!(joiner.stats().proxy.applied, 0, "everything came in the checkpoint");
    drop((first, joiner));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn an_update_stamped_with_another_nodes_origin_is_refused() {
    use argent::objects::frame::{encode, TAG_UPDATE};
    use argent::objects::object::{Proxy, VarOp};
    let base = ports::block();
    let nodes = nodes(base, 2);
    let var_ref = reference(0xF1, "replicated-var");
    let a: Live<Var> = nodes[0].open(&var_ref, &var_type()).expect("open on 0");
    let b: Live<Var> = nodes[1].open(&var_ref, &var_type()).expect("open on 1");
    a.set(1).expect("set");
    settle(&[&a, &b], 1);
    // Node 1 sends an update stamped with one of node 0's origins (node 0 in the top bits).
    let mut forger = Proxy::<Var>::new(a.origin() ^ 1);
    let update = forger.local(VarOp::Set(666)).expect("encode");
    let mut publisher = nodes[1].publisher("objects").expect("publisher");
    publisher.publish_blocking(&encode(TAG_UPDATE, 0xF1, &[&update])).expect("publish");
    let until = Instant::now() + Duration::from_secs(10);
    while a.stats().rejected + b.stats().rejected < 2 {
        assert!(Instant::now() < until, "the forged update was not refused everywhere");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!((a.get(), b.get()), (Some(1), Some(1)));
    drop((a, b));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn opening_an_object_as_another_value_type_fails_with_a_clear_error() {
    let base = ports::block();
    let nodes = nodes(base, 2);
    let var_ref = reference(0xF2, "replicated-var");
    let a: Live<Var> = nodes[0].open(&var_ref, &var_type()).expect("open as i64");
    a.set(1_234_567).expect("set");
    settle(&[&a], 1);
    let started = Instant::now();
    let e = nodes[1].open::<ReplicatedVar<String>>(&var_ref, &var_type()).expect_err("not a string");
    assert!(matches!(e, LiveError::Incompatible { .. }), "{e}");
    assert!(e.to_string().contains("another class or value type"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "failed fast, not after the join timeout");
    drop(a);
    nodes.into_iter().for_each(Node::shutdown);
}

/// A kind whose code panics on the update 13 (an application bug in one object's code).
struct Fragile;

impl argent::objects::object::LiveObject for Fragile {
    type State = i64;
    type Op = i64;
    type Change = i64;

    fn initial() -> i64 {
        0
    }

    fn apply(state: &mut i64, _: argent::objects::object::Stamp, op: i64) -> Option<i64> {
        assert_ne!(op, 13, "the object's own code fails on 13");
        *state = op;
        Some(op)
    }

    fn checkpoint(state: &i64) -> Result<Vec<u8>, argent::objects::object::ObjectError> {
        Ok(state.to_le_bytes().to_vec())
    }

    fn restore(bytes: &[u8]) -> Result<i64, argent::objects::object::ObjectError> {
        let b: [u8; 8] = bytes.try_into().map_err(|_| argent::objects::object::ObjectError::Malformed {
            what: "checkpoint",
            reason: "not 8 bytes".into(),
        })?;
        Ok(i64::from_le_bytes(b))
    }
}

#[test]
fn an_object_whose_code_panics_stops_only_its_own_proxy() {
    let base = ports::block();
    let nodes = nodes(base, 1);
    let fragile: Live<Fragile> =
        nodes[0].open(&reference(0xF1, "replicated-var"), &var_type()).expect("open the fragile object");
    let var: Live<Var> = nodes[0].open(&reference(0xF2, "replicated-var"), &var_type()).expect("open a var");
    fragile.submit(5).expect("submit");
    settle(&[&fragile], 1);
    fragile.submit(13).expect("submit: the panic comes when it is applied");
    std::thread::sleep(Duration::from_millis(300));
    // The node's other objects go on.
    var.set(7).expect("set");
    settle(&[&var], 1);
    assert_eq!(var.get(), Some(7));
    let again: Live<Var> =
        nodes[0].open(&reference(0xF3, "replicated-var"), &var_type()).expect("open after the panic");
    again.set(8).expect("set");
    settle(&[&again], 1);
    assert_eq!(fragile.read(|s| *s), 5, "the fragile proxy keeps what it had");
    drop((fragile, var, again));
    nodes.into_iter().for_each(Node::shutdown);
}

#[test]
fn an_async_watch_sees_every_change_and_ends_with_its_proxy() {
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        common::block_on(f, Duration::from_secs(5))
    }
    let base = ports::block();
    let nodes = nodes(base, 1);
    let var: Live<Var> =
        nodes[0].open_as(&Reference::of::<Var>(ObjectId(0xA1)).in_group("objects")).expect("open");
    let mut changes = var.watch_async();
    for v in 1..=3 {
        var.set(v).expect("set");
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let started = Instant::now();
        let c = block_on(changes.changed()).expect("a change");
        assert!(started.elapsed() < Duration::from_secs(4), "woken by the change, not a timer");
        seen.push(c.new);
    }
    assert_eq!(seen, vec![1, 2, 3]);
    drop(var);
    assert!(block_on(changes.changed()).is_none(), "the watch ends with its proxy");
    nodes.into_iter().for_each(Node::shutdown);
}
