//! A keyed cluster under attack, on loopback: a GMS replica, a publisher and two verifying
//! subscribers, all with the cluster key, joined through the GMS. During the run an attacker
//! process without the key (this test binary run again, with the attack in an environment
//! variable) sends forged data, StreamStarts, acks, tokens, token acks, heartbeats, NAKs and
//! pulls (unsealed, and sealed under another cluster's key, naming real members in their
//! headers) to the region's multicast address and every member's port, forged registrations
//! and leaves to the GMS, and replays genuine datagrams it captured from the multicast
//! group. Every subscriber gets every message once and in order, nobody is evicted, and the
//! counters show the attack.

mod common;
mod ports;
use argent::config::ClusterConfig;
use argent::{Backend, Node};
use argent_membership::gms::{ClientStatus, GmsConfig, GmsMsg, Member};
use argent_membership::service::{fragment, GmsService, ServiceConfig};
use argent_membership::AddressPool;
use argent_runtime::auth::{AuthConfig, ClusterKey, KeyRing, Mode, Sealer};
use argent_wire as wire;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

const MESSAGES: u64 = 30_000;
/// Set in the attacker process: `region;group address;gms address;member,member,...`.
const ATTACK: &str = "ARGENT_HOSTILE_ATTACK";
/// Rounds of forgeries the attacker sends, 5 ms apart.
const ROUNDS: u64 = 100;

fn seq(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
}

