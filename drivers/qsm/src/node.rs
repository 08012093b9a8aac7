//! The per-process protocol object: dispatch of datagrams to regions, the publish API,
//! and the [`Protocol`] implementation.

use crate::churn::{JoinPoints, Left, Tombstones};
use crate::layout::{RegionView, RingLayout};
use crate::presence::Presence;
use crate::recv::{Accept, RecvFeed};
use crate::ring::RingState;
use crate::send::{Outgoing, SendFeed};
use crate::{Config, ConfigError};
use argent_core::{Destination, Instant, NodeId, Protocol, RegionId, Transmit, ViewId};
use argent_wire::{Frame, FrameKind, Header, StartRequest, StreamStart, STREAM_BEGINS, STREAM_GONE};
use bytes::Bytes;
use std::collections::{btree_map, BTreeMap, BTreeSet, VecDeque};
use std::ops::{Deref, DerefMut};
use thiserror::Error;

/// Messages delivered to the application, a datagram at a time: the received datagram
/// itself, whose messages are read in place (zero-copy) with [`Delivery::messages`].
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Region it arrived in.
    pub region: RegionId,
    /// Original sender's stream (node id and incarnation; [`Delivery::sender_node`] gives the node).
    pub sender: NodeId,
    /// Sequence number of the datagram.
    pub seq: u64,
    /// Number of messages in it.
    pub count: u16,
    /// The whole datagram, as received (header included).
    pub datagram: Bytes,
}

impl Delivery {
    /// The node that sent it.
    pub fn sender_node(&self) -> NodeId {
        node_of(self.sender)
    }

    /// The messages, in the order the sender wrote them.
    pub fn messages(&self) -> argent_wire::Messages<'_> {
        argent_wire::messages_of(&self.datagram)
    }

    /// The messages as reference-counted slices of the datagram (no copy), e.g. to keep
    /// one beyond the delivery.
    pub fn message_bytes(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.messages().map(|m| self.datagram.slice_ref(m))
    }
}

/// What the protocol hands to the application.
#[derive(Clone, Debug)]
pub enum Event {
    /// The messages of one datagram, in per-sender order, each exactly once.
    Deliver(Delivery),
    /// A region's send buffer has room again after `WouldBlock`.
    Writable(RegionId),
    /// A member of the region (this node included, see [`QsmNode::request_fences`]) asks
    /// for a fence: publish, now, a message of the application's own format that names
    /// `key` and `nonce`, so that it lies in this node's stream after everything published
    /// so far. A node that cannot (its send buffer is full) may skip it: the requester asks
    /// again.
    Fence {
        /// Region.
        region: RegionId,
        /// The requester's key.
        key: u64,
        /// The requester's nonce.
        nonce: u64,
    },
    /// Without a membership service ([`crate::Config::member_timeout`]): `node` was silent
    /// too long and this node installed view `view` of `region` without it.
    Evicted {
        /// Region.
        region: RegionId,
        /// The silent member.
        node: NodeId,
        /// The view installed without it.
        view: ViewId,
    },
}

/// Why a message was not accepted for sending.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The send buffer is full; wait for [`Event::Writable`].
    #[error("send buffer full: wait for the region to acknowledge (Event::Writable)")]
    WouldBlock,
    /// The message does not fit in one datagram.
    #[error("message of {len} bytes exceeds the largest that fits in a datagram ({max} bytes); raise datagram_size or split it")]
    TooLarge {
        /// Requested length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// No view has been installed for the region.
    #[error("no view installed for region {0}: install_view() first")]
    UnknownRegion(RegionId),
    /// The node behind this handle has shut down.
    #[error("the node has shut down")]
    Closed,
}

/// Why a view was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ViewError {
    /// A view with no members.
    #[error("view {view:?} of region {region} has no members")]
    Empty {
        /// Region.
        region: RegionId,
        /// View.
        view: crate::ViewId,
    },
    /// A member listed twice.
    #[error("view {view:?} of region {region} lists member {node} twice")]
    Duplicate {
        /// Region.
        region: RegionId,
        /// View.
        view: crate::ViewId,
        /// Member.
        node: NodeId,
    },
    /// Not newer than the installed view.
    #[error("view {new:?} of region {region} is not newer than the installed view {current:?}")]
    Stale {
        /// Region.
        region: RegionId,
        /// Installed.
        current: crate::ViewId,
        /// Offered.
        new: crate::ViewId,
    },
}

