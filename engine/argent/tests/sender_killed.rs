//! A sender killed in the middle of a large message, with real processes: a receiver in this
//! process holds part of a 64 MiB message when the sending process gets SIGKILL. The GMS
//! evicts the dead sender; a new sending process then publishes a small message, a 4 MiB
//! one and a last small one, and the receiver gets all three whole and in order. What the
//! dead sender left is one partial message, within the reassembly's bounds, and is never
//! handed out.
//!
//! The sending processes are this test binary run again with `ARGENT_SENDER` set.

use argent::{Backend, Node};
use argent_membership::gms::GmsConfig;
use argent_membership::service::{GmsService, ServiceConfig};
use argent_membership::AddressPool;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
mod ports;

const TEST: &str = "a_sender_killed_mid_message_leaves_no_partial_delivery";
const HUGE: usize = 64 << 20;
const LARGE: usize = 4 << 20;

fn pattern(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + salt) % 251) as u8).collect()
}

fn node(gms: SocketAddr) -> Node {
    Node::builder()
        .transport(Backend::Std)
        .pin(false)
        .gms(BTreeMap::from([(1, gms)]))
        .start()
        .expect("node starts through the GMS")
}

/// The sending process: `huge` sends "first", then 64 MiB messages until killed (or 60 s);
/// `last` sends "second", a 4 MiB message and "end", then leaves.
fn sender(gms: SocketAddr, role: &str) {
    let n = node(gms);
    let mut p = common::routed_publisher(&n, "big", Duration::from_secs(20));
    if role == "huge" {
        p.publish_blocking(b"first").expect("publish");
        let huge = pattern(HUGE, 7);
        let stop = Instant::now() + Duration::from_secs(60);
        while Instant::now() < stop {
            p.publish_blocking(&huge).expect("publish a 64 MiB message");
        }
    } else {
        p.publish_blocking(b"second").expect("publish");
        p.publish_blocking(&pattern(LARGE, 3)).expect("publish 4 MiB");
        p.publish_blocking(b"end").expect("publish");
        std::thread::sleep(Duration::from_secs(2)); // acknowledged before leaving
        n.shutdown();
    }
}

fn spawn(gms: SocketAddr, role: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env("ARGENT_SENDER", format!("{gms} {role}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sender process starts")
}

#[test]
fn a_sender_killed_mid_message_leaves_no_partial_delivery() {
    if let Ok(spec) = std::env::var("ARGENT_SENDER") {
        let (addr, role) = spec.split_once(' ').expect("ADDR ROLE");
        return sender(addr.parse().expect("GMS address"), role);
    }
    let base = ports::block();
    let pool =
        AddressPool { base: Ipv4Addr::new(239, 252, (base % 200) as u8, 1), count: 8, port: base + 40 };
    let mut gms = GmsConfig::new(pool);
    gms.tick = Duration::from_millis(20);
    let any: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let service =
        GmsService::start(ServiceConfig { gms, peers: [(1, any)].into(), data_dir: None }).expect("gms");
    let at = service.local_addr();
    let receiver = node(at);
    receiver.join("big").expect("join creates the group");
    let mut sub = receiver.subscribe("big").expect("subscribe");

    let mut killed = spawn(at, "huge");
    let mut got: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait for "first", then for part of a 64 MiB message, and kill the sender there.
    loop {
        assert!(Instant::now() < deadline, "no partial message seen; got {} messages", got.len());
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(5)) {
            got.extend(d.message_bytes().map(|(_, m)| m.to_vec()));
        }
        let (_, (partials, bytes)) = sub.reassembly();
        if got.len() == 1 && partials == 1 && bytes == HUGE {
            killed.kill().expect("SIGKILL");
            break;
        }
        if got.len() > 1 {
            // A whole 64 MiB message got through first: fine, kill during the next one.
            assert!(got[1..].iter().all(|m| m.len() == HUGE), "only whole messages");
            got.truncate(1);
        }
    }
    killed.wait().expect("reaped");
    assert_eq!(got, vec![b"first".to_vec()]);

    let mut last = spawn(at, "last");
    let mut after: Vec<Vec<u8>> = Vec::new();
    while after.last().map(Vec::as_slice) != Some(b"end") {
        assert!(Instant::now() < deadline, "after the kill, got {} messages", after.len());
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(50)) {
            after.extend(d.message_bytes().map(|(_, m)| m.to_vec()));
        }
    }
    // Whole 64 MiB messages the dead sender finished before the kill took effect may come
    // first; nothing of the cut one does.
    let after: Vec<Vec<u8>> = after.into_iter().filter(|m| m.len() != HUGE).collect();
    assert_eq!(after.len(), 3, "second, 4 MiB, end");
    assert_eq!(after[0], b"second");
    assert!(after[1] == pattern(LARGE, 3), "the 4 MiB message, whole");
    assert_eq!(after[2], b"end");
    let (stats, (partials, _)) = sub.reassembly();
    assert!(partials <= 1, "at most the dead sender's partial is held: {partials}");
    eprintln!("reassembly after the kill: {stats:?}, {partials} partial held");
    assert!(last.wait().expect("the last sender ends").success());
    receiver.shutdown();
}
