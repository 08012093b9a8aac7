//! Checking `argent pub`'s verifiable messages (argent_verify's long form: the stream is the
//! group) in `sub --verify` and `bench`: exactly-once FIFO delivery per (publisher, group),
//! each message in the group it names, latency from its send time, and each stream's
//! checksum against its end marker.

use argent_verify::{message_sum, Checker, Message, Verdict};
use hdrhistogram::Histogram;
use serde::Serialize;

/// How much of each message a verifying subscriber checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Every byte: the header, and each stream's checksum over all its bytes, compared with
    /// the one in its end marker.
    #[default]
    Full,
    /// Sequence numbers only (exactly once, in order, complete to the end marker), as the
    /// systems' own throughput samples count; the payload bytes are not read.
    Count,
}

impl VerifyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMode::Full => "full",
            VerifyMode::Count => "count",
        }
    }
}

/// Smallest verifiable message: the long form, which carries the group and the send time.
pub const MIN_SIZE: usize = argent_verify::LONG_SIZE;
/// Group ids below this keep their streams in a vector indexed by id.
const DENSE_GROUPS: u32 = 1 << 20;

/// What every message of a stream touches: 16 bytes, so the streams of thousands of groups
/// stay in cache.
#[derive(Clone, Copy)]
struct Hot {
    checker: Checker,
    sum: u64,
}
const _: () = assert!(std::mem::size_of::<Hot>() == 16);

/// What only an end marker or an order violation touches.
#[derive(Default, Clone, Copy)]
struct Cold {
    /// Indices skipped over (received = next - skipped - start).
    skipped: u64,
    /// The end marker's count and stream checksum.
    end: Option<(u64, u64)>,
    /// Late joiners: the index the stream started at for this subscriber.
    start: Option<u64>,
}

/// One stream's state, as the summary reads it.
struct Stream {
    group: u32,
    /// Late streams: whether a first message arrived.
    began: bool,
    received: u64,
    sum: u64,
    end: Option<(u64, u64)>,
    start: u64,
}

/// The streams of one publisher, by group.
struct PublisherStreams {
    publisher: u32,
    /// A stream before its first message (from index 0, or a late joiner's).
    fresh: Hot,
    /// Indexed by group id (below [`DENSE_GROUPS`]).
    hot: Vec<Hot>,
    cold: Vec<Cold>,
    sparse: std::collections::HashMap<u32, (Hot, Cold)>,
}

impl PublisherStreams {
    fn new(publisher: u32, late: bool) -> Self {
        let checker = if late { Checker::late() } else { Checker::new() };
        let fresh = Hot { checker, sum: 0 };
        PublisherStreams { publisher, fresh, hot: Vec::new(), cold: Vec::new(), sparse: Default::default() }
    }

    #[inline]
    fn hot(&mut self, group: u32) -> &mut Hot {
        if group < DENSE_GROUPS {
            let i = group as usize;
            if i >= self.hot.len() {
                self.hot.resize(i + 1, self.fresh);
            }
            &mut self.hot[i]
        } else {
            &mut self.sparse.entry(group).or_insert((self.fresh, Cold::default())).0
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
            &mut self.sparse.entry(group).or_insert((self.fresh, Cold::default())).1
        }
    }

    /// Streams that saw a message or an end marker.
    fn streams(&self) -> impl Iterator<Item = Stream> + '_ {
        let dense = (0..self.hot.len().max(self.cold.len())).map(|i| {
            let hot = self.hot.get(i).copied().unwrap_or(self.fresh);
            (i as u32, (hot, self.cold.get(i).copied().unwrap_or_default()))
        });
        dense
            .chain(self.sparse.iter().map(|(g, s)| (*g, *s)))
            .filter(|(_, (h, c))| h.checker.next() > 0 || c.end.is_some())
            .map(|(group, (h, c))| {
                let start = c.start.unwrap_or(0);
                let received = h.checker.next() - c.skipped - start;
                Stream { group, began: c.start.is_some(), received, sum: h.sum, end: c.end, start }
            })
    }

    /// Start `group`'s stream again, from whichever message arrives first.
    fn restart(&mut self, group: u32) {
        *self.hot(group) = Hot { checker: Checker::late(), sum: 0 };
        *self.cold(group) = Cold::default();
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
    late: bool,
    /// `Count`: no checksums (the payload is not read).
    mode: VerifyMode,
    /// Groups left (and maybe joined again) while running: their streams restart at each
    /// join, from whichever message arrives first.
    restarted: std::collections::BTreeSet<u32>,
    latency_us: Histogram<u64>,
    first_ns: u64,
    last_ns: u64,
    /// With [`Verifier::ordered`]: a hash of (publisher, group, index) of every message
    /// taken, in delivery order (an end marker as index `u64::MAX`): members of a
    /// total-order group must agree on it. `None`: not hashed (per-sender order only, where
    /// subscribers may interleave senders differently; it costs a few ns per message).
    order_hash: Option<u64>,
}

