//! Send side of one region feed: aggregation into datagrams, the bounded send buffer,
//! retransmissions ahead of new data, heartbeats, and rate-based pacing.

use crate::config::Config;
use crate::events::PublishError;
use crate::invariant::{invariant, CHECKED};
use crate::recv::RateMeter;
use argent_core::Instant;
use argent_wire::SeqRange;
use argent_wire::{DataBuilder, FrameKind, DATA_PREFIX_LEN, HEADER_LEN, MESSAGE_OVERHEAD};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

/// What the feed wants transmitted next.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// First transmission of a sealed datagram.
    Data(Bytes),
    /// Re-multicast of a datagram a whole partition lacked.
    Retransmit(Vec<u8>),
    /// Highest sequence number, for tail-loss detection.
    Heartbeat(u64),
}

/// Sender state of one (sender, region) stream.
#[derive(Debug)]
pub(crate) struct SendFeed {
    region: u32,
    me: u32,
    /// The region view installed now: datagrams opened from now on are sent in it.
    pub(crate) view: u64,
    /// Every member holds every datagram up to here; freed from the buffer.
    pub(crate) stable: u64,
    /// Sealed datagrams `stable + 1 ..= stable + unacked.len()`, unacknowledged.
    unacked: VecDeque<Bytes>,
    /// Datagrams up to here have been transmitted at least once.
    pub(crate) sent_upto: u64,
    /// The datagram being filled.
    open: Option<DataBuilder>,
    /// The rest of the block the last datagram was carved from (see [`block_len`]).
    spare: BytesMut,
    /// Bytes held: unacknowledged datagrams plus the open one.
    buffered: u64,
    /// Bytes of the datagrams sent and not yet acknowledged (`stable + 1 ..= sent_upto`):
    /// what the region has yet to confirm, as opposed to what waits here to be sent.
    in_flight: u64,
    /// Sequence numbers to re-multicast, ahead of new data.
    retransmit: BTreeSet<u64>,
    pacer: Pacer,
    last_send: Instant,
    /// `publish` returned `WouldBlock`: tell the application when space frees.
    pub(crate) blocked: bool,
    /// Most bytes ever buffered (for the simulator's bound checker).
    pub(crate) max_buffered: u64,
    /// Bytes of data (and retransmissions) sent, to measure our own rate between acks.
    sent_bytes: u64,
    rate_sample: (Instant, u64),
    /// Our own rate smoothed as receivers smooth theirs, to compare with what they report.
    sent_meter: RateMeter,
}

/// Datagrams are carved from blocks of about 256 KiB (at most 64 datagrams each): one
/// allocation per block rather than per datagram, which on a 1 500-byte LAN is one per
/// message. A block is freed once every datagram in it is acknowledged and delivered, so a
/// sender holds at most one block more than its window.
fn block_len(datagram_size: usize) -> usize {
    datagram_size * (256 * 1024 / datagram_size.max(1)).clamp(1, 64)
}

impl SendFeed {
    /// A feed whose first datagram is `start + 1` (0 for a new stream; the last sequence
    /// number sent when the node left the region, for a node that sends to it again), sent
    /// in region view `view`.
    pub(crate) fn new(region: u32, me: u32, view: u64, cfg: &Config, now: Instant, start: u64) -> Self {
        SendFeed {
            region,
            me,
            view,
            stable: start,
            unacked: VecDeque::new(),
            sent_upto: start,
            open: None,
            spare: BytesMut::new(),
            in_flight: 0,
            buffered: 0,
            retransmit: BTreeSet::new(),
            pacer: Pacer::new(cfg.initial_rate, cfg.pacer_burst, now),
            last_send: now,
            blocked: false,
            max_buffered: 0,
            sent_bytes: 0,
            rate_sample: (now, 0),
            sent_meter: RateMeter::new(now),
        }
    }

