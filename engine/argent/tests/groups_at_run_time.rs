//! Groups joined and left at run time through the membership service, on real nodes in one
//! process (loopback, real sockets, a GMS replica on UDP).
//!
//! Node 1 creates the group "sports" by joining it; node 0, in no group, publishes to it
//! without pause; node 2 starts later and joins mid-stream: it gets every message from its
//! join point on (where node 0 installed the view that adds it), once each and in order,
//! while node 1 gets everything. Node 2 then leaves:
//! its subscription sees nothing more, and node 1 still gets everything.

mod common;
mod ports;
use argent::config::ClusterConfig;
use argent::{Backend, Node};
use argent_membership::gms::GmsConfig;
use argent_membership::service::{GmsService, ServiceConfig};
use argent_membership::AddressPool;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: u64 = 60_000;

struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future on this thread, parked between polls for up to 2 s.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_secs(2));
    }
}
/// Messages of 100 bytes a publisher's 2 MiB ring holds before its shard takes them.
const RING_MESSAGES: u64 = (2 << 20) / 100;

fn seq(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
}

/// Sequence numbers received until `last` arrived or 20 s passed.
fn receive_until(sub: &mut argent::Subscription, last: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.last() != Some(&last) && Instant::now() < deadline {
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(50)) {
            got.extend(d.messages().map(seq));
        }
    }
    got
}

/// A GMS replica on UDP and a membership file of `members` members (no groups) at ports
/// from `ports::block()`; nodes start with [`Cluster::start`].
struct Cluster {
    service: GmsService,
    file: ClusterConfig,
    replicas: std::collections::BTreeMap<u64, SocketAddr>,
}

impl Cluster {
    fn new(members: u32) -> Cluster {
        let base = ports::block();
        let pool =
            AddressPool { base: Ipv4Addr::new(239, 254, (base % 200) as u8, 1), count: 8, port: base + 40 };
        let mut gms = GmsConfig::new(pool);
        gms.tick = Duration::from_millis(20);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let service =
            GmsService::start(ServiceConfig { gms, peers: [(1, any)].into(), data_dir: None }).expect("gms");
        let replicas = [(1, service.local_addr())].into();
        let text: String = (0..members)
            .map(|id| format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + 1 + 2 * id as u16))
            .chain(std::iter::once("[protocol]\npin = false\n".to_string()))
            .collect();
        let file: ClusterConfig = toml::from_str(&text).expect("cluster");
        Cluster { service, file, replicas }
    }

    fn start(&self, id: u32) -> Node {
        Node::builder()
            .cluster(self.file.clone())
            .id(id)
            .transport(Backend::Std)
            .gms(self.replicas.clone())
            .start()
            .expect("node starts")
    }
}

#[test]
fn a_group_created_at_run_time_is_joined_mid_stream_and_left_exactly() {
    let cluster = Cluster::new(3);
    let start = |id: u32| cluster.start(id);
    let (n0, n1) = (start(0), start(1));
    assert!(n1.subscribe("sports").is_err(), "not joined yet");
    let sports = n1.join("sports").expect("join creates the group");
    assert_eq!(n1.joined_groups(), vec![sports]);
    let mut at1 = n1.subscribe("sports").expect("subscribe after joining");

    // Node 0 learns of the new region from the view; then it may publish to the group.
    let mut publisher = common::routed_publisher(&n0, "sports", Duration::from_secs(10));
    let published = Arc::new(AtomicU64::new(0));
    let sender = {
        let published = published.clone();
        std::thread::spawn(move || {
            for s in 0..MESSAGES {
                let mut msg = [0u8; 100];
                msg[..8].copy_from_slice(&s.to_le_bytes());
                publisher.publish_blocking(&msg).expect("publish");
                published.store(s + 1, Ordering::Relaxed);
                if s % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            publisher
        })
    };
    while published.load(Ordering::Relaxed) < MESSAGES / 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let n2 = start(2);
    let before = published.load(Ordering::Relaxed);
    assert_eq!(n2.join("sports").expect("join mid-stream"), sports);
    let after = published.load(Ordering::Relaxed);
    let mut at2 = n2.subscribe("sports").expect("subscribe");
    let got2 = receive_until(&mut at2, MESSAGES - 1);
    let first = *got2.first().expect("node 2 received the group");
    eprintln!("node 2 joined while messages {before}..{after} were published; its first is {first}");
    assert_eq!(
        got2,
        (first..MESSAGES).collect::<Vec<_>>(),
        "node 2: everything from its join point, once, in order"
    );
    // The join point is where the sender's shard installed the view that adds node 2
    // (QSM's semantics): never before node 2 asked to join, and at most a publish ring's
    // worth of messages (written, not yet taken by the shard) after the GMS installed it.
    assert!(
        first >= before && first <= after + RING_MESSAGES,
        "join point {first}: asked at {before}, installed by {after}"
    );
    let mut publisher = sender.join().expect("sender");
    let got1 = receive_until(&mut at1, MESSAGES - 1);
    assert_eq!(got1, (0..MESSAGES).collect::<Vec<_>>(), "node 1: everything, once, in order");

    // Node 2 leaves: it sees nothing more; node 1 still gets everything.
    n2.leave("sports").expect("leave");
    assert!(n2.joined_groups().is_empty());
    for s in MESSAGES..MESSAGES + 200 {
        let mut msg = [0u8; 100];
        msg[..8].copy_from_slice(&s.to_le_bytes());
        publisher.publish_blocking(&msg).expect("publish after the leave");
    }
    assert_eq!(receive_until(&mut at1, MESSAGES + 199), (MESSAGES..MESSAGES + 200).collect::<Vec<_>>());
    // Node 1 has had them all: whatever node 2 was still to get has arrived by now.
    let mut late = Vec::new();
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        if let Ok(d) = at2.recv_timeout(Duration::from_millis(50)) {
            late.extend(d.messages().map(seq));
        }
    }
    assert!(late.iter().all(|s| *s < MESSAGES), "node 2 received after leaving: {late:?}");
    assert!(n2.subscribe("sports").is_err(), "left");

    // The async forms, woken by the thread that installs views (not by polling: a missed
    // wake-up would cost the 2 s park below).
    let started = Instant::now();
    let weather = block_on(n0.join_async("weather")).expect("join_async");
    assert!(n0.subscribe("weather").is_ok());
    block_on(n0.leave_async("weather")).expect("leave_async");
    assert!(n0.subscribe("weather").is_err());
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(weather, argent::GroupId::named("weather"));
    drop((at1, at2, publisher));
    for n in [n2, n1, n0] {
        n.shutdown();
    }
    cluster.service.shutdown();
}

