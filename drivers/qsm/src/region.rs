//! One region as this node sees it: its ring layout, receive feeds, send feed, join points
//! and retired streams; data, heartbeats, join points and pulls arriving for it. The token
//! ring's part is in `ring.rs`.

use crate::churn::{JoinPoints, Left, Tombstones};
use crate::config::Config;
use crate::io::{forward, Cx, Io};
use crate::layout::RingLayout;
use crate::recv::{Accept, RecvFeed};
use crate::ring_state::RingState;
use crate::send::SendFeed;
use crate::stream::node_of;
use argent_core::{Destination, Instant, NodeId, RegionId, Transmit, ViewId};
use argent_wire::{StartRequest, StreamStart, STREAM_BEGINS, STREAM_GONE};
use bytes::Bytes;
use std::collections::BTreeMap;

/// One region as seen by this node.
#[derive(Debug)]
pub(crate) struct Region {
    pub(crate) id: RegionId,
    /// The token ring, of the view in which the member list last changed.
    pub(crate) layout: RingLayout,
    /// The newest view installed: the one this node's datagrams are sent in, and the newest
    /// a datagram it delivers may have been sent in. A view with the same members (a member
    /// joined or left one of the region's groups) moves only this, not the ring.
    pub(crate) installed: ViewId,
    /// The view in which this node last became a member (its join view); `None` while it
    /// is not a member (it may still send to the region).
    pub(crate) joined: Option<ViewId>,
    pub(crate) feeds: BTreeMap<NodeId, RecvFeed>,
    pub(crate) send: Option<SendFeed>,
    /// A send feed created from now on starts after this sequence number.
    pub(crate) resume: u64,
    /// This node's join points as a sender, per installed view.
    pub(crate) joins: JoinPoints,
    /// Streams retired here.
    pub(crate) retired: Tombstones,
    /// Feeds whose sender departed and that are not retired yet.
    pub(crate) departing: usize,
    /// When an unanchored feed next asks for its join point (possibly earlier).
    pub(crate) start_due: Option<Instant>,
    pub(crate) ring: RingState,
    /// New data bytes received (drives adaptive rounds at the leader).
    pub(crate) rx_bytes: u64,
    /// The installed view's members, as listed (the ring order is `layout`'s).
    pub(crate) members: Vec<NodeId>,
}

impl Region {
    pub(crate) fn new(id: RegionId, layout: RingLayout, now: Instant, left: Option<Left>) -> Self {
        let (resume, joins) = left.map_or((0, JoinPoints::default()), |l| (l.last_seq, l.joins));
        Region {
            id,
            installed: layout.view,
            layout,
            joined: None,
            feeds: BTreeMap::new(),
            send: None,
            resume,
            joins,
            retired: Tombstones::default(),
            departing: 0,
            start_due: None,
            ring: RingState::new(now),
            rx_bytes: 0,
            members: Vec::new(),
        }
    }

    pub(crate) fn my_partition(&self, me: NodeId) -> Option<usize> {
        self.layout.position(me).map(|p| self.layout.partition_at(p))
    }

    /// Whether `sender`'s stream is never tracked here: retired, an earlier incarnation of
    /// this node, or a stream of a node that left the system.
    pub(crate) fn is_gone(&self, cx: &Cx<'_>, sender: NodeId) -> bool {
        let node = node_of(sender);
        sender != cx.stream && (node == cx.me || self.retired.contains(sender) || cx.departed.contains(&node))
    }

    /// Make sure `sender`'s stream has receive state; a stream first seen now starts
    /// unanchored and its sender is asked where it starts for this member. False if it is
    /// not tracked: this node is not a member, the stream is gone (see [`Region::is_gone`]),
    /// or [`crate::config::MAX_STREAMS_PER_REGION`] streams are tracked already.
    pub(crate) fn open_feed(&mut self, cx: &Cx<'_>, sender: NodeId, io: &mut Io) -> bool {
        self.track(cx, sender, Some(io))
    }

    /// [`Region::open_feed`], asking the sender for the join point only if `ask` is given.
    pub(crate) fn track(&mut self, cx: &Cx<'_>, sender: NodeId, ask: Option<&mut Io>) -> bool {
        if self.feeds.contains_key(&sender) {
            return true;
        }
        let Some(joined) = self.joined else { return false };
        if sender == cx.stream
            || self.is_gone(cx, sender)
            || self.feeds.len() >= crate::config::MAX_STREAMS_PER_REGION
        {
            return false;
        }
        let mut feed = RecvFeed::new(cx.now);
        if let Some(io) = ask {
            ask_start(self.id, cx.me, joined, sender, io);
            feed.ask_at = cx.now + cx.cfg.stream_start_retry;
            self.start_due = Some(self.start_due.map_or(feed.ask_at, |t| t.min(feed.ask_at)));
        }
        self.feeds.insert(sender, feed);
        true
    }