    /// The feed's relations: the acknowledged point, what was sent and what is sealed are
    /// ordered; the window and the byte budget bound what is held; retransmissions lie
    /// between what was acknowledged and what was sent. With `deep`, the byte count is
    /// recomputed (a pass over the window: at acknowledgements only).
    fn check(&self, cfg: &Config, deep: bool) {
        invariant!(
            self.stable <= self.sent_upto && self.sent_upto <= self.sealed_upto(),
            "send feed: acknowledged {} <= sent {} <= sealed {}",
            self.stable,
            self.sent_upto,
            self.sealed_upto()
        );
        let held = self.unacked.len() as u64 + u64::from(self.open.is_some());
        invariant!(
            held <= cfg.window_datagrams,
            "send feed: {held} datagrams held, window {}",
            cfg.window_datagrams
        );
        invariant!(
            self.in_flight <= self.buffered,
            "send feed: {} bytes in flight, {} buffered",
            self.in_flight,
            self.buffered
        );
        invariant!(
            self.buffered <= cfg.send_buffer_bytes as u64,
            "send feed: {} bytes buffered, bound {}",
            self.buffered,
            cfg.send_buffer_bytes
        );
        invariant!(
            self.retransmit.first().is_none_or(|s| *s > self.stable)
                && self.retransmit.last().is_none_or(|s| *s <= self.sent_upto),
            "send feed: retransmissions outside ({}, {}]",
            self.stable,
            self.sent_upto
        );
        if deep && CHECKED {
            let counted: u64 = self.unacked.iter().map(|d| d.len() as u64).sum::<u64>()
                + self.open.as_ref().map_or(0, |o| o.len() as u64);
            invariant!(
                counted == self.buffered,
                "send feed: {counted} bytes held, {} counted",
                self.buffered
            );
        }
    }

    /// Sequence numbers up to here are assigned to sealed datagrams.
    pub(crate) fn sealed_upto(&self) -> u64 {
        self.stable + self.unacked.len() as u64
    }

    /// Make room for a message of `len` bytes in the open datagram, sealing a full one.
    /// Returns a datagram sealed on the way, whose messages the caller delivers locally.
    pub(crate) fn prepare(&mut self, cfg: &Config, len: usize) -> Result<Option<(u64, Bytes)>, PublishError> {
        let max = cfg.max_message_len();
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        let cap = cfg.send_buffer_bytes as u64;
        if let Some(open) = &self.open {
            if open.fits(len) {
                if self.buffered + (MESSAGE_OVERHEAD + len) as u64 > cap {
                    return Err(self.would_block());
                }
                return Ok(None);
            }
        }
        let window_full = self.unacked.len() as u64 + u64::from(self.open.is_some()) >= cfg.window_datagrams;
        let bytes_full = self.buffered + (DATA_PREFIX_LEN + MESSAGE_OVERHEAD + len) as u64 > cap;
        if window_full || bytes_full {
            return Err(self.would_block());
        }
        let sealed = self.seal();
        let seq = self.sealed_upto() + 1;
        if self.spare.capacity() < cfg.datagram_size {
            self.spare = BytesMut::with_capacity(block_len(cfg.datagram_size));
        }
        let buf = std::mem::take(&mut self.spare);
        self.open =
            Some(DataBuilder::in_buffer(buf, self.region, self.me, seq, self.view, cfg.datagram_size));
        self.account(DATA_PREFIX_LEN as u64);
        self.check(cfg, false);
        Ok(sealed)
    }

    fn would_block(&mut self) -> PublishError {
        self.blocked = true;
        PublishError::WouldBlock
    }

    fn account(&mut self, bytes: u64) {
        self.buffered += bytes;
        self.max_buffered = self.max_buffered.max(self.buffered);
    }

    /// Reserve `len` bytes in the open datagram, after a successful [`SendFeed::prepare`].
    pub(crate) fn claim(&mut self, len: usize) -> &mut [u8] {
        self.account((MESSAGE_OVERHEAD + len) as u64);
        let open = self.open.as_mut().expect("prepare() opened a datagram with room");
        let claimed = open.claim(len).is_some();
        assert!(claimed, "prepare() checked that the message fits");
        open.tail_mut(len)
    }

    /// Append a copy of `msg` to the open datagram, after a successful [`SendFeed::prepare`].
    pub(crate) fn push(&mut self, msg: &[u8]) {
        self.account((MESSAGE_OVERHEAD + msg.len()) as u64);
        let open = self.open.as_mut().expect("prepare() opened a datagram with room");
        let pushed = open.push(msg);
        assert!(pushed, "prepare() checked that the message fits");
    }

    /// The bytes of the current claim.
    pub(crate) fn claimed(&self, len: usize) -> &[u8] {
        self.open.as_ref().map_or(&[], |o| o.tail(len))
    }

