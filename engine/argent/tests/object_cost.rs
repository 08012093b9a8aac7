//! What an open object costs a node: live heap bytes and threads per proxy, measured with a
//! counting allocator over 1 000 proxies of distinct objects on one node (a test binary of
//! its own; `ARGENT_OBJECT_COST_N=10000` measures more). The figures are printed; the
//! bounds keep them from growing back: no thread per object (one driver thread serves the
//! node's objects), and a few KiB of heap.

mod ports;
use argent::config::{ClusterConfig, MemberEntry};
use argent::objects::object::ReplicatedVar;
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, TypeRequirement};
use argent::{Backend, Node};
use std::net::{Ipv4Addr, SocketAddrV4};

mod counting;
use counting::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Objects opened by default.
const OBJECTS: u32 = 1_000;
/// Openers at a time (a lone member's join ends after its unanswered requests).
const OPENERS: u32 = 250;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn an_open_object_costs_a_bounded_amount_of_memory() {
    let base = ports::block();
    let toml = format!(
        "[multicast]\nbase = \"239.250.{}.1\"\ncount = 4\nport = {}\n\
         [[group]]\nname = \"objects\"\nid = 1\nmembers = [0]\n[protocol]\npin = false\n",
        base % 200,
        base + 40
    );
    let mut cluster: ClusterConfig = toml::from_str(&toml).expect("cluster");
    cluster.members =
        vec![MemberEntry { id: 0, addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base), shards: 1 }];
    let node =
        Node::builder().cluster(cluster).id(0).transport(Backend::Std).pin(false).start().expect("node");
    let require = TypeRequirement::whole(Category::ReplicatedVar);
    let open = |i: u32| {
        let r = Reference::new(ObjectId(u128::from(i) + 1), "replicated-var", "qsm")
            .with_setting("group", "objects")
            .with_parameter("value_type", "i64");
        node.open::<ReplicatedVar<i64>>(&r, &require).expect("open")
    };
    let objects: u32 =
        std::env::var("ARGENT_OBJECT_COST_N").ok().and_then(|n| n.parse().ok()).unwrap_or(OBJECTS);
    // Warm-up: the object driver starts, lazily made tables and buffers.
    drop(open(10_000_000));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (heap, tasks) = (counting::live(), threads());
    let started = std::time::Instant::now();
    // Opened concurrently: a lone member concludes it is first only after a few requests.
    let mut proxies = Vec::new();
    for batch in (0..objects).collect::<Vec<_>>().chunks(OPENERS as usize) {
        proxies.extend(std::thread::scope(|s| {
            let handles: Vec<_> = batch.iter().map(|&i| s.spawn(move || open(i))).collect();
            handles.into_iter().map(|h| h.join().expect("opener")).collect::<Vec<_>>()
        }));
    }
    let opened = started.elapsed();
    let per_object = (counting::live() - heap) / i64::from(objects);
    let extra_threads = threads() as i64 - tasks as i64;
    eprintln!(
        "{objects} open objects: {per_object} bytes of heap each, {extra_threads} threads more than with one, \
         opened in {opened:.1?}"
    );
    assert_eq!(extra_threads, 0, "open objects cost no thread of their own");
    assert!(per_object < 16 * 1024, "an open object holds {per_object} bytes");
    // Every proxy works: one update each, applied here.
    for (i, p) in proxies.iter().enumerate() {
        p.set(i as i64).expect("set");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while proxies.iter().enumerate().any(|(i, p)| p.get() != Some(i as i64)) {
        assert!(std::time::Instant::now() < deadline, "every object applies its update");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(proxies);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(threads(), tasks, "no thread left behind");
    node.shutdown();
}