/// Counters of protocol activity, for tests, the simulator and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Data datagrams multicast for the first time.
    pub data_sent: u64,
    /// Datagrams re-multicast by this node as a sender after NAKs.
    pub sender_retransmissions: u64,
    /// Copies forwarded by unicast to peers (push and pull repair).
    pub peer_repairs: u64,
    /// Pull requests sent.
    pub pulls_sent: u64,
    /// NAKs sent to senders by whole partitions.
    pub naks_sent: u64,
    /// NAKs sent by a single member whose gap outlasted peer repair.
    pub naks_escalated: u64,
    /// Token passes, retransmissions included.
    pub tokens_sent: u64,
    /// Token pass retransmissions.
    pub token_retransmissions: u64,
    /// Largest token datagram encoded, bytes.
    pub max_token_bytes: u64,
    /// Rounds completed (leader).
    pub rounds_completed: u64,
    /// Rounds regenerated after a lost token (leader).
    pub rounds_regenerated: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Data datagrams received that were already held or delivered.
    pub duplicates: u64,
    /// Data datagrams dropped for being beyond the receive window.
    pub beyond_window: u64,
    /// Datagrams that failed to decode.
    pub decode_errors: u64,
    /// Datagrams for regions, views or ring positions this node does not have.
    pub ignored: u64,
    /// Messages delivered to the application (own messages included).
    pub delivered_messages: u64,
    /// Join-point requests sent to senders (retries included).
    pub start_requests: u64,
    /// Join-point answers sent as a sender.
    pub stream_starts: u64,
    /// Fence requests multicast by this node.
    pub fence_requests: u64,
    /// Fences asked of this node ([`Event::Fence`]), its own requests included.
    pub fences_asked: u64,
    /// Receive streams retired after their sender departed.
    pub streams_retired: u64,
    /// Datagrams of retired streams known to exist (held, missing, or held before the join
    /// point was known) that were never delivered. Each is a loss the application was not
    /// given; a datagram's message count is unknown when it never arrived.
    pub retired_undelivered: u64,
    /// Views installed without a silent member (no membership service; one per region).
    pub evictions: u64,
}

impl Stats {
    /// Add another node's (or shard's) counters to these; maxima stay maxima.
    pub fn merge(&mut self, o: &Stats) {
        self.data_sent += o.data_sent;
        self.sender_retransmissions += o.sender_retransmissions;
        self.peer_repairs += o.peer_repairs;
        self.pulls_sent += o.pulls_sent;
        self.naks_sent += o.naks_sent;
        self.naks_escalated += o.naks_escalated;
        self.tokens_sent += o.tokens_sent;
        self.token_retransmissions += o.token_retransmissions;
        self.max_token_bytes = self.max_token_bytes.max(o.max_token_bytes);
        self.rounds_completed += o.rounds_completed;
        self.rounds_regenerated += o.rounds_regenerated;
        self.heartbeats_sent += o.heartbeats_sent;
        self.duplicates += o.duplicates;
        self.beyond_window += o.beyond_window;
        self.decode_errors += o.decode_errors;
        self.ignored += o.ignored;
        self.delivered_messages += o.delivered_messages;
        self.start_requests += o.start_requests;
        self.stream_starts += o.stream_starts;
        self.fence_requests += o.fence_requests;
        self.fences_asked += o.fences_asked;
        self.streams_retired += o.streams_retired;
        self.retired_undelivered += o.retired_undelivered;
        self.evictions += o.evictions;
    }
}

/// Outputs collected while handling one input.
#[derive(Debug, Default)]
pub(crate) struct Io {
    pub(crate) out: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
}

impl Io {
    fn fence(&mut self, region: RegionId, key: u64, nonce: u64) {
        self.stats.fences_asked += 1;
        self.events.push_back(Event::Fence { region, key, nonce });
    }

    pub(crate) fn unicast(&mut self, region: RegionId, to: NodeId, payload: Vec<u8>) {
        self.out.push_back(Transmit { region, dest: Destination::Node(to), payload: Bytes::from(payload) });
    }

    /// Hand a data datagram's messages to the application.
    pub(crate) fn deliver(&mut self, region: RegionId, sender: NodeId, seq: u64, datagram: &Bytes) {
        let count = argent_wire::message_count(datagram);
        self.stats.delivered_messages += u64::from(count);
        let datagram = datagram.clone();
        self.events.push_back(Event::Deliver(Delivery { region, sender, seq, count, datagram }));
    }
}

/// What every handler needs: the time, the settings, and who we are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a Config,
    pub(crate) me: NodeId,
    /// This node's own sender stream id (see [`stream_id`]).
    pub(crate) stream: NodeId,
    /// Nodes that left the system (see [`QsmNode::remove_node`]).
    pub(crate) departed: &'a BTreeSet<NodeId>,
}

