//! Verifiable messages (argent_verify's layout: one stream per publisher, the publisher's
//! index as the sender), the same for every system, so that every figure counts only what
//! was delivered exactly once, in order, intact. Every byte is checked: the header by
//! [`argent_verify::read`], the fill one by one. Each publisher's last message is an end
//! marker with the number of messages it sent; a subscriber is done when it has seen every
//! publisher's. With several publishers each stream is checked on its own, as `argent sub`
//! checks them: one [`Checker`] per sender.
//!
//! A total-order system's subscribers also hash the sequence they delivered (every
//! message's identity, in delivery order: [`OrderHash`]); equal hashes on every subscriber
//! mean that they delivered the same messages in the same order.

use argent_verify::{Checker, Header, Message, Verdict};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Smallest message argent-peer sends (`--size`).
pub const MIN_SIZE: usize = 24;
const _: () = assert!(MIN_SIZE >= argent_verify::MIN_SIZE);

/// The publisher's messages: `current()` is the message to send (the same until `advance()`,
/// so a system that refuses an offer under back-pressure retries the same bytes); after
/// `duration`, the end marker, then `None`. Paced (`with_rate`), message n is due n / rate
/// seconds after the start and carries that scheduled time as its send time, so that a late
/// sender's delay counts in the latency (no coordinated omission).
#[derive(Debug)]
pub struct Generator {
    buf: Vec<u8>,
    next: u64,
    written: Option<u64>,
    until: Instant,
    ended: bool,
    started: Instant,
    /// `started` on the messages' clock (`argent_verify::now_ns`).
    started_ns: u64,
    /// Messages per second, if paced.
    rate: Option<f64>,
    /// Unpaced: the send time stamped on messages, read once every [`STAMP_EVERY`] (as
    /// `argent pub` does: a clock read per 64-byte message was a fifth of a publisher's work).
    stamp: u64,
    /// The publisher's index, every message's sender (0 with one publisher).
    sender: u32,
}

/// Unpaced messages share one clock reading per this many.
const STAMP_EVERY: u64 = 16;

impl Generator {
    pub fn new(size: usize, duration: Duration) -> Generator {
        let now = Instant::now();
        Generator {
            buf: vec![0; size],
            next: 0,
            written: None,
            until: now + duration,
            ended: false,
            started: now,
            started_ns: argent_verify::now_ns(),
            rate: None,
            stamp: 0,
            sender: 0,
        }
    }

    /// Messages of publisher `sender` (its index in the run).
    pub fn with_sender(mut self, sender: u32) -> Generator {
        self.sender = sender;
        self
    }

    /// Paced at `rate` messages per second (`None`: as fast as the system takes them).
    pub fn with_rate(mut self, rate: Option<f64>) -> Generator {
        self.rate = rate.filter(|r| *r > 0.0);
        self
    }

    /// Restart the clock: publishing starts now.
    pub fn start(&mut self) {
        let d = self.until - self.started;
        self.started = Instant::now();
        self.started_ns = argent_verify::now_ns();
        self.until = self.started + d;
    }

    /// Paced: how long until the next message is due, if it is not due yet (a message
    /// already handed out by `current()` is due). Unpaced: `None`.
    pub fn due_in(&self) -> Option<Duration> {
        let rate = self.rate?;
        if self.ended || self.written.is_some_and(|w| w == self.next || w == u64::MAX) {
            return None;
        }
        // On the messages' own clock, so that a message is never sent before its stamp
        // (scheduling on `Instant` sent some a few µs early by the wall clock on this host).
        let (at, now) = (self.scheduled_ns(rate), argent_verify::now_ns());
        (at > now).then(|| Duration::from_nanos(at - now))
    }

    /// Paced: when message `next` is due.
    fn scheduled_ns(&self, rate: f64) -> u64 {
        self.started_ns + (self.next as f64 / rate * 1e9) as u64
    }

    /// The send time message `next` carries: now (read once every [`STAMP_EVERY`]
    /// messages), or paced, its scheduled time.
    fn send_ns(&mut self) -> u64 {
        match self.rate {
            Some(rate) => self.scheduled_ns(rate),
            None => {
                if self.next % STAMP_EVERY == 0 {
                    self.stamp = argent_verify::now_ns();
                }
                self.stamp
            }
        }
    }