const ORDER_SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// Odd 64-bit multiplier of the order hash (2^64 / golden ratio).
const ORDER_MUL: u64 = 0x9e37_79b9_7f4a_7c15;

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
    /// What was checked of each message: `full` (every byte) or `count` (sequence numbers).
    pub verify: VerifyMode,
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
    /// The hash of the sequence of messages delivered (publisher, group, index, in delivery
    /// order), hexadecimal: equal at every subscriber that delivered the same sequence.
    /// Only with [`Verifier::ordered`] (a total-order node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_hash: Option<String>,
}

impl Verifier {
    /// A verifier of every stream from its first message (index 0), or, `late`, from
    /// whichever message of it arrives first.
    /// Checking `mode` of each message (`Full` unless set).
    pub fn with_mode(mut self, mode: VerifyMode) -> Self {
        self.mode = mode;
        self
    }

    pub fn new(late: bool) -> Self {
        Verifier {
            publishers: Vec::new(),
            ended: 0,
            received: 0,
            bytes: 0,
            duplicates: 0,
            order_violations: 0,
            corrupt: 0,
            wrong_group: 0,
            late,
            mode: VerifyMode::Full,
            restarted: Default::default(),
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            first_ns: 0,
            last_ns: 0,
            order_hash: None,
        }
    }

    /// Hashes the sequence delivered ([`Summary::order_hash`]): for a total-order node.
    pub fn ordered(mut self, on: bool) -> Self {
        self.order_hash = on.then_some(ORDER_SEED);
        self
    }

