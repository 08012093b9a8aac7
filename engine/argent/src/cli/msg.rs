//! Verifiable messages for `pub`, `sub --verify` and `bench`.
//!
//! ```text
//! 0..8   index (u64; u64::MAX marks the end of a publisher's stream)
//! 8..16  send time, ns since the Unix epoch (end marker: messages sent)
//! 16..20 publisher id
//! 20..24 check word of (index, publisher)
//! 24..   fill: the low byte of the index (end marker: the stream checksum in 24..32)
//! ```

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// Smallest verifiable message.
pub const MIN_SIZE: usize = 32;
const END: u64 = u64::MAX;

pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn check_word(index: u64, publisher: u32) -> u32 {
    let x =
        index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(publisher).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
}

/// Position-sensitive checksum of one message's bytes: words weighted by odd multipliers,
/// summed in independent lanes (no serial dependency, so it runs at memory speed).
pub fn message_sum(m: &[u8]) -> u64 {
    let mut lanes = [0u64; 4];
    let mut chunks = m.chunks_exact(32);
    let mut k = 1u64;
    for c in &mut chunks {
        for (lane, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            *lane = lane.wrapping_add(w.wrapping_mul(k));
            k = k.wrapping_add(2);
        }
    }
    let mut tail = 0u64;
    for (i, b) in chunks.remainder().iter().enumerate() {
        tail = tail.wrapping_add(u64::from(*b).wrapping_mul(2 * i as u64 + 1));
    }
    lanes.iter().fold(tail, |a, l| a.rotate_left(17) ^ *l).wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Write message `index` of `publisher`, sent at `stamp` (ns since the Unix epoch), into
/// `buf` (at least [`MIN_SIZE`] bytes).
pub fn write(buf: &mut [u8], index: u64, publisher: u32, stamp: u64) {
    buf[0..8].copy_from_slice(&index.to_le_bytes());
    buf[8..16].copy_from_slice(&stamp.to_le_bytes());
    buf[16..20].copy_from_slice(&publisher.to_le_bytes());
    buf[20..24].copy_from_slice(&check_word(index, publisher).to_le_bytes());
    buf[24..].fill(index as u8);
}

/// Write the end marker: `sent` messages with stream checksum `sum`.
pub fn write_end(buf: &mut [u8], publisher: u32, sent: u64, sum: u64) {
    buf.fill(0);
    buf[0..8].copy_from_slice(&END.to_le_bytes());
    buf[8..16].copy_from_slice(&sent.to_le_bytes());
    buf[16..20].copy_from_slice(&publisher.to_le_bytes());
    buf[20..24].copy_from_slice(&check_word(END, publisher).to_le_bytes());
    buf[24..32].copy_from_slice(&sum.to_le_bytes());
}

#[derive(Default)]
struct Stream {
    next: u64,
    received: u64,
    sum: u64,
    end: Option<(u64, u64)>,
}

/// Checks exactly-once per-sender FIFO delivery of verifiable messages.
pub struct Verifier {
    /// Streams by publisher id; a handful, so a linear search beats hashing.
    streams: Vec<(u32, Stream)>,
    pub received: u64,
    pub bytes: u64,
    pub duplicates: u64,
    pub order_violations: u64,
    pub corrupt: u64,
    latency_us: Histogram<u64>,
    first_ns: u64,
    last_ns: u64,
}

/// The JSON summary of `sub --verify`.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Summary {
    pub received: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub order_violations: u64,
    pub corrupt: u64,
    pub checksum_ok: bool,
    pub publishers_ended: usize,
    pub verified: bool,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub secs: f64,
}

impl Verifier {
    pub fn new() -> Self {
        Verifier {
            streams: Vec::new(),
            received: 0,
            bytes: 0,
            duplicates: 0,
            order_violations: 0,
            corrupt: 0,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            first_ns: 0,
            last_ns: 0,
        }
    }

