//! Verifiable messages for `pub`, `sub --verify` and `bench`.
//!
//! ```text
//! 0..8   index in the (publisher, group) stream
//! 8..16  send time, ns since the Unix epoch
//! 16..20 publisher id
//! 20..24 group id (must match the group tag the message was delivered with)
//! 24..28 check word of (index, publisher, group)
//! 28..   fill: the low byte of the index
//! ```
//!
//! The end of a (publisher, group) stream is marked by a message with `sent` in 0..8, the
//! stream checksum in 8..16, publisher and group as above, the check word of (sent,
//! publisher, group) XOR `END_MAGIC` in 24..28, and zeros after.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// Smallest verifiable message.
pub const MIN_SIZE: usize = 32;
/// Tells an end marker's check word from a message's.
const END_MAGIC: u32 = 0xE5D0_E5D0;
/// Group ids below this keep their streams in a vector indexed by id.
const DENSE_GROUPS: u32 = 1 << 20;

pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn check_word(index: u64, publisher: u32, group: u32) -> u32 {
    let x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(publisher).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ u64::from(group).wrapping_mul(0x1656_67B1_9E37_79F9).rotate_left(29);
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

/// Write message `index` of `publisher` to `group`, sent at `stamp` (ns since the Unix
/// epoch), into `buf` (at least [`MIN_SIZE`] bytes).
pub fn write(buf: &mut [u8], index: u64, publisher: u32, group: u32, stamp: u64) {
    buf[0..8].copy_from_slice(&index.to_le_bytes());
    buf[8..16].copy_from_slice(&stamp.to_le_bytes());
    buf[16..20].copy_from_slice(&publisher.to_le_bytes());
    buf[20..24].copy_from_slice(&group.to_le_bytes());
    buf[24..28].copy_from_slice(&check_word(index, publisher, group).to_le_bytes());
    buf[28..].fill(index as u8);
}

/// Write the end marker of the (publisher, group) stream: `sent` messages with stream
/// checksum `sum`.
pub fn write_end(buf: &mut [u8], publisher: u32, group: u32, sent: u64, sum: u64) {
    buf.fill(0);
    buf[0..8].copy_from_slice(&sent.to_le_bytes());
    buf[8..16].copy_from_slice(&sum.to_le_bytes());
    buf[16..20].copy_from_slice(&publisher.to_le_bytes());
    buf[20..24].copy_from_slice(&group.to_le_bytes());
    buf[24..28].copy_from_slice(&(check_word(sent, publisher, group) ^ END_MAGIC).to_le_bytes());
}

/// What every message of a stream touches: 16 bytes, so the streams of thousands of groups
/// stay in cache.
#[derive(Default, Clone, Copy)]
struct Hot {
    next: u64,
    sum: u64,
}

/// What only an end marker or an order violation touches.
#[derive(Default, Clone, Copy)]
struct Cold {
    /// Indices skipped over (received = next - skipped).
    skipped: u64,
    end: Option<(u64, u64)>,
    /// Late joiners: the index the stream started at for this subscriber.
    start: Option<u64>,
}

/// One stream's state, as the summary reads it.
struct Stream {
    received: u64,
    sum: u64,
    end: Option<(u64, u64)>,
    start: u64,
}

/// The streams of one publisher, by group.
struct PublisherStreams {
    publisher: u32,
    /// Indexed by group id (below [`DENSE_GROUPS`]).
    hot: Vec<Hot>,
    cold: Vec<Cold>,
    sparse: std::collections::HashMap<u32, (Hot, Cold)>,
}

impl PublisherStreams {
    fn new(publisher: u32) -> Self {
        PublisherStreams { publisher, hot: Vec::new(), cold: Vec::new(), sparse: Default::default() }
    }

    #[inline]
    fn hot(&mut self, group: u32) -> &mut Hot {
        if group < DENSE_GROUPS {
            let i = group as usize;
            if i >= self.hot.len() {
                self.hot.resize(i + 1, Hot::default());
            }
            &mut self.hot[i]
        } else {
            &mut self.sparse.entry(group).or_default().0
        }
    }

    fn cold(&mut self, group: u32) -> &mut Cold {
        if group < DENSE_GROUPS {
            let i = group as usize;
            if i >= self.cold.len() {
                self.cold.resize(i + 1, Cold::default());
            }
            &mut self.cold[i]
        } else {
            &mut self.sparse.entry(group).or_default().1
        }
    }

    /// Streams that saw a message or an end marker.
    fn streams(&self) -> impl Iterator<Item = Stream> + '_ {
        let dense = (0..self.hot.len().max(self.cold.len())).map(|i| {
            (self.hot.get(i).copied().unwrap_or_default(), self.cold.get(i).copied().unwrap_or_default())
        });
        dense.chain(self.sparse.values().copied()).filter(|(h, c)| h.next > 0 || c.end.is_some()).map(
            |(h, c)| {
                let start = c.start.unwrap_or(0);
                Stream { received: h.next - c.skipped - start, sum: h.sum, end: c.end, start }
            },
        )
    }
}