    #[inline]
    fn publisher<'a>(
        publishers: &'a mut Vec<PublisherStreams>,
        publisher: u32,
        late: bool,
        restarted: &std::collections::BTreeSet<u32>,
    ) -> &'a mut PublisherStreams {
        let at = match publishers.iter().position(|p| p.publisher == publisher) {
            Some(i) => i,
            None => {
                let mut p = PublisherStreams::new(publisher, late);
                for g in restarted {
                    p.restart(*g);
                }
                publishers.push(p);
                publishers.len() - 1
            }
        };
        &mut publishers[at]
    }

    /// The subscriber left `group` (it receives none of its messages from now on) and may
    /// join it again: each of its streams ends where it got to (checked message by message
    /// up to here) and, after a join, is checked again from whichever message arrives first:
    /// exactly once and in order from there, to the end marker if the group is still joined
    /// at the end.
    pub fn restart(&mut self, group: u32) {
        self.restarted.insert(group);
        for p in &mut self.publishers {
            p.restart(group);
        }
    }

    /// Of `groups`, those no publisher's end marker arrived for (at most `max`).
    pub fn without_end(&self, groups: impl Iterator<Item = u32>, max: usize) -> Vec<u32> {
        let ended: std::collections::BTreeSet<u32> = self
            .publishers
            .iter()
            .flat_map(PublisherStreams::streams)
            .filter(|s| s.end.is_some())
            .map(|s| s.group)
            .collect();
        groups.filter(|g| !ended.contains(g)).take(max).collect()
    }

    /// End markers received for the groups `joined` says the subscriber is in.
    pub fn ended_in(&self, joined: impl Fn(u32) -> bool) -> usize {
        self.publishers
            .iter()
            .flat_map(PublisherStreams::streams)
            .filter(|s| s.end.is_some() && joined(s.group))
            .count()
    }

    /// Check one message; `now` is the receive time in ns since the epoch. `from` is the
    /// publisher the message must name (the node that delivered it) and `group` the group it
    /// was delivered in; `None` accepts any.
    pub fn check(&mut self, m: &[u8], now: u64, from: Option<u32>, group: Option<u32>) {
        let read = if m.len() < MIN_SIZE { None } else { argent_verify::read(m).ok() };
        let Some(read) = read else {
            self.corrupt += 1;
            return;
        };
        let (publisher, in_group) = match &read {
            Message::Data(d) => (d.header.sender, d.header.stream),
            Message::End(e) => (e.sender, e.stream),
        };
        if from.is_some_and(|f| f != publisher) {
            self.corrupt += 1;
            return;
        }
        if group.is_some_and(|g| g != in_group) {
            self.wrong_group += 1;
            return;
        }
        let d = match read {
            Message::Data(d) => d,
            Message::End(e) => {
                let c = Self::publisher(&mut self.publishers, publisher, self.late, &self.restarted)
                    .cold(in_group);
                let first_end = c.end.is_none();
                c.end = Some((e.count, e.sum.unwrap_or(0)));
                self.ended += usize::from(first_end);
                if first_end {
                    self.hash(publisher, in_group, u64::MAX);
                }
                return;
            }
        };
        // The payload bytes are covered by the stream checksum compared at the end marker.
        if self.first_ns == 0 {
            self.first_ns = now;
        }
        self.last_ns = now;
        let index = d.header.index;
        let streams = Self::publisher(&mut self.publishers, publisher, self.late, &self.restarted);
        match streams.hot(in_group).checker.check(index) {
            Verdict::InOrder => {}
            Verdict::First => streams.cold(in_group).start = Some(index),
            Verdict::Duplicate => {
                self.duplicates += 1;
                return;
            }
            Verdict::Skipped(n) => {
                streams.cold(in_group).skipped += n;
                self.order_violations += 1;
            }
        }
        if self.mode == VerifyMode::Full {
            let s = streams.hot(in_group);
            s.sum = s.sum.wrapping_add(message_sum(m));
        }
        self.hash(publisher, in_group, index);
        self.received += 1;
        self.bytes += m.len() as u64;
        let _ = self.latency_us.record((now.saturating_sub(d.header.send_ns) / 1000).max(1));
    }

    /// Fold one message's identity into the order hash.
    /// Two multiply-rotate rounds, one per word: order-sensitive (each step depends on all
    /// before it), a few ns a message.
    #[inline]
    fn hash(&mut self, publisher: u32, group: u32, index: u64) {
        let Some(h) = &mut self.order_hash else { return };
        let who = (u64::from(publisher) << 32) | u64::from(group);
        for w in [who, index] {
            *h = (*h ^ w).wrapping_mul(ORDER_MUL).rotate_left(27);
        }
    }

    /// (publisher, group) streams whose end marker arrived.
    pub fn ended(&self) -> usize {
        self.ended
    }

    /// The verdict, given how many (publisher, group) streams must have ended.
    pub fn summary(&self, streams: usize) -> Summary {
        self.summary_in(streams, |_| true)
    }

    /// [`Verifier::summary`] for a subscriber that is in the groups `joined` says at the end:
    /// the streams of groups it left need no end marker.
    pub fn summary_in(&self, streams: usize, joined: impl Fn(u32) -> bool) -> Summary {
        let mut gaps = 0;
        let mut checksum_ok = true;
        for s in self.publishers.iter().flat_map(PublisherStreams::streams) {
            // A stream restarted at a join is checked from its first message: no checksum
            // of the whole stream.
            let partial = self.late || self.restarted.contains(&s.group);
            match s.end {
                Some((sent, sum)) if joined(s.group) => {
                    // A group joined after its last message to it has nothing to check.
                    let nothing = self.restarted.contains(&s.group) && !s.began;
                    if !nothing {
                        gaps += sent.saturating_sub(s.start).saturating_sub(s.received);
                    }
                    checksum_ok &= partial || self.mode == VerifyMode::Count || sum == s.sum;
                }
                Some(_) => {}
                None => checksum_ok &= !joined(s.group),
            }
        }
        let secs = (self.last_ns.saturating_sub(self.first_ns)) as f64 / 1e9;
        let h = &self.latency_us;
        let ended = if self.restarted.is_empty() { self.ended() } else { self.ended_in(&joined) };
        Summary {
            received: self.received,
            duplicates: self.duplicates,
            gaps,
            order_violations: self.order_violations,
            corrupt: self.corrupt,
            wrong_group: self.wrong_group,
            checksum_ok,
            verify: self.mode,
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
            order_hash: self.order_hash.map(|h| format!("{h:016x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argent_verify::{now_ns, Header};

    fn write(buf: &mut [u8], index: u64, publisher: u32, group: u32, send_ns: u64) {
        argent_verify::write(buf, Header { index, sender: publisher, stream: group, send_ns }, &[]);
    }

    fn write_end(buf: &mut [u8], publisher: u32, group: u32, sent: u64, sum: u64) {
        argent_verify::write_end(buf, sent, publisher, group, sum);
    }

    #[test]
    fn a_clean_stream_verifies_and_faults_are_counted() {
        let mut v = Verifier::new(false);
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

        let mut v = Verifier::new(false);
        for i in [0, 1, 1, 3] {
            write(&mut buf, i, 7, 3, now_ns());
            v.check(&buf, now_ns(), None, None);
        }
        buf[13] ^= 1; // the check word
        v.check(&buf, now_ns(), None, None);
        write_end(&mut buf, 7, 3, 4, 0);
        v.check(&buf, now_ns(), None, None);
        let s = v.summary(1);
        assert_eq!((s.duplicates, s.order_violations, s.corrupt, s.gaps), (1, 1, 1, 1));
        assert!(!s.verified && !s.checksum_ok);
    }

    #[test]
    fn streams_are_per_group_and_the_group_must_match_the_tag() {
        let mut v = Verifier::new(false);
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
        let mut w = Verifier::new(false);
        write_end(&mut buf, 1, 5, 0, 0);
        w.check(&buf, now_ns(), None, None);
        assert_eq!((w.received, w.ended(), w.corrupt), (0, 1, 0));
    }

    #[test]
    fn the_order_hash_tells_delivery_orders_apart_and_is_off_unless_asked() {
        let hash = |order: &[(u32, u64)], on: bool| {
            let mut v = Verifier::new(false).ordered(on);
            let mut buf = vec![0u8; 64];
            for &(publisher, index) in order {
                write(&mut buf, index, publisher, 2, now_ns());
                v.check(&buf, now_ns(), None, None);
            }
            v.summary(2).order_hash
        };
        let a = hash(&[(1, 0), (2, 0), (1, 1)], true);
        assert!(a.is_some());
        assert_eq!(a, hash(&[(1, 0), (2, 0), (1, 1)], true), "the same sequence, the same hash");
        assert_ne!(a, hash(&[(2, 0), (1, 0), (1, 1)], true), "senders interleaved differently");
        assert_ne!(a, hash(&[(1, 0), (2, 0)], true), "a message fewer");
        assert_eq!(hash(&[(1, 0)], false), None, "not hashed on a per-sender-order node");
    }

    #[test]
    fn a_flipped_payload_byte_fails_the_stream_checksum() {
        let mut v = Verifier::new(false);
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

    #[test]
    fn a_late_joiner_checks_each_stream_from_its_first_message() {
        let mut v = Verifier::new(true);
        let mut buf = vec![0u8; 48];
        for i in [40, 41, 41, 43] {
            write(&mut buf, i, 2, 9, now_ns());
            v.check(&buf, now_ns(), Some(2), Some(9));
        }
        write_end(&mut buf, 2, 9, 44, 0);
        v.check(&buf, now_ns(), Some(2), Some(9));
        let s = v.summary(1);
        assert_eq!((s.received, s.duplicates, s.order_violations, s.gaps), (3, 1, 1, 1), "{s:?}");
        assert!(s.checksum_ok && !s.verified, "a late joiner has no whole-stream checksum: {s:?}");
    }
}
