//! GMS messages over UDP: a message larger than one datagram (a view of thousands of groups)
//! is cut into fragments and put back together at the receiver, with bounded memory.
//! A lost fragment loses the message; the GMS protocol retries (pushes until acknowledged,
//! requests until reflected in a view), so no delivery guarantee is needed here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Fragment header: magic "GM", version, reserved, message id (u32), index (u16), count (u16).
pub const FRAG_HEADER: usize = 12;
/// Payload bytes per fragment (fits a loopback or jumbo datagram; IP fragments it on 1500-byte
/// links, which is fine for control traffic).
pub const FRAG_PAYLOAD: usize = 60_000;
const MAGIC: [u8; 2] = *b"GM";
const VERSION: u8 = 1;
/// Partial messages kept at once (all sources); the oldest is dropped beyond it.
const MAX_PARTIAL: usize = 64;
/// A partial message older than this is dropped.
const PARTIAL_TTL: Duration = Duration::from_secs(2);
/// Bytes held in partial messages at once (all sources); the oldest are dropped beyond it.
const MAX_PARTIAL_BYTES: usize = 32 << 20;

/// Cut `msg` into datagrams.
pub fn fragment(msg: &[u8], id: u32) -> Vec<Vec<u8>> {
    let count = msg.len().div_ceil(FRAG_PAYLOAD).max(1);
    (0..count)
        .map(|i| {
            let part = &msg[i * FRAG_PAYLOAD..((i + 1) * FRAG_PAYLOAD).min(msg.len())];
            let mut d = Vec::with_capacity(FRAG_HEADER + part.len());
            d.extend_from_slice(&MAGIC);
            d.push(VERSION);
            d.push(0);
            d.extend_from_slice(&id.to_le_bytes());
            d.extend_from_slice(&(i as u16).to_le_bytes());
            d.extend_from_slice(&(count as u16).to_le_bytes());
            d.extend_from_slice(part);
            d
        })
        .collect()
}

struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    have: usize,
    bytes: usize,
    started: Instant,
}

/// Reassembles fragments per (source, message id).
#[derive(Default)]
pub struct Reassembly {
    partial: HashMap<(SocketAddr, u32), Partial>,
    /// Datagrams that were not fragments of ours (bad magic, version, or header).
    pub malformed: u64,
    /// Partial messages dropped (too old, or too many at once).
    pub dropped: u64,
}

impl std::fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembly").field("partial", &self.partial.len()).finish_non_exhaustive()
    }
}

impl Reassembly {
    /// Take one datagram; returns a whole message once all its fragments are in.
    pub fn push(&mut self, from: SocketAddr, d: &[u8], now: Instant) -> Option<Vec<u8>> {
        if d.len() < FRAG_HEADER || d[0..2] != MAGIC || d[2] != VERSION {
            self.malformed += 1;
            return None;
        }
        let id = u32::from_le_bytes(d[4..8].try_into().ok()?);
        let index = usize::from(u16::from_le_bytes(d[8..10].try_into().ok()?));
        let count = usize::from(u16::from_le_bytes(d[10..12].try_into().ok()?));
        let body = &d[FRAG_HEADER..];
        if count == 0 || index >= count || count > crate::gms::MAX_GMS_MESSAGE / FRAG_PAYLOAD + 1 {
            self.malformed += 1;
            return None;
        }
        if count == 1 {
            return Some(body.to_vec());
        }
        self.expire(now);
        let p = self.partial.entry((from, id)).or_insert_with(|| Partial {
            parts: vec![None; count],
            have: 0,
            bytes: 0,
            started: now,
        });
        if p.parts.len() != count {
            self.malformed += 1;
            return None;
        }
        if p.parts[index].is_none() {
            p.parts[index] = Some(body.to_vec());
            p.have += 1;
            p.bytes += body.len();
        }
        if p.have < count {
            return None;
        }
        let p = self.partial.remove(&(from, id))?;
        Some(p.parts.into_iter().flatten().flatten().collect())
    }

    fn expire(&mut self, now: Instant) {
        let before = self.partial.len();
        self.partial.retain(|_, p| now.duration_since(p.started) < PARTIAL_TTL);
        while self.partial.len() >= MAX_PARTIAL
            || self.partial.values().map(|p| p.bytes).sum::<usize>() > MAX_PARTIAL_BYTES
        {
            let oldest = self.partial.iter().min_by_key(|(_, p)| p.started).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.partial.remove(&k);
            }
        }
        self.dropped += (before - self.partial.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_messages_round_trip_in_any_order_and_garbage_is_counted() {
        let msg: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let mut frags = fragment(&msg, 7);
        assert_eq!(frags.len(), 3);
        frags.reverse();
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let now = Instant::now();
        let mut r = Reassembly::default();
        assert!(r.push(from, &frags[0], now).is_none());
        assert!(r.push(from, &frags[0], now).is_none(), "duplicate fragment");
        assert!(r.push(from, &frags[1], now).is_none());
        assert_eq!(r.push(from, &frags[2], now).unwrap(), msg);
        assert_eq!(fragment(b"hi", 1).len(), 1);
        assert_eq!(r.push(from, &fragment(b"hi", 1)[0], now).unwrap(), b"hi");
        for bad in [
            &b""[..],
            b"GM",
            b"XX\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00",
            b"GM\x01\x00\0\0\0\0\x05\0\x02\0",
        ] {
            assert!(r.push(from, bad, now).is_none());
        }
        assert_eq!(r.malformed, 4);
    }

    #[test]
    fn partial_messages_are_bounded() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let now = Instant::now();
        let mut r = Reassembly::default();
        for id in 0..1000 {
            let f = fragment(&vec![0u8; FRAG_PAYLOAD + 1], id);
            r.push(from, &f[0], now);
        }
        assert!(r.partial.len() <= MAX_PARTIAL);
        r.push(from, &fragment(&vec![0u8; FRAG_PAYLOAD + 1], 5000)[0], now + PARTIAL_TTL * 2);
        assert_eq!(r.partial.len(), 1);
    }
}
