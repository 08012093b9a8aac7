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
//! `REPORT` in the new view, and from then on takes nothing more of a departed member's stream
//! than it reported (what comes later waits): so no survivor delivers past what the reports
//! show. Once it has every survivor's report it knows the ends ([`crate::stream_ends`]);
//! it takes a departed stream up to its end, from QSM or, for a departed sequencer's order
//! records, from the `RELAY` frames the lowest survivor that holds them all publishes. Then it
//! closes the old view ([`Orderer::finish_view`]), installs the new one and goes on with what
//! waited for it. A view QSM installs during a flush waits for it, and the flushes run one
//! after another ([`TotalOrder::view_installed`]); a cut (a group joined or left, the same
//! members) closes a view like any other change ([`TotalOrder::install_cut`]). Not done yet:
//! relaying a departed *sender's* application messages (a flush that lacks them waits:
//! [`TotalOrder::flush_waiting`]), and a survivor of a flush that departs before it reported
//! (the flush waits for its report).

use crate::flush::{stream_ends, Report};
use crate::frame::{self, Frame, Relay, Run};
use crate::order::{DatagramId, OrderError, Ordered, Orderer, Sequencer};
use argent_qsm::{
    node_of, Delivery, Instant, NodeId, PublishError, QsmNode, RegionId, RegionView, ViewError, ViewId,
};
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
}

/// Bytes of the relay log (datagrams of the view without application messages, with the
/// runs they carried), at most; the oldest of the lowest streams go first.
const MAX_RELAY_LOG_BYTES: usize = 16 << 20;
/// What the relay log counts per datagram besides its runs.
const RELAY_LOG_ENTRY: usize = 64;

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