    /// Check one message; `now` is the receive time in ns since the epoch. `from` is the
    /// stream id the message must carry (the delivering node and the group it came from),
    /// or `None` to accept any.
    pub fn check(&mut self, m: &[u8], now: u64, from: Option<u32>) {
        if m.len() < MIN_SIZE {
            self.corrupt += 1;
            return;
        }
        let word = |r: std::ops::Range<usize>| u64::from_le_bytes(m[r].try_into().unwrap_or([0; 8]));
        let index = word(0..8);
        let stamp = word(8..16);
        let publisher = u32::from_le_bytes(m[16..20].try_into().unwrap_or([0; 4]));
        let check = u32::from_le_bytes(m[20..24].try_into().unwrap_or([0; 4]));
        if check != check_word(index, publisher) || from.is_some_and(|f| f != publisher) {
            self.corrupt += 1;
            return;
        }
        let at = match self.streams.iter().position(|(p, _)| *p == publisher) {
            Some(i) => i,
            None => {
                self.streams.push((publisher, Stream::default()));
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[at].1;
        if index == END {
            s.end = Some((stamp, word(24..32)));
            return;
        }
        // The payload bytes are covered by the stream checksum compared at the end marker.
        if self.first_ns == 0 {
            self.first_ns = now;
        }
        self.last_ns = now;
        match index.cmp(&s.next) {
            std::cmp::Ordering::Less => {
                self.duplicates += 1;
                return;
            }
            std::cmp::Ordering::Greater => self.order_violations += 1,
            std::cmp::Ordering::Equal => {}
        }
        s.next = index + 1;
        s.received += 1;
        s.sum = s.sum.wrapping_add(message_sum(m));
        self.received += 1;
        self.bytes += m.len() as u64;
        let _ = self.latency_us.record((now.saturating_sub(stamp) / 1000).max(1));
    }

    /// Publishers whose end marker arrived.
    pub fn ended(&self) -> usize {
        self.streams.iter().filter(|(_, s)| s.end.is_some()).count()
    }

    pub fn summary(&self, publishers: usize) -> Summary {
        let mut gaps = 0;
        let mut checksum_ok = true;
        for (_, s) in &self.streams {
            match s.end {
                Some((sent, sum)) => {
                    gaps += sent.saturating_sub(s.received);
                    checksum_ok &= sum == s.sum;
                }
                None => checksum_ok = false,
            }
        }
        let secs = (self.last_ns.saturating_sub(self.first_ns)) as f64 / 1e9;
        let h = &self.latency_us;
        let ended = self.ended();
        Summary {
            received: self.received,
            duplicates: self.duplicates,
            gaps,
            order_violations: self.order_violations,
            corrupt: self.corrupt,
            checksum_ok,
            publishers_ended: ended,
            verified: ended >= publishers
                && gaps == 0
                && self.duplicates == 0
                && self.order_violations == 0
                && self.corrupt == 0
                && checksum_ok,
            msgs_per_sec: if secs > 0.0 { self.received as f64 / secs } else { 0.0 },
            mb_per_sec: if secs > 0.0 { self.bytes as f64 / secs / 1e6 } else { 0.0 },
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_stream_verifies_and_faults_are_counted() {
        let mut v = Verifier::new();
        let mut buf = vec![0u8; 64];
        let mut sum = 0u64;
        for i in 0..10 {
            write(&mut buf, i, 7, now_ns());
            sum = sum.wrapping_add(message_sum(&buf));
            v.check(&buf, now_ns(), None);
        }
        write_end(&mut buf, 7, 10, sum);
        v.check(&buf, now_ns(), None);
        let s = v.summary(1);
        assert!(s.verified, "{s:?}");

        let mut v = Verifier::new();
        for i in [0, 1, 1, 3] {
            write(&mut buf, i, 7, now_ns());
            v.check(&buf, now_ns(), None);
        }
        buf[21] ^= 1; // the check word
        v.check(&buf, now_ns(), None);
        write_end(&mut buf, 7, 4, 0);
        v.check(&buf, now_ns(), None);
        let s = v.summary(1);
        assert_eq!((s.duplicates, s.order_violations, s.corrupt, s.gaps), (1, 1, 1, 1));
        assert!(!s.verified && !s.checksum_ok);
    }

    #[test]
    fn a_flipped_payload_byte_fails_the_stream_checksum() {
        let mut v = Verifier::new();
        let mut buf = vec![0u8; 64];
        let mut sum = 0u64;
        for i in 0..3 {
            write(&mut buf, i, 1, now_ns());
            sum = sum.wrapping_add(message_sum(&buf));
            if i == 1 {
                buf[40] ^= 0x10;
            }
            v.check(&buf, now_ns(), None);
        }
        write_end(&mut buf, 1, 3, sum);
        v.check(&buf, now_ns(), None);
        let s = v.summary(1);
        assert!(!s.checksum_ok && !s.verified, "{s:?}");
        assert_eq!(s.received, 3);
    }
}