    /// The message to send now, or `None` once the end marker has been sent.
    pub fn current(&mut self) -> Option<&[u8]> {
        if self.ended {
            return None;
        }
        if self.written != Some(self.next) {
            // The clock is read once every 256 messages (paced: every message, which waits
            // for its time anyway; at 10 msgs/s 256 messages would take 25.6 s).
            if (self.rate.is_some() || self.next % 256 == 0) && Instant::now() >= self.until {
                argent_verify::write_end(&mut self.buf, self.next, self.sender, 0, 0);
                self.written = Some(u64::MAX);
                return Some(&self.buf);
            }
            if self.written == Some(u64::MAX) {
                return Some(&self.buf); // the end marker, not yet accepted
            }
            let h = Header {
                index: self.next,
                send_ns: self.send_ns(),
                sender: self.sender,
                ..Header::default()
            };
            argent_verify::write(&mut self.buf, h, &[]);
            self.written = Some(self.next);
        }
        Some(&self.buf)
    }

    /// The current message was accepted.
    pub fn advance(&mut self) {
        match self.written {
            Some(u64::MAX) => self.ended = true,
            Some(n) if n == self.next => self.next += 1,
            _ => {}
        }
    }

    /// Whether `current()` returned the end marker.
    pub fn at_end(&self) -> bool {
        self.written == Some(u64::MAX)
    }