    pub(crate) fn on_data(&mut self, cx: &Cx<'_>, sender: NodeId, seq: u64, dg: Bytes, io: &mut Io) {
        let Cx { cfg, me, stream, .. } = *cx;
        if sender == stream {
            io.stats.duplicates += 1; // our own multicast looped back
            return;
        }
        if !self.open_feed(cx, sender, io) {
            io.stats.ignored += 1;
            return;
        }
        let my_part = self.my_partition(me);
        let Some(feed) = self.feeds.get_mut(&sender) else { return };
        match feed.accept(seq, &dg, cfg.window_datagrams) {
            Accept::Duplicate => io.stats.duplicates += 1,
            Accept::BeyondWindow => io.stats.beyond_window += 1,
            Accept::New => {
                self.rx_bytes += dg.len() as u64;
                deliver_ready(self.id, sender, feed, &self.layout, self.installed, my_part, io);
                feed.check(cfg.window_datagrams, false);
            }
        }
    }

    pub(crate) fn on_heartbeat(&mut self, cx: &Cx<'_>, sender: NodeId, highest: u64, io: &mut Io) {
        // A sender multicasts heartbeats only while it waits for an acknowledgement (one may
        // have been lost): the leader runs the next round soon rather than when idle.
        self.ring.note_waiting_sender();
        if self.open_feed(cx, sender, io) {
            if let Some(feed) = self.feeds.get_mut(&sender) {
                feed.raise_cutoff(highest, cx.cfg.window_datagrams, io);
            }
        }
    }

    /// A sender's join point, answered to this member or announced to all: anchor the feed
    /// (creating it if the stream is new here) and deliver what was held after it.
    pub(crate) fn on_stream_start(&mut self, cx: &Cx<'_>, from: NodeId, start: &StreamStart, io: &mut Io) {
        let sender = NodeId(start.sender);
        let view = ViewId(start.view);
        if start.view > self.layout.view.0.saturating_add(MAX_VIEW_LEAP) {
            io.stats.clamped += 1; // no sender is that many views ahead of a member
            return;
        }
        let applies = match self.joined {
            _ if from != node_of(sender) || sender == cx.stream => false,
            None => false,
            Some(joined) if start.flags & STREAM_BEGINS != 0 => joined <= view,
            Some(joined) => joined == view,
        };
        let unanchored = self.feeds.get(&sender).is_some_and(|f| !f.anchored);
        if !applies || (!unanchored && (self.feeds.contains_key(&sender) || start.flags & STREAM_GONE != 0)) {
            io.stats.ignored += 1; // a repeated answer, one for another join, or not for us
            return;
        }
        if start.flags & STREAM_GONE != 0 {
            self.retire(cx.cfg, sender, 0, io);
            return;
        }
        if !self.track(cx, sender, None) {
            io.stats.ignored += 1;
            return;
        }
        let my_part = self.my_partition(cx.me);
        let Some(feed) = self.feeds.get_mut(&sender) else { return };
        io.stats.beyond_window += feed.anchor(start.base, cx.cfg.window_datagrams);
        deliver_ready(self.id, sender, feed, &self.layout, self.installed, my_part, io);
        feed.check(cx.cfg.window_datagrams, true);
    }

    /// Ask again, at the configured interval, for the join points not known yet.
    pub(crate) fn retry_starts(&mut self, cx: &Cx<'_>, io: &mut Io) {
        let Some(due) = self.start_due else { return };
        if cx.now < due {
            return;
        }
        let Some(joined) = self.joined else {
            self.start_due = None;
            return;
        };
        let mut next: Option<Instant> = None;
        for (sender, feed) in self.feeds.iter_mut().filter(|(_, f)| !f.anchored) {
            if feed.ask_at <= cx.now {
                ask_start(self.id, cx.me, joined, *sender, io);
                feed.ask_at = cx.now + cx.cfg.stream_start_retry;
            }
            next = Some(next.map_or(feed.ask_at, |t| t.min(feed.ask_at)));
        }
        self.start_due = next;
    }

    /// The sender of `sender`'s stream departed. A stream whose join point is unknown (or
    /// any stream at a node that is not a member) is retired at once; an anchored one winds
    /// down at the next token visits (see `RecvFeed::departure_visit`). A stream not tracked
    /// here is remembered as retired if `tombstone`.
    pub(crate) fn depart(&mut self, cfg: &Config, sender: NodeId, tombstone: bool, io: &mut Io) {
        let member = self.joined.is_some();
        match self.feeds.get_mut(&sender) {
            Some(feed) if feed.anchored && member && feed.departing.is_none() => {
                feed.depart();
                self.departing += 1;
            }
            Some(feed) if feed.anchored && member => {} // departing already
            Some(_) => self.retire(cfg, sender, 0, io),
            None if tombstone => self.retired.insert(sender),
            None => {}
        }
    }

