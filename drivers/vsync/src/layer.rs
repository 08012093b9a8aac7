//! The layer over a [`QsmNode`]: one region, its views one after another, each closed by
//! a flush (decision 014).
//!
//! Every message of the region is a frame ([`crate::frame`]). The application's messages go
//! out as `DATA` frames; the view's sequencer (its lowest node) notes every datagram of the
//! view that holds one as QSM delivers it, its own included, and publishes the order as
//! `ORDER` frames. A datagram without `DATA` (the sequencer's records, a report) is not
//! ordered: ordering it would call for another record, and so on without end.
//!
//! At a view change ([`TotalOrder::install_view`]) every member of both views publishes a
//! `REPORT` in the new view, and from then on takes nothing of the old view beyond what it
//! reported (what comes later waits): so no survivor delivers past what the reports show.
//! A coordinator, the lowest survivor still a member, decides the ends from the reports and
//! publishes them; a survivor that leaves before its report reached it is left out, and when
//! the coordinator leaves the next one takes over without changing a decision anyone may
//! have used ([`crate::agree`]). Every member closes the view at the decision: it takes every
//! stream up to its end, from QSM or from the `RELAY` frames of a survivor that holds it,
//! closes the old view ([`Orderer::finish_view`]), installs the new one and goes on with what
//! waited for it. A view QSM installs during a flush waits for it, and the flushes run one
//! after another ([`TotalOrder::view_installed`]); a cut (a group joined or left, the same
//! members) closes a view like any other change ([`TotalOrder::install_cut`]). Relays are
//! whole datagrams, kept by every member until QSM's stable point passes them (a departed
//! member's until the view closes) ([`TotalOrder::flush_waiting`] says a flush still waits).

use crate::agree::{Agreement, RelayPlan};
use crate::flush::Report;
use crate::frame::{self, Frame};
use crate::order::{DatagramId, OrderError, Ordered, Orderer, Sequencer};
use argent_qsm::{node_of, Delivery, Instant, NodeId, PublishError, QsmNode, RegionId, RegionView, ViewId};
use std::collections::{BTreeMap, VecDeque};

/// What the layer refused or dropped, by cause.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerStats {
    /// Deliveries of another region.
    pub other_region: u64,
    /// Messages of the region that are no frame (not published through this layer).
    pub bad_frames: u64,
    /// Order records or datagrams refused as inconsistent ([`OrderError`]).
    pub refused: u64,
    /// Order frames published.
    pub order_frames: u64,
    /// Datagrams of a view older than this member's (sent before it joined): dropped.
    pub stale: u64,
    /// Views closed by a flush, and datagrams the flushes dropped (past the ends: of
    /// departed senders, held by no survivor).
    pub flushes: u64,
    pub flush_dropped: u64,
    /// Datagrams of departed members relayed (published here, and taken here).
    pub relayed_out: u64,
    pub relayed_in: u64,
    /// Datagrams this member should have relayed but did not hold (its log is bounded) or
    /// that held application messages (not relayed yet).
    pub relay_gaps: u64,
    /// Datagrams already taken from a relay when QSM delivered them: dropped.
    pub superseded: u64,
    /// Datagrams of senders outside the view: not ordered (dropped).
    pub non_member: u64,
    /// Frames QSM refused other than for room (its region gone): dropped.
    pub unsent: u64,
    /// Flushes whose ends left out survivors gone before they reported.
    pub survivors_dropped: u64,
    /// Decisions on a flush's ends this member published as coordinator, and decisions it
    /// accepted that differ from one it had used (none, unless agreement fails).
    pub decisions: u64,
    pub conflicting_decisions: u64,
}

/// Bytes of the relay log (datagrams of the view some member may still lack), at most.
/// QSM's flow control keeps what is not stable within its senders' send buffers, so this
/// is reached only with many senders far ahead of a member.
const MAX_RELAY_LOG_BYTES: usize = 64 << 20;
/// Bytes of relayed pieces a flush holds, at most (what comes beyond is dropped: the
/// relayers' bound is the same).
const MAX_RELAYED_BYTES: usize = 64 << 20;

/// What the layer hands the application, in order.
#[derive(Debug)]
pub enum Output {
    /// A datagram in total order; its `DATA` frames are the application's messages
    /// ([`frame::data`]).
    Deliver(Ordered<Delivery>),
    /// Every datagram of the view before has been delivered; this view begins.
    View { id: ViewId, members: Vec<NodeId> },
    /// [`TotalOrder::publish_with`] refused a message for the window; there is room now.
    Writable,
}