    /// Messages sent (accepted), the end marker not counted.
    pub fn sent(&self) -> u64 {
        self.next
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What a subscriber checks of every message it is given.
#[derive(Debug, Default, Serialize)]
pub struct Verifier {
    /// Messages in order, intact.
    pub received: u64,
    pub bytes: u64,
    /// Messages skipped (a later index arrived first).
    pub gaps: u64,
    /// Indexes at or below one already seen (duplicates or reordering).
    pub out_of_order: u64,
    /// Bad check word, fill or length, or a sender that is not one of the run's publishers.
    pub corrupt: u64,
    /// Messages sent, from the end markers: once every publisher's has arrived, their sum.
    pub published: Option<u64>,
    /// With several publishers: each one's end marker count (`null` until it arrives).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_by: Option<Vec<Option<u64>>>,
    /// One stream per publisher, indexed by sender.
    #[serde(skip)]
    streams: Vec<Checker>,
    #[serde(skip)]
    ends: Vec<Option<u64>>,
    /// Latency of the messages taken, from their send time (paced: their scheduled one)
    /// to their check, microseconds.
    #[serde(skip)]
    latency: Latency,
    #[serde(skip)]
    first: Option<Instant>,
    #[serde(skip)]
    last: Option<Instant>,
    #[serde(skip)]
    size: usize,
    /// Only the header's sequence number (no fill check): `--verify count`.
    #[serde(skip)]
    count_only: bool,
    /// A total-order system: the hash of the delivery sequence.
    #[serde(skip)]
    order: Option<OrderHash>,
}

impl Verifier {
    /// A verifier of one publisher's messages of `size` bytes.
    pub fn new(size: usize) -> Verifier {
        Verifier { size, streams: vec![Checker::new()], ends: vec![None], ..Verifier::default() }
    }

    /// Checking sequence numbers only, not the fill (`--verify count`).
    pub fn counting(mut self, count_only: bool) -> Verifier {
        self.count_only = count_only;
        self
    }

    /// Messages of `n` publishers (senders 0..n), each stream checked on its own.
    pub fn publishers(mut self, n: usize) -> Verifier {
        let n = n.max(1);
        self.streams = vec![Checker::new(); n];
        self.ends = vec![None; n];
        self.published_by = (n > 1).then(|| vec![None; n]);
        self
    }

    /// Hashing the delivery sequence ([`Verifier::order_hash`]): a total-order system.
    pub fn ordering(mut self, on: bool) -> Verifier {
        self.order = on.then(OrderHash::default);
        self
    }

    pub fn check(&mut self, m: &[u8]) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        if m.len() != self.size || m.len() < MIN_SIZE {
            self.corrupt += 1;
            return;
        }
        let d = match argent_verify::read(m) {
            Ok(Message::Data(d)) if self.count_only || d.fill_ok() => d,
            Ok(Message::End(e)) => {
                let Some(end) = self.ends.get_mut(e.sender as usize) else {
                    self.corrupt += 1;
                    return;
                };
                *end = Some(e.count);
                if let Some(o) = &mut self.order {
                    o.add(e.sender, e.count, true);
                }
                if let Some(by) = &mut self.published_by {
                    by[e.sender as usize] = Some(e.count);
                }
                self.published = self.ends.iter().copied().sum();
                return;
            }
            _ => {
                self.corrupt += 1;
                return;
            }
        };
        let h = d.header;
        let Some(stream) = self.streams.get_mut(h.sender as usize) else {
            self.corrupt += 1;
            return;
        };
        if let Some(o) = &mut self.order {
            o.add(h.sender, h.index, false);
        }
        self.last = Some(now);
        match stream.check(h.index) {
            Verdict::InOrder | Verdict::First => {}
            Verdict::Duplicate => {
                self.out_of_order += 1;
                return;
            }
            Verdict::Skipped(n) => self.gaps += n,
        }
        self.received += 1;
        self.bytes += m.len() as u64;
        let now_ns = argent_verify::now_ns();
        self.latency.record(now_ns.saturating_sub(h.send_ns) / 1_000);
    }

    /// Latency percentiles, microseconds: (p50, p99, p99.9, max).
    pub fn latency_us(&self) -> [u64; 4] {
        self.latency.percentiles()
    }

    /// Every publisher's end marker arrived.
    pub fn ended(&self) -> bool {
        self.published.is_some()
    }

    /// Every message of every publisher, once, in order, intact, and every end marker.
    pub fn complete(&self) -> bool {
        let all = self.streams.iter().zip(&self.ends).all(|(s, e)| Some(s.next()) == *e);
        all && self.published == Some(self.received)
            && self.gaps == 0
            && self.out_of_order == 0
            && self.corrupt == 0
    }

    /// The hash of the delivery sequence, 16 hex digits (with [`Verifier::ordering`]).
    pub fn order_hash(&self) -> Option<String> {
        self.order.as_ref().map(|o| format!("{:016x}", o.0))
    }

    /// Seconds from the first message to the last.
    pub fn secs(&self) -> f64 {
        match (self.first, self.last) {
            (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// Since the last message (or the first arrival of anything).
    pub fn idle(&self) -> Option<Duration> {
        self.last.or(self.first).map(|t| t.elapsed())
    }
}

/// FNV-1a (64-bit) over the identity of every message delivered, in delivery order: its
/// sender (4 bytes, little-endian) and index (8 bytes; an end marker's count with the top
/// bit set). Duplicates and gaps are hashed as delivered, so that two subscribers have the
/// same hash only if they delivered the same sequence (up to a collision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderHash(u64);

impl Default for OrderHash {
    fn default() -> Self {
        OrderHash(0xcbf2_9ce4_8422_2325) // the FNV offset basis
    }
}

impl OrderHash {
    fn add(&mut self, sender: u32, index: u64, end: bool) {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let index = if end { index | 1 << 63 } else { index };
        for b in sender.to_le_bytes().into_iter().chain(index.to_le_bytes()) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }
}

/// A latency histogram, microseconds (1 µs to 100 s, 3 significant digits).
#[derive(Debug)]
struct Latency(hdrhistogram::Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(hdrhistogram::Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds"))
    }
}

impl Latency {
    fn record(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    fn percentiles(&self) -> [u64; 4] {
        let h = &self.0;
        if h.is_empty() {
            return [0; 4];
        }
        [h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.value_at_quantile(0.999), h.max()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(size: usize, n: u64) -> Vec<Vec<u8>> {
        let mut g = Generator::new(size, Duration::from_secs(3600));
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(g.current().unwrap().to_vec());
            g.advance();
        }
        g.until = Instant::now();
        // The end marker comes at the next multiple of 256.
        while let Some(m) = g.current() {
            out.push(m.to_vec());
            g.advance();
        }
        out
    }

    #[test]
    fn a_clean_run_is_complete_and_faults_are_counted() {
        let msgs = run(64, 300);
        assert_eq!(msgs.len(), 513, "256-message clock granularity, then the marker");
        let mut v = Verifier::new(64);
        msgs.iter().for_each(|m| v.check(m));
        assert!(v.complete(), "{v:?}");
        assert_eq!(v.received, 512);

        let mut v = Verifier::new(64);
        for (i, m) in msgs.iter().enumerate() {
            match i {
                5 => {}
                9 => {
                    v.check(m);
                    v.check(m)
                }
                20 => {
                    let mut bad = m.clone();
                    bad[40] ^= 1;
                    v.check(&bad);
                }
                _ => v.check(m),
            }
        }
        assert!(!v.complete());
        assert_eq!((v.gaps, v.out_of_order, v.corrupt), (2, 1, 1), "{v:?}");
    }

    #[test]
    fn a_refused_offer_retries_the_same_bytes() {
        let mut g = Generator::new(32, Duration::from_secs(60));
        let a = g.current().unwrap().to_vec();
        let b = g.current().unwrap().to_vec();
        assert_eq!(a, b);
        g.advance();
        assert_ne!(g.current().unwrap(), &a[..]);
        assert_eq!(g.sent(), 1);
    }

    #[test]
    fn a_paced_generator_waits_and_stamps_scheduled_times() {
        let mut g = Generator::new(64, Duration::from_secs(60)).with_rate(Some(1000.0));
        g.start();
        let mut stamps = Vec::new();
        for _ in 0..5 {
            if let Some(w) = g.due_in() {
                std::thread::sleep(w);
            }
            assert!(g.due_in().is_none(), "due after waiting");
            let m = g.current().unwrap().to_vec();
            let Ok(Message::Data(d)) = argent_verify::read(&m) else { panic!("a data message") };
            stamps.push(d.header.send_ns);
            assert!(argent_verify::now_ns() >= d.header.send_ns, "stamped in the past, never the future");
            g.advance();
        }
        let gaps: Vec<u64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g.abs_diff(1_000_000) < 1_000), "1 ms apart: {gaps:?}");
        // The next message is due 1 ms after the last: checked 3 ms after it was due.
        std::thread::sleep(g.due_in().unwrap_or_default() + Duration::from_millis(3));
        let m = g.current().unwrap().to_vec();
        let mut v = Verifier::new(64);
        v.check(&m);
        let [p50, ..] = v.latency_us();
        assert!((3_000..4_000).contains(&p50), "{p50} µs: the message waited 3 ms");
    }

    /// Publisher `sender`'s messages, `n` of them then its end marker.
    fn stream(sender: u32, n: u64) -> Vec<Vec<u8>> {
        let mut g = Generator::new(64, Duration::from_secs(3600)).with_sender(sender);
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(g.current().unwrap().to_vec());
            g.advance();
        }
        let mut end = vec![0; 64];
        argent_verify::write_end(&mut end, n, sender, 0, 0);
        out.push(end);
        out
    }

    #[test]
    fn several_publishers_are_checked_stream_by_stream() {
        let (a, b) = (stream(0, 3), stream(1, 2));
        // Interleaved: each stream in order, complete once both end markers are in.
        let mut v = Verifier::new(64).publishers(2);
        for m in [&a[0], &b[0], &a[1], &a[2], &b[1], &a[3]] {
            v.check(m);
        }
        assert!(!v.ended() && v.published.is_none(), "one end marker of two: {v:?}");
        v.check(&b[2]);
        assert!(v.complete(), "{v:?}");
        assert_eq!(
            (v.received, v.published, v.published_by.clone()),
            (5, Some(5), Some(vec![Some(3), Some(2)]))
        );
        // A message lost from one stream is a gap even when the total matches.
        let mut v = Verifier::new(64).publishers(2);
        for m in [&a[0], &a[2], &b[0], &b[1], &a[3], &b[2]] {
            v.check(m);
        }
        assert!(!v.complete() && v.gaps == 1, "{v:?}");
        // A sender outside the run is corrupt; one publisher's summary has no published_by.
        let mut v = Verifier::new(64);
        v.check(&b[0]);
        assert_eq!(v.corrupt, 1);
        assert!(serde_json::to_value(&v).unwrap().get("published_by").is_none());
    }

    #[test]
    fn the_order_hash_tells_delivery_orders_apart() {
        let (a, b) = (stream(0, 2), stream(1, 2));
        let hash = |msgs: &[&Vec<u8>]| {
            let mut v = Verifier::new(64).publishers(2).ordering(true);
            msgs.iter().for_each(|m| v.check(m));
            v.order_hash().unwrap()
        };
        let one = hash(&[&a[0], &b[0], &a[1], &b[1], &a[2], &b[2]]);
        assert_eq!(one, hash(&[&a[0], &b[0], &a[1], &b[1], &a[2], &b[2]]), "the same sequence");
        assert_eq!(one.len(), 16);
        // Both are complete, FIFO per stream: only the interleaving differs.
        assert_ne!(one, hash(&[&b[0], &a[0], &a[1], &b[1], &a[2], &b[2]]));
        assert_ne!(one, hash(&[&a[0], &b[0], &a[1], &b[1], &b[2], &a[2]]), "end markers count");
        assert_ne!(one, hash(&[&a[0], &a[0], &b[0], &a[1], &b[1], &a[2], &b[2]]), "a duplicate");
        assert_eq!(Verifier::new(64).order_hash(), None, "not a total-order system");
    }

    #[test]
    fn garbage_never_panics_and_is_corrupt() {
        let mut v = Verifier::new(64);
        for m in [&[][..], &[0u8; 10][..], &[0xFFu8; 64][..], &[0u8; 100][..]] {
            v.check(m);
        }
        assert_eq!(v.corrupt, 4);
        assert!(!v.ended());
    }
}
