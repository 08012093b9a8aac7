//! Receive side of one sender's stream in one region: the join point (anchoring), duplicate
//! suppression, in-order delivery, gap tracking, the partition cache, the receive-rate meter,
//! and retirement of a departed sender's stream.

use crate::invariant::{invariant, CHECKED};
use argent_core::Instant;
use argent_wire::SeqRange;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

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

/// A stream whose sender has left the system: survivors repair among themselves, then the
/// stream is retired (see `RecvFeed::departure_visit`).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Departing {
    /// Token visits since the departure was noted.
    visits: u32,
    /// Consecutive visits without progress (neither the region-wide cleanup point nor this
    /// member's contiguous number advanced).
    stalled: u32,
    best_cleanup: u64,
    best_contiguous: u64,
}

/// Receiver state for one (sender, region) stream.
#[derive(Debug)]
pub(crate) struct RecvFeed {
    /// Whether the join point is known. A new stream starts unanchored: its datagrams are
    /// held in `early` until the sender says where the stream starts for this member.
    pub(crate) anchored: bool,
    /// Datagrams held while unanchored, by sequence number (at most one window of them).
    early: BTreeMap<u64, Bytes>,
    early_bytes: u64,
    /// While unanchored: when to ask the sender for the join point again.
    pub(crate) ask_at: Instant,
    /// The sender has departed: the stream is being wound down.
    pub(crate) departing: Option<Departing>,
    /// Every datagram up to here has been delivered (or precedes the join point).
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
    /// A stream first seen now, unanchored.
    pub(crate) fn new(now: Instant) -> Self {
        RecvFeed {
            anchored: false,
            early: BTreeMap::new(),
            early_bytes: 0,
            ask_at: now,
            departing: None,
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

    /// The feed's relations: before the join point is known only held datagrams exist (no
    /// window, no cache, nothing delivered); after, nothing is held early; the window and
    /// early datagrams stay within `window_limit`; what was delivered was seen; the cache
    /// holds delivered datagrams above the cleanup point, ascending. With `deep`, the byte
    /// counts are recomputed (a pass over what is held: at token visits only).
    pub(crate) fn check(&self, window_limit: u64, deep: bool) {
        if self.anchored {
            invariant!(
                self.early.is_empty() && self.early_bytes == 0,
                "recv feed: datagrams held early after anchoring"
            );
            invariant!(
                self.contiguous <= self.max_seen,
                "recv feed: delivered up to {} but saw only {}",
                self.contiguous,
                self.max_seen
            );
        } else {
            invariant!(
                self.window.is_empty() && self.cache.is_empty() && self.contiguous == 0,
                "recv feed: delivery state before the join point is known"
            );
        }
        invariant!(
            self.window.len() as u64 <= window_limit && self.early.len() as u64 <= window_limit,
            "recv feed: {} in the window, {} early, window {window_limit}",
            self.window.len(),
            self.early.len()
        );
        let (first, last) = (self.cache.front().map(|c| c.0), self.cache.back().map(|c| c.0));
        invariant!(
            first.is_none_or(|f| f > self.cleanup) && last.is_none_or(|l| l <= self.contiguous),
            "recv feed: cache {first:?}..={last:?} outside ({}, {}]",
            self.cleanup,
            self.contiguous
        );
        if deep && CHECKED {
            let sum = |it: &mut dyn Iterator<Item = &Bytes>| it.map(|d| d.len() as u64).sum::<u64>();
            let window = sum(&mut self.window.iter().flatten());
            let cache = sum(&mut self.cache.iter().map(|(_, d)| d));
            let early = sum(&mut self.early.values());
            invariant!(
                (window, cache, early) == (self.window_bytes, self.cache_bytes, self.early_bytes),
                "recv feed: held {window}/{cache}/{early} bytes, counted {}/{}/{}",
                self.window_bytes,
                self.cache_bytes,
                self.early_bytes
            );
            invariant!(
                self.cache.iter().zip(self.cache.iter().skip(1)).all(|(a, b)| a.0 < b.0),
                "recv feed: cache not ascending"
            );
        }
    }

    /// Store datagram `seq`. The caller then drains deliverable datagrams with
    /// [`RecvFeed::pop_deliverable`].
    pub(crate) fn accept(&mut self, seq: u64, datagram: &Bytes, window_limit: u64) -> Accept {
        if !self.anchored {
            return self.accept_early(seq, datagram, window_limit);
        }
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

    /// Hold a datagram of an unanchored stream: at most `window_limit` of them, the lowest
    /// sequence numbers (the join point lies below what the sender sends now, and the sender
    /// cannot run more than a window ahead of what the region acknowledged).
    fn accept_early(&mut self, seq: u64, datagram: &Bytes, window_limit: u64) -> Accept {
        if self.early.contains_key(&seq) {
            return Accept::Duplicate;
        }
        if self.early.len() as u64 >= window_limit {
            match self.early.last_key_value() {
                Some((&last, _)) if last > seq => {
                    if let Some((_, d)) = self.early.pop_last() {
                        self.early_bytes -= d.len() as u64;
                    }
                }
                _ => return Accept::BeyondWindow,
            }
        }
        self.early_bytes += datagram.len() as u64;
        self.rate.add(datagram.len() as u64);
        self.early.insert(seq, datagram.clone());
        self.max_held = self.max_held.max(self.held_bytes());
        self.max_seen = self.max_seen.max(seq);
        Accept::New
    }

    /// The sender says the stream starts after `base` for this member: drop what was held up
    /// to it and take the rest into the receive window. Returns the number of held datagrams
    /// that did not fit the window (dropped; they are repaired later).
    pub(crate) fn anchor(&mut self, base: u64, window_limit: u64) -> u64 {
        if self.anchored {
            return 0;
        }
        self.anchored = true;
        self.contiguous = base;
        self.stuck_at = base;
        self.max_seen = self.max_seen.max(base);
        self.cutoff = self.cutoff.max(base);
        // The cleanup point stays: it is region-wide (every member holds the stream up to
        // it), and a member that has been receiving the stream longer may lack datagrams
        // before this member's join point. A leader seeds its rounds with its feeds' cleanup
        // points: from the join point, members would drop copies another still lacks.
        let early = std::mem::take(&mut self.early);
        self.early_bytes = 0;
        let mut beyond = 0;
        for (seq, d) in early.range(base.saturating_add(1)..) {
            let slot = seq - base - 1;
            if slot >= window_limit {
                beyond += 1;
                continue;
            }
            let slot = slot as usize; // < window_limit
            if slot >= self.window.len() {
                self.window.resize(slot + 1, None);
            }
            self.window_bytes += d.len() as u64;
            self.window[slot] = Some(d.clone());
        }
        beyond
    }

    /// Datagrams of this stream known to exist (up to `known`, or held) that were not
    /// delivered: what retiring it now leaves undelivered.
    pub(crate) fn undelivered(&self, known: u64) -> u64 {
        if !self.anchored {
            return self.early.len() as u64;
        }
        known.max(self.cutoff).max(self.max_seen).saturating_sub(self.contiguous)
    }

    /// The sender departed: wind the stream down from now on.
    pub(crate) fn depart(&mut self) {
        if self.departing.is_none() {
            self.departing = Some(Departing {
                best_cleanup: self.cleanup,
                best_contiguous: self.contiguous,
                ..Departing::default()
            });
        }
    }

    /// A token visit to a departing stream, after this member's repair work. `cleanup` is
    /// the region-wide contiguous point of the last completed round (the token's), `known`
    /// the highest sequence number anyone reported. Returns true when the stream is to be
    /// retired now: after at least two visits, when the whole region has everything known
    /// (nothing left to repair), or after `stall_limit` visits in which neither the region
    /// nor this member made progress (nobody can supply what is missing).
    pub(crate) fn departure_visit(&mut self, cleanup: u64, known: u64, stall_limit: u32) -> bool {
        let Some(d) = self.departing.as_mut() else { return false };
        d.visits = d.visits.saturating_add(1);
        if cleanup > d.best_cleanup || self.contiguous > d.best_contiguous {
            d.best_cleanup = d.best_cleanup.max(cleanup);
            d.best_contiguous = d.best_contiguous.max(self.contiguous);
            d.stalled = 0;
        } else {
            d.stalled = d.stalled.saturating_add(1);
        }
        let target = known.max(self.cutoff).max(self.max_seen);
        let complete = d.visits >= 2 && cleanup >= target && self.contiguous >= target;
        complete || d.stalled >= stall_limit
    }

    /// Next datagram that can be delivered in order, if any; advances `contiguous`. A
    /// datagram sent in a view after `view` (the region view installed here) waits until
    /// this member installs that view too, so that every datagram is delivered in the view it
    /// was sent in or a later one: the receiving side of a group's join point. It counts as
    /// held, not missing (nothing is repaired for it), and the region's acknowledgement
    /// waits for it, so what waits is bounded by the sender's window.
    pub(crate) fn pop_deliverable(&mut self, view: u64) -> Option<(u64, Bytes)> {
        match self.window.front() {
            Some(Some(d)) if argent_wire::view_of(d) <= view => {}
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

    /// Raise the cut-off (the highest sequence number known to exist) to `highest`, at most
    /// one window past the contiguous point: no sender runs further ahead of a member, so a
    /// larger value (a buggy member's) would only keep rounds busy repairing what was never
    /// sent. Counted in `Stats::clamped`.
    pub(crate) fn raise_cutoff(&mut self, highest: u64, window: u64, io: &mut crate::io::Io) {
        let bound = self.contiguous.saturating_add(window);
        if highest > bound && self.anchored {
            io.stats.clamped += 1;
        }
        self.cutoff = self.cutoff.max(highest.min(bound));
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
        if !self.anchored {
            return self.early.get(&seq);
        }
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

    /// Gaps up to `upto`, at most `max_ranges` of them, lowest first (none while unanchored:
    /// nothing is known to be missing before the join point is).
    pub(crate) fn missing(&self, upto: u64, window_limit: u64, max_ranges: usize, out: &mut Vec<SeqRange>) {
        out.clear();
        if !self.anchored {
            return;
        }
        let upto = upto.min(self.contiguous.saturating_add(window_limit));
        let Some(mut seq) = self.contiguous.checked_add(1) else { return };
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
            let Some(next) = seq.checked_add(1) else { break };
            seq = next;
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

    /// Bytes held (out-of-order, cached, and held before the join point is known).
    pub(crate) fn held_bytes(&self) -> u64 {
        self.window_bytes + self.cache_bytes + self.early_bytes
    }

    /// Receive rate to report, KiB/s; `None` when nothing arrived since the last report.
    pub(crate) fn sample_rate(&mut self, now: Instant) -> Option<u32> {
        self.rate.sample(now)
    }
}

/// Exponentially smoothed rate: a receiver's, sampled at token visits, and a sender's own,
/// sampled at acknowledgements.
#[derive(Debug)]
pub(crate) struct RateMeter {
    bytes: u64,
    since: Instant,
    smoothed: f64,
}

impl RateMeter {
    /// Samples shorter than this are merged into the next one.
    const MIN_SAMPLE_NANOS: u64 = 10_000_000;

    pub(crate) fn new(now: Instant) -> Self {
        RateMeter { bytes: 0, since: now, smoothed: 0.0 }
    }

    pub(crate) fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    pub(crate) fn sample(&mut self, now: Instant) -> Option<u32> {
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

    /// A feed whose stream starts at the beginning.
    fn from_start() -> RecvFeed {
        let mut f = RecvFeed::new(Instant::ZERO);
        f.anchor(0, 64);
        f
    }

    #[test]
    fn unanchored_feeds_hold_until_the_join_point_is_known() {
        let mut f = RecvFeed::new(Instant::ZERO);
        for s in [7, 5, 9, 6] {
            assert_eq!(f.accept(s, &d(s as u8), 3), Accept::New);
            assert!(f.pop_deliverable(u64::MAX).is_none(), "nothing is delivered before the join point");
        }
        // At most a window of the lowest sequence numbers is kept: 9 was evicted for 6.
        assert_eq!(f.accept(5, &d(5), 3), Accept::Duplicate);
        assert_eq!(f.accept(10, &d(10), 3), Accept::BeyondWindow);
        assert!(f.copy_of(9).is_none() && f.copy_of(6).is_some());
        let mut out = Vec::new();
        f.missing(100, 3, 20, &mut out);
        assert!(out.is_empty(), "nothing is known missing while unanchored");
        assert_eq!(f.undelivered(100), 3);
        assert_eq!(f.held_bytes(), 30);
        // The stream starts after 5 for this member: 5 is dropped, 6 and 7 delivered.
        assert_eq!(f.anchor(5, 3), 0);
        assert_eq!(f.pop_deliverable(u64::MAX).map(|x| x.0), Some(6));
        assert_eq!(f.pop_deliverable(u64::MAX).map(|x| x.0), Some(7));
        assert!(f.pop_deliverable(u64::MAX).is_none());
        assert_eq!(f.accept(5, &d(5), 3), Accept::Duplicate);
        assert_eq!(f.held_bytes(), 0);
        assert_eq!(f.anchor(0, 3), 0, "anchoring twice changes nothing");
        assert_eq!(f.contiguous, 7);
    }

    #[test]
    fn anchoring_leaves_the_cleanup_point_to_the_region() {
        // A member that joined after 9 holds nothing before it, but others may lack 6..=9:
        // a leader seeds its rounds' cleanup point with this one.
        let mut f = RecvFeed::new(Instant::ZERO);
        f.anchor(9, 64);
        assert_eq!((f.contiguous, f.cleanup), (9, 0));
        assert_eq!(f.accept(10, &d(10), 64), Accept::New);
        assert_eq!(f.pop_deliverable(u64::MAX).map(|x| x.0), Some(10));
        f.cache(10, d(10));
        f.check(64, true);
        assert!(f.copy_of(10).is_some());
        f.clean(10);
        assert!(f.copy_of(10).is_none());
    }

    #[test]
    fn anchoring_at_the_top_of_the_sequence_space_does_not_overflow() {
        let mut f = RecvFeed::new(Instant::ZERO);
        f.anchor(u64::MAX - 2, 16);
        assert_eq!(f.accept(u64::MAX, &d(1), 16), Accept::New);
        let mut out = Vec::new();
        f.missing(u64::MAX, 16, 20, &mut out);
        assert_eq!(out, vec![SeqRange { start: u64::MAX - 1, end: u64::MAX - 1 }]);
        assert_eq!(f.accept(u64::MAX - 1, &d(2), 16), Accept::New);
        while f.pop_deliverable(u64::MAX).is_some() {}
        assert_eq!(f.contiguous, u64::MAX);
        f.missing(u64::MAX, 16, 20, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_departing_stream_retires_when_complete_or_stalled() {
        let mut f = from_start();
        for s in 1..=4 {
            f.accept(s, &d(s as u8), 64);
        }
        while f.pop_deliverable(u64::MAX).is_some() {}
        f.depart();
        // Everyone has everything: retire at the second visit (one full round after).
        assert!(!f.departure_visit(4, 4, 10));
        assert!(f.departure_visit(4, 4, 10));

        let mut g = from_start();
        g.accept(1, &d(1), 64);
        g.accept(3, &d(3), 64);
        while g.pop_deliverable(u64::MAX).is_some() {}
        g.depart();
        assert!(!g.departure_visit(1, 3, 3), "progress of the region's cleanup point");
        assert!(!g.departure_visit(1, 3, 3));
        assert!(!g.departure_visit(1, 3, 3));
        assert!(g.departure_visit(1, 3, 3), "three visits without progress");
        assert_eq!(g.undelivered(3), 2);
    }

    #[test]
    fn delivers_in_order_and_suppresses_duplicates() {
        let mut f = from_start();
        assert_eq!(f.accept(2, &d(2), 16), Accept::New);
        assert!(f.pop_deliverable(u64::MAX).is_none());
        assert_eq!(f.accept(2, &d(2), 16), Accept::Duplicate);
        assert_eq!(f.accept(1, &d(1), 16), Accept::New);
        assert_eq!(f.pop_deliverable(u64::MAX).map(|x| x.0), Some(1));
        assert_eq!(f.pop_deliverable(u64::MAX).map(|x| x.0), Some(2));
        assert!(f.pop_deliverable(u64::MAX).is_none());
        assert_eq!(f.accept(1, &d(1), 16), Accept::Duplicate);
        assert_eq!(f.accept(19, &d(19), 16), Accept::BeyondWindow);
        assert_eq!(f.held_bytes(), 0);
    }

    #[test]
    fn a_datagram_sent_in_a_later_view_waits_for_it_and_is_not_missing() {
        let in_view = |seq: u64, view: u64| {
            let mut b = argent_wire::DataBuilder::in_view(1, 2, seq, view, 256);
            assert!(b.push(b"m"));
            b.finish()
        };
        let mut f = from_start();
        assert_eq!(f.accept(1, &in_view(1, 3), 64), Accept::New);
        assert_eq!(f.accept(2, &in_view(2, 4), 64), Accept::New);
        assert_eq!(f.accept(3, &in_view(3, 4), 64), Accept::New);
        assert_eq!(f.pop_deliverable(3).map(|x| x.0), Some(1));
        assert!(f.pop_deliverable(3).is_none(), "sent in view 4, installed 3: waits");
        let mut out = Vec::new();
        f.missing(3, 64, 20, &mut out);
        assert!(out.is_empty(), "what waits for a view is held, not missing");
        assert_eq!(f.contiguous, 1, "and not acknowledged");
        assert_eq!(f.pop_deliverable(4).map(|x| x.0), Some(2));
        assert_eq!(f.pop_deliverable(4).map(|x| x.0), Some(3));
    }

    #[test]
    fn missing_ranges_include_the_tail_up_to_cutoff() {
        let mut f = from_start();
        for s in [1, 3, 4, 7] {
            f.accept(s, &d(s as u8), 64);
        }
        while f.pop_deliverable(u64::MAX).is_some() {}
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
        let mut f = from_start();
        for s in 1..=6 {
            f.accept(s, &d(s as u8), 64);
        }
        while let Some((s, dg)) = f.pop_deliverable(u64::MAX) {
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
