//! Fragments of large messages (argent-wire) and of large membership-service messages:
//! arbitrary fragments from a few senders never panic, and what reassembly holds stays
//! within its limits.

#![no_main]

use argent_membership::service::Reassembly as GmsReassembly;
use argent_wire::fragment::{parse_fragment, Reassembly};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PARTIALS: usize = 4;
const BYTES: usize = 1 << 20;

fuzz_target!(|buf: &[u8]| {
    // Input: records of `sender (1) | len (2) | bytes`.
    let mut r: Reassembly<u8> = Reassembly::new(PARTIALS, BYTES);
    let mut g = GmsReassembly::default();
    let start = Instant::now();
    let mut rest = buf;
    let mut i = 0u64;
    while rest.len() >= 3 {
        let sender = rest[0] % 4;
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let m = &rest[3..3 + len];
        rest = &rest[3 + len..];
        i += 1;
        if let Some(f) = parse_fragment(m) {
            if let Some((_, whole)) = r.add(sender, f) {
                assert!(whole.len() <= BYTES, "a message larger than the reassembly budget");
            }
            let (partials, bytes) = r.held();
            assert!(partials <= PARTIALS && bytes <= BYTES, "held {partials} partials, {bytes} bytes");
        }
        let from = SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(sender)));
        let _ = g.push(from, m, start + Duration::from_millis(i));
    }
});
