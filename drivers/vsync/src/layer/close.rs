//! Closing a view: the flush (decision 014). Every member of both views reports where it
//! stands; a coordinator decides the ends from the reports and every survivor closes the
//! view at them ([`crate::agree`]); members gone whose datagrams some survivors lack are
//! relayed; views installed during a flush wait for it; survivors that leave before their
//! report reached the coordinator are left out.

use super::{logged, sequencer_of, Flush, Output, TotalOrder, JOINED, MAX_PAST, MAX_RELAYED_BYTES};
use crate::agree::{Absent, Agreement};
use crate::flush::{stream_ends, Report};
use crate::flush::{Decision, RelayPlan, MAX_HOLDERS};
use crate::frame::{self, Before, Frame, Relay};
use crate::order::Sequencer;
use argent_qsm::{node_of, Delivery, Instant, NodeId, QsmNode, RegionId, RegionView, ViewError, ViewId};
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

    /// Node `node` left the membership (its incarnation of the views before): `streams` are
    /// those QSM tracked of it then ([`QsmNode::streams_of`]). Its streams are not a member's
    /// in the views after, and the flushes it survived pass it over as coordinator, and
    /// leave it out if they are not decided yet ([`crate::agree`]).
    pub fn departed(&mut self, node: NodeId, streams: impl IntoIterator<Item = NodeId>) {
        let since = self.newest_view().id.0;
        self.left_since.insert(node, since);
        self.agree_news += 1;
        // Its streams QSM named, and those this layer received from it in the views it was
        // in (QSM may have retired one already, or never tracked it); not one whose
        // datagrams are of a later view (a new incarnation, delivered ahead of its view).
        let seen: Vec<u32> = self
            .delivered
            .iter()
            .filter(|(s, views)| {
                node_of(NodeId(**s)) == node && views.last().is_some_and(|(v, _)| *v <= since)
            })
            .map(|(s, _)| *s)
            .collect();
        let entry = self.gone.entry(node).or_default();
        for s in streams.into_iter().map(|s| s.0).chain(seen) {
            if !entry.contains(&(s, since)) {
                entry.push((s, since));
            }
        }
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
        // Nothing beyond what it reports is taken before the decision (`Flush::frozen`).
        let frozen = report.have.iter().copied().collect();
        let agree = Agreement::new(self.view.id.0, view.id.0, self.me, survivors.clone());
        let mut reports = BTreeMap::new();
        reports.insert(self.me, (stream, report));
        self.flushing = Some(Flush {
            to: view,
            survivors,
            reports,
            agree,
            frozen,
            held_back: BTreeMap::new(),
            ends: None,
            dropped: Vec::new(),
            relays: Vec::new(),
            relayed_parts: BTreeMap::new(),
            relayed_bytes: 0,
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
                // Kept whatever the stream: this member may learn only later that its member
                // is gone (left out by the decision).
                Ok(Frame::Relay(r)) if r.from_view == self.view.id.0 => {
                    let parts = f
                        .relayed_parts
                        .entry((r.stream, r.seq))
                        .or_insert_with(|| vec![None; usize::from(r.parts)]);
                    let room = f.relayed_bytes + r.bytes.len() <= MAX_RELAYED_BYTES;
                    if let Some(p) = parts.get_mut(usize::from(r.part)).filter(|p| p.is_none() && room) {
                        f.relayed_bytes += r.bytes.len();
                        *p = Some(r.bytes);
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
            let Some(d) = f.agree.accepted() else { return };
            let ends: BTreeMap<u32, u64> = d.ends.iter().copied().collect();
            f.dropped = d.dropped.iter().map(|n| NodeId(*n)).collect();
            f.relays = d.relays.clone();
            if !f.dropped.is_empty() {
                self.stats.survivors_dropped += 1;
            }
            // Every stream may now be taken up to its end.
            f.frozen = ends.clone();
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
        // A survivor left out goes on in the next view: its stream continues past what the
        // ends cut off, as past what was sent before a view (a member's own stream is
        // delivered in order, so what comes next is of the next view).
        for &(stream, seq) in f.held_back.keys() {
            if f.to.members.contains(&node_of(NodeId(stream))) && self.orderer.received(stream) < Some(seq) {
                self.orderer.start_stream(stream, seq);
            }
        }
        self.view = f.to;
        // Kept to answer a coordinator that takes this flush over.
        self.past.push_back(f.agree);
        self.agree_news += 1;
        if self.past.len() > MAX_PAST {
            self.past.pop_front();
        }
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
        self.record_log.clear();
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

    /// Datagrams that some survivors lack: for each such stream, the two lowest survivors the
    /// decision names as holding it up to its end publish them, cut to fit messages of
    /// `max_len` bytes. Datagrams with application messages only for members gone (departed,
    /// or left out by the decision): a survivor's are QSM's to repair.
    pub(super) fn relay(&mut self, max_len: usize) {
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = &f.ends else { return };
        f.relayed = true;
        let (from, left_since) = (self.view.id.0, &self.left_since);
        let piece = frame::relay_piece_len(max_len);
        let mut frames = Vec::new();
        for plan in &f.relays {
            let (stream, lowest) = (plan.stream, plan.lowest);
            let Some(&end) = ends.get(&stream) else { continue };
            if f.relayed_streams.contains(&stream) || lowest >= end {
                continue;
            }
            // The two lowest holders that have not left since: a relayer may leave once it
            // closed the view, before another member learns of the need.
            let relayers: Vec<NodeId> = plan
                .holders
                .iter()
                .map(|n| NodeId(*n))
                .filter(|n| left_since.get(n).is_none_or(|since| *since <= from))
                .take(RELAYERS)
                .collect();
            if !relayers.contains(&self.me) {
                continue;
            }
            f.relayed_streams.insert(stream);
            // What came before this view (a member that joined in it lacks it, and never
            // gets it): named, not relayed.
            let before = self.first_in_view.get(&stream).map_or(end, |first| first - 1).min(end);
            if lowest < before {
                let mut frame = Vec::new();
                frame::encode_before(&Before { from_view: from, stream, seq: before }, &mut frame);
                frames.push(frame);
            }
            let node = node_of(NodeId(stream));
            let data_too = !f.to.members.contains(&node) || f.dropped.contains(&node);
            for seq in lowest.max(before) + 1..=end {
                let Some(d) = logged([&self.relay_log, &self.record_log], stream, seq) else {
                    self.stats.relay_gaps += 1;
                    continue;
                };
                if !data_too && d.messages().any(|m| frame::data(m).is_some()) {
                    continue;
                }
                let pieces: Vec<&[u8]> = d.datagram.chunks(piece).collect();
                let parts = match u16::try_from(pieces.len()) {
                    Ok(n) if n <= frame::MAX_RELAY_PARTS => n,
                    _ => {
                        self.stats.relay_gaps += 1;
                        continue;
                    }
                };
                for (i, bytes) in pieces.into_iter().enumerate() {
                    let relay =
                        Relay { from_view: from, stream, seq, part: i as u16, parts, bytes: bytes.to_vec() };
                    let mut frame = Vec::new();
                    frame::encode_relay(&relay, &mut frame);
                    frames.push(frame);
                }
                self.stats.relayed_out += 1;
            }
        }
        self.outbox.extend(frames);
    }

    /// Take every stream up to its end: what was held back; for members gone, what was
    /// relayed, and what a joiner is told came before its view.
    pub(super) fn catch_up(&mut self) {
        let Some(f) = &mut self.flushing else { return };
        let Some(ends) = &f.ends else { return };
        let ends: Vec<(u32, u64)> = ends.iter().map(|(s, e)| (*s, *e)).collect();
        let mut progress = true;
        while progress {
            progress = false;
            for &(stream, end) in &ends {
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
                if let Some(d) = f.held_back.remove(&(stream, next)) {
                    self.take(d);
                    progress = true;
                    continue;
                }
                if self.orderer.received(stream).is_none() {
                    // Nothing of it here yet: it starts at the first held back.
                    if let Some((&(_, seq), _)) = f.held_back.range((stream, 0)..=(stream, end)).next() {
                        let d = f.held_back.remove(&(stream, seq)).expect("just found");
                        self.take(d);
                        progress = true;
                        continue;
                    }
                }
                let complete =
                    f.relayed_parts.get(&(stream, next)).is_some_and(|p| p.iter().all(Option::is_some));
                if !complete {
                    continue;
                }
                let parts = f.relayed_parts.remove(&(stream, next)).unwrap_or_default();
                let bytes: Vec<u8> = parts.into_iter().flatten().flatten().collect();
                f.relayed_bytes = f.relayed_bytes.saturating_sub(bytes.len());
                // The datagram as its sender sealed it: checked like any datagram received.
                let Some(d) = relayed_datagram(self.region, stream, next, self.view.id.0, bytes) else {
                    self.stats.bad_frames += 1;
                    continue;
                };
                self.take(d);
                self.stats.relayed_in += 1;
                progress = true;
            }
        }
    }

    /// Agree on the ends of the flush under way, and answer for the flushes finished
    /// ([`crate::agree`]). A survivor is passed over once it left the membership
    /// ([`TotalOrder::departed`]), or once its join report says its layer began after the
    /// view closed.
    pub(super) fn agree(&mut self, qsm: &QsmNode) {
        // Streams of incarnations gone are remembered while QSM or this layer has them.
        let (delivered, region) = (&self.delivered, self.region);
        for streams in self.gone.values_mut() {
            streams.retain(|(s, _)| qsm.tracks_stream(region, NodeId(*s)) || delivered.contains_key(s));
        }
        let (left_since, joined_at) = (&self.left_since, &self.joined_at);
        let absent = |from: u64, to: u64| {
            move |n: NodeId| {
                if left_since.get(&n).is_some_and(|since| *since > from) {
                    Some(Absent::Left)
                } else if joined_at.get(&n).is_some_and(|v| *v >= to) {
                    Some(Absent::Later)
                } else {
                    None
                }
            }
        };
        let mut out = Vec::new();
        let mut published = 0;
        // The flushes finished move on only when a member leaves or a frame of theirs comes.
        if self.agree_news != self.agree_seen {
            self.agree_seen = self.agree_news;
            for a in &mut self.past {
                let (from, to) = a.views();
                let was = a.published();
                a.step(absent(from, to), || None, &mut out);
                published += u64::from(!was && a.published());
            }
        }
        // What this member holds now of the view it closes, should it decide the ends.
        let mine: BTreeMap<u32, u64> = match &self.flushing {
            Some(f) if !f.agree.published() && f.agree.coordinator().is_none_or(|c| c == self.me) => {
                self.have(&self.view).into_iter().collect()
            }
            _ => BTreeMap::new(),
        };
        if let Some(f) = &mut self.flushing {
            let (from, to) = f.agree.views();
            let was = f.agree.accepted().cloned();
            let is_absent = absent(from, to);
            let me = self.me;
            let fresh = || decide(from, to, me, &f.survivors, &f.reports, &mine, is_absent);
            let was_published = f.agree.published();
            f.agree.step(absent(from, to), fresh, &mut out);
            published += u64::from(!was_published && f.agree.published());
            if let (Some(was), Some(now)) = (was, f.agree.accepted()) {
                if was.ends != now.ends && f.ends.is_some() {
                    self.stats.conflicting_decisions += 1;
                }
            }
        }
        self.stats.decisions += published;
        self.outbox.extend(out);
        self.try_finish();
    }

    /// Decisions on flushes, and states for their coordinators, from `d`: kept by the
    /// agreement they belong to (the flush under way or one finished). Join reports say
    /// where a member's layer began.
    pub(super) fn note_agreement(&mut self, d: &Delivery) {
        let node = node_of(d.sender);
        for msg in d.messages() {
            let kind = msg.first().copied();
            if !matches!(kind, Some(frame::DECIDE_KIND | frame::STATE_KIND | frame::REPORT_KIND)) {
                continue;
            }
            match Frame::decode(msg) {
                Ok(Frame::Report(r)) if r.from_view == JOINED => {
                    let v = self.joined_at.entry(node).or_default();
                    *v = (*v).max(r.to_view);
                    self.agree_news += 1;
                }
                Ok(Frame::Decide(dec)) => {
                    if let Some(a) = self.agreement(dec.from_view, dec.to_view) {
                        a.offer(node, dec);
                    }
                    self.agree_news += 1;
                }
                Ok(Frame::State(st)) => {
                    if let Some(a) = self.agreement(st.from_view, st.to_view) {
                        a.state(node, st);
                    }
                    self.agree_news += 1;
                }
                _ => {}
            }
        }
    }

    /// What the flush under way waits for, in words (for diagnostics).
    pub fn flush_summary(&self) -> Option<String> {
        let f = self.flushing.as_ref()?;
        let reported: Vec<u32> = f.reports.keys().map(|n| n.0).collect();
        let survivors: Vec<u32> = f.survivors.iter().map(|n| n.0).collect();
        let missing = f.ends.as_ref().map(|e| self.orderer.missing(e));
        Some(format!(
            "flush {} -> {}: survivors {survivors:?}, reported {reported:?}, coordinator {:?}, accepted {:?}, \
             missing {missing:?}, relayed {}, held back {}, views waiting {}, left since {:?}, joined at {:?}, gone {:?}, before {:?}, relayed parts {:?}",
            self.view.id.0,
            f.to.id.0,
            f.agree.coordinator().map(|c| c.0),
            f.agree.accepted().map(|d| (d.ballot, d.dropped.clone(), d.relays.clone(), d.ends.clone())),
            f.relayed,
            f.held_back.len(),
            self.pending.len(),
            self.left_since,
            self.joined_at,
            self.gone,
            f.before,
            f.relayed_parts.iter().map(|(k, v)| (*k, v.iter().filter(|p| p.is_some()).count(), v.len())).collect::<Vec<_>>(),
        ))
    }

    /// The agreement on the flush from `from` to `to`, under way or finished.
    fn agreement(&mut self, from: u64, to: u64) -> Option<&mut Agreement> {
        let current = self.flushing.as_mut().map(|f| &mut f.agree).filter(|a| a.views() == (from, to));
        current.or_else(|| self.past.iter_mut().rev().find(|a| a.views() == (from, to)))
    }
}

/// A coordinator's decision on the ends of the flush from `from` to `to`, from the reports
/// (by survivor) and what the coordinator `me` holds now (`mine`, by stream).
///
/// - Survivors that left are left out, their report too if it came: what they delivered is
///   not held to the order, and nobody could relay what only they hold. Their streams end
///   where the others hold them.
/// - It waits for the report of every other survivor, and to hold every survivor's stream
///   up to its end (QSM brings it while the survivor is a member; if the survivor leaves
///   first, it is left out). So the coordinator can relay any of it.
fn decide(
    from: u64,
    to: u64,
    me: NodeId,
    survivors: &[NodeId],
    reports: &BTreeMap<NodeId, (u32, Report)>,
    mine: &BTreeMap<u32, u64>,
    absent: impl Fn(NodeId) -> Option<Absent>,
) -> Option<Decision> {
    let left = |s: &NodeId| *s != me && absent(*s) == Some(Absent::Left);
    if survivors.iter().any(|s| !reports.contains_key(s) && !left(s)) {
        return None;
    }
    let dropped: Vec<NodeId> =
        survivors.iter().copied().filter(|s| !reports.contains_key(s) || left(s)).collect();
    let included: BTreeMap<NodeId, (u32, &Report)> =
        reports.iter().filter(|(n, _)| !dropped.contains(n)).map(|(n, (s, r))| (*n, (*s, r))).collect();
    let held = |stream: u32| mine.get(&stream).copied().unwrap_or(0);
    if included.values().any(|(s, r)| held(*s) < r.own_end) {
        return None;
    }
    let ends = stream_ends(&included.values().copied().collect::<Vec<_>>());
    // Any stream that a survivor lacks up to its end: QSM's repair among the survivors
    // usually brings it, but not once its sender left (and it may leave after this).
    let relays = ends
        .iter()
        .filter_map(|(&stream, &end)| {
            let have = |r: &Report| r.have.iter().find(|(s, _)| *s == stream).map_or(0, |h| h.1);
            let lowest = included.values().map(|(_, r)| have(r)).min().unwrap_or(0);
            // The coordinator first, if it holds it now.
            let holders: Vec<u32> = (held(stream) >= end)
                .then_some(me)
                .into_iter()
                .chain(included.iter().filter(|(n, (_, r))| **n != me && have(r) >= end).map(|(n, _)| *n))
                .map(|n| n.0)
                .take(MAX_HOLDERS)
                .collect();
            (lowest < end).then_some(RelayPlan { stream, lowest, holders })
        })
        .collect();
    Some(Decision {
        from_view: from,
        to_view: to,
        ballot: 0,
        ends: ends.into_iter().collect(),
        dropped: dropped.into_iter().map(|n| n.0).collect(),
        relays,
    })
}

/// A relayed datagram, if its bytes are a data datagram of `stream`, numbered `seq`, sent in
/// `view` (decoded as QSM decodes what it receives: never panics).
fn relayed_datagram(region: RegionId, stream: u32, seq: u64, view: u64, bytes: Vec<u8>) -> Option<Delivery> {
    let (header, frame) = argent_wire::decode(&bytes).ok()?;
    let argent_wire::Frame::Data(data) = frame else { return None };
    if header.region != region.0 || data.sender != stream || data.seq != seq || data.view != view {
        return None;
    }
    let count = data.count;
    Some(Delivery { region, sender: NodeId(stream), seq, view: ViewId(view), count, datagram: bytes.into() })
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