    /// The bytes of the current claim, to write in place.
    pub(crate) fn claimed_mut(&mut self, len: usize) -> &mut [u8] {
        match self.open.as_mut() {
            Some(o) => o.tail_mut(len),
            None => &mut [],
        }
    }

    /// Withdraw the current claim of `len` bytes.
    pub(crate) fn unclaim(&mut self, len: usize) {
        if let Some(open) = self.open.as_mut() {
            open.unclaim(len);
            self.buffered -= (MESSAGE_OVERHEAD + len) as u64;
        }
    }

    /// Seal the open datagram (if it holds anything); returns it for local delivery.
    pub(crate) fn seal(&mut self) -> Option<(u64, Bytes)> {
        let open = self.open.take()?;
        if open.is_empty() {
            self.buffered -= open.len() as u64;
            self.spare = open.abandon();
            return None;
        }
        let len = open.len() as u64;
        let (datagram, rest) = open.finish_rest();
        self.spare = rest;
        debug_assert_eq!(datagram.len() as u64, len);
        self.unacked.push_back(datagram.clone());
        Some((self.sealed_upto(), datagram))
    }

    /// Next transmission permitted at `now`: retransmissions first, then sealed data,
    /// then the open datagram (sealed now), then a heartbeat when idle with data in flight.
    /// A datagram sealed here is also returned for local delivery.
    pub(crate) fn poll(&mut self, now: Instant, cfg: &Config) -> (Option<Outgoing>, Option<(u64, Bytes)>) {
        let has_data = !self.retransmit.is_empty()
            || self.sent_upto < self.sealed_upto()
            || self.open.as_ref().is_some_and(|o| !o.is_empty());
        if has_data {
            if !self.pacer.ready(now) {
                return (None, None);
            }
            if let Some(seq) = self.retransmit.pop_first() {
                let datagram = &self.unacked[(seq - self.stable - 1) as usize];
                self.pacer.consume(datagram.len() as u64);
                self.sent_bytes += datagram.len() as u64;
                self.last_send = now;
                let copy = argent_wire::encode_data_copy(
                    FrameKind::Retransmit,
                    self.region,
                    self.me,
                    &datagram[HEADER_LEN..],
                );
                return (Some(Outgoing::Retransmit(copy)), None);
            }
            let sealed = if self.sent_upto == self.sealed_upto() { self.seal() } else { None };
            let datagram = self.unacked[(self.sent_upto - self.stable) as usize].clone();
            self.sent_upto += 1;
            self.in_flight += datagram.len() as u64;
            self.pacer.consume(datagram.len() as u64);
            self.sent_bytes += datagram.len() as u64;
            self.last_send = now;
            self.check(cfg, false);
            return (Some(Outgoing::Data(datagram)), sealed);
        }
        if self.sent_upto > self.stable && now >= self.last_send + cfg.heartbeat_interval {
            self.last_send = now;
            return (Some(Outgoing::Heartbeat(self.sent_upto)), None);
        }
        (None, None)
    }

    /// When [`SendFeed::poll`] next has something to do.
    pub(crate) fn deadline(&self, cfg: &Config) -> Option<Instant> {
        let has_data = !self.retransmit.is_empty()
            || self.sent_upto < self.sealed_upto()
            || self.open.as_ref().is_some_and(|o| !o.is_empty());
        if has_data {
            return Some(self.pacer.next_ready());
        }
        (self.sent_upto > self.stable).then(|| self.last_send + cfg.heartbeat_interval)
    }

    /// The region acknowledged everything up to `stable`; free it and adapt the rate.
    /// Returns true if the application should be told it may publish again.
    pub(crate) fn on_ack(&mut self, now: Instant, cfg: &Config, stable: u64, rate_min_kib: u32) -> bool {
        // The acknowledgement comes from the network: never past what was sent.
        let stable = stable.min(self.sent_upto);
        let before = self.stable;
        while self.stable < stable {
            let Some(d) = self.unacked.pop_front() else { break };
            self.buffered -= d.len() as u64;
            self.in_flight -= d.len() as u64; // acknowledged ones were sent: stable <= sent_upto
            self.stable += 1;
        }
        while self.retransmit.first().is_some_and(|s| *s <= self.stable) {
            self.retransmit.pop_first();
        }
        invariant!(
            self.stable >= before,
            "send feed: acknowledged point went back from {before} to {}",
            self.stable
        );
        self.adapt_rate(now, cfg, rate_min_kib);
        self.check(cfg, true);
        let room = self.buffered + cfg.datagram_size as u64 <= cfg.send_buffer_bytes as u64
            && (self.unacked.len() as u64) < cfg.window_datagrams;
        if self.blocked && room {
            self.blocked = false;
            return true;
        }
        false
    }

