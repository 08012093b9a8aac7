//! GMS replicas and member links on real UDP sockets (loopback).

use argent_core::NodeId;
use argent_membership::gms::{ClientConfig, ClientStatus, GmsConfig, Member, View};
use argent_membership::service::{ask_id, query_status, GmsService, LinkEvent, MemberLink, ServiceConfig};
use argent_membership::{AddressPool, GroupId};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A loopback address for a replica, free now, from 20 000–31 999: below the kernel's
/// ephemeral range (32 768–60 999), so no socket bound to port 0 can take it between this
/// pick and the replica's bind.
fn free_port() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761);
    (0..12_000)
        .map(|_| 20_000 + (start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000) as u16)
        .find_map(|port| UdpSocket::bind(("127.0.0.1", port)).ok()?.local_addr().ok())
        .expect("a free loopback port in 20000..32000")
}

fn fast(id: u64, replicas: &[u64]) -> GmsConfig {
    let mut c = GmsConfig::new(AddressPool { base: Ipv4Addr::new(239, 8, 0, 1), count: 8, port: 7200 });
    c.id = id;
    c.replicas = replicas.to_vec();
    c.tick = Duration::from_millis(20);
    c.suspect_after = Duration::from_millis(400);
    c.evict_after = Duration::from_millis(1000);
    c.push_retry = Duration::from_millis(50);
    c
}

fn member(node: u32) -> Member {
    Member {
        node: NodeId(node),
        incarnation: 1,
        addr: SocketAddr::from(([127, 0, 0, 1], 20_000 + node as u16)),
        shards: 1,
        groups_version: 0,
    }
}

struct M {
    link: MemberLink,
    rx: mpsc::Receiver<LinkEvent>,
    views: Vec<Arc<View>>,
    status: ClientStatus,
}

impl M {
    fn start(node: u32, peers: &BTreeMap<u64, SocketAddr>) -> M {
        let (tx, rx) = mpsc::channel();
        let cfg = ClientConfig {
            heartbeat: Duration::from_millis(100),
            retry: Duration::from_millis(100),
            failover_after: Duration::from_millis(400),
        };
        let link = MemberLink::start(member(node), vec![GroupId(1)], peers.clone(), cfg, tx).unwrap();
        M { link, rx, views: Vec::new(), status: ClientStatus::Registering }
    }

