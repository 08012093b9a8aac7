//! Verifiable messages (argent_verify's layout: one stream, sender 0), the same for every
//! system, so that every figure counts only what was delivered exactly once, in order,
//! intact. Every byte is checked: the header by [`argent_verify::read`], the fill one by one.
//! The last message of a run is an end marker with the number of messages sent; a
//! subscriber is done when it sees it.

use argent_verify::{Checker, Header, Message, Verdict};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Smallest message argent-peer sends (`--size`).
pub const MIN_SIZE: usize = 24;
const _: () = assert!(MIN_SIZE >= argent_verify::MIN_SIZE);

/// The publisher's messages: `current()` is the message to send (the same until `advance()`,
/// so a system that refuses an offer under back-pressure retries the same bytes); after
/// `duration`, the end marker, then `None`.
#[derive(Debug)]
pub struct Generator {
    buf: Vec<u8>,
    next: u64,
    written: Option<u64>,
    until: Instant,
    ended: bool,
    started: Instant,
}

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
        }
    }

    /// Restart the clock: publishing starts now.
    pub fn start(&mut self) {
        let d = self.until - self.started;
        self.started = Instant::now();
        self.until = self.started + d;
    }

    /// The message to send now, or `None` once the end marker has been sent.
    pub fn current(&mut self) -> Option<&[u8]> {
        if self.ended {
            return None;
        }
        if self.written != Some(self.next) {
            // The clock is read once every 256 messages.
            if self.next % 256 == 0 && Instant::now() >= self.until {
                argent_verify::write_end(&mut self.buf, self.next, 0, 0, 0);
                self.written = Some(u64::MAX);
                return Some(&self.buf);
            }
            if self.written == Some(u64::MAX) {
                return Some(&self.buf); // the end marker, not yet accepted
            }
            let h = Header { index: self.next, send_ns: argent_verify::now_ns(), ..Header::default() };
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
    /// Bad check word, fill or length.
    pub corrupt: u64,
    /// The end marker's count, once seen.
    pub published: Option<u64>,
    #[serde(skip)]
    stream: Checker,
    #[serde(skip)]
    first: Option<Instant>,
    #[serde(skip)]
    last: Option<Instant>,
    #[serde(skip)]
    size: usize,
}

impl Verifier {
    pub fn new(size: usize) -> Verifier {
        Verifier { size, ..Verifier::default() }
    }

    pub fn check(&mut self, m: &[u8]) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        if m.len() != self.size || m.len() < MIN_SIZE {
            self.corrupt += 1;
            return;
        }
        let d = match argent_verify::read(m) {
            Ok(Message::Data(d)) if d.fill_ok() => d,
            Ok(Message::End(e)) => {
                self.published = Some(e.count);
                return;
            }
            _ => {
                self.corrupt += 1;
                return;
            }
        };
        self.last = Some(now);
        match self.stream.check(d.header.index) {
            Verdict::InOrder | Verdict::First => {}
            Verdict::Duplicate => {
                self.out_of_order += 1;
                return;
            }
            Verdict::Skipped(n) => self.gaps += n,
        }
        self.received += 1;
        self.bytes += m.len() as u64;
    }

    /// The end marker arrived.
    pub fn ended(&self) -> bool {
        self.published.is_some()
    }

    /// Every message, once, in order, intact, and the end marker.
    pub fn complete(&self) -> bool {
        self.published == Some(self.received) && self.gaps == 0 && self.out_of_order == 0 && self.corrupt == 0
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
    fn garbage_never_panics_and_is_corrupt() {
        let mut v = Verifier::new(64);
        for m in [&[][..], &[0u8; 10][..], &[0xFFu8; 64][..], &[0u8; 100][..]] {
            v.check(m);
        }
        assert_eq!(v.corrupt, 4);
        assert!(!v.ended());
    }
}
