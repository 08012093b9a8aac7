//! Regions that appear and disappear while traffic flows, at the runtime's level: three
//! nodes in one process on loopback, membership views applied through `ViewSink` as the
//! GMS would push them.
//!
//! Node 0 (two shards) publishes group 1 without pause. Region 1 = {0, 1} carries it from
//! the start. Node 2 starts later in region 2 = {2}, which carries groups 1 and 2 and lives
//! on node 0's other shard; once nodes 0 and 1 install the view that adds it, node 0's
//! publisher reaches node 2 too: node 2 gets every message from its join point on, once each
//! and in order, while node 1 keeps getting everything. A later view without region 2
//! drops it at node 0, and node 1 still gets everything.

mod views;
use argent_runtime::{
    Backend, GroupId, MemberSpec, NodeId, RegionId, RegionSpec, Runtime, RuntimeConfig, Subscription,
};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: u64 = 60_000;

fn members(base: u16) -> Vec<MemberSpec> {
    (0..3)
        .map(|id| MemberSpec {
            id: NodeId(id),
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base + 4 * id as u16),
            shards: if id == 0 { 2 } else { 1 },
        })
        .collect()
}

fn region(base: u16, id: u32, members: &[u32], groups: &[u32]) -> RegionSpec {
    RegionSpec {
        region: RegionId(id),
        address: SocketAddrV4::new(Ipv4Addr::new(239, 252, (base % 200) as u8, id as u8), base + 20),
        members: members.iter().map(|m| NodeId(*m)).collect(),
        groups: groups.iter().map(|g| GroupId(*g)).collect(),
    }
}

fn start(me: u32, base: u16, regions: Vec<RegionSpec>, since: &[(u32, u64)]) -> Runtime {
    let mut rc = RuntimeConfig::new(NodeId(me), members(base), regions);
    rc.transport = Some(Backend::Std);
    rc.pin = false;
    rc.qsm.datagram_size = 16_384;
    rc.region_since = since.iter().map(|(r, v)| (RegionId(*r), *v)).collect();
    Runtime::start(rc).expect("runtime")
}

/// Sequence numbers of group 1 received until `last` arrived (or 20 s passed).
fn receive_until(sub: &mut Subscription, last: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.last() != Some(&last) && Instant::now() < deadline {
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(100)) {
            got.extend(d.group_messages().map(|(g, m)| {
                assert_eq!(g, GroupId(1));
                u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
            }));
        }
    }
    got
}

#[test]
fn a_region_added_while_traffic_flows_reaches_its_members_from_their_join_point() {
    let base = 21_000 + (std::process::id() % 200) as u16 * 40; // below the ephemeral ports
    let r1 = region(base, 1, &[0, 1], &[1]);
    let r2 = region(base, 2, &[2], &[1, 2]);
    let n0 = start(0, base, vec![r1.clone()], &[]);
    let n1 = start(1, base, vec![r1.clone()], &[]);
    assert_eq!(n0.shard_of(RegionId(2)), None);
    let mut at1 = n1.subscribe(GroupId(1)).expect("subscribe");
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let mut p = n0.publisher(GroupId(1)).expect("publisher");
        let published = published.clone();
        std::thread::spawn(move || {
            for seq in 0..MESSAGES {
                let mut msg = [0u8; 64];
                msg[..8].copy_from_slice(&seq.to_le_bytes());
                p.publish_blocking(&msg).expect("publish");
                published.store(seq + 1, Ordering::Relaxed);
                if seq % 200 == 199 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            p
        })
    };
    while published.load(Ordering::Relaxed) < MESSAGES / 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let n2 = start(2, base, vec![r1.clone(), r2.clone()], &[(2, 2)]);
    let mut at2 = n2.subscribe(GroupId(1)).expect("subscribe");
    assert_eq!(n2.region_of(GroupId(1)), Some(RegionId(2)));
    let with_r2 = views::view(2, &members(base), &[(r1.clone(), 1), (r2.clone(), 2)]);
    let (mut sink0, mut sink1) = (n0.view_sink(), n1.view_sink());
    sink0.apply(&with_r2);
    sink1.apply(&with_r2);
    let joined_at = published.load(Ordering::Relaxed);
    assert_eq!(n0.shard_of(RegionId(2)), Some(0), "installed on node 0's other shard");

    let got2 = receive_until(&mut at2, MESSAGES - 1);
    let first = *got2.first().expect("node 2 received group 1");
    assert_eq!(
        got2,
        (first..MESSAGES).collect::<Vec<_>>(),
        "node 2: everything from its join point, once, in order"
    );
    eprintln!("node 2 joined at message {first}; the view was applied after message {joined_at}");
    assert!(
        first > 0 && first <= joined_at + 5_000,
        "node 2 joined at {first}, the view was applied at about {joined_at}"
    );
    let p = publisher.join().expect("publisher thread");
    let got1 = receive_until(&mut at1, MESSAGES - 1);
    assert_eq!(got1, (0..MESSAGES).collect::<Vec<_>>(), "node 1: everything, once, in order");

    // Node 2 leaves: its region goes from the view, and node 0 drops it.
    drop(at2);
    n2.shutdown();
    let without = views::view(3, &members(base), &[(r1.clone(), 1)]);
    sink0.apply(&without);
    sink1.apply(&without);
    let deadline = Instant::now() + Duration::from_secs(5);
    while n0.shard_of(RegionId(2)).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(n0.shard_of(RegionId(2)), None, "the region is gone at node 0");
    let mut p = p;
    for seq in MESSAGES..MESSAGES + 100 {
        let mut msg = [0u8; 64];
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        p.publish_blocking(&msg).expect("publish");
    }
    let after = receive_until(&mut at1, MESSAGES + 99);
    assert_eq!(after, (MESSAGES..MESSAGES + 100).collect::<Vec<_>>(), "node 1 after the region left");
}