/// Bytes of its own messages a member may have published and not yet delivered in total
/// order, by default ([`TotalOrder::with_window`]): QSM acknowledges a datagram once members
/// hold it, not once it is ordered, so without this a sender could fill every member with
/// messages a slow or stopped sequencer has not ordered. Members thus hold at most a window
/// per sender, besides QSM's own bounds.
pub const DEFAULT_WINDOW: u64 = 4 << 20;

mod close;

#[derive(Debug)]
struct Flush {
    pub(super) to: RegionView,
    pub(super) survivors: Vec<NodeId>,
    /// Reports received, by the survivor's node: (its stream, report).
    pub(super) reports: BTreeMap<NodeId, (u32, Report)>,
    /// Agreeing on the ends with the other survivors ([`crate::agree`]).
    pub(super) agree: Agreement,
    /// How far this member takes each stream of the view closed (0 if absent): what it
    /// reported until the ends are decided, then the ends. What comes beyond waits in
    /// `held_back`: no member delivers past what the decision may keep.
    pub(super) frozen: BTreeMap<u32, u64>,
    pub(super) held_back: BTreeMap<(u32, u64), Delivery>,
    /// The ends, once decided, and the decision's survivors left out and relays.
    pub(super) ends: Option<BTreeMap<u32, u64>>,
    pub(super) dropped: Vec<NodeId>,
    pub(super) relays: Vec<RelayPlan>,
    /// Datagrams relayed by a survivor: their pieces as they come (at most
    /// [`MAX_RELAYED_BYTES`] of them).
    pub(super) relayed_parts: BTreeMap<(u32, u64), Vec<Option<Vec<u8>>>>,
    pub(super) relayed_bytes: usize,
    /// Departed streams' datagrams sent before this view, as the relayer says
    /// (`BEFORE` frames): a member that joined in this view waits for none of them.
    pub(super) before: BTreeMap<u32, u64>,
    /// Whether this member published its relays (once the ends are known and what waited
    /// for this view was taken), and the streams it relayed.
    pub(super) relayed: bool,
    pub(super) relayed_streams: std::collections::BTreeSet<u32>,
}

/// `from_view` of a join report: the member's layer begins in `to_view`.
const JOINED: u64 = 0;

/// Finished flushes whose agreement a member keeps, to answer a coordinator that takes one
/// over. A member still waiting on a flush this far behind the others' waits for good.
const MAX_PAST: usize = 64;

/// What a layer publishes as it begins: that it begins in `view`. The membership may have
/// made it a member of the view before without telling it (it learnt of `view` first); the
/// members that close that view wait for this member's report, and this is it.
fn join_report(view: ViewId) -> Vec<u8> {
    let mut f = Vec::new();
    frame::encode_report(
        &Report { from_view: JOINED, to_view: view.0, own_end: 0, have: Vec::new() },
        &mut f,
    );
    f
}

/// Total order over one QSM region: hand it the region's deliveries, take datagrams back in
/// total order with the views between them ([`TotalOrder::poll`]), and let it publish
/// (application messages with [`TotalOrder::publish_with`]; its own frames with
/// [`TotalOrder::flush`]).
#[derive(Debug)]
pub struct TotalOrder {
    region: RegionId,
    me: NodeId,
    view: RegionView,
    sequencer: Option<Sequencer>,
    orderer: Orderer<Delivery>,
    flushing: Option<Flush>,
    /// Views QSM installed during a flush, each with this member's stream and where it
    /// stood then: flushed to one after another.
    pending: VecDeque<(RegionView, (u32, Report))>,
    /// Every stream QSM delivered here (each in order): the last datagram of each view it
    /// sent in (views this member closed are pruned to the last).
    delivered: BTreeMap<u32, Vec<(u64, u64)>>,
    /// Nodes that left the membership, with their streams QSM was winding down then and
    /// the first view without them.
    gone: BTreeMap<NodeId, Vec<(u32, u64)>>,
    /// The first datagram of each stream taken in this view.
    first_in_view: BTreeMap<u32, u64>,
    /// The last view each node left (its incarnation then gone from it).
    left_since: BTreeMap<NodeId, u64>,
    /// The first view of each node's layer, from its join report (the newest one heard).
    joined_at: BTreeMap<NodeId, u64>,
    /// Agreements of flushes this member finished, newest last (at most [`MAX_PAST`]): it
    /// still answers a coordinator that takes one over.
    past: VecDeque<Agreement>,
    /// Events that may move a finished flush's agreement (departures, join reports,
    /// decisions and states), and how many of them it has stepped through.
    agree_news: u64,
    agree_seen: u64,
    /// Datagrams of a newer view than this member's, in the order QSM delivered them.
    later: VecDeque<Delivery>,
    out: VecDeque<Output>,
    outbox: VecDeque<Vec<u8>>,
    /// Datagrams of the view taken here that some member may still lack, per stream in
    /// order, with application messages and without: relayed should their sender depart
    /// ([`TotalOrder::log_for_relays`]). Bounded ([`MAX_RELAY_LOG_BYTES`]).
    relay_log: BTreeMap<u32, VecDeque<Delivery>>,
    record_log: BTreeMap<u32, VecDeque<Delivery>>,
    relay_log_bytes: usize,
    /// This member's own stream, once it published.
    own_stream: Option<u32>,
    left: bool,
    /// Bytes of own messages published, and of those delivered in total order; whether a
    /// publish was refused for the window.
    own_sent: u64,
    own_ordered: u64,
    window: u64,
    window_blocked: bool,
    stats: LayerStats,
}

