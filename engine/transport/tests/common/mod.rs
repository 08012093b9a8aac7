//! Helpers shared by the transport tests: backends to run, loopback multicast, payloads
//! that carry a run nonce (so stray traffic from other processes is ignored) and checks.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argent_transport::{
    interface_multicast, probe_uring, Backend, Outgoing, Received, SocketSpec, Transport,
};
use bytes::{BufMut, Bytes, BytesMut};

/// Header of every test payload: nonce (8), sequence (4), length (4).
pub const HEADER: usize = 16;

/// The backends to test here: std always, uring when it works (else say why it is skipped).
pub fn backends() -> Vec<Backend> {
    match probe_uring() {
        Ok(()) => vec![Backend::Std, Backend::Uring],
        Err(why) => {
            eprintln!("SKIPPING the uring backend: {why}");
            vec![Backend::Std]
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Makes sure lo carries the MULTICAST flag: sets it when root, else warns (Linux still
/// loops multicast back on lo without it; a failing multicast test says what to run).
pub fn ensure_loopback_multicast() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (name, on) = interface_multicast(Ipv4Addr::LOCALHOST).expect("127.0.0.1 must be on an interface");
        if on {
            return;
        }
        if is_root() {
            let status = Command::new("ip").args(["link", "set", &name, "multicast", "on"]).status();
            match status {
                Ok(s) if s.success() => {
                    eprintln!("enabled MULTICAST on {name} (`ip link set {name} multicast on`)")
                }
                other => panic!(
                    "{name} lacks the MULTICAST flag and `ip link set {name} multicast on` failed: {other:?}"
                ),
            }
        } else {
            eprintln!(
                "WARNING: {name} lacks the MULTICAST flag and we are not root; if multicast tests fail, \
                 run `sudo ip link set {name} multicast on`"
            );
        }
    });
}

/// A nonce for this test run, distinct per call.
pub fn nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    t ^ ((std::process::id() as u64) << 40)
        ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A port for this process and test slot (avoids clashes between concurrent test runs), below
/// the kernel's ephemeral range (32 768–60 999), where no socket bound to port 0 can take it.
pub fn port(slot: u16) -> u16 {
    20_000 + ((std::process::id() % 300) as u16) * 40 + slot
}

/// A multicast group for a test slot.
pub fn group(slot: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, slot as u8), port(slot))
}

/// A loopback spec with the given groups.
pub fn spec(groups: Vec<SocketAddrV4>) -> SocketSpec {
    SocketSpec { groups, ..SocketSpec::loopback(Vec::new()) }
}

/// Opens a transport or fails the test with the error.
pub fn open(backend: Backend, spec: &SocketSpec) -> Box<dyn Transport> {
    argent_transport::open(Some(backend), spec).unwrap_or_else(|e| panic!("opening {backend}: {e}"))
}

/// A payload of `len` (>= HEADER) bytes for sequence `seq`.
pub fn payload(nonce: u64, seq: u32, len: usize) -> Bytes {
    assert!(len >= HEADER);
    let mut b = BytesMut::with_capacity(len);
    b.put_u64(nonce);
    b.put_u32(seq);
    b.put_u32(len as u32);
    for i in HEADER..len {
        b.put_u8(pattern(seq, i));
    }
    b.freeze()
}

/// One datagram to `to` per size, payload `i` of length `sizes[i]`.
pub fn batch_to(to: SocketAddrV4, nonce: u64, sizes: &[usize]) -> Vec<Outgoing> {
    sizes.iter().enumerate().map(|(i, &len)| Outgoing::new(to, payload(nonce, i as u32, len))).collect()
}

fn pattern(seq: u32, i: usize) -> u8 {
    (seq as usize).wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) as u8
}

/// The sequence number of a payload of this run, after checking every byte; None if the
/// datagram belongs to someone else.
pub fn check(nonce: u64, data: &[u8]) -> Option<u32> {
    if data.len() < HEADER || u64::from_be_bytes(data[..8].try_into().unwrap()) != nonce {
        return None;
    }
    let seq = u32::from_be_bytes(data[8..12].try_into().unwrap());
    let len = u32::from_be_bytes(data[12..16].try_into().unwrap()) as usize;
    assert_eq!(data.len(), len, "datagram {seq} has the wrong length");
    for (i, &b) in data.iter().enumerate().skip(HEADER) {
        assert_eq!(b, pattern(seq, i), "datagram {seq} corrupt at byte {i}");
    }
    Some(seq)
}

/// Receives until `want` datagrams of this run arrived or `limit` passed.
pub fn recv_run(t: &mut dyn Transport, nonce: u64, want: usize, limit: Duration) -> Vec<Received> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = Vec::new();
    while got.len() < want {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        buf.clear();
        t.recv(Some((deadline - now).min(Duration::from_millis(200))), 256, &mut buf).expect("recv");
        got.extend(buf.drain(..).filter(|r| check(nonce, &r.data).is_some()));
    }
    got
}

/// Mixed sizes: small, MTU-sized, runs of equal sizes (GSO), large.
pub fn mixed_sizes(n: usize) -> Vec<usize> {
    const SIZES: [usize; 10] = [16, 100, 1000, 1472, 1472, 1472, 8192, 8192, 8192, 30_000];
    (0..n).map(|i| if i % 17 == 5 { 4000 + i } else { SIZES[(i / 3) % SIZES.len()] }).collect()
}

/// Sends one datagram of this run to `g` and reports whether `r` received it (within 300 ms).
pub fn reaches(
    sender: &mut dyn Transport,
    r: &mut dyn Transport,
    g: SocketAddrV4,
    nonce: u64,
    seq: u32,
) -> bool {
    let report =
        sender.send(&mut vec![argent_transport::Outgoing::new(g, payload(nonce, seq, 64))]).expect("send");
    assert!(report.all_sent(), "{report:?}");
    let got = recv_run(r, nonce, 1, Duration::from_millis(300));
    got.iter().any(|d| check(nonce, &d.data) == Some(seq))
}