#[test]
fn an_attacker_without_the_key_changes_nothing() {
    if let Ok(spec) = std::env::var(ATTACK) {
        attack(&spec); // this process is the attacker
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = dir.path().join("cluster.key");
    std::fs::write(&key, KeyRing::new_file().expect("random key")).expect("write key");
    let keys = KeyRing::load(&key).expect("key");
    let base = ports::block();
    let pool =
        AddressPool { base: Ipv4Addr::new(239, 253, (base % 200) as u8, 1), count: 8, port: base + 40 };
    let mut gms = GmsConfig::new(pool);
    gms.tick = Duration::from_millis(20);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let auth = AuthConfig { keys: keys.clone(), mode: Mode::Mac };
    let service =
        GmsService::start_keyed(ServiceConfig { gms, peers: [(1, any)].into(), data_dir: None }, Some(auth))
            .expect("gms");
    let replicas: std::collections::BTreeMap<u64, SocketAddr> = [(1, service.local_addr())].into();
    let text: String = (0..3)
        .map(|id| format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + 1 + 2 * id as u16))
        .chain(std::iter::once(format!("[protocol]\npin = false\n[security]\nkey_file = {key:?}\n")))
        .collect();
    let file: ClusterConfig = toml::from_str(&text).expect("cluster");
    let start = |id: u32| {
        Node::builder()
            .cluster(file.clone())
            .id(id)
            .transport(Backend::Std)
            .gms(replicas.clone())
            .start()
            .expect("node starts")
    };
    let (publisher_node, s1, s2) = (start(0), start(1), start(2));
    s1.join("hostile").expect("join");
    s2.join("hostile").expect("join");
    let mut subs = [s1.subscribe("hostile").expect("subscribe"), s2.subscribe("hostile").expect("subscribe")];
    let mut publisher = common::routed_publisher(&publisher_node, "hostile", Duration::from_secs(10));
    // The group's region and its multicast address, as the GMS laid them out.
    let group = s1.group_id("hostile").expect("group id");
    let view = service.status().report.view;
    let info = view.regions.iter().find(|r| r.groups.contains(&group)).expect("the group's region");
    let (r, address) = match info.addressing {
        argent_membership::Addressing::Multicast(a) | argent_membership::Addressing::Shared(a) => {
            (info.id.0, a)
        }
        ref other => panic!("a multicast region expected, got {other:?}"),
    };

    // A subscriber gets what a sender publishes after the sender installed the view it
    // joined in (both have returned from `join`, so the GMS's view has them): wait until
    // the publisher's runtime has that view.
    let joined = view.id.0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while publisher_node.membership().map_or(0, |m| m.1) < joined {
        assert!(Instant::now() < deadline, "the publisher never installed view {joined}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let sender = std::thread::spawn(move || {
        for s in 0..MESSAGES {
            let mut m = [0u8; 64];
            m[..8].copy_from_slice(&s.to_le_bytes());
            publisher.publish_blocking(&m).expect("publish");
        }
        publisher
    });

    // The attacker: another process, without the key.
    let members: Vec<String> = (0..3).map(|id| format!("127.0.0.1:{}", base + 1 + 2 * id)).collect();
    let spec = format!("{r};{address};{};{}", service.local_addr(), members.join(","));
    let attacker = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "an_attacker_without_the_key_changes_nothing",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ATTACK, spec)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("attacker process");

    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, sub) in subs.iter_mut().enumerate() {
        let mut next = 0u64;
        while next < MESSAGES {
            if Instant::now() >= deadline {
                let node = [&s1, &s2][i];
                panic!(
                    "subscriber {i} got {next} of {MESSAGES}; membership {:?}; auth {:?}; protocol {:?}; publisher auth {:?}",
                    node.membership().map(|m| m.0),
                    node.stats().auth,
                    node.stats().qsm,
                    publisher_node.stats().auth
                );
            }
            if let Ok(d) = sub.recv_timeout(Duration::from_millis(100)) {
                for m in d.messages() {
                    assert_eq!(seq(m), next, "subscriber {i}: in order, once each, nothing forged");
                    next += 1;
                }
            }
        }
    }
    let publisher = sender.join().expect("publisher");
    drop(publisher);
    let out = attacker.wait_with_output().expect("attacker ran");
    assert!(out.status.success(), "attacker process: {}", out.status);
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find_map(|l| l.find("attacker:").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no report from the attacker: {report}"));
    eprintln!("{line}");
    let replayed: u64 = line
        .split("replayed ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("count");
    std::thread::sleep(Duration::from_millis(500));

    for (name, n) in [("publisher", &publisher_node), ("subscriber 1", &s1), ("subscriber 2", &s2)] {
        assert_eq!(n.membership().map(|m| m.0), Some(ClientStatus::Member), "{name} is still a member");
        let a = n.stats().auth;
        eprintln!(
            "{name}: authenticated {}; refused {} (malformed or unsealed {}, forged {}, replayed {}, older than the replay window {}, outside the view {}, naming another sender {}, from another address {})",
            a.open.opened,
            a.refused(),
            a.open.short + a.open.version + a.open.mode,
            a.open.forged,
            a.open.replay,
            a.open.stale,
            a.open.not_member,
            a.wrong_from,
            a.wrong_source
        );
        assert!(a.refused() >= ROUNDS * 8, "{name} refused the attack: {a:?}");
        if name != "publisher" {
            // Every replay reaches every subscriber through the group (a few may be lost to
            // a full socket buffer).
            assert!(a.open.replay + a.open.stale >= replayed / 2, "{name} refused the replays: {a:?}");
        }
    }
    let s = service.status();
    let members: Vec<u32> = s.report.view.members.iter().map(|m| m.node.0).collect();
    assert_eq!(members, vec![0, 1, 2], "nobody evicted or replaced");
    assert!(s.report.view.members.iter().all(|m| m.incarnation != u64::MAX));
    eprintln!(
        "GMS: refused {} datagrams ({} malformed or unsealed, {} forged)",
        s.auth.refused(),
        s.auth.short + s.auth.version + s.auth.mode,
        s.auth.forged
    );
    assert!(s.auth.refused() >= ROUNDS * 2, "the GMS refused the forged requests: {:?}", s.auth);
    // What `argent status` shows: the replica's report carries the same counts.
    let f = &s.report.refusals;
    assert!(f.unsealed + f.forged >= ROUNDS * 2, "the status report shows the attack: {f:?}");
    for n in [publisher_node, s1, s2] {
        n.shutdown();
    }
    service.shutdown();
}

/// The attacker process: every kind of protocol datagram, naming real members, unsealed and
/// sealed under another cluster's key; forged GMS requests; and genuine datagrams captured
/// from the group's multicast address, replayed. Prints one `attacker:` line.
fn attack(spec: &str) {
    let parts: Vec<&str> = spec.split(';').collect();
    let r: u32 = parts[0].parse().expect("region");
    let address: SocketAddrV4 = parts[1].parse().expect("group address");
    let gms: SocketAddr = parts[2].parse().expect("gms address");
    let mut targets: Vec<SocketAddr> = vec![SocketAddr::V4(address)];
    targets.extend(parts[3].split(',').map(|a| a.parse::<SocketAddr>().expect("member address")));

    // Multicast leaves through loopback only (never another interface).
    let attacker = {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
        s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).expect("loopback interface");
        s.set_multicast_loop_v4(true).expect("loop");
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
        UdpSocket::from(s)
    };
    // A listener on the group, as any host on the LAN can open, to capture sealed traffic.
    let listener = {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
        s.set_reuse_address(true).expect("reuse");
        s.set_reuse_port(true).expect("reuse");
        s.bind(&SocketAddr::from(([0, 0, 0, 0], address.port())).into()).expect("bind the group port");
        s.join_multicast_v4(address.ip(), &Ipv4Addr::LOCALHOST).expect("join the group");
        s.set_nonblocking(true).expect("nonblocking");
        UdpSocket::from(s)
    };
    let outsider = KeyRing::single(ClusterKey::generate(1).expect("random"));
    let forged: Vec<Vec<u8>> = vec![
        wire::encode_data_copy(wire::FrameKind::Data, r, 0, &[9; 200]),
        wire::encode_stream_start(r, 0, &wire::StreamStart { view: u64::MAX, sender: 0, base: 0, flags: 0 }),
        wire::encode_ack(
            r,
            1,
            &wire::Ack {
                view: u64::MAX,
                round: u64::MAX,
                sender: 0,
                stable: u64::MAX,
                max_seen: u64::MAX,
                rate_min: 0,
                rate_avg: 0,
                rate_max: 0,
            },
        ),
        wire::Token { view: u64::MAX, round: u64::MAX, hop: 0, flags: 0, entries: Vec::new() }.encode(r, 1),
        wire::encode_token_ack(r, 2, &wire::TokenAck { view: u64::MAX, round: u64::MAX, hop: 0 }),
        wire::encode_heartbeat(r, 0, &wire::Heartbeat { sender: 0, highest: u64::MAX }),
        wire::encode_request(r, 1, true, 0, &[wire::SeqRange { start: 0, end: 1_000 }]),
        wire::encode_request(r, 2, false, 0, &[wire::SeqRange { start: 0, end: 1_000 }]),
    ];
    let mut wrong_key = Sealer::new(&outsider, 0, Mode::Mac);
    let gms_forged = [
        GmsMsg::Leave { node: argent_runtime::NodeId(1), incarnation: 1 },
        GmsMsg::Register {
            member: Member {
                node: argent_runtime::NodeId(2),
                incarnation: u64::MAX,
                addr: "127.0.0.1:9".parse().unwrap(),
                shards: 1,
                groups_version: 0,
            },
            groups: vec![],
        },
    ];
    let (mut sent, mut captured, mut replayed) = (0u64, Vec::<Vec<u8>>::new(), 0u64);
    let mut buf = vec![0u8; 65_536];
    for round in 0..ROUNDS {
        for to in &targets {
            for f in &forged {
                attacker.send_to(f, to).expect("send");
                let mut sealed = Vec::new();
                wrong_key.seal(1, f, &mut sealed);
                attacker.send_to(&sealed, to).expect("send");
                sent += 2;
            }
        }
        for (i, m) in gms_forged.iter().enumerate() {
            for d in fragment(&m.encode(), (round * 2 + i as u64) as u32) {
                attacker.send_to(&d, gms).expect("send");
                sent += 1;
            }
        }
        let own = attacker.local_addr().expect("address");
        while captured.len() < 64 {
            match listener.recv_from(&mut buf) {
                Ok((_, from)) if from == own => {} // its own forgeries, looped back
                Ok((n, _)) => captured.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        for d in captured.iter().take(16) {
            attacker.send_to(d, SocketAddr::V4(address)).expect("replay");
            replayed += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "attacker: sent {sent} forged datagrams, captured {} genuine ones, replayed {replayed} times",
        captured.len()
    );
}