impl TotalOrder {
    /// Node `me`'s layer for the region of `view`, its first view (installed in QSM by the
    /// caller). The lowest member is the view's sequencer. A node outside `view` can do
    /// nothing with the region ([`PublishError::Closed`]).
    pub fn new(view: RegionView, me: NodeId) -> Self {
        let sequencer = (sequencer_of(&view) == Some(me)).then(Sequencer::new);
        let left = !view.members.contains(&me);
        let outbox = if left { VecDeque::new() } else { VecDeque::from([join_report(view.id)]) };
        TotalOrder {
            region: view.region,
            me,
            view,
            sequencer,
            orderer: Orderer::new(),
            flushing: None,
            pending: VecDeque::new(),
            delivered: BTreeMap::new(),
            gone: BTreeMap::new(),
            left_since: BTreeMap::new(),
            joined_at: BTreeMap::new(),
            past: VecDeque::new(),
            agree_news: 0,
            agree_seen: 0,
            first_in_view: BTreeMap::new(),
            later: VecDeque::new(),
            out: VecDeque::new(),
            outbox,
            relay_log: BTreeMap::new(),
            record_log: BTreeMap::new(),
            relay_log_bytes: 0,
            own_stream: None,
            // Not a member: it neither delivers nor sends (members order only members).
            left,
            own_sent: 0,
            own_ordered: 0,
            window: DEFAULT_WINDOW,
            window_blocked: false,
            stats: LayerStats::default(),
        }
    }

    /// At most `bytes` of this member's own messages published and not yet delivered in total
    /// order (at least one message always goes).
    pub fn with_window(mut self, bytes: u64) -> Self {
        self.window = bytes;
        self
    }

    /// The view this member delivers in.
    pub fn view(&self) -> ViewId {
        self.view.id
    }

    /// The view's sequencer.
    pub fn sequencer(&self) -> Option<NodeId> {
        sequencer_of(&self.view)
    }

    pub fn stats(&self) -> LayerStats {
        self.stats
    }

    /// The longest application message, for QSM's `max_message`.
    pub fn max_message_len(qsm_max: usize) -> usize {
        qsm_max.saturating_sub(frame::DATA_OVERHEAD)
    }

    /// Publish an application message of `len` bytes, written in place by `write`.
    pub fn publish_with(
        &mut self,
        qsm: &mut QsmNode,
        now: Instant,
        len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), PublishError> {
        if self.left {
            return Err(PublishError::Closed);
        }
        if self.own_sent > self.own_ordered && self.own_sent - self.own_ordered + len as u64 > self.window {
            self.window_blocked = true;
            return Err(PublishError::WouldBlock);
        }
        let mut claim = qsm.claim(now, self.region, len + frame::DATA_OVERHEAD)?;
        let (kind, body) = claim.split_at_mut(frame::DATA_OVERHEAD);
        kind[0] = frame::DATA_KIND;
        write(body);
        claim.commit();
        self.own_sent += len as u64;
        self.own_stream = Some(qsm.stream().0);
        Ok(())
    }