    /// Rate-based flow control, paced by the slowest receiver. While the region keeps up,
    /// probe upward: 1.25 × the largest of the current rate, our own recent rate and the
    /// slowest receive rate, or 2 × while more than a pacer burst waits here to be sent (slow
    /// start: the pacer, not the region, holds the application back). The region keeps up
    /// while what was sent and is still unacknowledged after this acknowledgement is at most
    /// half of the send buffer, or while the slowest receiver reports taking at least 0.9 ×
    /// our own rate (both smoothed alike): acknowledgements are then late (a slow round), the
    /// receivers are not. Otherwise a backlog builds in the region: pace at 1.1 × the slowest
    /// receive rate (QSM's rule), so a slow receiver slows the sender instead of overflowing.
    ///
    /// Neither a backlog still waiting here to be sent (counting it held a paced sender to
    /// 1.1 × its own recent rate, so a 10 ms hiccup took 100 ms to drain) nor late rounds
    /// (cutting to the receivers' reported rate there held a paced LAN sender below its load
    /// for rounds on end) is the receivers' doing (decision 012). No report (rate 0) leaves
    /// the rate as it is.
    fn adapt_rate(&mut self, now: Instant, cfg: &Config, rate_min_kib: u32) {
        let (at, bytes) = self.rate_sample;
        let dt = now.saturating_duration_since(at).as_secs_f64();
        if rate_min_kib == 0 || dt < 0.000_5 {
            return;
        }
        let own = (self.sent_bytes - bytes) as f64 / dt;
        // Every byte sent since the last sample reaches the meter here, not per datagram.
        self.sent_meter.add(self.sent_bytes - bytes);
        self.rate_sample = (now, self.sent_bytes);
        let slowest = f64::from(rate_min_kib) * 1024.0;
        let own_smoothed = self.sent_meter.sample(now).map_or(0.0, |kib| f64::from(kib) * 1024.0);
        let keeping_up = self.in_flight <= cfg.send_buffer_bytes as u64 / 2 || slowest >= 0.9 * own_smoothed;
        // Slow start: while more than a pacer burst waits here to be sent, the pacer is what
        // holds the application back, so double rather than add a quarter.
        let growth = if self.buffered.saturating_sub(self.in_flight) > cfg.pacer_burst { 2.0 } else { 1.25 };
        let target = if keeping_up { self.pacer.rate.max(own).max(slowest) * growth } else { slowest * 1.1 };
        self.pacer.rate = target.clamp(cfg.min_rate as f64, cfg.max_rate as f64);
    }

    /// A partition lacks these: re-multicast them ahead of new data. At most one window
    /// is queued, whatever the request says.
    pub(crate) fn on_nak(&mut self, cfg: &Config, ranges: impl Iterator<Item = SeqRange>) -> usize {
        let mut added = 0;
        for r in ranges {
            let start = r.start.max(self.stable + 1);
            let end = r.end.min(self.sent_upto);
            for seq in start..=end {
                if self.retransmit.len() as u64 >= cfg.window_datagrams {
                    return added;
                }
                added += usize::from(self.retransmit.insert(seq));
            }
        }
        self.check(cfg, false);
        added
    }

    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.buffered
    }

    /// Whether everything published has been acknowledged by the region.
    pub(crate) fn is_drained(&self) -> bool {
        self.unacked.is_empty() && self.open.as_ref().is_none_or(|o| o.is_empty())
    }

    /// Current pacing rate, bytes/s.
    pub(crate) fn rate(&self) -> u64 {
        self.pacer.rate as u64
    }
}

/// At high rates the bucket holds this much time's worth of sending (waking up to send a
/// datagram at a time would cost more than the datagram).
const BURST_SECS: f64 = 0.001;

