//! The token ring's state at one member of a region: the pass awaiting acknowledgement,
//! rounds and their timing, and (at the leader) what carries over between rounds.

use crate::config::Config;
use argent_core::{Instant, NodeId};
use argent_wire::{SeqRange, Token, TokenAck, TokenEntry, MAX_TOKEN_RANGES};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Longest wait between retransmissions of one token pass.
pub(crate) const MAX_PASS_RTO: Duration = Duration::from_millis(100);
/// Shortest retransmission timeout of a token pass, however fast the ring measured.
pub(crate) const MIN_PASS_RTO: Duration = Duration::from_micros(100);
/// Rounds whose start time the leader remembers (a regenerated round's predecessor may
/// still come back).
pub(crate) const ROUNDS_TIMED: usize = 8;
/// Regeneration timeout doubles per consecutive regeneration, up to this many times (a ring
/// waiting for a member that has not started yet must not back off for seconds).
pub(crate) const MAX_REGEN_BACKOFF: u32 = 3;

/// A token handed to the next member, kept until it acknowledges the pass.
#[derive(Debug)]
pub(crate) struct PendingPass {
    pub(crate) to: NodeId,
    pub(crate) round: u64,
    pub(crate) hop: u32,
    pub(crate) datagram: Bytes,
    pub(crate) attempts: u32,
    pub(crate) rto: Duration,
    pub(crate) deadline: Instant,
    pub(crate) sent_at: Instant,
}

/// At a partition's head: a round's token of its own partition and its child partitions'
/// subtrees as they come back, folded into one.
#[derive(Debug)]
pub(crate) struct Gather {
    pub(crate) round: u64,
    /// Which of its slots came back (its own partition's token, then each child's fold).
    returned: Vec<bool>,
    /// The returned tokens folded together; `None` until the first comes back.
    token: Option<Token>,
}

/// Most streams a gathered round carries: every member tracks at most
/// [`crate::config::MAX_STREAMS_PER_REGION`], and the partitions' tokens share the ones the
/// round started with; a member that adds others (a buggy one) cannot grow a head's state
/// with every partition.
pub(crate) const MAX_GATHERED_STREAMS: usize = 2 * crate::config::MAX_STREAMS_PER_REGION;

impl Gather {
    pub(crate) fn new(round: u64, slots: usize) -> Self {
        Gather { round, returned: vec![false; slots], token: None }
    }

    /// Fold the token returned to `slot` in (0: the head's own partition; 1 + i: its i-th
    /// child's subtree); the whole round once every slot's is back. A slot's second return
    /// (a duplicate) is ignored, as is a slot out of range.
    pub(crate) fn add(&mut self, slot: usize, mut token: Token) -> Option<Token> {
        match self.returned.get_mut(slot) {
            Some(done) if !*done => *done = true,
            _ => return None,
        }
        token.entries.truncate(MAX_GATHERED_STREAMS);
        for e in &mut token.entries {
            // Per-hop lists mean nothing past the partition; a head keeps only the numbers.
            e.prev_missing = Vec::new();
            e.isect = None;
        }
        self.token = Some(match self.token.take() {
            None => token,
            Some(mut acc) => {
                fold(&mut acc, token);
                acc
            }
        });
        if self.returned.iter().all(|r| *r) {
            self.token.take()
        } else {
            None
        }
    }
}