/// The sender-stream incarnation (16 bits, never 0) of a membership incarnation (64 bits,
/// increasing across restarts): the one formula the runtime and the simulator use.
pub fn stream_incarnation(membership_incarnation: u64) -> u16 {
    (membership_incarnation % 65_535) as u16 + 1
}

/// The id of node `me`'s sender stream in its `incarnation`.
pub fn stream_id(me: NodeId, incarnation: u16) -> NodeId {
    if incarnation == 0 {
        me
    } else {
        NodeId(me.0 | u32::from(incarnation) << 16)
    }
}

/// The node a sender stream belongs to (where its acknowledgements and NAKs go).
pub fn node_of(stream: NodeId) -> NodeId {
    if stream.0 >> 16 == 0 {
        stream
    } else {
        NodeId(stream.0 & 0xFFFF)
    }
}

/// One region as seen by this node.
#[derive(Debug)]
pub(crate) struct Region {
    pub(crate) id: RegionId,
    pub(crate) layout: RingLayout,
    /// The view in which this node last became a member (its join view); `None` while it
    /// is not a member (it may still send to the region).
    pub(crate) joined: Option<ViewId>,
    pub(crate) feeds: BTreeMap<NodeId, RecvFeed>,
    pub(crate) send: Option<SendFeed>,
    /// A send feed created from now on starts after this sequence number.
    resume: u64,
    /// This node's join points as a sender, per installed view.
    joins: JoinPoints,
    /// Streams retired here.
    pub(crate) retired: Tombstones,
    /// Feeds whose sender departed and that are not retired yet.
    pub(crate) departing: usize,
    /// When an unanchored feed next asks for its join point (possibly earlier).
    start_due: Option<Instant>,
    pub(crate) ring: RingState,
    /// New data bytes received (drives adaptive rounds at the leader).
    pub(crate) rx_bytes: u64,
    /// The installed view's members, as listed (the ring order is `layout`'s).
    members: Vec<NodeId>,
}

