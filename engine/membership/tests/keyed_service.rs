//! A keyed membership service on loopback: members with the cluster key register and get
//! views; a member without the key, one with another cluster's key, and a key holder that
//! speaks for another node id change nothing, and the replica counts what it refused.

use argent_auth::{AuthConfig, ClusterKey, KeyRing, Mode, Sealer};
use argent_core::NodeId;
use argent_membership::gms::{ClientConfig, ClientStatus, GmsConfig, GmsMsg, Member};
use argent_membership::service::{
    ask_id, ask_id_keyed, fragment, query_status, query_status_keyed, GmsService, LinkEvent, MemberLink,
    ServiceConfig,
};
use argent_membership::{AddressPool, GroupId};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn member(node: u32, incarnation: u64) -> Member {
    Member {
        node: NodeId(node),
        incarnation,
        addr: SocketAddr::from(([127, 0, 0, 1], 21_000 + node as u16)),
        shards: 1,
        groups_version: 0,
    }
}

fn link(
    node: u32,
    peers: &BTreeMap<u64, SocketAddr>,
    auth: Option<AuthConfig>,
) -> (MemberLink, mpsc::Receiver<LinkEvent>) {
    let (tx, rx) = mpsc::channel();
    let cfg = ClientConfig {
        heartbeat: Duration::from_millis(100),
        retry: Duration::from_millis(100),
        failover_after: Duration::from_millis(400),
    };
    let l = MemberLink::start_keyed(member(node, 1), vec![GroupId(1)], peers.clone(), cfg, tx, auth)
        .expect("link");
    (l, rx)
}

fn status_of(rx: &mpsc::Receiver<LinkEvent>, until: Duration) -> ClientStatus {
    let deadline = Instant::now() + until;
    let mut status = ClientStatus::Registering;
    while Instant::now() < deadline {
        if let Ok(LinkEvent::Status(s)) = rx.recv_timeout(Duration::from_millis(50)) {
            status = s;
            if s == ClientStatus::Member {
                break;
            }
        }
    }
    status
}

#[test]
fn only_sealed_requests_from_their_own_member_change_the_view() {
    let key = AuthConfig { keys: KeyRing::single(ClusterKey::generate(1).unwrap()), mode: Mode::Mac };
    let other = AuthConfig { keys: KeyRing::single(ClusterKey::generate(1).unwrap()), mode: Mode::Mac };
    let mut gms = GmsConfig::new(AddressPool { base: Ipv4Addr::new(239, 9, 0, 1), count: 8, port: 7300 });
    gms.tick = Duration::from_millis(20);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let service = GmsService::start_keyed(
        ServiceConfig { gms, peers: [(1, any)].into(), data_dir: None },
        Some(key.clone()),
    )
    .expect("replica");
    let peers: BTreeMap<u64, SocketAddr> = [(1, service.local_addr())].into();

    // With the key: a member, and the status and an id for a process that has none.
    let (_good, good_rx) = link(1, &peers, Some(key.clone()));
    assert_eq!(status_of(&good_rx, Duration::from_secs(5)), ClientStatus::Member);
    assert!(query_status_keyed(service.local_addr(), Duration::from_secs(2), Some(&key)).unwrap().is_some());
    assert!(ask_id_keyed(&peers, Duration::from_secs(2), Some(&key)).unwrap().is_some());

    // Without it, or with another cluster's: no answer, no admission.
    assert!(query_status(service.local_addr(), Duration::from_millis(500)).unwrap().is_none());
    assert!(ask_id(&peers, Duration::from_millis(500)).unwrap().is_none());
    let (_plain, plain_rx) = link(2, &peers, None);
    let (_alien, alien_rx) = link(3, &peers, Some(other));
    assert_ne!(status_of(&plain_rx, Duration::from_millis(800)), ClientStatus::Member);
    assert_ne!(status_of(&alien_rx, Duration::from_millis(10)), ClientStatus::Member);

    // A key holder sealing as node 9 but asking to remove node 1, and registering node 1
    // with a huge incarnation: both refused as spoken for another node.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sealer = Sealer::new(&key.keys, 9, Mode::Mac);
    let forged = [
        GmsMsg::Leave { node: NodeId(1), incarnation: 1 },
        GmsMsg::Register { member: member(1, u64::MAX), groups: vec![GroupId(1)] },
    ];
    for (i, m) in forged.iter().enumerate() {
        for d in fragment(&m.encode(), 1000 + i as u32) {
            let mut out = Vec::new();
            sealer.seal(0, &d, &mut out);
            attacker.send_to(&out, service.local_addr()).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(600));
    let s = service.status();
    let members: Vec<(u32, u64)> = s.report.view.members.iter().map(|m| (m.node.0, m.incarnation)).collect();
    assert_eq!(members, vec![(1, 1)], "only the keyed member, as it registered");
    assert!(s.wrong_sender >= 2, "{s:?}");
    assert!(s.auth.forged > 0 && s.auth.refused() > 0, "{:?}", s.auth);
    eprintln!("replica refused: {:?}, {} spoken for another node", s.auth, s.wrong_sender);
}
