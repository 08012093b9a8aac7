//! Receive side of one sender's stream in one region: duplicate suppression, in-order
//! delivery, gap tracking, the partition cache, and the receive-rate meter.

use crate::SeqRange;
use argent_core::Instant;
use bytes::Bytes;
use std::collections::VecDeque;

/// What happened to an arriving datagram.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Accept {
    /// New; stored for delivery.
    New,
    /// Already held or delivered.
    Duplicate,
    /// Beyond the receive window (a sender cannot be that far ahead): dropped.
    BeyondWindow,
}

/// Receiver state for one (sender, region) stream.
#[derive(Debug)]
pub(crate) struct RecvFeed {
    /// Every datagram up to here has been delivered.
    pub(crate) contiguous: u64,
    /// Highest sequence number received.
    pub(crate) max_seen: u64,
    /// Highest sequence number known to have been sent at least a round ago (from tokens
    /// and heartbeats): anything up to it that is missing counts as lost.
    pub(crate) cutoff: u64,
    /// Slot k holds datagram `contiguous + 1 + k` if it has arrived out of order.
    window: VecDeque<Option<Bytes>>,
    window_bytes: u64,
    /// Delivered datagrams this member's partition caches for peers, ascending.
    cache: VecDeque<(u64, Bytes)>,
    cache_bytes: u64,
    /// Cached copies up to here were dropped.
    pub(crate) cleanup: u64,
    /// Token visits since `contiguous` last advanced while a gap was known.
    pub(crate) stuck_visits: u32,
    stuck_at: u64,
    rate: RateMeter,
    /// Most bytes ever held (out of order plus cached).
    pub(crate) max_held: u64,
}

impl RecvFeed {
    pub(crate) fn new(now: Instant) -> Self {
        RecvFeed {
            contiguous: 0,
            max_seen: 0,
            cutoff: 0,
            window: VecDeque::new(),
            window_bytes: 0,
            cache: VecDeque::new(),
            cache_bytes: 0,
            cleanup: 0,
            stuck_visits: 0,
            stuck_at: 0,
            rate: RateMeter::new(now),
            max_held: 0,
        }
    }

    /// Store datagram `seq`. The caller then drains deliverable datagrams with
    /// [`RecvFeed::pop_deliverable`].
    pub(crate) fn accept(&mut self, seq: u64, datagram: &Bytes, window_limit: u64) -> Accept {
        if seq <= self.contiguous {
            return Accept::Duplicate;
        }
        let slot = seq - self.contiguous - 1;
        if slot >= window_limit {
            return Accept::BeyondWindow;
        }
        let slot = slot as usize; // < window_limit, which bounds memory
        if slot >= self.window.len() {
            self.window.resize(slot + 1, None);
        }
        if self.window[slot].is_some() {
            return Accept::Duplicate;
        }
        self.window_bytes += datagram.len() as u64;
        self.rate.add(datagram.len() as u64);
        self.window[slot] = Some(datagram.clone());
        self.max_held = self.max_held.max(self.held_bytes());
        self.max_seen = self.max_seen.max(seq);
        Accept::New
    }

    /// Next datagram that can be delivered in order, if any; advances `contiguous`.
    pub(crate) fn pop_deliverable(&mut self) -> Option<(u64, Bytes)> {
        match self.window.front() {
            Some(Some(_)) => {}
            _ => return None,
        }
        let datagram = self.window.pop_front().flatten()?;
        self.window_bytes -= datagram.len() as u64;
        self.contiguous += 1;
        Some((self.contiguous, datagram))
    }

    /// Keep a delivered datagram for peers (this member's partition owns it).
    pub(crate) fn cache(&mut self, seq: u64, datagram: Bytes) {
        if seq <= self.cleanup {
            return;
        }
        debug_assert!(self.cache.back().is_none_or(|(s, _)| *s < seq));
        self.cache_bytes += datagram.len() as u64;
        self.cache.push_back((seq, datagram));
        self.max_held = self.max_held.max(self.held_bytes());
    }

    /// Drop cached copies up to `cleanup` (every member holds them).
    pub(crate) fn clean(&mut self, cleanup: u64) {
        if cleanup <= self.cleanup {
            return;
        }
        self.cleanup = cleanup;
        while let Some((seq, d)) = self.cache.front() {
            if *seq > cleanup {
                break;
            }
            self.cache_bytes -= d.len() as u64;
            self.cache.pop_front();
        }
    }

    /// A copy of datagram `seq`, if this member holds one (cached or out of order).
    pub(crate) fn copy_of(&self, seq: u64) -> Option<&Bytes> {
        if seq > self.contiguous {
            let slot = usize::try_from(seq - self.contiguous - 1).ok()?;
            return self.window.get(slot)?.as_ref();
        }
        let first = self.cache.front()?.0;
        if seq < first {
            return None;
        }
        // The cache holds every `P`-th sequence number in the common case, but view changes
        // can change the stride: search.
        let idx = self.cache.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        Some(&self.cache[idx].1)
    }