    /// Drop `sender`'s stream for good, counting what it leaves undelivered (`known`: the
    /// highest sequence number known to exist, besides what the feed knows).
    pub(crate) fn retire(&mut self, cfg: &Config, sender: NodeId, known: u64, io: &mut Io) {
        let Some(feed) = self.feeds.remove(&sender) else { return };
        if feed.departing.is_some() {
            self.departing = self.departing.saturating_sub(1);
        }
        io.stats.streams_retired += 1;
        io.stats.retired_undelivered += feed.undelivered(known);
        self.retired.insert(sender);
        self.ring.keep_winding(crate::ring_state::retire_stall_visits(cfg));
    }

    /// This node is no longer a member: drop all receive state (it may still send).
    pub(crate) fn stop_receiving(&mut self) {
        self.joined = None;
        self.feeds.clear();
        self.departing = 0;
        self.start_due = None;
        self.ring.forget_all();
    }

    /// Record this node's join point for a view it installs: the open datagram is sealed,
    /// so what was published before the install precedes the join point and what is
    /// published after follows it.
    pub(crate) fn record_view(&mut self, view: ViewId, stream: NodeId, me: NodeId, io: &mut Io) {
        let base = match self.send.as_mut() {
            Some(feed) => {
                let sealed = feed.seal();
                let base = feed.sealed_upto();
                // What is published from now on is sent in the new view.
                feed.view = view.0;
                if let Some((seq, d)) = sealed {
                    io.deliver(self.id, stream, seq, &d);
                }
                // Joiners that installed the view already need not ask.
                announce_start(self.id, me, stream, view, base, 0, io);
                base
            }
            None => self.resume,
        };
        self.joins.record(view, base);
    }

    /// Earliest deadline of this region: token ring, or a join-point request to repeat.
    pub(crate) fn deadline(&self, me: NodeId, cfg: &Config) -> Option<Instant> {
        let ring = self.ring_deadline(me, cfg);
        match (ring, self.start_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn on_pull(
        &mut self,
        cx: &Cx<'_>,
        from: NodeId,
        sender: NodeId,
        ranges: argent_wire::RangeList<'_>,
        io: &mut Io,
    ) {
        let Cx { cfg, me, stream, .. } = *cx;
        if sender == stream || self.layout.position(from).is_none() {
            return; // senders repair by re-multicast; only members are served
        }
        let Some(feed) = self.feeds.get(&sender) else { return };
        let mut budget = cfg.repair_budget;
        'ranges: for r in ranges.iter() {
            for seq in r.start..=r.end {
                if budget == 0 {
                    break 'ranges;
                }
                budget -= 1;
                if let Some(copy) = feed.copy_of(seq) {
                    forward(self.id, me, from, copy, io);
                }
            }
        }
    }

    /// A view was installed: deliver what waited for it (see `RecvFeed::pop_deliverable`).
    pub(crate) fn release_waiting(&mut self, me: NodeId, io: &mut Io) {
        let my_part = self.my_partition(me);
        for (sender, feed) in &mut self.feeds {
            deliver_ready(self.id, *sender, feed, &self.layout, self.installed, my_part, io);
        }
    }

    pub(crate) fn publish_sealed(&mut self, me: NodeId, sealed: Option<(u64, Bytes)>, io: &mut Io) {
        if let Some((seq, d)) = sealed {
            io.deliver(self.id, me, seq, &d);
        }
    }
}

/// Deliver what `feed` can deliver in order, caching what this member's partition owns.
pub(crate) fn deliver_ready(
    region: RegionId,
    sender: NodeId,
    feed: &mut RecvFeed,
    layout: &RingLayout,
    installed: ViewId,
    my_part: Option<usize>,
    io: &mut Io,
) {
    while let Some((s, d)) = feed.pop_deliverable(installed.0) {
        io.deliver(region, sender, s, &d);
        if my_part == Some(layout.owner(s)) {
            feed.cache(s, d);
        }
    }
}

/// Most views a join point may name past the view this member installed: senders install
/// views about when members do, so a larger one (a buggy member's) is refused.
pub(crate) const MAX_VIEW_LEAP: u64 = 64;

/// Multicast this node's join point for `view` (see [`StreamStart`]).
pub(crate) fn announce_start(
    region: RegionId,
    me: NodeId,
    stream: NodeId,
    view: ViewId,
    base: u64,
    flags: u8,
    io: &mut Io,
) {
    let start = StreamStart { view: view.0, sender: stream.0, base, flags };
    let payload = Bytes::from(argent_wire::encode_stream_start(region.0, me.0, &start));
    io.out.push_back(Transmit { region, dest: Destination::Region, payload });
    io.stats.stream_starts += 1;
}

/// Ask `sender`'s node where its stream starts for a member that joined in `joined`.
pub(crate) fn ask_start(region: RegionId, me: NodeId, joined: ViewId, sender: NodeId, io: &mut Io) {
    let req = StartRequest { view: joined.0, sender: sender.0 };
    io.unicast(region, node_of(sender), argent_wire::encode_start_request(region.0, me.0, &req));
    io.stats.start_requests += 1;
}