#[test]
fn a_node_without_the_membership_service_cannot_change_its_groups() {
    let base = ports::block();
    let text = format!(
        "[[member]]\nid = 0\naddr = \"127.0.0.1:{}\"\n[multicast]\nbase = \"239.254.{}.1\"\nport = {}\n\
         [[group]]\nname = \"g\"\nid = 1\nmembers = [0]\n[protocol]\npin = false\n",
        base + 1,
        base % 200,
        base + 40
    );
    let cluster: ClusterConfig = toml::from_str(&text).expect("cluster");
    let node = Node::builder().cluster(cluster).id(0).transport(Backend::Std).start().expect("node");
    let err = node.join("other").expect_err("static membership").to_string();
    assert!(err.contains("--gms"), "{err}");
    node.shutdown();
}

#[test]
fn an_object_without_a_group_gets_its_own_joined_on_open_and_left_on_close() {
    use argent::objects::object::ReplicatedVar;
    use argent::objects::reference::{ObjectId, Reference};
    use argent::objects::types::{Category, TypeRequirement};
    let cluster = Cluster::new(2);
    let start = |id: u32| cluster.start(id);
    let (a, b) = (start(0), start(1));
    let id = ObjectId(0x5eed);
    let reference = Reference::new(id, "replicated-var", "qsm").with_parameter("value_type", "i64");
    let require = TypeRequirement::whole(Category::ReplicatedVar);
    let group = argent::GroupId::named(&argent::live::object_group(id));
    let at_a = a.open::<ReplicatedVar<i64>>(&reference, &require).expect("open at a");
    assert_eq!(a.joined_groups(), vec![group], "opening joined the object's own group");
    at_a.set(7).expect("set");
    // Two opens at once at b: the second waits for the first's join of the group.
    let (at_b, also_b) = std::thread::scope(|s| {
        let one = s.spawn(|| b.open::<ReplicatedVar<i64>>(&reference, &require).expect("open at b"));
        let two = s.spawn(|| b.open::<ReplicatedVar<i64>>(&reference, &require).expect("second open at b"));
        (one.join().expect("open"), two.join().expect("open"))
    });
    let again = a.open::<ReplicatedVar<i64>>(&reference, &require).expect("a second proxy at a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while at_b.get() != Some(7) || again.get() != Some(7) {
        assert!(Instant::now() < deadline, "b sees {:?}, a's second proxy {:?}", at_b.get(), again.get());
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(at_a);
    assert_eq!(a.joined_groups(), vec![group], "one proxy still open at a");
    drop(again);
    assert!(a.joined_groups().is_empty(), "the last proxy at a left the group");
    drop((at_b, also_b));
    for n in [b, a] {
        n.shutdown();
    }
    cluster.service.shutdown();
}