/// Token bucket with a deficit: a datagram is sent when the bucket is not negative, then
/// its size is taken out, so large datagrams are never starved.
#[derive(Debug)]
struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    fn new(rate: u64, burst: u64, now: Instant) -> Self {
        Pacer { rate: rate as f64, burst: burst as f64, tokens: burst as f64, last: now }
    }

    fn ready(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        let burst = self.burst.max(self.rate * BURST_SECS);
        self.tokens = (self.tokens + dt * self.rate).min(burst);
        self.last = self.last.max(now);
        self.tokens >= 0.0
    }

    fn consume(&mut self, bytes: u64) {
        self.tokens -= bytes as f64;
    }

    fn next_ready(&self) -> Instant {
        if self.tokens >= 0.0 {
            return self.last;
        }
        let wait = (-self.tokens / self.rate * 1e9).ceil() as u64;
        self.last + Duration::from_nanos(wait.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed of 1 000-byte messages, one per datagram of at most 1 472 bytes (1 038 used),
    /// with `queued` sealed and `sent` of them sent.
    fn feed(cfg: &Config, queued: usize, sent: usize) -> SendFeed {
        let mut f = SendFeed::new(1, 2, 1, cfg, Instant::ZERO, 0);
        for _ in 0..queued {
            f.prepare(cfg, 1000).expect("room");
            f.push(&[7; 1000]);
        }
        f.seal();
        f.pacer.rate = 1e12; // no pacing while filling: a full bucket every microsecond
        for i in 0..sent {
            let now = Instant::ZERO + Duration::from_micros(1 + i as u64);
            assert!(matches!(f.poll(now, cfg).0, Some(Outgoing::Data(_))), "datagram {i} sent");
        }
        f
    }

    #[test]
    fn a_backlog_waiting_to_be_sent_does_not_hold_the_rate_to_the_receivers() {
        let cfg = Config { datagram_size: 1472, window_datagrams: 4096, ..Config::default() };
        let later = Instant::ZERO + Duration::from_millis(100);
        let slowest_kib = 100_000; // about 100 MB/s reported by the slowest receiver
                                   // 2 500 datagrams (2.6 MB, more than half the 4 MiB buffer) queued, 100 in flight:
                                   // the region keeps up, so the rate probes upward.
        let mut f = feed(&cfg, 2500, 100);
        assert!(f.buffered > cfg.send_buffer_bytes as u64 / 2);
        f.pacer.rate = 50e6;
        f.on_ack(later, &cfg, 50, slowest_kib);
        // Slow start: far more than a pacer burst waits to be sent, so the rate doubles.
        assert_eq!(f.pacer.rate, 2.0 * 100_000.0 * 1024.0, "probing");
        // The same bytes sent and unacknowledged, and the slowest receiver reports taking
        // less than 0.9 × what we sent (2 500 datagrams in 100 ms, about 37 MB/s): the region
        // is behind, pace at 1.1 × the slowest.
        let slow_kib = 10_000;
        let mut f = feed(&cfg, 2500, 2500);
        f.on_ack(later, &cfg, 50, slow_kib);
        assert_eq!(f.pacer.rate, 1.1 * 10_000.0 * 1024.0);
        assert_eq!(f.in_flight, 2450 * f.unacked[0].len() as u64);
    }

    #[test]
    fn late_acknowledgements_from_receivers_that_keep_up_do_not_slow_the_sender() {
        let cfg = Config { datagram_size: 1472, window_datagrams: 4096, ..Config::default() };
        let later = Instant::ZERO + Duration::from_millis(100);
        // 2 500 datagrams sent and unacknowledged (more than half the buffer: a slow round),
        // while the slowest receiver reports taking about what we sent (37 MB/s over 100 ms).
        let mut f = feed(&cfg, 2500, 2500);
        let own_kib = (2500 * f.unacked[0].len()) as f64 / 0.1 / 1024.0;
        f.pacer.rate = 30e6;
        f.on_ack(later, &cfg, 50, (own_kib * 0.95) as u32);
        assert!(f.pacer.rate >= 1.25 * 0.95 * own_kib * 1024.0, "probing: {}", f.pacer.rate);
        // Reporting 0.85 × our rate, they are behind.
        let mut f = feed(&cfg, 2500, 2500);
        f.on_ack(later, &cfg, 50, (own_kib * 0.85) as u32);
        assert_eq!(f.pacer.rate, 1.1 * f64::from((own_kib * 0.85) as u32) * 1024.0);
    }
}
