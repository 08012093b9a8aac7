//! The region's token rings: round scheduling and regeneration at the leader, which hands
//! every partition a token at once and gathers them back; hop-by-hop reliable token passing
//! within a partition; and what each member does when the token visits it (push to its
//! predecessor, pull from owning partitions, NAK what a whole partition lacks, report
//! contiguous numbers and receive rates).

use crate::config::Config;
use crate::events::Event;
use crate::invariant::invariant;
use crate::io::{Cx, Io};
use crate::layout::Hop;
use crate::region::Region;
use crate::repair::{end_partition, member_visit, Spot};
use crate::ring_state::{
    retire_stall_visits, round_resync_after, PendingPass, MAX_PASS_RTO, MAX_ROUND_LEAP, ROUNDS_TIMED,
};
use crate::stream::node_of;
use argent_core::{Instant, NodeId};
use argent_wire::{Ack, Token, TokenAck, TokenEntry, TokenFrame};
use bytes::Bytes;
use std::collections::BTreeSet;

impl Region {
    fn is_leader(&self, me: NodeId) -> bool {
        self.layout.leader() == me
    }

    /// When the leader starts (or regenerates) the next round.
    fn next_round_at(&self, cfg: &Config) -> Instant {
        let ring = &self.ring;
        if ring.in_flight {
            return ring.round_started + ring.regen_timeout(cfg);
        }
        let new_bytes = self.rx_bytes - ring.rx_at_start;
        let own_unacked = self.send.as_ref().is_some_and(|s| s.sent_upto > s.stable);
        if !(ring.outstanding || new_bytes > 0 || own_unacked || self.departing > 0) {
            return ring.last_start + cfg.idle_round_interval;
        }
        // Adapt to load: with a quarter of a send buffer received since the last round
        // started, run the next one at once so buffers stay bounded in bytes, not seconds.
        if new_bytes >= cfg.send_buffer_bytes as u64 / 4 {
            return ring.last_start;
        }
        ring.last_start + cfg.round_interval
    }