#[derive(Debug)]
struct Flush {
    to: RegionView,
    survivors: Vec<NodeId>,
    /// Reports received, by the survivor's node: (its stream, report).
    reports: BTreeMap<NodeId, (u32, Report)>,
    /// The ends, once every report is in.
    ends: Option<BTreeMap<u32, u64>>,
    /// Streams of departed members: how far this member may take them (what it reported,
    /// then the end), and what came beyond, held back.
    frozen: BTreeMap<NodeId, u64>,
    held_back: Vec<Delivery>,
    /// Departed members' datagrams relayed by a survivor: their parts as they come.
    relayed: BTreeMap<(u32, u64), Vec<Option<Vec<Run>>>>,
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
    pending: VecDeque<(RegionView, (u32, u64))>,
    /// Datagrams of a newer view than this member's, in the order QSM delivered them.
    later: VecDeque<Delivery>,
    out: VecDeque<Output>,
    outbox: VecDeque<Vec<u8>>,
    /// Datagrams of the view taken here that held no application message, with the runs of
    /// each `ORDER` frame they carried: relayed should their sender depart. Bounded
    /// ([`MAX_RELAY_LOG_BYTES`]).
    relay_log: BTreeMap<(u32, u64), Vec<Vec<Run>>>,
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
        TotalOrder {
            region: view.region,
            me,
            view,
            sequencer,
            orderer: Orderer::new(),
            flushing: None,
            pending: VecDeque::new(),
            later: VecDeque::new(),
            out: VecDeque::new(),
            outbox: VecDeque::new(),
            relay_log: BTreeMap::new(),
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

    /// Install `view` in QSM and start closing the current view: this member reports where
    /// its stream and the others stand (if it is in both views). A view without this member
    /// ends its deliveries.
    pub fn install_view(
        &mut self,
        qsm: &mut QsmNode,
        now: Instant,
        view: RegionView,
    ) -> Result<(), ViewError> {
        qsm.install_view(now, view.clone())?;
        self.view_installed(qsm, view);
        Ok(())
    }

    /// Install view `id` of the region in QSM as a cut (the same members: one of them joined
    /// or left a group the region carries, `QsmNode::install_cut`). Datagrams are sent in
    /// the new view from now on, so it closes the current one like any view change.
    pub fn install_cut(&mut self, qsm: &mut QsmNode, id: ViewId) -> Result<(), ViewError> {
        qsm.install_cut(self.region, id)?;
        let members = self.newest_view().members.clone();
        self.view_installed(qsm, RegionView { region: self.region, id, members });
        Ok(())
    }

    /// QSM installed `view` (through [`TotalOrder::install_view`], [`TotalOrder::install_cut`],
    /// or by itself: its own failure detection evicted a member). A view change during a
    /// flush waits for it: the flushes run one after another, each from the view the last
    /// one closed, and what this member sent before QSM installed the view is what it
    /// reports of its stream in the view before.
    pub fn view_installed(&mut self, qsm: &QsmNode, view: RegionView) {
        if self.left || view.id <= self.newest_view().id {
            return;
        }
        let own = (qsm.stream().0, qsm.sealed_upto(self.region).unwrap_or(0));
        if self.flushing.is_some() {
            self.pending.push_back((view, own));
            return;
        }
        self.start_flush(view, own);
    }

    /// The newest view QSM installed: the last waiting, the one flushed to, or this one.
    fn newest_view(&self) -> &RegionView {
        match (self.pending.back(), &self.flushing) {
            (Some((v, _)), _) => v,
            (None, Some(f)) => &f.to,
            (None, None) => &self.view,
        }
    }

    /// Close this member's view toward `view`; `own`: its stream, and the last datagram of
    /// it sealed before QSM installed `view`.
    fn start_flush(&mut self, view: RegionView, (stream, own_end): (u32, u64)) {
        if !view.members.contains(&self.me) {
            self.left = true;
            self.later.clear();
            self.pending.clear();
            return;
        }
        // What the old sequencer did not publish is ordered by the flush.
        if let Some(s) = &mut self.sequencer {
            s.reset();
        }
        self.sequencer = None;
        // Records not published yet would go out in the new view, where they order nothing.
        self.outbox.retain(|f| f.first() != Some(&frame::ORDER_KIND));
        let survivors: Vec<NodeId> =
            self.view.members.iter().copied().filter(|m| view.members.contains(m)).collect();
        let report =
            Report { from_view: self.view.id.0, to_view: view.id.0, own_end, have: self.orderer.have() };
        let mut f = Vec::new();
        frame::encode_report(&report, &mut f);
        self.outbox.push_back(f);
        let mut reports = BTreeMap::new();
        let frozen = self
            .view
            .members
            .iter()
            .copied()
            .filter(|m| !view.members.contains(m))
            .map(|m| (m, report.have.iter().find(|(s, _)| node_of(NodeId(*s)) == m).map_or(0, |h| h.1)))
            .collect();
        reports.insert(self.me, (stream, report));
        self.flushing = Some(Flush {
            to: view,
            survivors,
            reports,
            ends: None,
            frozen,
            held_back: Vec::new(),
            relayed: BTreeMap::new(),
        });
        // Reports that came before this member installed the view (QSM holds a newer view's
        // datagrams back until then, so normally none).
        let waiting = std::mem::take(&mut self.later);
        waiting.iter().for_each(|d| self.note_reports(d));
        self.later = waiting;
        self.try_finish();
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
            if member && self.orderer.received(d.sender.0).is_none() {
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
        if let Some(f) = &mut self.flushing {
            if f.frozen.get(&node).is_some_and(|&upto| d.seq > upto) {
                // A departed member's, beyond what this member reported (or the end).
                f.held_back.push(d);
                return;
            }
        }
        if !self.view.members.contains(&node) {
            // Not ordered: only the view's members' streams are (and flushed).
            self.stats.non_member += 1;
            return;
        }
        let from_sequencer = Some(node) == self.sequencer();
        let mut has_data = false;
        let mut frames = Vec::new();
        for msg in d.messages() {
            match Frame::decode(msg) {
                Ok(Frame::Data(_)) => has_data = true,
                Ok(Frame::Order(runs)) if from_sequencer => {
                    if self.orderer.order(&runs).is_err() {
                        self.stats.refused += 1;
                    }
                    frames.push(runs);
                }
                Ok(Frame::Report(_) | Frame::Relay(_)) => {} // read from datagrams of the next view
                Ok(Frame::Order(_)) | Err(_) => self.stats.bad_frames += 1,
            }
        }
        if !has_data {
            self.relay_log_bytes += log_cost(&frames);
            self.relay_log.insert((d.sender.0, d.seq), frames);
            while self.relay_log_bytes > MAX_RELAY_LOG_BYTES {
                let Some((_, f)) = self.relay_log.pop_first() else { break };
                self.relay_log_bytes -= log_cost(&f);
            }
        }
        let id = DatagramId { stream: d.sender.0, seq: d.seq };
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

    /// Reports in a datagram of a newer view: kept if they close this member's view toward
    /// the view it is flushing to.
    fn note_reports(&mut self, d: &Delivery) {
        let Some(f) = &mut self.flushing else { return };
        let node = node_of(d.sender);
        if !f.survivors.contains(&node) {
            return;
        }
        for msg in d.messages() {
            match Frame::decode(msg) {
                Ok(Frame::Report(r)) if r.from_view == self.view.id.0 && r.to_view == f.to.id.0 => {
                    f.reports.insert(node, (d.sender.0, r));
                }
                Ok(Frame::Relay(r))
                    if r.from_view == self.view.id.0 && f.frozen.contains_key(&node_of(NodeId(r.stream))) =>
                {
                    let parts = f
                        .relayed
                        .entry((r.stream, r.seq))
                        .or_insert_with(|| vec![None; usize::from(r.parts)]);
                    if let Some(p) = parts.get_mut(usize::from(r.part)).filter(|p| p.is_none()) {
                        *p = Some(r.runs);
                    }
                }
                _ => {}
            }
        }
    }

    /// Close the view once every survivor reported and everything up to the ends is here.
    fn try_finish(&mut self) {
        let Some(f) = &mut self.flushing else { return };
        if f.ends.is_none() {
            if f.survivors.iter().any(|s| !f.reports.contains_key(s)) {
                return;
            }
            let reports: Vec<(u32, &Report)> = f.reports.values().map(|(s, r)| (*s, r)).collect();
            let ends = stream_ends(&reports);
            // A departed stream may now be taken up to its end.
            for (node, upto) in &mut f.frozen {
                *upto = ends
                    .iter()
                    .filter(|(s, _)| node_of(NodeId(**s)) == *node)
                    .map(|(_, e)| *e)
                    .max()
                    .unwrap_or(0);
            }
            f.ends = Some(ends);
            self.relay();
        }
        self.catch_up();
        self.release();
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = f.ends.as_ref() else { return };
        // Datagrams of the view still to come: a departed stream's that QSM's repair among
        // the survivors or a relay brings. (Checked per stream first: closing the view scans
        // every pending run.)
        if !self.orderer.missing(ends).is_empty() {
            return;
        }
        let Ok(end) = self.orderer.finish_view(ends) else { return };
        self.stats.flushes += 1;
        self.stats.flush_dropped += end.dropped as u64;
        end.delivered.into_iter().for_each(|o| self.emit(o));
        let Some(f) = self.flushing.take() else { return };
        self.stats.flush_dropped += f.held_back.len() as u64;
        self.view = f.to;
        // Streams of members gone are not ordered any more (a member that comes back sends a
        // stream that starts afresh): reports stay as small as the view.
        let members = &self.view.members;
        self.stats.flush_dropped += self.orderer.forget(|s| !members.contains(&node_of(NodeId(s)))) as u64;
        self.relay_log.clear();
        self.relay_log_bytes = 0;
        self.sequencer = (sequencer_of(&self.view) == Some(self.me)).then(Sequencer::new);
        self.out.push_back(Output::View { id: self.view.id, members: self.view.members.clone() });
        // A view installed during the flush: closing this one starts now (what waited is
        // then taken in this view, or noted for the next).
        if let Some((next, own)) = self.pending.pop_front() {
            self.start_flush(next, own);
            if self.left {
                return;
            }
        }
        // What waited for this view, in the order QSM delivered it.
        for d in std::mem::take(&mut self.later) {
            self.deliver(d);
        }
    }

    /// Departed members' datagrams that some survivors lack: for each such stream, the
    /// lowest survivor holding it up to its end publishes them (those without application
    /// messages; a departed sequencer's carry its records).
    fn relay(&mut self) {
        let Some(f) = &self.flushing else { return };
        let Some(ends) = &f.ends else { return };
        let mut frames = Vec::new();
        for (stream, end) in f.departed_ends(ends) {
            let have = |r: &Report| r.have.iter().find(|(s, _)| *s == stream).map_or(0, |h| h.1);
            let lowest = f.reports.values().map(|(_, r)| have(r)).min().unwrap_or(0);
            let relayer = f.reports.iter().find(|(_, (_, r))| have(r) == end).map(|(n, _)| *n);
            if relayer != Some(self.me) || lowest >= end {
                continue;
            }
            for seq in lowest + 1..=end {
                let Some(parts) = self.relay_log.get(&(stream, seq)) else {
                    self.stats.relay_gaps += 1;
                    continue;
                };
                let empty = [Vec::new()];
                let parts: &[Vec<Run>] = if parts.is_empty() { &empty } else { parts };
                for (i, runs) in parts.iter().enumerate() {
                    let relay = Relay {
                        from_view: self.view.id.0,
                        stream,
                        seq,
                        part: i as u16,
                        parts: parts.len() as u16,
                        runs: runs.clone(),
                    };
                    let mut frame = Vec::new();
                    frame::encode_relay(&relay, &mut frame);
                    frames.push(frame);
                }
                self.stats.relayed_out += 1;
            }
        }
        self.outbox.extend(frames);
    }

    /// Take the departed streams up to their ends: what was held back, and what was relayed.
    fn catch_up(&mut self) {
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = &f.ends else { return };
        let departed = f.departed_ends(ends);
        let sequencer = self.sequencer();
        let mut progress = true;
        while progress {
            progress = false;
            for &(stream, end) in &departed {
                let next = self.orderer.received(stream).map_or(1, |r| r + 1);
                if next > end {
                    continue;
                }
                let Some(f) = &mut self.flushing else { return };
                if let Some(i) = f.held_back.iter().position(|d| d.sender.0 == stream && d.seq == next) {
                    let d = f.held_back.swap_remove(i);
                    self.take(d);
                    progress = true;
                    continue;
                }
                let complete = f.relayed.get(&(stream, next)).is_some_and(|p| p.iter().all(Option::is_some));
                if !complete {
                    continue;
                }
                let parts = f.relayed.remove(&(stream, next)).unwrap_or_default();
                if Some(node_of(NodeId(stream))) == sequencer {
                    for runs in parts.into_iter().flatten() {
                        if self.orderer.order(&runs).is_err() {
                            self.stats.refused += 1;
                        }
                    }
                }
                let _ = self.orderer.skip(DatagramId { stream, seq: next });
                self.stats.relayed_in += 1;
                progress = true;
            }
        }
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
        if self.left {
            return;
        }
        if let Some(s) = &mut self.sequencer {
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

impl Flush {
    /// The ends of the departed members' streams.
    fn departed_ends(&self, ends: &BTreeMap<u32, u64>) -> Vec<(u32, u64)> {
        ends.iter()
            .filter(|(s, _)| self.frozen.contains_key(&node_of(NodeId(**s))))
            .map(|(s, e)| (*s, *e))
            .collect()
    }
}

/// What a datagram's entry costs in the relay log, bytes.
fn log_cost(frames: &[Vec<Run>]) -> usize {
    RELAY_LOG_ENTRY + frames.iter().map(|f| f.len() * 16).sum::<usize>()
}

fn sequencer_of(view: &RegionView) -> Option<NodeId> {
    view.members.iter().copied().min()
}