    /// Take one QSM delivery of the region.
    pub fn deliver(&mut self, d: Delivery) {
        if self.left {
            return;
        }
        if d.region != self.region {
            self.stats.other_region += 1;
            return;
        }
        self.note_agreement(&d);
        let views = self.delivered.entry(d.sender.0).or_default();
        match views.last_mut() {
            Some((v, last)) if *v == d.view.0 => *last = (*last).max(d.seq),
            Some((v, _)) if *v > d.view.0 => {} // not in a stream's order: QSM never does this
            _ => views.push((d.view.0, d.seq)),
        }
        let member = self.view.members.contains(&node_of(d.sender));
        if d.view < self.view.id {
            // Sent before this member joined. Its stream goes on past it here (a flush
            // waits for nothing sent before the join).
            if member && self.orderer.received(d.sender.0).is_none_or(|r| r < d.seq) {
                self.orderer.start_stream(d.sender.0, d.seq);
            }
            self.stats.stale += 1;
            return;
        }
        if d.view > self.view.id {
            // QSM delivers each stream in order: a member's stream that nothing of this view
            // came from sent nothing in it after this member joined.
            if member && self.orderer.received(d.sender.0).is_none() && !self.holds_back(d.sender.0) {
                self.orderer.start_stream(d.sender.0, d.seq - 1);
            }
            self.note_reports(&d);
            self.later.push_back(d);
            self.try_finish();
            return;
        }
        self.take(d);
        // During a flush too: the runs are the same everywhere, and closing the view goes
        // on from where delivery stopped.
        self.release();
        self.try_finish();
    }

    /// A datagram of this member's view: its records applied, held until ordered.
    fn take(&mut self, d: Delivery) {
        let node = node_of(d.sender);
        if self.orderer.received(d.sender.0).is_some_and(|r| d.seq <= r) {
            self.stats.superseded += 1; // taken from a relay already
            return;
        }
        if !self.view.members.contains(&node) {
            // Not ordered: only the view's members' streams are (and flushed).
            self.stats.non_member += 1;
            return;
        }
        if let Some(f) = &mut self.flushing {
            if d.seq > f.frozen.get(&d.sender.0).copied().unwrap_or(0) {
                // Beyond what this member reported (or the end): it waits for the decision.
                f.held_back.insert((d.sender.0, d.seq), d);
                return;
            }
        }
        let from_sequencer = Some(node) == self.sequencer();
        let mut has_data = false;
        for msg in d.messages() {
            match Frame::decode(msg) {
                Ok(Frame::Data(_)) => has_data = true,
                Ok(Frame::Order(runs)) if from_sequencer => {
                    if self.orderer.order(&runs).is_err() {
                        self.stats.refused += 1;
                    }
                }
                // Read from datagrams of the next view.
                Ok(Frame::Report(_) | Frame::Relay(_) | Frame::Before(_)) => {}
                Ok(Frame::Decide(_) | Frame::State(_)) => {} // read as delivered
                Ok(Frame::Order(_)) | Err(_) => self.stats.bad_frames += 1,
            }
        }
        self.log_for_relays(&d, has_data);
        let id = DatagramId { stream: d.sender.0, seq: d.seq };
        self.first_in_view.entry(id.stream).or_insert(id.seq);
        let held = if has_data {
            if let Some(s) = &mut self.sequencer {
                s.note(id.stream, id.seq);
            }
            self.orderer.hold(id, d)
        } else {
            self.orderer.skip(id)
        };
        if let Err(OrderError::NotNextHeld { .. }) = held {
            self.stats.refused += 1;
        }
    }

    /// Whether a flush holds back datagrams of `stream` (taken once the ends are decided).
    fn holds_back(&self, stream: u32) -> bool {
        self.flushing
            .as_ref()
            .is_some_and(|f| f.held_back.range((stream, 0)..=(stream, u64::MAX)).next().is_some())
    }

    /// Keep datagram `d` of the view, to relay it should its sender depart before every
    /// member holds it. A reference to the received bytes, not a copy. Datagrams with
    /// application messages are kept until QSM's stable point passes them
    /// ([`TotalOrder::flush`]); the others (order records, reports: small) for the whole
    /// view, as QSM's stable point may pass what a member that rejoined lacks. Bounded: past
    /// [`MAX_RELAY_LOG_BYTES`] the largest stream's oldest go first.
    fn log_for_relays(&mut self, d: &Delivery, has_data: bool) {
        self.relay_log_bytes += d.datagram.len();
        let log = if has_data { &mut self.relay_log } else { &mut self.record_log };
        log.entry(d.sender.0).or_default().push_back(d.clone());
        while self.relay_log_bytes > MAX_RELAY_LOG_BYTES {
            let largest = |log: &BTreeMap<u32, VecDeque<Delivery>>| {
                log.iter().map(|(s, q)| (q.len(), *s)).max().unwrap_or((0, 0))
            };
            let ((data, ds), (records, rs)) = (largest(&self.relay_log), largest(&self.record_log));
            let (log, stream) =
                if data >= records { (&mut self.relay_log, ds) } else { (&mut self.record_log, rs) };
            let Some(old) = log.get_mut(&stream).and_then(|q| q.pop_front()) else { break };
            self.relay_log_bytes -= old.datagram.len();
        }
    }

