//! The total-order driver at the runtime's level: four nodes in one process on loopback,
//! real sockets and IP multicast, membership views applied through `ViewSink` as the GMS
//! would push them.
//!
//! Region 1 = {0, 1, 2} carries group 1; nodes 1 and 2 publish to it at the same time.
//! Midway, node 3 starts and a view adds it to the region while traffic flows (a flush at
//! the view change). Nodes 0, 1 and 2 must deliver every message, once, each publisher's in
//! its order, and all in the same sequence; node 3 must deliver exactly the end of that
//! sequence, from the start of the view that added it.

mod views;
use argent_runtime::{
    Backend, Driver, GroupId, MemberSpec, NodeId, RegionId, RegionSpec, Runtime, RuntimeConfig, Subscription,
};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages per publisher.
const MESSAGES: u64 = 20_000;

fn members(base: u16) -> Vec<MemberSpec> {
    (0..4)
        .map(|id| MemberSpec {
            id: NodeId(id),
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base + 4 * id as u16),
            shards: 1,
        })
        .collect()
}

fn region(base: u16, members: &[u32]) -> RegionSpec {
    RegionSpec {
        region: RegionId(1),
        address: SocketAddrV4::new(Ipv4Addr::new(239, 252, (base % 200) as u8, 1), base + 20),
        members: members.iter().map(|m| NodeId(*m)).collect(),
        groups: vec![GroupId(1)],
    }
}

fn start(me: u32, base: u16, region: RegionSpec, since: u64) -> Runtime {
    let mut rc = RuntimeConfig::new(NodeId(me), members(base), vec![region]);
    rc.transport = Some(Backend::Std);
    rc.pin = false;
    rc.qsm.datagram_size = 16_384;
    rc.qsm.member_timeout = None;
    rc.region_since = [(RegionId(1), since)].into();
    rc.driver = Driver::TotalOrder;
    Runtime::start(rc).expect("runtime")
}

/// (publisher, sequence number) of every message delivered, until both publishers' last
/// arrived (or 30 s passed).
fn receive(sub: &mut Subscription) -> Vec<(u8, u64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut ended = [false; 2];
    while ended != [true, true] && Instant::now() < deadline {
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(100)) {
            for m in d.messages() {
                let (from, seq) = (m[0], u64::from_le_bytes(m[1..9].try_into().expect("8 bytes")));
                ended[usize::from(from - 1)] |= seq == MESSAGES - 1;
                got.push((from, seq));
            }
        }
    }
    got
}

#[test]
fn members_deliver_one_sequence_from_all_publishers_across_a_join() {
    let base = 24_000 + (std::process::id() % 150) as u16 * 40; // below the ephemeral ports
    let first = region(base, &[0, 1, 2]);
    let nodes: Vec<Runtime> = (0..3).map(|n| start(n, base, first.clone(), 1)).collect();
    let mut subs: Vec<Subscription> =
        nodes.iter().map(|n| n.subscribe(GroupId(1)).expect("subscribe")).collect();
    let published = Arc::new(AtomicU64::new(0));
    let publishers: Vec<_> = [1u8, 2]
        .into_iter()
        .map(|from| {
            let mut p = nodes[usize::from(from)].publisher(GroupId(1)).expect("publisher");
            let published = published.clone();
            std::thread::spawn(move || {
                for seq in 0..MESSAGES {
                    let mut msg = [0u8; 48];
                    msg[0] = from;
                    msg[1..9].copy_from_slice(&seq.to_le_bytes());
                    p.publish_blocking(&msg).expect("publish");
                    published.fetch_add(1, Ordering::Relaxed);
                    if seq % 200 == 199 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                p
            })
        })
        .collect();
    while published.load(Ordering::Relaxed) < MESSAGES / 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Node 3 joins the region in view 2, while both publish.
    let second = region(base, &[0, 1, 2, 3]);
    let joiner = start(3, base, second.clone(), 2);
    let mut at3 = joiner.subscribe(GroupId(1)).expect("subscribe");
    let view = views::view(2, &members(base), &[(second, 2)]);
    for n in &nodes {
        n.view_sink().apply(&view);
    }
    let joined_at = published.load(Ordering::Relaxed);
    let _publishers: Vec<_> = publishers.into_iter().map(|p| p.join().expect("publisher thread")).collect();

    let got: Vec<Vec<(u8, u64)>> = subs.iter_mut().map(receive).collect();
    for (n, g) in got.iter().enumerate() {
        assert_eq!(g.len() as u64, 2 * MESSAGES, "node {n}: every message, once");
        for from in [1, 2] {
            let own: Vec<u64> = g.iter().filter(|(f, _)| *f == from).map(|(_, s)| *s).collect();
            assert_eq!(own, (0..MESSAGES).collect::<Vec<_>>(), "node {n}: publisher {from}'s in its order");
        }
    }
    assert_eq!(got[0], got[1], "nodes 0 and 1 delivered the same sequence");
    assert_eq!(got[0], got[2], "nodes 0 and 2 delivered the same sequence");
    let late = receive(&mut at3);
    assert!(!late.is_empty(), "the joiner delivered the messages of its view");
    assert_eq!(
        late[..],
        got[0][got[0].len() - late.len()..],
        "the joiner delivered the end of the members' sequence"
    );
    eprintln!(
        "joined after about {joined_at} of {} messages; the joiner delivered the last {}",
        2 * MESSAGES,
        late.len()
    );
}