/// Fold one partition's token into what the earlier ones reported. Minimums and maximums
/// combine; a stream that one side does not carry was not reported on by its members (one
/// joined mid-round), so its contiguous number is 0 for the round: it is not acknowledged.
fn fold(acc: &mut Token, part: Token) {
    for e in &mut acc.entries {
        if !part.entries.iter().any(|p| p.sender == e.sender) {
            e.min_contiguous = 0;
        }
    }
    for p in part.entries {
        if let Some(e) = acc.entries.iter_mut().find(|e| e.sender == p.sender) {
            e.cutoff = e.cutoff.max(p.cutoff);
            e.cleanup = e.cleanup.max(p.cleanup);
            e.max_seen = e.max_seen.max(p.max_seen);
            e.min_contiguous = e.min_contiguous.min(p.min_contiguous);
            e.rate_min = e.rate_min.min(p.rate_min);
            e.rate_max = e.rate_max.max(p.rate_max);
            e.rate_sum = e.rate_sum.saturating_add(p.rate_sum);
            e.rate_count = e.rate_count.saturating_add(p.rate_count);
        } else if acc.entries.len() < MAX_GATHERED_STREAMS {
            acc.entries.push(TokenEntry { min_contiguous: 0, ..p });
        }
    }
}

/// What the leader carries from one completed round into the next, per sender.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Carry {
    pub(crate) cutoff: u64,
    pub(crate) cleanup: u64,
}

/// Ring state of one region at one member (leader state is used by the leader only).
#[derive(Debug)]
pub(crate) struct RingState {
    /// Last (round, hop) processed in the current view, and when.
    pub(crate) seen: Option<(u64, u32)>,
    pub(crate) seen_at: Instant,
    /// Passes awaiting acknowledgement: one at a member; at a partition's head also the
    /// starts of its child partitions and its subtree's fold (of the newest rounds).
    pub(crate) pending: Vec<PendingPass>,
    /// At a partition's head: the newest rounds' tokens gathered so far.
    pub(crate) gathers: VecDeque<Gather>,
    pub(crate) round: u64,
    /// Newest round that came back to the leader.
    pub(crate) completed: u64,
    /// Regenerations since a round last came back (the timeout doubles with each).
    pub(crate) regenerations: u32,
    /// Start times of the newest rounds, to time whichever of them comes back.
    pub(crate) starts: VecDeque<(u64, Instant)>,
    pub(crate) in_flight: bool,
    pub(crate) round_started: Instant,
    pub(crate) last_start: Instant,
    pub(crate) srtt: Option<Duration>,
    /// Smoothed time from passing a token to its acknowledgement.
    pub(crate) pass_srtt: Option<Duration>,
    pub(crate) carry: BTreeMap<u32, Carry>,
    pub(crate) rx_at_start: u64,
    pub(crate) outstanding: bool,
    /// Rounds during which streams gone here (retired, or never tracked) that other members
    /// still report on keep rounds at the busy pace (members retire such a stream within
    /// `stall_limit` visits of its last progress, see [`RecvFeed::departure_visit`]).
    pub(crate) winding: u32,
    pub(crate) missing: Vec<SeqRange>,
}

impl RingState {
    pub(crate) fn new(now: Instant) -> Self {
        RingState {
            seen: None,
            seen_at: now,
            pending: Vec::new(),
            gathers: VecDeque::with_capacity(ROUNDS_TIMED),
            round: 0,
            completed: 0,
            regenerations: 0,
            starts: VecDeque::with_capacity(ROUNDS_TIMED),
            in_flight: false,
            round_started: now,
            last_start: now,
            srtt: None,
            pass_srtt: None,
            carry: BTreeMap::new(),
            rx_at_start: 0,
            outstanding: true,
            winding: 0,
            missing: Vec::with_capacity(MAX_TOKEN_RANGES),
        }
    }

    /// A sender waits for an acknowledgement: there is work outstanding.
    pub(crate) fn note_waiting_sender(&mut self) {
        self.outstanding = true;
    }

    /// Members still wind down a stream gone here (just retired here, or it made progress
    /// since): give them busy-paced rounds for `2 × stall_limit` more rounds. Its region-wide
    /// numbers stay carried while they report on it (see `Region::complete`).
    pub(crate) fn keep_winding(&mut self, stall_limit: u32) {
        self.winding = stall_limit.saturating_mul(2);
    }

    /// Stop carrying anything (this node is no longer a member).
    pub(crate) fn forget_all(&mut self) {
        self.carry.clear();
    }