impl Region {
    fn new(id: RegionId, layout: RingLayout, now: Instant, left: Option<Left>) -> Self {
        let (resume, joins) = left.map_or((0, JoinPoints::default()), |l| (l.last_seq, l.joins));
        Region {
            id,
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

    fn my_partition(&self, me: NodeId) -> Option<usize> {
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
    /// or [`crate::MAX_STREAMS_PER_REGION`] streams are tracked already.
    pub(crate) fn open_feed(&mut self, cx: &Cx<'_>, sender: NodeId, io: &mut Io) -> bool {
        self.track(cx, sender, Some(io))
    }

    /// [`Region::open_feed`], asking the sender for the join point only if `ask` is given.
    fn track(&mut self, cx: &Cx<'_>, sender: NodeId, ask: Option<&mut Io>) -> bool {
        if self.feeds.contains_key(&sender) {
            return true;
        }
        let Some(joined) = self.joined else { return false };
        if sender == cx.stream
            || self.is_gone(cx, sender)
            || self.feeds.len() >= crate::MAX_STREAMS_PER_REGION
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

    fn on_data(&mut self, cx: &Cx<'_>, sender: NodeId, seq: u64, dg: Bytes, io: &mut Io) {
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
                deliver_ready(self.id, sender, feed, &self.layout, my_part, io);
            }
        }
    }

    fn on_heartbeat(&mut self, cx: &Cx<'_>, sender: NodeId, highest: u64, io: &mut Io) {
        // A sender multicasts heartbeats only while it waits for an acknowledgement (one may
        // have been lost): the leader runs the next round soon rather than when idle.
        self.ring.note_waiting_sender();
        if self.open_feed(cx, sender, io) {
            if let Some(feed) = self.feeds.get_mut(&sender) {
                feed.cutoff = feed.cutoff.max(highest);
            }
        }
    }

    /// A sender's join point, answered to this member or announced to all: anchor the feed
    /// (creating it if the stream is new here) and deliver what was held after it.
    fn on_stream_start(&mut self, cx: &Cx<'_>, from: NodeId, start: &StreamStart, io: &mut Io) {
        let sender = NodeId(start.sender);
        let view = ViewId(start.view);
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
        deliver_ready(self.id, sender, feed, &self.layout, my_part, io);
    }

    /// Ask again, at the configured interval, for the join points not known yet.
    fn retry_starts(&mut self, cx: &Cx<'_>, io: &mut Io) {
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
    fn depart(&mut self, cfg: &Config, sender: NodeId, tombstone: bool, io: &mut Io) {
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
        self.ring.keep_winding(crate::ring::retire_stall_visits(cfg));
    }

    /// This node is no longer a member: drop all receive state (it may still send).
    fn stop_receiving(&mut self) {
        self.joined = None;
        self.feeds.clear();
        self.departing = 0;
        self.start_due = None;
        self.ring.forget_all();
    }

    /// Record this node's join point for a view it installs: the open datagram is sealed,
    /// so what was published before the install precedes the join point and what is
    /// published after follows it.
    fn record_view(&mut self, view: ViewId, stream: NodeId, me: NodeId, io: &mut Io) {
        let base = match self.send.as_mut() {
            Some(feed) => {
                let sealed = feed.seal();
                let base = feed.sealed_upto();
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
    fn deadline(&self, me: NodeId, cfg: &Config) -> Option<Instant> {
        let ring = self.ring_deadline(me, cfg);
        match (ring, self.start_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_pull(
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

    fn publish_sealed(&mut self, me: NodeId, sealed: Option<(u64, Bytes)>, io: &mut Io) {
        if let Some((seq, d)) = sealed {
            io.deliver(self.id, me, seq, &d);
        }
    }
}

/// Deliver what `feed` can deliver in order, caching what this member's partition owns.
fn deliver_ready(
    region: RegionId,
    sender: NodeId,
    feed: &mut RecvFeed,
    layout: &RingLayout,
    my_part: Option<usize>,
    io: &mut Io,
) {
    while let Some((s, d)) = feed.pop_deliverable() {
        io.deliver(region, sender, s, &d);
        if my_part == Some(layout.owner(s)) {
            feed.cache(s, d);
        }
    }
}

/// Multicast this node's join point for `view` (see [`StreamStart`]).
fn announce_start(
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
fn ask_start(region: RegionId, me: NodeId, joined: ViewId, sender: NodeId, io: &mut Io) {
    let req = StartRequest { view: joined.0, sender: sender.0 };
    io.unicast(region, node_of(sender), argent_wire::encode_start_request(region.0, me.0, &req));
    io.stats.start_requests += 1;
}

/// Send a peer a copy of a datagram this node holds.
pub(crate) fn forward(region: RegionId, me: NodeId, to: NodeId, copy: &Bytes, io: &mut Io) {
    let body = &copy[argent_wire::HEADER_LEN..];
    io.unicast(region, to, argent_wire::encode_data_copy(FrameKind::Forward, region.0, me.0, body));
    io.stats.peer_repairs += 1;
}

/// One process's QSM protocol state, for every region it belongs to or sends to.
#[derive(Debug)]
pub struct QsmNode {
    me: NodeId,
    stream: NodeId,
    cfg: Config,
    regions: BTreeMap<RegionId, Region>,
    /// Regions this node left: its stream's join points and end there.
    left: BTreeMap<RegionId, Left>,
    /// Nodes that left the system; streams of theirs not tracked yet are ignored until the
    /// node is seen again (a view lists it, or it multicasts a stream not retired here).
    departed: BTreeSet<NodeId>,
    /// Failure detection without a membership service.
    presence: Option<Presence>,
    io: Io,
    next_region: usize,
}

impl QsmNode {
    /// A node with identity `me`.
    pub fn new(me: NodeId, cfg: Config) -> Result<Self, ConfigError> {
        cfg.validate()?;
        if cfg.incarnation != 0 && me.0 >> 16 != 0 {
            return Err(ConfigError::NodeIdTooLarge(me.0));
        }
        let stream = stream_id(me, cfg.incarnation);
        let presence = cfg.member_timeout.map(Presence::new);
        Ok(QsmNode {
            me,
            stream,
            cfg,
            regions: BTreeMap::new(),
            left: BTreeMap::new(),
            departed: BTreeSet::new(),
            presence,
            io: Io::default(),
            next_region: 0,
        })
    }

    /// This node's identity.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// The id of this node's sender streams (the `sender` of its deliveries).
    pub fn stream(&self) -> NodeId {
        self.stream
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Install a region's view (first view, or a newer one after members joined, left or
    /// crashed). The ring is re-formed.
    ///
    /// - **Members that stay** keep their receive and send state, so nothing a surviving
    ///   member lacks is forgotten and nothing waits on departed members.
    /// - **A joiner** (this node was not a member of the previous view it installed, or
    ///   installs the region for the first time) delivers, from every sender, exactly the
    ///   messages the sender published after installing this view (or the first later view
    ///   it installs), in order, once each: each stream starts unanchored and its sender is
    ///   asked for its join point; until it answers, the joiner holds the region's
    ///   acknowledgement of that stream back, so the sender keeps what the joiner needs.
    /// - **As a sender**, this node seals its open datagram and records the last sequence
    ///   number it assigned as its join point for this view (the newest 64 views are kept).
    /// - **A view without this node** makes it a non-member of the region: its receive
    ///   state (feeds, caches, out-of-order datagrams) is dropped and it takes no part in the
    ///   ring, but it may go on sending to the region (a non-member sender, as a node that
    ///   installs a view it is not in from the start). [`QsmNode::leave_region`] drops the
    ///   rest.
    ///
    /// Listing a node that [`QsmNode::remove_node`] removed readmits it.
    pub fn install_view(&mut self, now: Instant, view: RegionView) -> Result<(), ViewError> {
        if view.members.is_empty() {
            return Err(ViewError::Empty { region: view.region, view: view.id });
        }
        let mut seen = std::collections::HashSet::with_capacity(view.members.len());
        if let Some(dup) = view.members.iter().find(|m| !seen.insert(**m)) {
            return Err(ViewError::Duplicate { region: view.region, view: view.id, node: *dup });
        }
        let current = match self.regions.get(&view.region) {
            Some(r) => Some(r.layout.view),
            None => self.left.get(&view.region).map(|l| l.view),
        };
        if let Some(current) = current.filter(|c| view.id <= *c) {
            return Err(ViewError::Stale { region: view.region, current, new: view.id });
        }
        let member = view.members.contains(&self.me);
        if !self.departed.is_empty() {
            for m in &view.members {
                self.departed.remove(m);
            }
        }
        let layout = RingLayout::new(&view, self.cfg.partition_size);
        let region = match self.regions.entry(view.region) {
            btree_map::Entry::Occupied(o) => {
                let region = o.into_mut();
                region.layout = layout;
                region.ring.reset_for_view(now);
                region
            }
            btree_map::Entry::Vacant(v) => {
                let left = self.left.remove(&view.region);
                v.insert(Region::new(view.region, layout, now, left))
            }
        };
        region.members.clone_from(&view.members);
        if !member {
            region.stop_receiving();
        } else if region.joined.is_none() {
            region.joined = Some(view.id);
        }
        region.record_view(view.id, self.stream, self.me, &mut self.io);
        if let Some(p) = self.presence.as_mut().filter(|_| member) {
            p.watch(self.me, &view.members, now);
        }
        Ok(())
    }

    /// Presence (no membership service): multicast Alive to every region this node is a
    /// member of when due, and evict members silent too long.
    fn presence(&mut self, now: Instant) {
        let Some(p) = self.presence.as_mut() else { return };
        if !p.beat(now) {
            return;
        }
        let silent = p.silent(now);
        for r in self.regions.values().filter(|r| r.joined.is_some()) {
            let payload = Bytes::from(argent_wire::encode_alive(r.id.0, self.me.0));
            self.io.out.push_back(Transmit { region: r.id, dest: Destination::Region, payload });
        }
        for gone in silent {
            self.evict(now, gone);
        }
    }

    /// Install, in every region whose view lists `gone`, the next view without it.
    fn evict(&mut self, now: Instant, gone: NodeId) {
        let views: Vec<RegionView> = self
            .regions
            .values()
            .filter(|r| r.members.contains(&gone))
            .map(|r| RegionView {
                region: r.id,
                id: ViewId(r.layout.view.0 + 1),
                members: r.members.iter().copied().filter(|m| *m != gone).collect(),
            })
            .collect();
        for view in views {
            let (region, id) = (view.region, view.id);
            // A view is refused only when empty: this node is in it.
            if self.install_view(now, view).is_ok() {
                self.io.stats.evictions += 1;
                self.io.events.push_back(Event::Evicted { region, node: gone, view: id });
            }
        }
    }

    /// Leave a region: this node is no longer in its view and does not send to it. Its
    /// receive feeds, caches, send buffer (acknowledged or not: leave once
    /// [`QsmNode::send_drained`] for nothing to be lost) and ring state for the region are
    /// dropped. What remains is a few words per region: where its stream ended and its
    /// join points, to answer members that join later and to continue the stream's
    /// numbering if it sends to the region again. Returns false if the region was unknown.
    pub fn leave_region(&mut self, region: RegionId) -> bool {
        let Some(r) = self.regions.remove(&region) else { return false };
        let (last_seq, stable) = r.send.as_ref().map_or((r.resume, r.resume), |f| (f.sent_upto, f.stable));
        self.left.insert(region, Left { view: r.layout.view, last_seq, stable, joins: r.joins });
        true
    }

    /// Node `node` left the system (crashed or shut down): every stream of it (all
    /// incarnations) is retired in every region. Survivors first repair among themselves
    /// what some of them hold — no NAK goes to the departed sender — and a stream is retired
    /// once the region has everything anyone knows of, or after a few token rounds in which
    /// nobody could supply more (`2 × partition_size + 4` visits, at least 8). Datagrams
    /// never delivered are counted in [`Stats::retired_undelivered`]. Streams of `node`
    /// first heard of later are ignored until a view lists the node again or the node
    /// multicasts a new stream (a restart). A retired stream frees its slot
    /// ([`crate::MAX_STREAMS_PER_REGION`]).
    pub fn remove_node(&mut self, node: NodeId) {
        if node == self.me {
            return;
        }
        self.departed.insert(node);
        for region in self.regions.values_mut() {
            let streams: Vec<NodeId> = region.feeds.keys().copied().filter(|s| node_of(*s) == node).collect();
            for s in streams {
                region.depart(&self.cfg, s, false, &mut self.io);
            }
        }
    }

    /// One stream (one incarnation of a sender) ended, for instance because its process
    /// restarted under a new incarnation: retire it in every region as
    /// [`QsmNode::remove_node`] does, leaving the node's other streams alone. A stream not
    /// tracked yet is never tracked.
    pub fn retire_stream(&mut self, stream: NodeId) {
        if stream == self.stream {
            return;
        }
        for region in self.regions.values_mut() {
            region.depart(&self.cfg, stream, true, &mut self.io);
        }
    }

    /// Ask every node of `region` for a fence ([`Event::Fence`]), this one included (its
    /// event comes at once): a fence of each member's stream that this node delivers lies
    /// after its join point, and a member that delivers it has everything that member sent
    /// before. The request is multicast once, unreliably: ask again with a new `nonce` if
    /// fences do not come. False if the region is not installed here.
    pub fn request_fences(&mut self, region: RegionId, key: u64, nonce: u64) -> bool {
        if !self.regions.contains_key(&region) {
            return false;
        }
        let req = argent_wire::FenceRequest { key, nonce };
        let payload = Bytes::from(argent_wire::encode_fence_request(region.0, self.me.0, &req));
        self.io.out.push_back(Transmit { region, dest: Destination::Region, payload });
        self.io.stats.fence_requests += 1;
        self.io.fence(region, key, nonce);
        true
    }

    /// Whether this node is a member of the region's installed view.
    pub fn is_member(&self, region: RegionId) -> bool {
        self.regions.get(&region).is_some_and(|r| r.joined.is_some())
    }

    /// Whether this node has receive state for `stream` in `region`.
    pub fn tracks_stream(&self, region: RegionId, stream: NodeId) -> bool {
        self.regions.get(&region).is_some_and(|r| r.feeds.contains_key(&stream))
    }

    /// Number of sender streams this node tracks in `region`.
    pub fn receive_streams(&self, region: RegionId) -> usize {
        self.regions.get(&region).map_or(0, |r| r.feeds.len())
    }

    /// Publish a copy of `msg` to a region.
    pub fn publish(&mut self, now: Instant, region: RegionId, msg: &[u8]) -> Result<(), PublishError> {
        let feed = self.prepare(now, region, msg.len())?;
        feed.push(msg);
        Ok(())
    }

    /// Make room for a message of `len` bytes in the region's open datagram.
    fn prepare(&mut self, now: Instant, region: RegionId, len: usize) -> Result<&mut SendFeed, PublishError> {
        let me = self.stream;
        let cfg = &self.cfg;
        let r = self.regions.get_mut(&region).ok_or(PublishError::UnknownRegion(region))?;
        if r.send.is_none() {
            // The stream begins: its join point holds for every member of this view or an
            // earlier one, announced ahead of its first datagram.
            announce_start(region, self.me, me, r.layout.view, r.resume, STREAM_BEGINS, &mut self.io);
        }
        let start = r.resume;
        let feed = r.send.get_or_insert_with(|| SendFeed::new(region.0, me.0, cfg, now, start));
        let sealed = feed.prepare(cfg, len)?;
        r.publish_sealed(me, sealed, &mut self.io);
        Ok(r.send.as_mut().expect("created above"))
    }

    /// Reserve `len` bytes in the region's outgoing datagram, to be written in place and
    /// committed; dropping the claim without committing withdraws it.
    pub fn claim(&mut self, now: Instant, region: RegionId, len: usize) -> Result<Claim<'_>, PublishError> {
        let feed = self.prepare(now, region, len)?;
        feed.claim(len);
        Ok(Claim { feed, len, committed: false })
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.io.stats
    }

    /// Bytes held in send buffers, all regions.
    pub fn send_buffered_bytes(&self) -> u64 {
        self.regions.values().filter_map(|r| r.send.as_ref()).map(|s| s.buffered_bytes()).sum()
    }

    /// Most bytes a send buffer of this node ever held.
    pub fn max_send_buffered_bytes(&self) -> u64 {
        self.regions.values().filter_map(|r| r.send.as_ref()).map(|s| s.max_buffered).max().unwrap_or(0)
    }

    /// Most bytes ever held for any one sender's stream (out of order plus cached).
    pub fn max_receive_held_bytes(&self) -> u64 {
        self.regions.values().flat_map(|r| r.feeds.values()).map(|f| f.max_held).max().unwrap_or(0)
    }

    /// Bytes held now for all streams (out of order plus cached).
    pub fn receive_held_bytes(&self) -> u64 {
        self.regions.values().flat_map(|r| r.feeds.values()).map(|f| f.held_bytes()).sum()
    }

    /// Whether everything this node published has been acknowledged by its regions.
    pub fn send_drained(&self) -> bool {
        self.regions.values().filter_map(|r| r.send.as_ref()).all(|s| s.is_drained())
    }

    /// Current pacing rate of this node's feed in `region`, bytes/s.
    pub fn send_rate(&self, region: RegionId) -> Option<u64> {
        self.regions.get(&region)?.send.as_ref().map(|s| s.rate())
    }

    fn dispatch(&mut self, now: Instant, header: Header, frame: Frame<'_>, datagram: &Bytes) {
        let region_id = RegionId(header.region);
        let from = NodeId(header.from);
        match frame {
            Frame::StartRequest(req) => return self.answer_start(region_id, from, &req),
            Frame::FenceRequest(req) => {
                // Any node that has the region fences (its own request was fenced when made).
                if from != self.me && self.regions.contains_key(&region_id) {
                    self.io.fence(region_id, req.key, req.nonce);
                } else {
                    self.io.stats.ignored += 1;
                }
                return;
            }
            _ => {}
        }
        if !self.departed.is_empty() {
            self.readmit(region_id, &header, &frame);
        }
        let me = self.me;
        let cx = Cx { now, cfg: &self.cfg, me, stream: self.stream, departed: &self.departed };
        let io = &mut self.io;
        let Some(region) = self.regions.get_mut(&region_id) else {
            io.stats.ignored += 1;
            return;
        };
        match frame {
            Frame::Data(d) => region.on_data(&cx, NodeId(d.sender), d.seq, datagram.clone(), io),
            Frame::Heartbeat(hb) => {
                if NodeId(hb.sender) != cx.stream && NodeId(hb.sender) == from {
                    region.on_heartbeat(&cx, from, hb.highest, io);
                }
            }
            Frame::Token(t) => region.on_token(&cx, from, &t, io),
            Frame::TokenAck(a) => region.ring.on_token_ack(now, from, &a),
            Frame::Ack(a) => {
                // Only the leader of the installed view acknowledges rounds.
                let from_leader = from == region.layout.leader() && a.view == region.layout.view.0;
                if NodeId(a.sender) == cx.stream && from_leader {
                    region.on_ack(now, cx.cfg, &a, io);
                } else {
                    io.stats.ignored += 1;
                }
            }
            Frame::Pull(p) => region.on_pull(&cx, from, NodeId(p.sender), p.ranges, io),
            Frame::Alive => {} // presence: counted when the datagram arrived
            Frame::Nak(n) => {
                let member = region.layout.position(from).is_some();
                match (NodeId(n.sender) == cx.stream && member, region.send.as_mut()) {
                    (true, Some(feed)) => {
                        feed.on_nak(cx.cfg, n.ranges.iter());
                    }
                    _ => io.stats.ignored += 1,
                }
            }
            Frame::StreamStart(st) => region.on_stream_start(&cx, from, &st, io),
            Frame::StartRequest(_) | Frame::FenceRequest(_) => {} // handled above
        }
    }

    /// A member asks where this node's stream starts for its join view. Answered once this
    /// node has installed that view (or a later one; the member asks again until then), from
    /// the join points it recorded, also for a region it left. A stream that is not this
    /// process's (an earlier incarnation of this node), or a region it never sent to, gets
    /// [`STREAM_GONE`]: the member retires the stream.
    fn answer_start(&mut self, region: RegionId, from: NodeId, req: &StartRequest) {
        let stream = NodeId(req.sender);
        if node_of(stream) != self.me {
            self.io.stats.ignored += 1;
            return;
        }
        let view = ViewId(req.view);
        let base = if stream != self.stream {
            None
        } else if let Some(r) = self.regions.get(&region) {
            let stable = r.send.as_ref().map_or(r.resume, |f| f.stable);
            match r.joins.base_for(view, stable) {
                Some(base) => Some(base),
                None => return, // that view is not installed here yet
            }
        } else {
            self.left.get(&region).map(|l| l.base_for(view))
        };
        let flags = if base.is_none() { STREAM_GONE } else { 0 };
        let start = StreamStart { view: req.view, sender: req.sender, base: base.unwrap_or(0), flags };
        self.io.unicast(region, from, argent_wire::encode_stream_start(region.0, self.me.0, &start));
        self.io.stats.stream_starts += 1;
    }

    /// A removed node multicasts a stream not tracked (nor retired) here: it is back, under
    /// a new incarnation.
    fn readmit(&mut self, region: RegionId, header: &Header, frame: &Frame<'_>) {
        let (sender, direct) = match frame {
            Frame::Data(d) if header.kind != FrameKind::Forward => (d.sender, header.from == d.sender),
            Frame::Heartbeat(hb) => (hb.sender, header.from == hb.sender),
            Frame::StreamStart(s) => (s.sender, NodeId(header.from) == node_of(NodeId(s.sender))),
            _ => return,
        };
        let stream = NodeId(sender);
        let node = node_of(stream);
        if !direct || node == self.me || !self.departed.contains(&node) {
            return;
        }
        let Some(r) = self.regions.get(&region) else { return };
        if r.joined.is_some() && !r.feeds.contains_key(&stream) && !r.retired.contains(stream) {
            self.departed.remove(&node);
        }
    }
}

impl Protocol for QsmNode {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, datagram: Bytes) {
        match argent_wire::decode(&datagram) {
            Ok((header, frame)) => {
                if let Some(p) = self.presence.as_mut() {
                    p.heard(node_of(NodeId(header.from)), now);
                }
                self.dispatch(now, header, frame, &datagram)
            }
            Err(_) => self.io.stats.decode_errors += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.presence(now);
        let cx = Cx { now, cfg: &self.cfg, me: self.me, stream: self.stream, departed: &self.departed };
        for region in self.regions.values_mut() {
            region.retry_starts(&cx, &mut self.io);
            region.on_timeout(&cx, &mut self.io);
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(t) = self.io.out.pop_front() {
            return Some(t);
        }
        let n = self.regions.len();
        for i in 0..n {
            let idx = (self.next_region + i) % n;
            let Some(region) = self.regions.values_mut().nth(idx) else { break };
            let Some(feed) = region.send.as_mut() else { continue };
            let (out, sealed) = feed.poll(now, &self.cfg);
            let id = region.id;
            region.publish_sealed(self.stream, sealed, &mut self.io);
            let Some(out) = out else { continue };
            self.next_region = idx + 1;
            let stats = &mut self.io.stats;
            let payload = match out {
                Outgoing::Data(d) => {
                    stats.data_sent += 1;
                    d
                }
                Outgoing::Retransmit(d) => {
                    stats.sender_retransmissions += 1;
                    Bytes::from(d)
                }
                Outgoing::Heartbeat(highest) => {
                    stats.heartbeats_sent += 1;
                    let hb = argent_wire::Heartbeat { sender: self.stream.0, highest };
                    Bytes::from(argent_wire::encode_heartbeat(id.0, self.stream.0, &hb))
                }
            };
            return Some(Transmit { region: id, dest: Destination::Region, payload });
        }
        None
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.io.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest: Option<Instant> = self.presence.as_ref().and_then(Presence::deadline);
        for region in self.regions.values() {
            let feed = region.send.as_ref().and_then(|s| s.deadline(&self.cfg));
            let ring = region.deadline(self.me, &self.cfg);
            for t in [feed, ring].into_iter().flatten() {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        earliest
    }
}

/// Space reserved in an outgoing datagram; write the message in place, then
/// [`Claim::commit`]. Dropped without commit, the space is released.
#[derive(Debug)]
pub struct Claim<'a> {
    feed: &'a mut SendFeed,
    len: usize,
    committed: bool,
}

impl Claim<'_> {
    /// Make the message part of the stream.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Deref for Claim<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.feed.claimed(self.len)
    }
}

impl DerefMut for Claim<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.feed.claimed_mut(self.len)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.feed.unclaim(self.len);
        }
    }
}