    /// Gaps up to `upto`, at most `max_ranges` of them, lowest first.
    pub(crate) fn missing(&self, upto: u64, window_limit: u64, max_ranges: usize, out: &mut Vec<SeqRange>) {
        out.clear();
        let upto = upto.min(self.contiguous.saturating_add(window_limit));
        let mut seq = self.contiguous + 1;
        let mut run: Option<SeqRange> = None;
        while seq <= upto && out.len() < max_ranges {
            let slot = (seq - self.contiguous - 1) as usize; // <= window_limit
            if slot >= self.window.len() {
                // Nothing past the window is held: the rest is one gap.
                match run.as_mut() {
                    Some(r) => r.end = upto,
                    None => run = Some(SeqRange { start: seq, end: upto }),
                }
                break;
            }
            let held = self.window[slot].is_some();
            match (held, run.as_mut()) {
                (false, Some(r)) => r.end = seq,
                (false, None) => run = Some(SeqRange { start: seq, end: seq }),
                (true, Some(_)) => out.extend(run.take()),
                (true, None) => {}
            }
            seq += 1;
        }
        if out.len() < max_ranges {
            out.extend(run);
        }
    }

    /// Count a token visit for gap escalation; returns true when the lowest gap has
    /// outlasted `limit` visits.
    pub(crate) fn note_visit(&mut self, has_gap: bool, limit: u32) -> bool {
        if !has_gap || self.contiguous != self.stuck_at {
            self.stuck_at = self.contiguous;
            self.stuck_visits = 0;
            return false;
        }
        self.stuck_visits += 1;
        if self.stuck_visits < limit {
            return false;
        }
        self.stuck_visits = 0; // escalate again only after another `limit` visits
        true
    }

    /// Bytes held (out-of-order plus cached).
    pub(crate) fn held_bytes(&self) -> u64 {
        self.window_bytes + self.cache_bytes
    }

    /// Receive rate to report, KiB/s; `None` when nothing arrived since the last report.
    pub(crate) fn sample_rate(&mut self, now: Instant) -> Option<u32> {
        self.rate.sample(now)
    }
}

/// Exponentially smoothed receive rate, sampled at token visits.
#[derive(Debug)]
struct RateMeter {
    bytes: u64,
    since: Instant,
    smoothed: f64,
}

impl RateMeter {
    /// Samples shorter than this are merged into the next one.
    const MIN_SAMPLE_NANOS: u64 = 10_000_000;

    fn new(now: Instant) -> Self {
        RateMeter { bytes: 0, since: now, smoothed: 0.0 }
    }

    fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    fn sample(&mut self, now: Instant) -> Option<u32> {
        let nanos = now.saturating_duration_since(self.since).as_nanos() as u64;
        if nanos < Self::MIN_SAMPLE_NANOS {
            return (self.smoothed > 0.0).then(|| to_kib(self.smoothed));
        }
        let bytes = std::mem::take(&mut self.bytes);
        self.since = now;
        if bytes == 0 {
            return None;
        }
        let rate = bytes as f64 * 1e9 / nanos as f64;
        self.smoothed = if self.smoothed == 0.0 { rate } else { 0.5 * self.smoothed + 0.5 * rate };
        Some(to_kib(self.smoothed))
    }
}

fn to_kib(bytes_per_sec: f64) -> u32 {
    (bytes_per_sec / 1024.0).clamp(1.0, u32::MAX as f64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Bytes {
        Bytes::from(vec![n; 10])
    }

    #[test]
    fn delivers_in_order_and_suppresses_duplicates() {
        let mut f = RecvFeed::new(Instant::ZERO);
        assert_eq!(f.accept(2, &d(2), 16), Accept::New);
        assert!(f.pop_deliverable().is_none());
        assert_eq!(f.accept(2, &d(2), 16), Accept::Duplicate);
        assert_eq!(f.accept(1, &d(1), 16), Accept::New);
        assert_eq!(f.pop_deliverable().map(|x| x.0), Some(1));
        assert_eq!(f.pop_deliverable().map(|x| x.0), Some(2));
        assert!(f.pop_deliverable().is_none());
        assert_eq!(f.accept(1, &d(1), 16), Accept::Duplicate);
        assert_eq!(f.accept(19, &d(19), 16), Accept::BeyondWindow);
        assert_eq!(f.held_bytes(), 0);
    }

    #[test]
    fn missing_ranges_include_the_tail_up_to_cutoff() {
        let mut f = RecvFeed::new(Instant::ZERO);
        for s in [1, 3, 4, 7] {
            f.accept(s, &d(s as u8), 64);
        }
        while f.pop_deliverable().is_some() {}
        let mut out = Vec::new();
        f.missing(10, 64, 20, &mut out);
        assert_eq!(
            out,
            vec![
                SeqRange { start: 2, end: 2 },
                SeqRange { start: 5, end: 6 },
                SeqRange { start: 8, end: 10 }
            ]
        );
        f.missing(10, 64, 2, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn cache_serves_copies_until_cleanup() {
        let mut f = RecvFeed::new(Instant::ZERO);
        for s in 1..=6 {
            f.accept(s, &d(s as u8), 64);
        }
        while let Some((s, dg)) = f.pop_deliverable() {
            if s % 2 == 0 {
                f.cache(s, dg);
            }
        }
        assert!(f.copy_of(4).is_some());
        assert!(f.copy_of(3).is_none());
        f.clean(4);
        assert!(f.copy_of(4).is_none());
        assert!(f.copy_of(6).is_some());
        assert_eq!(f.held_bytes(), 10);
    }
}