    fn drain(&mut self) {
        while let Ok(e) = self.rx.try_recv() {
            match e {
                LinkEvent::View(v) => self.views.push(v),
                LinkEvent::Status(s) => self.status = s,
            }
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_replicas_on_udp_survive_the_leader_and_admit_a_late_member() {
    let ids = [1u64, 2, 3];
    let peers: BTreeMap<u64, SocketAddr> = ids.iter().map(|id| (*id, free_port())).collect();
    let mut replicas: BTreeMap<u64, GmsService> = ids
        .iter()
        .map(|id| {
            (
                *id,
                GmsService::start(ServiceConfig {
                    gms: fast(*id, &ids),
                    peers: peers.clone(),
                    data_dir: None,
                })
                .unwrap(),
            )
        })
        .collect();
    let mut members: Vec<M> = (1..=3).map(|n| M::start(n, &peers)).collect();
    wait_until("three members in a view", Duration::from_secs(10), || {
        members.iter_mut().for_each(M::drain);
        members.iter().all(|m| m.views.last().is_some_and(|v| v.members.len() == 3))
    });
    let leader = replicas.values().find_map(|r| r.status().report.leader).expect("a leader");
    let report = query_status(peers[&leader], Duration::from_secs(2)).unwrap().expect("status answered");
    assert_eq!(report.leader, Some(leader));
    assert_eq!(report.view.regions.len(), 1);

    replicas.remove(&leader).unwrap().shutdown();
    members.push(M::start(4, &peers));
    wait_until("the late member admitted after the leader died", Duration::from_secs(15), || {
        members.iter_mut().for_each(M::drain);
        members.iter().all(|m| m.views.last().is_some_and(|v| v.members.len() == 4))
    });
    for m in &members {
        assert_eq!(m.status, ClientStatus::Member);
    }
    let last = members[0].views.last().unwrap().clone();
    assert_eq!(last.regions[0].members.len(), 4);
    // The same views everywhere.
    for m in &members {
        for v in &m.views {
            if let Some(o) = members[0].views.iter().find(|o| o.id == v.id) {
                assert_eq!(**o, **v);
            }
        }
    }
    // A member that stops is evicted.
    let gone = members.remove(1);
    gone.link.shutdown();
    wait_until("the silent member evicted", Duration::from_secs(10), || {
        members.iter_mut().for_each(M::drain);
        members.iter().all(|m| m.views.last().is_some_and(|v| v.member(NodeId(2)).is_none()))
    });
}

#[test]
fn a_replica_restarts_from_its_data_directory_and_counts_toward_the_quorum() {
    let ids = [1u64, 2, 3];
    let peers: BTreeMap<u64, SocketAddr> = ids.iter().map(|id| (*id, free_port())).collect();
    // Outlives the replicas (declared before them); removed on drop, even on a failure.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let start = |id: u64| {
        let mut gms = fast(id, &ids);
        gms.compact_every = 4; // exercise snapshots on disk too
        let cfg = ServiceConfig { gms, peers: peers.clone(), data_dir: Some(root.join(id.to_string())) };
        GmsService::start(cfg).unwrap()
    };
    let mut replicas: BTreeMap<u64, GmsService> = ids.iter().map(|id| (*id, start(*id))).collect();
    let mut members: Vec<M> = (1..=3).map(|n| M::start(n, &peers)).collect();
    wait_until("three members", Duration::from_secs(10), || {
        members.iter_mut().for_each(M::drain);
        members.iter().all(|m| m.views.last().is_some_and(|v| v.members.len() == 3))
    });
    // Replica 3 crashes and comes back from its directory.
    replicas.remove(&3).unwrap().shutdown();
    members.push(M::start(4, &peers));
    wait_until("a fourth member with replica 3 down", Duration::from_secs(10), || {
        members.iter_mut().for_each(M::drain);
        members.iter().all(|m| m.views.last().is_some_and(|v| v.members.len() == 4))
    });
    replicas.insert(3, start(3));
    wait_until("the restarted replica catches up", Duration::from_secs(10), || {
        replicas[&3].status().report.view.members.len() == 4
    });
    // Now another replica dies: the restarted one makes the majority.
    let other = if replicas[&1].status().report.leader == Some(1) { 2 } else { 1 };
    replicas.remove(&other).unwrap().shutdown();
    members.push(M::start(5, &peers));
    wait_until(
        "a fifth member admitted by the restarted replica's majority",
        Duration::from_secs(15),
        || {
            members.iter_mut().for_each(M::drain);
            members.iter().all(|m| m.views.last().is_some_and(|v| v.members.len() == 5))
        },
    );
    drop(replicas);
}

#[test]
fn processes_without_ids_get_distinct_ones_that_no_member_holds() {
    let ids = [1u64, 2, 3];
    let peers: BTreeMap<u64, SocketAddr> = ids.iter().map(|id| (*id, free_port())).collect();
    let replicas: Vec<GmsService> = ids
        .iter()
        .map(|id| {
            GmsService::start(ServiceConfig { gms: fast(*id, &ids), peers: peers.clone(), data_dir: None })
                .unwrap()
        })
        .collect();
    // Members 1 and 2 registered with ids of their own.
    let mut members: Vec<M> = (1..=2).map(|n| M::start(n, &peers)).collect();
    wait_until("two members in a view", Duration::from_secs(10), || {
        members.iter_mut().for_each(M::drain);
        members.iter().all(|m| m.views.last().is_some_and(|v| v.members.len() == 2))
    });
    // Asked through any replica (followers name the leader), ten grants in a row: all
    // distinct, none held by a member, each reserved until registered.
    let mut granted = Vec::new();
    for _ in 0..10 {
        let id = ask_id(&peers, Duration::from_secs(5)).unwrap().expect("a replica answers");
        assert!(id.0 >= 1 && id.0 <= u32::from(u16::MAX));
        granted.push(id);
    }
    let mut distinct = granted.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), granted.len(), "ids granted twice: {granted:?}");
    assert!(
        !granted.contains(&NodeId(1)) && !granted.contains(&NodeId(2)),
        "a member's id granted: {granted:?}"
    );
    // Nobody answers on a port with no replica.
    let none = BTreeMap::from([(1u64, free_port())]);
    assert_eq!(ask_id(&none, Duration::from_millis(300)).unwrap(), None);
    drop(members);
    replicas.into_iter().for_each(GmsService::shutdown);
}
