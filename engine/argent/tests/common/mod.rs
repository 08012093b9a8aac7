//! Two nodes of one cluster in this process, on loopback ports derived from `base`.

use argent::config::{ClusterConfig, MemberEntry};
use argent::{Backend, Node};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Members 0 and 1 at `base` and `base + 1`, one group `name` (id `id`) of both, with its
/// own address; `protocol` is extra TOML for the `[protocol]` section.
#[allow(dead_code)]
pub fn pair(base: u16, name: &str, id: u32, protocol: &str) -> (Node, Node) {
    let groups = format!(
        "[[group]]\nname = \"{name}\"\nid = {id}\naddress = \"239.255.{}.{}:{}\"\nmembers = [0, 1]\n",
        base % 200,
        id,
        base + 20
    );
    nodes(base, &groups, protocol)
}

/// Members 0 and 1 at `base` and `base + 1` with the `[[group]]` entries in `groups` (TOML),
/// regions taking addresses from a pool private to `base`.
pub fn nodes(base: u16, groups: &str, protocol: &str) -> (Node, Node) {
    let toml = format!(
        "[multicast]\nbase = \"239.254.{}.1\"\ncount = 8\nport = {}\n{groups}[protocol]\n{protocol}\n",
        base % 200,
        base + 21
    );
    let mut started = start(base, 2, &toml).into_iter();
    let (Some(a), Some(b)) = (started.next(), started.next()) else { unreachable!("two nodes") };
    (a, b)
}

/// Members 0..n at `base + id` of the cluster `toml` (its members filled in here), started.
pub fn start(base: u16, n: u32, toml: &str) -> Vec<Node> {
    let mut cluster: ClusterConfig = toml::from_str(toml).expect("valid cluster");
    cluster.members = (0..n)
        .map(|id| MemberEntry {
            id,
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base + id as u16),
            shards: 1,
        })
        .collect();
    let start =
        |me| Node::builder().cluster(cluster.clone()).id(me).transport(Backend::Std).pin(false).start();
    (0..n).map(|me| start(me).unwrap_or_else(|e| panic!("node {me}: {e}"))).collect()
}

struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread until it is ready, sleeping between polls until woken or `nap`
/// passes (a long `nap` shows a future that is never woken as slow).
#[allow(dead_code)]
pub fn block_on<F: std::future::Future>(f: F, nap: std::time::Duration) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(nap);
    }
}

/// A publisher to `group` at `node`, once the node has a route to it (it learns the group's
/// region from a view); fails the test after `within`.
#[allow(dead_code)]
pub fn routed_publisher(node: &Node, group: &str, within: std::time::Duration) -> argent::Publisher {
    let deadline = std::time::Instant::now() + within;
    loop {
        match node.publisher(group) {
            Ok(p) => return p,
            Err(e) => assert!(std::time::Instant::now() < deadline, "no route to group {group}: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
