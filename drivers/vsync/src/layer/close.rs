//! Closing a view: the flush (decision 014). Every member of both views reports where it
//! stands; from the same reports every survivor computes the same ends; departed members'
//! datagrams that some survivors lack are relayed; views installed during a flush wait
//! for it; survivors that leave before their report reached anyone are not waited for.

use super::{sequencer_of, Flush, Output, TotalOrder, JOINED};
use crate::flush::{stream_ends, Report};
use crate::frame::{self, Before, Frame, Relay, Run};
use crate::order::{DatagramId, Sequencer};
use argent_qsm::{node_of, Delivery, Instant, NodeId, QsmNode, RegionView, ViewError, ViewId};
use std::collections::BTreeMap;

impl TotalOrder {
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
        let newest = self.newest_view();
        if self.left || view.id <= newest.id {
            return;
        }
        // This member's report closing the newest view, published now (it does not wait for
        // the flushes before: a member that leaves or stops in the meantime has reported all
        // the same).
        let report = Report {
            from_view: newest.id.0,
            to_view: view.id.0,
            own_end: qsm.sealed_upto(self.region).unwrap_or(0),
            have: self.have(newest),
        };
        if newest.members.contains(&self.me) && view.members.contains(&self.me) {
            let mut f = Vec::new();
            frame::encode_report(&report, &mut f);
            self.outbox.push_back(f);
        }
        let own = (qsm.stream().0, report);
        if self.flushing.is_some() {
            self.pending.push_back((view, own));
            return;
        }
        self.start_flush(view, own);
    }

    /// How far this member holds the streams of `upto`'s members, datagrams sent in `upto` or before (QSM
    /// delivers each stream in order): what it took, what waits for a later view, and what
    /// it took from relays. (A member that left may still send what it queued, in a view
    /// without it: not part of the views it was in.)
    fn have(&self, upto: &RegionView) -> Vec<(u32, u64)> {
        let member = |s: u32| member_stream(upto, &self.gone, s);
        let mut have: BTreeMap<u32, u64> = self
            .delivered
            .iter()
            .filter(|(s, _)| member(**s))
            .filter_map(|(s, views)| {
                views.iter().rev().find(|(v, _)| *v <= upto.id.0).map(|(_, last)| (*s, *last))
            })
            .collect();
        for (s, h) in self.orderer.have().into_iter().filter(|(s, _)| member(*s)) {
            let e = have.entry(s).or_default();
            *e = (*e).max(h);
        }
        have.into_iter().collect()
    }

    /// Node `node` left the membership: QSM winds down its streams `streams` (those it
    /// tracked then, [`QsmNode::streams_of`]) and retires them. A flush that still waits for
    /// its report stops waiting once they are retired: QSM has then delivered everything of
    /// them that any member holds, so no member has that report, and the node's streams end
    /// where QSM stopped delivering them, the same at every member.
    pub fn departed(&mut self, node: NodeId, streams: impl IntoIterator<Item = NodeId>) {
        let since = self.newest_view().id.0;
        self.left_since.insert(node, since);
        self.gone.entry(node).or_default().extend(streams.into_iter().map(|s| (s.0, since)));
    }

    /// The newest view QSM installed: the last waiting, the one flushed to, or this one.
    fn newest_view(&self) -> &RegionView {
        match (self.pending.back(), &self.flushing) {
            (Some((v, _)), _) => v,
            (None, Some(f)) => &f.to,
            (None, None) => &self.view,
        }
    }

    /// Close this member's view toward `view`; `own`: its stream, and its report (made when
    /// QSM installed `view`).
    fn start_flush(&mut self, view: RegionView, (stream, report): (u32, Report)) {
        if !view.members.contains(&self.me) {
            // Its reports are out (or queued: they still go); nothing more to deliver.
            self.left = true;
            self.later.clear();
            self.pending.clear();
            self.outbox.retain(|f| f.first() != Some(&frame::ORDER_KIND));
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
        debug_assert_eq!(report.from_view, self.view.id.0);
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
            relayed_parts: BTreeMap::new(),
            dropped: Vec::new(),
            before: BTreeMap::new(),
            relayed: false,
            relayed_streams: Default::default(),
        });
        // Reports that came before this member installed the view (QSM holds a newer view's
        // datagrams back until then, so normally none).
        let waiting = std::mem::take(&mut self.later);
        waiting.iter().for_each(|d| self.note_reports(d));
        self.later = waiting;
        self.try_finish();
    }

    /// Reports in a datagram of a newer view: kept if they close this member's view toward
    /// the view it is flushing to.
    pub(super) fn note_reports(&mut self, d: &Delivery) {
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
                // A member of this view whose layer began in the next one or later (the
                // membership told it of that view first): it sent and delivered nothing here.
                Ok(Frame::Report(r)) if r.from_view == JOINED && r.to_view >= f.to.id.0 => {
                    let r = Report { from_view: self.view.id.0, own_end: 0, have: Vec::new(), ..r };
                    f.reports.entry(node).or_insert((d.sender.0, r));
                }
                Ok(Frame::Before(b)) if b.from_view == self.view.id.0 => {
                    let e = f.before.entry(b.stream).or_default();
                    *e = (*e).max(b.seq);
                }
                Ok(Frame::Relay(r))
                    if r.from_view == self.view.id.0 && f.is_gone(node_of(NodeId(r.stream))) =>
                {
                    let parts = f
                        .relayed_parts
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
    pub(super) fn try_finish(&mut self) {
        let Some(f) = &mut self.flushing else { return };
        if f.ends.is_none() {
            if f.survivors.iter().any(|s| !f.reports.contains_key(s)) {
                return;
            }
            let reports: Vec<(u32, &Report)> = f.reports.values().map(|(s, r)| (*s, r)).collect();
            let mut ends = stream_ends(&reports);
            // Survivors gone before they reported: QSM retired their streams, having
            // delivered here what any member held of them.
            for (stream, have) in self.orderer.have() {
                if f.dropped.contains(&node_of(NodeId(stream))) {
                    ends.insert(stream, have);
                }
            }
            ends.retain(|_, e| *e > 0);
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
        }
        self.catch_up();
        self.release();
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = f.ends.as_ref() else { return };
        if !f.relayed {
            return; // the relays first (`flush`): others may wait for them
        }
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
        let (view, gone) = (&self.view, &self.gone);
        let member = |s: u32| member_stream(view, gone, s);
        self.stats.flush_dropped += self.orderer.forget(|s| !member(s)) as u64;
        let current = self.view.id.0;
        self.delivered.retain(|s, _| member(*s));
        for views in self.delivered.values_mut() {
            // The last view before this one stands for all before.
            let before = views.iter().filter(|(v, _)| *v < current).count();
            views.drain(..before.saturating_sub(1));
        }
        self.relay_log.clear();
        self.relay_log_bytes = 0;
        self.first_in_view.clear();
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
    pub(super) fn relay(&mut self) {
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = &f.ends else { return };
        f.relayed = true;
        let (from, left_since) = (self.view.id.0, &self.left_since);
        let mut frames = Vec::new();
        for (stream, end) in f.gone_ends(ends) {
            if f.relayed_streams.contains(&stream) {
                continue;
            }
            let have = |r: &Report| r.have.iter().find(|(s, _)| *s == stream).map_or(0, |h| h.1);
            let lowest = f.reports.values().map(|(_, r)| have(r)).min().unwrap_or(0);
            // The two lowest survivors that hold it all and have not left since: a relayer
            // may leave once it closed the view, before another member learns of the need.
            let relayers: Vec<NodeId> = f
                .reports
                .iter()
                .filter(|(n, _)| left_since.get(*n).is_none_or(|since| *since <= from))
                .filter(|(_, (_, r))| have(r) == end)
                .map(|(n, _)| *n)
                .take(RELAYERS)
                .collect();
            if !relayers.contains(&self.me) || lowest >= end {
                continue;
            }
            f.relayed_streams.insert(stream);
            // What came before this view (a member that joined in it lacks it, and never
            // gets it): named, not relayed.
            let before = self.first_in_view.get(&stream).map_or(end, |first| first - 1).min(end);
            if lowest < before {
                let mut frame = Vec::new();
                frame::encode_before(&Before { from_view: self.view.id.0, stream, seq: before }, &mut frame);
                frames.push(frame);
            }
            for seq in lowest.max(before) + 1..=end {
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
    pub(super) fn catch_up(&mut self) {
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = &f.ends else { return };
        let departed = f.gone_ends(ends);
        let sequencer = self.sequencer();
        let mut progress = true;
        while progress {
            progress = false;
            for &(stream, end) in &departed {
                let Some(f) = &mut self.flushing else { return };
                if let Some(&before) = f.before.get(&stream) {
                    if self.orderer.received(stream).is_none_or(|r| r < before) {
                        // Sent before this view, which this member joined in.
                        self.orderer.start_stream(stream, before);
                        progress = true;
                    }
                }
                let next = self.orderer.received(stream).map_or(1, |r| r + 1);
                if next > end {
                    continue;
                }
                if let Some(i) = f.held_back.iter().position(|d| d.sender.0 == stream && d.seq == next) {
                    let d = f.held_back.swap_remove(i);
                    self.take(d);
                    progress = true;
                    continue;
                }
                let complete =
                    f.relayed_parts.get(&(stream, next)).is_some_and(|p| p.iter().all(Option::is_some));
                if !complete {
                    continue;
                }
                let parts = f.relayed_parts.remove(&(stream, next)).unwrap_or_default();
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

    /// A flush that waits for the report of survivors that left the membership since
    /// ([`TotalOrder::departed`]: gone from a later view, or back as a new incarnation)
    /// stops waiting for it once QSM retired their streams.
    pub(super) fn drop_departed(&mut self, qsm: &QsmNode) {
        // Streams of incarnations gone are remembered while QSM or this layer has them.
        let (delivered, region) = (&self.delivered, self.region);
        for streams in self.gone.values_mut() {
            streams.retain(|(s, _)| qsm.tracks_stream(region, NodeId(*s)) || delivered.contains_key(s));
        }
        let Some(f) = self.flushing.as_mut().filter(|f| f.ends.is_none()) else { return };
        let (gone, left_since, from, region) = (&self.gone, &self.left_since, self.view.id.0, self.region);
        // Its incarnation of this view left since (gone from a later view, or replaced by a
        // new incarnation), and QSM retired its streams.
        let dropped: Vec<NodeId> = f
            .survivors
            .iter()
            .copied()
            .filter(|s| !f.reports.contains_key(s))
            .filter(|s| left_since.get(s).is_some_and(|since| *since > from))
            .filter(|s| {
                gone.get(s).is_none_or(|streams| {
                    streams.iter().all(|(st, _)| !qsm.tracks_stream(region, NodeId(*st)))
                })
            })
            .collect();
        if dropped.is_empty() {
            return;
        }
        f.survivors.retain(|s| !dropped.contains(s));
        f.dropped.extend(dropped);
        self.stats.survivors_dropped += 1;
        self.try_finish();
    }
}

impl Flush {
    /// Whether `node` departed, or was a survivor gone before it reported.
    fn is_gone(&self, node: NodeId) -> bool {
        self.frozen.contains_key(&node) || self.dropped.contains(&node)
    }

    /// The ends of the streams of departed members and of survivors gone before they
    /// reported.
    fn gone_ends(&self, ends: &BTreeMap<u32, u64>) -> Vec<(u32, u64)> {
        ends.iter().filter(|(s, _)| self.is_gone(node_of(NodeId(**s)))).map(|(s, e)| (*s, *e)).collect()
    }
}

/// How many survivors relay each departed stream's datagrams (the lowest that hold them
/// all): one may leave before the others learn they need them.
const RELAYERS: usize = 2;

/// Whether `stream` is a stream of a member of `view`: its node is a member, and not in an
/// incarnation that had left by then (`gone`, [`TotalOrder::departed`]).
fn member_stream(view: &RegionView, gone: &BTreeMap<NodeId, Vec<(u32, u64)>>, stream: u32) -> bool {
    let node = node_of(NodeId(stream));
    view.members.contains(&node)
        && !gone.get(&node).is_some_and(|g| g.iter().any(|(s, since)| *s == stream && *since <= view.id.0))
}