    /// A new view: tokens of the old one are void; a (possibly new) leader starts afresh.
    pub(crate) fn reset_for_view(&mut self, now: Instant) {
        self.seen = None;
        self.pending.clear();
        self.gathers.clear();
        self.in_flight = false;
        self.outstanding = true;
        self.last_start = now;
    }

    pub(crate) fn on_token_ack(&mut self, now: Instant, from: NodeId, ack: &TokenAck) {
        let Some(i) =
            self.pending.iter().position(|p| p.to == from && p.round == ack.round && p.hop == ack.hop)
        else {
            return;
        };
        let p = self.pending.swap_remove(i);
        if p.attempts == 0 {
            let sample = now.saturating_duration_since(p.sent_at);
            self.pass_srtt = Some(self.pass_srtt.map_or(sample, |s| (s * 7 + sample) / 8));
        }
    }

    /// Start gathering round `round`'s `partitions` tokens (the oldest round gathered is
    /// given up beyond [`ROUNDS_TIMED`]).
    pub(crate) fn gather(&mut self, round: u64, partitions: usize) {
        if self.gathers.len() == ROUNDS_TIMED {
            self.gathers.pop_front();
        }
        self.gathers.push_back(Gather::new(round, partitions));
    }

    /// Slot `part` of `token.round` came back: the round's fold at this head once every
    /// slot has.
    pub(crate) fn gathered(&mut self, part: usize, token: Token) -> Option<Token> {
        let round = token.round;
        let i = self.gathers.iter().position(|g| g.round == round)?;
        let whole = self.gathers[i].add(part, token)?;
        self.gathers.remove(i);
        Some(whole)
    }

    /// First retransmission timeout of a pass: two smoothed pass round trips, within
    /// [`MIN_PASS_RTO`] and the configured timeout. A spurious resend costs one small
    /// datagram; a late one holds the whole round, and a round visits every member, so in
    /// a large region with some loss most rounds wait for one resend (decision 013).
    pub(crate) fn pass_rto(&self, cfg: &Config) -> Duration {
        match self.pass_srtt {
            Some(s) => (s * 2).clamp(MIN_PASS_RTO, cfg.token_pass_rto.max(MIN_PASS_RTO)),
            None => cfg.token_pass_rto,
        }
    }

    /// How long the leader waits for a round before regenerating it: four smoothed round
    /// times (at least the configured timeout), doubled per regeneration without a return,
    /// so a ring slower than the timeout still completes rounds.
    pub(crate) fn regen_timeout(&self, cfg: &Config) -> Duration {
        let srtt = self.srtt.unwrap_or(Duration::ZERO);
        cfg.token_timeout.max(srtt * 4) * (1 << self.regenerations.min(MAX_REGEN_BACKOFF))
    }
}

/// Most a token's round may run ahead of the last round this member processed: a member
/// that holds the key but is buggy cannot make every later round look stale with one token
/// of round `u64::MAX`. Rounds start at most every few hundred microseconds, so a healthy
/// ring never leaps this far between two visits.
pub(crate) const MAX_ROUND_LEAP: u64 = 1 << 16;

/// After this long without processing a token, a member takes the next one whatever its
/// round (it was paused or cut off while the ring went on, or took a bad round while
/// starved): four idle rounds and a fully backed-off regeneration.
pub(crate) fn round_resync_after(cfg: &Config) -> Duration {
    cfg.idle_round_interval * 4 + cfg.token_timeout * (1 << MAX_REGEN_BACKOFF) * 2
}

/// Token visits without progress after which a departing stream is retired: enough for
/// pulls to have tried every member of an owning partition (they rotate by round) twice.
pub(crate) fn retire_stall_visits(cfg: &Config) -> u32 {
    let r = u32::try_from(cfg.partition_size).unwrap_or(u32::MAX);
    r.saturating_mul(2).saturating_add(4).max(8)
}