/// Checks exactly-once FIFO delivery per (publisher, group) of verifiable messages.
pub struct Verifier {
    /// By publisher id; a handful, so a linear search beats hashing.
    publishers: Vec<PublisherStreams>,
    ended: usize,
    pub received: u64,
    pub bytes: u64,
    pub duplicates: u64,
    pub order_violations: u64,
    pub corrupt: u64,
    pub wrong_group: u64,
    /// A late joiner: each stream is checked from its first message on (no checksum of the
    /// whole stream).
    pub late: bool,
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
    /// Messages whose content names another group than the one they were delivered in.
    pub wrong_group: u64,
    pub checksum_ok: bool,
    /// (publisher, group) streams whose end marker arrived.
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
            publishers: Vec::new(),
            ended: 0,
            received: 0,
            bytes: 0,
            duplicates: 0,
            order_violations: 0,
            corrupt: 0,
            wrong_group: 0,
            late: false,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            first_ns: 0,
            last_ns: 0,
        }
    }

    #[inline]
    fn publisher(publishers: &mut Vec<PublisherStreams>, publisher: u32) -> &mut PublisherStreams {
        let at = match publishers.iter().position(|p| p.publisher == publisher) {
            Some(i) => i,
            None => {
                publishers.push(PublisherStreams::new(publisher));
                publishers.len() - 1
            }
        };
        &mut publishers[at]
    }

    /// Check one message; `now` is the receive time in ns since the epoch. `from` is the
    /// publisher the message must name (the node that delivered it) and `group` the group it
    /// was delivered in; `None` accepts any.
    pub fn check(&mut self, m: &[u8], now: u64, from: Option<u32>, group: Option<u32>) {
        if m.len() < MIN_SIZE {
            self.corrupt += 1;
            return;
        }
        let word = |r: std::ops::Range<usize>| u64::from_le_bytes(m[r].try_into().unwrap_or([0; 8]));
        let half = |r: std::ops::Range<usize>| u32::from_le_bytes(m[r].try_into().unwrap_or([0; 4]));
        let (first, second) = (word(0..8), word(8..16));
        let (publisher, in_group, check) = (half(16..20), half(20..24), half(24..28));
        let expected = check_word(first, publisher, in_group);
        let end = if check == expected {
            false
        } else if check == expected ^ END_MAGIC {
            true
        } else {
            self.corrupt += 1;
            return;
        };
        if from.is_some_and(|f| f != publisher) {
            self.corrupt += 1;
            return;
        }
        if group.is_some_and(|g| g != in_group) {
            self.wrong_group += 1;
            return;
        }
        if end {
            let c = Self::publisher(&mut self.publishers, publisher).cold(in_group);
            let first_end = c.end.is_none();
            c.end = Some((first, second));
            self.ended += usize::from(first_end);
            return;
        }
        let (index, stamp) = (first, second);
        // The payload bytes are covered by the stream checksum compared at the end marker.
        if self.first_ns == 0 {
            self.first_ns = now;
        }
        self.last_ns = now;
        let streams = Self::publisher(&mut self.publishers, publisher);
        if self.late && streams.hot(in_group).next == 0 && streams.cold(in_group).start.is_none() {
            streams.cold(in_group).start = Some(index);
            streams.hot(in_group).next = index;
        }
        let next = streams.hot(in_group).next;
        match index.cmp(&next) {
            std::cmp::Ordering::Less => {
                self.duplicates += 1;
                return;
            }
            std::cmp::Ordering::Greater => {
                self.order_violations += 1;
                streams.cold(in_group).skipped += index - next;
            }
            std::cmp::Ordering::Equal => {}
        }
        let s = streams.hot(in_group);
        s.next = index + 1;
        s.sum = s.sum.wrapping_add(message_sum(m));
        self.received += 1;
        self.bytes += m.len() as u64;
        let _ = self.latency_us.record((now.saturating_sub(stamp) / 1000).max(1));
    }

    /// (publisher, group) streams whose end marker arrived.
    pub fn ended(&self) -> usize {
        self.ended
    }

    /// The verdict, given how many (publisher, group) streams must have ended.
    pub fn summary(&self, streams: usize) -> Summary {
        let mut gaps = 0;
        let mut checksum_ok = true;
        for s in self.publishers.iter().flat_map(PublisherStreams::streams) {
            match s.end {
                Some((sent, sum)) => {
                    gaps += sent.saturating_sub(s.start).saturating_sub(s.received);
                    checksum_ok &= self.late || sum == s.sum;
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
            wrong_group: self.wrong_group,
            checksum_ok,
            publishers_ended: ended,
            verified: ended >= streams
                && gaps == 0
                && self.duplicates == 0
                && self.order_violations == 0
                && self.corrupt == 0
                && self.wrong_group == 0
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
            write(&mut buf, i, 7, 3, now_ns());
            sum = sum.wrapping_add(message_sum(&buf));
            v.check(&buf, now_ns(), Some(7), Some(3));
        }
        write_end(&mut buf, 7, 3, 10, sum);
        v.check(&buf, now_ns(), Some(7), Some(3));
        let s = v.summary(1);
        assert!(s.verified, "{s:?}");

        let mut v = Verifier::new();
        for i in [0, 1, 1, 3] {
            write(&mut buf, i, 7, 3, now_ns());
            v.check(&buf, now_ns(), None, None);
        }
        buf[25] ^= 1; // the check word
        v.check(&buf, now_ns(), None, None);
        write_end(&mut buf, 7, 3, 4, 0);
        v.check(&buf, now_ns(), None, None);
        let s = v.summary(1);
        assert_eq!((s.duplicates, s.order_violations, s.corrupt, s.gaps), (1, 1, 1, 1));
        assert!(!s.verified && !s.checksum_ok);
    }

    #[test]
    fn streams_are_per_group_and_the_group_must_match_the_tag() {
        let mut v = Verifier::new();
        let mut buf = vec![0u8; 32];
        let mut sums = [0u64; 2];
        // Interleaved streams of groups 5 and 6 of one publisher, each FIFO on its own.
        for i in 0..6u64 {
            let g = 5 + (i % 2) as u32;
            write(&mut buf, i / 2, 1, g, now_ns());
            sums[(g - 5) as usize] = sums[(g - 5) as usize].wrapping_add(message_sum(&buf));
            v.check(&buf, now_ns(), Some(1), Some(g));
        }
        for g in [5u32, 6] {
            write_end(&mut buf, 1, g, 3, sums[(g - 5) as usize]);
            v.check(&buf, now_ns(), Some(1), Some(g));
        }
        let s = v.summary(2);
        assert!(s.verified, "{s:?}");
        assert_eq!(s.publishers_ended, 2);
        // A message of group 5 delivered as group 6 is caught.
        write(&mut buf, 3, 1, 5, now_ns());
        v.check(&buf, now_ns(), Some(1), Some(6));
        assert_eq!(v.summary(2).wrong_group, 1);
        assert!(!v.summary(2).verified);
        // An end marker is not taken for a message, nor the reverse.
        let mut w = Verifier::new();
        write_end(&mut buf, 1, 5, 0, 0);
        w.check(&buf, now_ns(), None, None);
        assert_eq!((w.received, w.ended(), w.corrupt), (0, 1, 0));
    }

    #[test]
    fn a_flipped_payload_byte_fails_the_stream_checksum() {
        let mut v = Verifier::new();
        let mut buf = vec![0u8; 64];
        let mut sum = 0u64;
        for i in 0..3 {
            write(&mut buf, i, 1, 2, now_ns());
            sum = sum.wrapping_add(message_sum(&buf));
            if i == 1 {
                buf[40] ^= 0x10;
            }
            v.check(&buf, now_ns(), None, None);
        }
        write_end(&mut buf, 1, 2, 3, sum);
        v.check(&buf, now_ns(), None, None);
        let s = v.summary(1);
        assert!(!s.checksum_ok && !s.verified, "{s:?}");
        assert_eq!(s.received, 3);
    }
}
