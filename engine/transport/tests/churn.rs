//! Groups joined and left many times: every descriptor is released (a test binary of its
//! own, so that no other test opens or closes descriptors meanwhile).

mod common;

use std::time::Duration;

use common::*;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn ten_thousand_join_and_leave_cycles_release_every_descriptor() {
    ensure_loopback_multicast();
    for (k, backend) in backends().into_iter().enumerate() {
        let g = group(30 + k as u16);
        let mut sender = open(backend, &spec(vec![]));
        let mut r = open(backend, &spec(vec![]));
        let nonce = nonce();
        let mut buf = Vec::new();
        let before = open_descriptors();
        for i in 0..10_000u32 {
            r.join(g).expect("join");
            if i % 1000 == 0 {
                // Traffic while joined, so the receive side is really in use.
                assert!(reaches(sender.as_mut(), r.as_mut(), g, nonce, i), "{backend}: cycle {i}");
            } else {
                r.recv(Some(Duration::ZERO), 16, &mut buf).expect("recv");
            }
            assert!(r.leave(g).expect("leave"));
        }
        assert_eq!(open_descriptors(), before, "{backend}: descriptors back where they started");
        assert!(r.groups().is_empty());
    }
}
