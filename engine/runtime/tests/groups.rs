//! Groups inside regions, at the runtime's level: three nodes in one process on loopback.
//!
//! Regions: r1 = {0, 1} carries groups 1, 2 and 3; r2 = {2} carries group 3. Node 0 runs two
//! shards, so r1 (shard 1) and r2 (shard 0) live on different shards: a message to group 3
//! is written into both of its publisher rings and multicast once in each region.

use argent_runtime::{
    Backend, GroupId, MemberSpec, NodeId, PublishError, RegionId, RegionSpec, Runtime, RuntimeConfig,
    RuntimeError,
};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

fn config(me: u32, base: u16, regions: &[RegionSpec]) -> RuntimeConfig {
    let members = (0..3)
        .map(|id| MemberSpec {
            id: NodeId(id),
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base + 4 * id as u16),
            shards: if id == 0 { 2 } else { 1 },
        })
        .collect();
    let mut rc = RuntimeConfig::new(NodeId(me), members, regions.to_vec());
    rc.transport = Some(Backend::Std);
    rc.pin = false;
    rc.qsm.datagram_size = 16_384;
    rc
}

fn regions(base: u16) -> Vec<RegionSpec> {
    let address = |i: u8| SocketAddrV4::new(Ipv4Addr::new(239, 253, (base % 200) as u8, i), base + 20);
    vec![
        RegionSpec {
            region: RegionId(1),
            address: address(1),
            members: vec![NodeId(0), NodeId(1)],
            groups: vec![GroupId(1), GroupId(2), GroupId(3)],
        },
        RegionSpec {
            region: RegionId(2),
            address: address(2),
            members: vec![NodeId(2)],
            groups: vec![GroupId(3)],
        },
    ]
}

/// Messages (group, first byte) received within 10 s until `n` arrived.
fn receive(sub: &mut argent_runtime::Subscription, n: usize) -> Vec<(GroupId, u8)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {got:?} of {n} arrived");
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(100)) {
            got.extend(d.group_messages().map(|(g, m)| (g, m[0])));
        }
    }
    got
}

#[test]
fn a_group_in_two_regions_reaches_both_and_subscriptions_see_their_groups_only() {
    let base = 20_000 + (std::process::id() % 200) as u16 * 60; // below the ephemeral ports
    let regions = regions(base);
    let n0 = Runtime::start(config(0, base, &regions)).expect("node 0");
    let n1 = Runtime::start(config(1, base, &regions)).expect("node 1");
    let n2 = Runtime::start(config(2, base, &regions)).expect("node 2");
    assert_eq!(n0.shard_of(RegionId(1)), Some(1));
    assert_eq!(n0.shard_of(RegionId(2)), Some(0));
    assert_eq!(n1.member_groups(), vec![GroupId(1), GroupId(2), GroupId(3)]);
    assert_eq!(n2.region_of(GroupId(3)), Some(RegionId(2)));

    let mut g3_at_1 = n1.subscribe(GroupId(3)).expect("subscribe");
    let mut g1_at_1 = n1.subscribe(GroupId(1)).expect("subscribe");
    let mut g3_at_2 = n2.subscribe(GroupId(3)).expect("subscribe");
    assert!(matches!(n2.subscribe(GroupId(1)), Err(RuntimeError::NotInGroup(GroupId(1)))));
    assert!(matches!(n1.subscribe_groups(&[]), Err(RuntimeError::NoGroups)));
    assert!(matches!(n0.publisher(GroupId(9)), Err(RuntimeError::UnknownGroup(GroupId(9)))));

    let mut any = n0.publisher_any().expect("publisher");
    assert_eq!(any.publish_to(GroupId(9), b"x"), Err(PublishError::NoRoute(GroupId(9))));
    let too_big = any.max_message() + 1;
    assert!(matches!(any.claim_to(GroupId(1), too_big), Err(PublishError::TooLarge { .. })));
    for i in 0..30u8 {
        let group = GroupId(u32::from(i % 3) + 1);
        let mut c = any.claim_to(group, 3).expect("room");
        c.bytes_mut().copy_from_slice(&[i, i, i]);
        c.commit();
    }
    let of =
        |g: u32| (0..30u8).filter(|i| u32::from(i % 3) + 1 == g).map(|i| (GroupId(g), i)).collect::<Vec<_>>();
    assert_eq!(receive(&mut g3_at_2, 10), of(3), "region 2 gets group 3, copied into the other shard's ring");
    assert_eq!(receive(&mut g3_at_1, 10), of(3));
    assert_eq!(receive(&mut g1_at_1, 10), of(1));
    std::thread::sleep(Duration::from_millis(200));
    assert!(g3_at_2.try_recv().is_none() && g1_at_1.try_recv().is_none(), "nothing else");
    let mut bound = n0.publisher(GroupId(3)).expect("publisher");
    bound.publish(&[99]).expect("room");
    assert_eq!(receive(&mut g3_at_2, 1), vec![(GroupId(3), 99)]);
    assert_eq!(receive(&mut g3_at_1, 1), vec![(GroupId(3), 99)]);
    n0.shutdown();
    n1.shutdown();
    n2.shutdown();
}

#[test]
fn memberships_the_runtime_cannot_serve_are_refused() {
    let base = 20_030 + (std::process::id() % 200) as u16 * 60;
    let mut twice = regions(base);
    twice[1].members.push(NodeId(1)); // node 1 would get group 3 in both regions
    match Runtime::start(config(2, base, &twice)) {
        Err(RuntimeError::GroupInTwoRegions { node: NodeId(1), group: GroupId(3), .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut dup = regions(base);
    dup[1].region = RegionId(1);
    assert!(matches!(Runtime::start(config(2, base, &dup)), Err(RuntimeError::DuplicateRegion(RegionId(1)))));
    let mut cfg = config(2, base, &regions(base));
    cfg.members[0].shards = 65;
    assert!(matches!(Runtime::start(cfg), Err(RuntimeError::BadShards { shards: 65, .. })));
}
