//! A keyed cluster on loopback: two nodes with the cluster key exchange messages while a
//! third socket forges datagrams to both the region's multicast address and the receiver's
//! unicast port, some sealed with a member's key but sent from another address. Every message arrives once and in order; every forgery is refused and
//! counted by kind.

mod common;
mod ports;
use argent_runtime::auth::{ClusterKey, KeyRing, Mode, Sealer};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const MESSAGES: u64 = 20_000;

fn seal(ring: &KeyRing, id: u32, channel: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Sealer::new(ring, id, Mode::Mac).seal(channel, body, &mut out);
    out
}

/// Takes [`MESSAGES`] messages from `sub` (at node `at`), handing each to `check` with its
/// place in the stream; fails after a minute with the node's refusals.
fn receive_all(sub: &mut argent::Subscription, at: &argent::Node, mut check: impl FnMut(u64, &[u8])) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0u64;
    while next < MESSAGES {
        assert!(Instant::now() < deadline, "got {next} of {MESSAGES}; refused: {:?}", at.stats().auth);
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(100)) {
            for m in d.messages() {
                check(next, m);
                next += 1;
            }
        }
    }
}

#[test]
fn forged_datagrams_are_refused_and_counted_while_traffic_flows() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = dir.path().join("cluster.key");
    std::fs::write(&key, KeyRing::new_file().expect("random key")).expect("write key");
    let ring = KeyRing::load(&key).expect("key loads");
    let base = ports::block();
    let (a, b) = common::pair(base, "secure", 7, &format!("[security]\nkey_file = {:?}\n", key));
    let region = a.regions()[0].clone();
    let mut sub = b.subscribe("secure").expect("subscribe");
    let mut publisher = a.publisher("secure").expect("publisher");
    let sender = std::thread::spawn(move || {
        for s in 0..MESSAGES {
            publisher.publish_blocking(&s.to_le_bytes()).expect("publish");
        }
        publisher
    });

    // The attacker: no key (another cluster's), a key but an id outside the view, the key
    // of member 0 but naming member 1 in the header, and a replay.
    let attacker = UdpSocket::bind("127.0.0.1:0").expect("socket");
    attacker.set_multicast_loop_v4(true).expect("loop");
    let targets =
        [std::net::SocketAddr::V4(region.address), format!("127.0.0.1:{}", base + 1).parse().unwrap()];
    let other = KeyRing::single(ClusterKey::generate(1).expect("random"));
    let data = |from: u32| {
        argent_wire::encode_data_copy(argent_wire::FrameKind::Data, region.region.0, from, &[7; 64])
    };
    let forged = [
        data(0),                      // unsealed
        seal(&other, 0, 1, &data(0)), // another cluster's key
        seal(&ring, 9, 1, &data(9)),  // not a member
    ];
    // Member 0's key naming member 1 in the header, sealed afresh each time (a holder of
    // the key can do that; the header must still name the key's owner).
    let mut insider = Sealer::new(&ring, 0, Mode::Mac);
    let replayed = seal(&ring, 0, 78, &argent_wire::encode_alive(region.region.0, 0));
    let rounds = 200;
    for _ in 0..rounds {
        for to in targets {
            for f in &forged {
                attacker.send_to(f, to).expect("send");
            }
            attacker.send_to(&replayed, to).expect("send");
            let mut lie = Vec::new();
            insider.seal(77, &data(1), &mut lie);
            attacker.send_to(&lie, to).expect("send");
            // Member 0's key, naming member 0, but not from member 0's sockets.
            let mut spoofed = Vec::new();
            insider.seal(79, &argent_wire::encode_alive(region.region.0, 0), &mut spoofed);
            attacker.send_to(&spoofed, to).expect("send");
        }
        std::thread::sleep(Duration::from_millis(2));
    }

    receive_all(&mut sub, &b, |next, m| {
        let s = u64::from_le_bytes(m.try_into().expect("8 bytes"));
        assert_eq!(s, next, "in order, once each, nothing forged");
    });
    sender.join().expect("publisher");
    std::thread::sleep(Duration::from_millis(300)); // counters are published periodically
    let s = b.stats().auth;
    assert!(s.open.opened > 0);
    eprintln!("receiver refused: {s:?}");
    let sent = rounds as u64; // per kind, per target; node 1 gets the unicast and the multicast copy
    assert!(s.open.forged >= sent, "another key: {s:?}");
    assert!(s.open.not_member >= sent, "outside the view: {s:?}");
    assert!(s.wrong_from >= sent, "header names another member: {s:?}");
    assert!(s.wrong_source >= sent, "not from the member's address: {s:?}");
    assert!(s.open.replay >= sent, "replays: {s:?}");
    assert!(s.open.short + s.open.version + s.open.mode >= sent, "unsealed: {s:?}");
    let at_a = a.stats().auth;
    eprintln!("sender: {at_a:?}");
    assert!(at_a.refused() >= 5 * sent - 1, "node 0 refuses the multicast copies too: {at_a:?}");
    a.shutdown();
    b.shutdown();
}

/// `encrypt = true`: bodies travel sealed (AEAD) and are decrypted into reused arenas
/// without a zero-fill first; every byte of every message must come out as sent, in order,
/// while those arenas are reused many times over (messages of varied sizes and contents,
/// so a stale byte of an earlier datagram would show).
#[test]
fn encrypted_traffic_arrives_intact_through_reused_arenas() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = dir.path().join("cluster.key");
    std::fs::write(&key, KeyRing::new_file().expect("random key")).expect("write key");
    let base = ports::block();
    let extra = format!("[security]\nkey_file = {:?}\nencrypt = true\n", key);
    let (a, b) = common::pair(base, "sealed", 7, &extra);
    let mut sub = b.subscribe("sealed").expect("subscribe");
    let mut publisher = a.publisher("sealed").expect("publisher");
    let message = |s: u64| -> Vec<u8> {
        let len = 8 + (s as usize * 7919) % 1500;
        let mut m = s.to_le_bytes().to_vec();
        m.extend((0..len - 8).map(|i| (s as usize).wrapping_mul(31).wrapping_add(i) as u8));
        m
    };
    let sender = std::thread::spawn(move || {
        for s in 0..MESSAGES {
            publisher.publish_blocking(&message(s)).expect("publish");
        }
        publisher
    });
    receive_all(&mut sub, &b, |next, m| {
        assert_eq!(m, &message(next)[..], "message {next}: every byte as sent")
    });
    sender.join().expect("publisher");
    std::thread::sleep(Duration::from_millis(300)); // counters are published periodically
    let s = b.stats().auth;
    assert!(s.open.opened > 0 && s.open.refused() == 0, "{s:?}");
    a.shutdown();
    b.shutdown();
}