    /// Forget the logged datagrams with application messages that every member holds.
    /// Not those of a member gone: QSM's stable point of its stream then counts only the
    /// members still winding it down, not one that never tracked it (a member that joined
    /// after it began, and retired it before its join point was known), which a flush of
    /// the view may need to bring them.
    fn prune_relay_log(&mut self, qsm: &QsmNode) {
        let region = self.region;
        let gone = &self.gone;
        let mut freed = 0;
        for (&stream, q) in &mut self.relay_log {
            if gone.values().flatten().any(|(s, _)| *s == stream) {
                continue;
            }
            let Some(stable) = qsm.stable_upto(region, NodeId(stream)) else { continue };
            while q.front().is_some_and(|d| d.seq <= stable) {
                freed += q.pop_front().map_or(0, |d| d.datagram.len());
            }
        }
        self.relay_log.retain(|_, q| !q.is_empty());
        self.relay_log_bytes -= freed;
    }

    /// Move what the order released to the output.
    fn release(&mut self) {
        while let Some(o) = self.orderer.poll() {
            self.emit(o);
        }
    }

    /// Hand a datagram to the output; this member's own free room in the window.
    fn emit(&mut self, o: Ordered<Delivery>) {
        if Some(o.item.sender.0) == self.own_stream {
            let own: u64 = o.item.messages().filter_map(frame::data).map(|m| m.len() as u64).sum();
            self.own_ordered += own;
            if self.window_blocked && own > 0 {
                self.window_blocked = false;
                self.out.push_back(Output::Deliver(o));
                self.out.push_back(Output::Writable);
                return;
            }
        }
        self.out.push_back(Output::Deliver(o));
    }

    /// Whether a flush waits (for reports, or for datagrams up to the ends).
    pub fn flush_waiting(&self) -> bool {
        self.flushing.is_some()
    }

    /// The next datagram in total order, or the next view.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Datagrams held, waiting for the order or for a view.
    pub fn held(&self) -> usize {
        self.orderer.held() + self.later.len()
    }

    /// Publish the sequencer's records and the reports until QSM pushes back.
    pub fn flush(&mut self, qsm: &mut QsmNode, now: Instant) {
        if !self.left {
            self.prune_relay_log(qsm);
            self.agree(qsm);
        }
        if self.flushing.as_ref().is_some_and(|f| f.ends.is_some()) {
            // Again at every turn: a relayer that left is replaced.
            self.relay(qsm.config().max_message_len());
            self.try_finish();
        }
        if let Some(s) = self.sequencer.as_mut().filter(|_| !self.left) {
            let per_frame = frame::runs_per_order_frame(qsm.config().max_message_len());
            while s.pending() > 0 {
                let mut f = Vec::new();
                frame::encode_order(&s.take(per_frame), &mut f);
                self.outbox.push_back(f);
            }
        }
        while let Some(f) = self.outbox.front() {
            match qsm.publish(now, self.region, f) {
                Ok(()) => {
                    self.outbox.pop_front();
                    self.stats.order_frames += 1;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => {
                    // Frames are sized to fit (`runs_per_order_frame`): a region gone drops
                    // them with it.
                    debug_assert!(matches!(e, PublishError::UnknownRegion(_) | PublishError::Closed), "{e}");
                    self.outbox.pop_front();
                    self.stats.unsent += 1;
                }
            }
        }
    }

    /// Frames waiting for room in QSM's send buffer.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }
}

/// Datagram `seq` of `stream`, if a relay log holds it.
fn logged(logs: [&BTreeMap<u32, VecDeque<Delivery>>; 2], stream: u32, seq: u64) -> Option<&Delivery> {
    logs.into_iter().find_map(|log| {
        let q = log.get(&stream)?;
        q.get(q.binary_search_by_key(&seq, |d| d.seq).ok()?)
    })
}

fn sequencer_of(view: &RegionView) -> Option<NodeId> {
    view.members.iter().copied().min()
}
