//! Loopback ports for tests that must write them into a cluster file before anything binds
//! them.
//!
//! They come from 20 000–32 767, below the kernel's ephemeral range (32 768–60 999 by
//! default), so no socket bound to port 0 — a client socket of this or any other process —
//! can take one between the pick and the bind. Blocks are distinct within a process (a
//! counter), spread across processes by pid, and each port of a block is checked free.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU32, Ordering};

/// Ports per block: a test may use `base .. base + 64`.
pub const BLOCK: u16 = 64;
const FIRST: u32 = 20_000;
const BLOCKS: u32 = (32_768 - FIRST) / BLOCK as u32;

/// The first of `BLOCK` consecutive loopback ports free right now and handed to no other
/// caller of this process.
pub fn block() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) % BLOCKS;
    for _ in 0..BLOCKS {
        let slot = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % BLOCKS;
        let base = (FIRST + slot * BLOCK as u32) as u16;
        if (base..base + BLOCK).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no block of {BLOCK} free loopback ports in {FIRST}..32768");
}