    pub(crate) fn ring_deadline(&self, me: NodeId, cfg: &Config) -> Option<Instant> {
        let pass = self.ring.pending.iter().map(|p| p.deadline).min();
        let round = self.is_leader(me).then(|| self.next_round_at(cfg));
        match (pass, round) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn on_timeout(&mut self, cx: &Cx<'_>, io: &mut Io) {
        let Cx { now, cfg, me, .. } = *cx;
        let attempts = cfg.token_pass_attempts;
        // Passes retried too often are left to regeneration or a view change.
        self.ring.pending.retain(|p| now < p.deadline || p.attempts < attempts);
        for p in self.ring.pending.iter_mut().filter(|p| now >= p.deadline) {
            p.attempts += 1;
            invariant!(p.attempts <= attempts, "token pass attempt {} of {attempts}", p.attempts);
            p.rto = (p.rto * 2).min(MAX_PASS_RTO);
            p.deadline = now + p.rto;
            io.out.push_back(argent_core::Transmit {
                region: self.id,
                dest: argent_core::Destination::Node(p.to),
                payload: p.datagram.clone(),
            });
            io.stats.tokens_sent += 1;
            io.stats.token_retransmissions += 1;
        }
        if self.is_leader(me) && now >= self.next_round_at(cfg) {
            if self.ring.in_flight {
                io.stats.rounds_regenerated += 1;
                self.ring.regenerations = self.ring.regenerations.saturating_add(1);
            }
            self.start_round(cx, io);
        }
    }

    fn start_round(&mut self, cx: &Cx<'_>, io: &mut Io) {
        let Cx { now, stream, .. } = *cx;
        let ring = &mut self.ring;
        ring.round = ring.round.max(ring.seen.map_or(0, |s| s.0)).saturating_add(1);
        ring.in_flight = true;
        ring.round_started = now;
        ring.last_start = now;
        ring.rx_at_start = self.rx_bytes;
        ring.seen = Some((ring.round, 0));
        if ring.starts.len() == ROUNDS_TIMED {
            ring.starts.pop_front();
        }
        ring.starts.push_back((ring.round, now));
        invariant!(
            ring.starts.len() <= ROUNDS_TIMED,
            "{} round starts timed, bound {ROUNDS_TIMED}",
            ring.starts.len()
        );
        let mut senders: BTreeSet<u32> = ring.carry.keys().copied().collect();
        senders.extend(self.feeds.keys().map(|n| n.0));
        if self.send.is_some() {
            senders.insert(stream.0);
        }
        // The cut-off is what the region had seen by the end of an earlier round (or what a
        // heartbeat announced), never what is in flight now: members treat everything up to
        // it as lost if they lack it.
        let entries = senders
            .into_iter()
            .map(|s| {
                let carry = ring.carry.get(&s).copied().unwrap_or_default();
                let (cutoff, cleanup) = self.feeds.get(&NodeId(s)).map_or((0, 0), |f| (f.cutoff, f.cleanup));
                TokenEntry {
                    sender: s,
                    cutoff: carry.cutoff.max(cutoff),
                    cleanup: carry.cleanup.max(cleanup),
                    min_contiguous: u64::MAX,
                    part_contiguous: u64::MAX,
                    rate_min: u32::MAX,
                    ..TokenEntry::default()
                }
            })
            .collect();
        let token = Token { view: self.layout.view.0, round: ring.round, hop: 0, flags: 0, entries };
        self.begin_partition(cx, 0, None, token, io);
    }

    /// This member heads its partition and the round's token reached it (the leader: it
    /// started the round): start the child partitions' tokens, then visit and pass its own.
    /// `token` is as the round started (starts carry no member's report).
    fn begin_partition(&mut self, cx: &Cx<'_>, pos: usize, prev: Option<NodeId>, token: Token, io: &mut Io) {
        let part = self.layout.partition_at(pos);
        let children = self.layout.children(part);
        self.ring.gather(token.round, 1 + children.len());
        for c in children {
            let mut start = token.clone();
            start.hop = self.layout.partition_start(c) as u32; // ring sizes are far below u32::MAX
            self.send_pass(cx, self.layout.head(c), start, io);
        }
        let mut token = token;
        self.visit(cx, pos, prev, &mut token, io);
        self.pass(cx, pos, token, io);
    }

    pub(crate) fn on_token(&mut self, cx: &Cx<'_>, from: NodeId, frame: &TokenFrame<'_>, io: &mut Io) {
        let me = cx.me;
        let Some(pos) = self.layout.position(me) else {
            io.stats.ignored += 1;
            return;
        };
        let hop =
            self.layout.classify(pos, frame.hop as usize, from).filter(|_| frame.view == self.layout.view.0);
        let Some(hop) = hop else {
            io.stats.ignored += 1;
            return;
        };
        // Acknowledge every pass, duplicates included, so the predecessor stops resending.
        let ack = TokenAck { view: frame.view, round: frame.round, hop: frame.hop };
        io.unicast(self.id, from, argent_wire::encode_token_ack(self.id.0, me.0, &ack));
        match hop {
            Hop::Visit => {}
            // Any round gathered here may come back, also one that was regenerated
            // meanwhile: its minimums are older, hence conservative.
            Hop::PartitionBack(_) => return self.gathered(cx, pos, 0, frame.to_token(), io),
            Hop::SubtreeBack(c) => {
                let first = self.layout.children(self.layout.partition_at(pos)).start;
                return self.gathered(cx, pos, 1 + c - first, frame.to_token(), io);
            }
        }
        let fresh = cx.now.saturating_duration_since(self.ring.seen_at) < round_resync_after(cx.cfg);
        if let Some((round, h)) = self.ring.seen.filter(|_| fresh) {
            if frame.round < round || (frame.round == round && frame.hop <= h) {
                return; // a duplicate, or a round superseded by a regenerated one
            }
            if frame.round - round > MAX_ROUND_LEAP {
                io.stats.round_leaps += 1;
                return; // a round no healthy ring reaches this soon
            }
        }
        self.ring.seen = Some((frame.round, frame.hop));
        self.ring.seen_at = cx.now;
        let mut token = frame.to_token();
        if self.layout.starts_partition(pos) {
            return self.begin_partition(cx, pos, Some(from), token, io);
        }
        self.visit(cx, pos, Some(from), &mut token, io);
        self.pass(cx, pos, token, io);
    }

    /// Hand the token to the next member of the partition, or back to the partition's head
    /// from its last member.
    fn pass(&mut self, cx: &Cx<'_>, pos: usize, mut token: Token, io: &mut Io) {
        let layout = &self.layout;
        let part = layout.partition_at(pos);
        if layout.ends_partition(pos) && layout.starts_partition(pos) {
            return self.gathered(cx, pos, 0, token, io); // a partition of one
        }
        let (to, hop) = if layout.ends_partition(pos) {
            (layout.head(part), layout.len() + part)
        } else {
            (layout.order[pos + 1], pos + 1)
        };
        token.hop = hop as u32; // ring sizes are far below u32::MAX
        self.send_pass(cx, to, token, io);
    }

    /// Send a token to `to` and keep it until `to` acknowledges it.
    fn send_pass(&mut self, cx: &Cx<'_>, to: NodeId, token: Token, io: &mut Io) {
        let Cx { now, cfg, me, .. } = *cx;
        let datagram = Bytes::from(token.encode(self.id.0, me.0));
        io.stats.max_token_bytes = io.stats.max_token_bytes.max(datagram.len() as u64);
        io.stats.tokens_sent += 1;
        io.out.push_back(argent_core::Transmit {
            region: self.id,
            dest: argent_core::Destination::Node(to),
            payload: datagram.clone(),
        });
        let rto = self.ring.pass_rto(cfg);
        // Passes of earlier rounds are void: the leader started a newer one.
        self.ring.pending.retain(|p| p.round >= token.round);
        self.ring.pending.push(PendingPass {
            to,
            round: token.round,
            hop: token.hop,
            datagram,
            attempts: 0,
            rto,
            deadline: now + rto,
            sent_at: now,
        });
    }

    /// At a partition's head (ring position `pos`), slot `slot` of round `token.round` came
    /// back (0: the partition's own token; 1 + i: its i-th child's subtree). Once all have,
    /// the folded token goes to the parent partition's head, or completes the round at the
    /// leader.
    fn gathered(&mut self, cx: &Cx<'_>, pos: usize, slot: usize, token: Token, io: &mut Io) {
        let Some(mut whole) = self.ring.gathered(slot, token) else { return };
        let part = self.layout.partition_at(pos);
        match self.layout.parent(part) {
            None if whole.round > self.ring.completed => self.complete(cx, &whole, io),
            None => {}
            Some(q) => {
                let hop = self.layout.len() + self.layout.partitions() + part;
                whole.hop = hop as u32; // ring sizes are far below u32::MAX
                let to = self.layout.head(q);
                self.send_pass(cx, to, whole, io);
            }
        }
    }

    /// The round came back to the leader: acknowledge each sender and remember what the
    /// next round starts from. Departing streams, and streams gone here (retired, or of a
    /// departed node, possibly never tracked here) that members still report on, are carried
    /// but not acknowledged: their members need the region-wide numbers to wind them down —
    /// the cut-off to repair what some of them lack, the cleanup point to see that all have
    /// everything. Without them a member can only retire such a stream by stalling (seconds
    /// at the idle pace), with gaps at its tail never repaired. A stream gone here that
    /// nobody reports on any more is dropped.
    fn complete(&mut self, cx: &Cx<'_>, token: &Token, io: &mut Io) {
        let Cx { now, cfg, me, stream, .. } = *cx;
        let ring = &mut self.ring;
        ring.completed = token.round;
        ring.gathers.retain(|g| g.round > token.round);
        ring.regenerations = 0;
        if token.round == ring.round {
            ring.in_flight = false;
        }
        if let Some((_, started)) = ring.starts.iter().find(|(r, _)| *r == token.round) {
            let took = now.saturating_duration_since(*started);
            ring.srtt = Some(ring.srtt.map_or(took, |s| (s * 7 + took) / 8));
        }
        ring.outstanding = false;
        ring.winding = ring.winding.saturating_sub(1);
        io.stats.rounds_completed += 1;
        for e in &token.entries {
            let sender = NodeId(e.sender);
            let feed = self.feeds.get(&sender);
            let gone = feed.is_none() && self.is_gone(cx, sender);
            if gone && e.min_contiguous == u64::MAX {
                self.ring.carry.remove(&e.sender); // no member tracks it any more
                continue;
            }
            let departing = gone || feed.is_some_and(|f| f.departing.is_some());
            let ring = &mut self.ring;
            let stable = if e.min_contiguous == u64::MAX { 0 } else { e.min_contiguous };
            let fresh = !ring.carry.contains_key(&e.sender);
            let carry = ring.carry.entry(e.sender).or_default();
            let progress = fresh || stable > carry.cleanup;
            // Nothing exists beyond a window past the region's contiguous point (the sender
            // is flow-controlled by it): a larger report (a buggy member's) is clamped, or it
            // would keep rounds busy repairing what was never sent.
            let reported = e.max_seen.max(e.cutoff);
            let bound = stable.saturating_add(cfg.window_datagrams);
            io.stats.clamped += u64::from(reported > bound && stable > 0);
            carry.cutoff = carry.cutoff.max(reported.min(bound));
            carry.cleanup = carry.cleanup.max(stable);
            if gone {
                // Wound down elsewhere: keep rounds coming while it makes progress, and a
                // while after (bounded, also if a member never retires it).
                if progress {
                    ring.keep_winding(retire_stall_visits(cfg));
                }
                if ring.winding > 0 {
                    ring.outstanding = true;
                }
                continue;
            }
            if stable < carry.cutoff {
                ring.outstanding = true;
            }
            if departing {
                continue;
            }
            let (rate_min, rate_avg, rate_max) = match e.rate_count {
                0 => (0, 0, 0),
                n => (e.rate_min, (e.rate_sum / u64::from(n)).min(u64::from(u32::MAX)) as u32, e.rate_max),
            };
            let ack = Ack {
                view: token.view,
                round: token.round,
                sender: e.sender,
                stable,
                max_seen: e.max_seen,
                rate_min,
                rate_avg,
                rate_max,
            };
            if sender == stream {
                if let Some(feed) = self.send.as_mut() {
                    if feed.on_ack(now, cfg, ack.stable, ack.rate_min) {
                        io.events.push_back(Event::Writable(self.id));
                    }
                }
            } else {
                io.unicast(self.id, node_of(sender), argent_wire::encode_ack(self.id.0, me.0, &ack));
            }
        }
    }

    pub(crate) fn on_ack(&mut self, now: Instant, cfg: &Config, ack: &Ack, io: &mut Io) {
        if let Some(feed) = self.send.as_mut() {
            if feed.on_ack(now, cfg, ack.stable, ack.rate_min) {
                io.events.push_back(Event::Writable(self.id));
            }
        }
    }

    /// The token is at this member (ring position `pos`): repair, report, and update it.
    fn visit(&mut self, cx: &Cx<'_>, pos: usize, prev: Option<NodeId>, token: &mut Token, io: &mut Io) {
        let Cx { cfg, me, stream, .. } = *cx;
        // A stream first heard of through the token: everything up to its cut-off is missing
        // (once its join point is known).
        for i in 0..token.entries.len() {
            let sender = NodeId(token.entries[i].sender);
            if sender != stream {
                let _ = self.open_feed(cx, sender, io);
            }
        }
        let layout = &self.layout;
        let starts = layout.starts_partition(pos);
        let ends = layout.ends_partition(pos);
        let my_part = layout.partition_at(pos);
        // Streams this member knows that the token does not yet carry join mid-round; they
        // are not acknowledged this round (members before us did not report on them).
        let own = self.send.is_some().then_some(stream);
        for s in self.feeds.keys().chain(own.iter()) {
            if !token.entries.iter().any(|e| e.sender == s.0) {
                token.entries.push(TokenEntry {
                    sender: s.0,
                    part_contiguous: u64::MAX,
                    rate_min: u32::MAX,
                    ..Default::default()
                });
            }
        }
        let stall_limit = retire_stall_visits(cfg);
        let mut retiring: Vec<(NodeId, u64)> = Vec::new();
        for entry in &mut token.entries {
            if starts {
                entry.part_contiguous = u64::MAX;
                entry.isect = None;
            }
            let sender = NodeId(entry.sender);
            // Whether the partition may NAK the sender for this stream.
            let mut nak = true;
            if sender == stream {
                let sent = self.send.as_ref().map_or(0, |f| f.sent_upto);
                entry.max_seen = entry.max_seen.max(sent);
                entry.min_contiguous = entry.min_contiguous.min(sent);
                entry.part_contiguous = entry.part_contiguous.min(sent);
                entry.prev_missing.clear();
            } else if let Some(feed) = self.feeds.get_mut(&sender) {
                nak = feed.departing.is_none();
                let missing = &mut self.ring.missing;
                let at = Spot { cx: *cx, layout, region: self.id, pos, prev, round: token.round };
                if member_visit(&at, feed, entry, missing, stall_limit, io) {
                    retiring.push((sender, entry.max_seen));
                }
            } else if self.is_gone(cx, sender) {
                // Retired here, or its node left: passed on untouched, never NAKed.
                nak = false;
            } else {
                // A stream this member cannot track: it must not be acknowledged past us.
                entry.min_contiguous = 0;
                entry.part_contiguous = 0;
                io.stats.ignored += 1;
            }
            if ends {
                let Some(owned) = end_partition(cfg, layout, my_part, entry) else { continue };
                if !nak {
                    continue;
                }
                if sender == stream {
                    if let Some(feed) = self.send.as_mut() {
                        feed.on_nak(cfg, owned.into_iter());
                    }
                } else {
                    let to = node_of(sender);
                    io.unicast(
                        self.id,
                        to,
                        argent_wire::encode_request(self.id.0, me.0, true, sender.0, &owned),
                    );
                    io.stats.naks_sent += 1;
                }
            }
        }
        for (sender, known) in retiring {
            self.retire(cfg, sender, known, io);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    struct Mesh {
        nodes: Vec<crate::QsmNode>,
        inbox: Vec<Vec<(NodeId, Bytes)>>,
        now: Instant,
        /// Messages of each stream delivered at each node.
        delivered: Vec<BTreeMap<NodeId, u64>>,
    }

    impl Mesh {
        fn new(n: u32, members: &[u32]) -> Self {
            let mut nodes: Vec<crate::QsmNode> =
                (0..n).map(|i| crate::QsmNode::new(NodeId(i), Config::default()).expect("config")).collect();
            let members = members.iter().copied().map(NodeId).collect();
            let view = crate::RegionView { region: REGION, id: argent_core::ViewId(1), members };
            for node in &mut nodes {
                node.install_view(Instant::ZERO, view.clone()).expect("view");
            }
            let n = n as usize;
            Mesh {
                nodes,
                inbox: vec![Vec::new(); n],
                now: Instant::ZERO,
                delivered: vec![BTreeMap::new(); n],
            }
        }

        /// Run for `span`; `pass(from, to, datagram)` false drops a datagram.
        fn drive(&mut self, span: Duration, pass: impl Fn(usize, usize, &Bytes) -> bool) {
            use argent_core::{Destination, Protocol};
            let end = self.now + span;
            while self.now < end {
                self.now += Duration::from_micros(10);
                let now = self.now;
                for i in 0..self.nodes.len() {
                    let node = &mut self.nodes[i];
                    for (_, d) in std::mem::take(&mut self.inbox[i]) {
                        node.handle_datagram(now, d);
                    }
                    if node.poll_timeout().is_some_and(|t| t <= now) {
                        node.handle_timeout(now);
                    }
                    while let Some(t) = node.poll_transmit(now) {
                        let to: Vec<usize> = match t.dest {
                            Destination::Node(to) => vec![to.0 as usize],
                            Destination::Region => (0..self.inbox.len()).filter(|j| *j != i).collect(),
                        };
                        for j in to.into_iter().filter(|j| pass(i, *j, &t.payload)) {
                            self.inbox[j].push((NodeId(i as u32), t.payload.clone()));
                        }
                    }
                    while let Some(ev) = node.poll_event() {
                        if let Event::Deliver(d) = ev {
                            *self.delivered[i].entry(d.sender).or_default() += u64::from(d.count);
                        }
                    }
                }
            }
        }
    }

    const REGION: argent_core::RegionId = argent_core::RegionId(1);

    /// The leader of nodes 0–2 never tracked node 3's stream: it retired it before hearing of
    /// it (a member that joins late and learns of the departure before a round carries the
    /// stream). Nodes 1 and 2 received it, node 1 all but its last datagram, when node 3
    /// departs. The leader carries the stream's region-wide numbers while they report on it,
    /// so node 1 learns of the datagram it lacks and gets it from node 2, both see when
    /// everyone has everything, and they retire the stream at the busy pace, not after
    /// `retire_stall_visits` idle rounds (seconds) with the last datagram undelivered.
    #[test]
    fn a_stream_the_leader_never_tracked_is_still_wound_down_by_its_members() {
        let sender = NodeId(3);
        let mut mesh = Mesh::new(4, &[0, 1, 2]);
        mesh.nodes[0].retire_stream(sender);
        let all = |_: usize, _: usize, _: &Bytes| true;
        for k in 0..3u8 {
            mesh.nodes[3].publish(mesh.now, REGION, &[k; 100]).expect("publish");
            mesh.drive(Duration::from_millis(1), all);
        }
        mesh.drive(Duration::from_millis(20), all);
        assert_eq!(mesh.delivered[1].get(&sender), Some(&3));
        // The last datagram reaches node 2 only, then node 3 is gone for good.
        mesh.nodes[3].publish(mesh.now, REGION, &[3; 100]).expect("publish");
        let data = |d: &Bytes| matches!(argent_wire::decode(d), Ok((_, argent_wire::Frame::Data(_))));
        mesh.drive(Duration::from_micros(10), |from, to, d| !(from == 3 && to == 1 && data(d)));
        for i in 1..=2 {
            mesh.nodes[i].retire_stream(sender);
        }
        mesh.drive(Duration::from_millis(300), |from, to, _| from != 3 && to != 3);
        for i in 1..=2 {
            let node = &mesh.nodes[i];
            assert_eq!(mesh.delivered[i].get(&sender), Some(&4), "node {i} delivered the whole stream");
            assert!(!node.tracks_stream(REGION, sender), "node {i} retired the stream");
            assert_eq!(node.receive_held_bytes(), 0, "node {i} freed what it cached");
            assert_eq!(node.stats().retired_undelivered, 0);
        }
    }
}
