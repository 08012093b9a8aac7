//! What an open object costs a node: live heap bytes and threads per proxy, measured with a
//! counting allocator over 32 proxies of distinct objects on one node (a test binary of its
//! own). The figure is printed; the bound keeps it from growing back.

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

const OBJECTS: u32 = 32;

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
    drop(open(1_000)); // warm-up: lazily made tables and buffers
    let (heap, tasks) = (counting::live(), threads());
    // Opened concurrently: a lone member concludes it is first only after a few requests.
    let proxies: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..OBJECTS).map(|i| s.spawn(move || open(i))).collect();
        handles.into_iter().map(|h| h.join().expect("opener")).collect()
    });
    let per_object = (counting::live() - heap) / i64::from(OBJECTS);
    let per_thread = (threads() - tasks) as f64 / f64::from(OBJECTS);
    eprintln!("per open object: {per_object} bytes of heap, {per_thread} threads");
    assert!(per_object < 256 * 1024, "an open object holds {per_object} bytes");
    drop(proxies);
    node.shutdown();
}
