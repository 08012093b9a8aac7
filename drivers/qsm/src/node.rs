//! The per-process protocol object: dispatch of datagrams to regions, the publish API,
//! and the [`Protocol`] implementation.

use crate::layout::{RegionView, RingLayout};
use crate::recv::{Accept, RecvFeed};
use crate::ring::RingState;
use crate::send::{Outgoing, SendFeed};
use crate::{Config, ConfigError};
use argent_core::{Destination, Instant, NodeId, Protocol, RegionId, Transmit};
use argent_wire::{Frame, FrameKind, Header};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
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
    pub(crate) fn unicast(&mut self, to: NodeId, payload: Vec<u8>) {
        self.out.push_back(Transmit { dest: Destination::Node(to), payload: Bytes::from(payload) });
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
    pub(crate) feeds: BTreeMap<NodeId, RecvFeed>,
    pub(crate) send: Option<SendFeed>,
    pub(crate) ring: RingState,
    /// New data bytes received (drives adaptive rounds at the leader).
    pub(crate) rx_bytes: u64,
}

impl Region {
    /// The receive state of `sender`'s stream, created on first sight unless the region
    /// already tracks [`MAX_STREAMS_PER_REGION`] streams.
    pub(crate) fn feed(&mut self, sender: NodeId, now: Instant) -> Option<&mut RecvFeed> {
        feed_in(&mut self.feeds, sender, now)
    }

    fn my_partition(&self, me: NodeId) -> Option<usize> {
        self.layout.position(me).map(|p| self.layout.partition_at(p))
    }

    fn on_data(&mut self, cx: &Cx<'_>, sender: NodeId, seq: u64, dg: Bytes, io: &mut Io) {
        let Cx { now, cfg, me, stream } = *cx;
        if sender == stream {
            io.stats.duplicates += 1; // our own multicast looped back
            return;
        }
        let my_part = self.my_partition(me);
        let id = self.id;
        let layout = &self.layout;
        let Some(feed) = feed_in(&mut self.feeds, sender, now) else {
            io.stats.ignored += 1;
            return;
        };
        match feed.accept(seq, &dg, cfg.window_datagrams) {
            Accept::Duplicate => io.stats.duplicates += 1,
            Accept::BeyondWindow => io.stats.beyond_window += 1,
            Accept::New => {
                self.rx_bytes += dg.len() as u64;
                while let Some((s, d)) = feed.pop_deliverable() {
                    io.deliver(id, sender, s, &d);
                    if my_part == Some(layout.owner(s)) {
                        feed.cache(s, d);
                    }
                }
            }
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

/// The receive state of `sender`'s stream in `feeds`, created on first sight unless
/// [`crate::MAX_STREAMS_PER_REGION`] streams are tracked already.
fn feed_in(feeds: &mut BTreeMap<NodeId, RecvFeed>, sender: NodeId, now: Instant) -> Option<&mut RecvFeed> {
    if !feeds.contains_key(&sender) && feeds.len() >= crate::MAX_STREAMS_PER_REGION {
        return None;
    }
    Some(feeds.entry(sender).or_insert_with(|| RecvFeed::new(now)))
}

/// Send a peer a copy of a datagram this node holds.
pub(crate) fn forward(region: RegionId, me: NodeId, to: NodeId, copy: &Bytes, io: &mut Io) {
    let body = &copy[argent_wire::HEADER_LEN..];
    io.unicast(to, argent_wire::encode_data_copy(FrameKind::Forward, region.0, me.0, body));
    io.stats.peer_repairs += 1;
}

/// One process's QSM protocol state, for every region it belongs to or sends to.
#[derive(Debug)]
pub struct QsmNode {
    me: NodeId,
    stream: NodeId,
    cfg: Config,
    regions: BTreeMap<RegionId, Region>,
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
        Ok(QsmNode { me, stream, cfg, regions: BTreeMap::new(), io: Io::default(), next_region: 0 })
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
    /// crashed). The ring is re-formed; receive and send state carries over, so nothing a
    /// surviving member lacks is forgotten and nothing waits on departed members.
    pub fn install_view(&mut self, now: Instant, view: RegionView) -> Result<(), ViewError> {
        if view.members.is_empty() {
            return Err(ViewError::Empty { region: view.region, view: view.id });
        }
        let mut seen = std::collections::HashSet::with_capacity(view.members.len());
        if let Some(dup) = view.members.iter().find(|m| !seen.insert(**m)) {
            return Err(ViewError::Duplicate { region: view.region, view: view.id, node: *dup });
        }
        let layout = RingLayout::new(&view, self.cfg.partition_size);
        match self.regions.get_mut(&view.region) {
            Some(region) => {
                if view.id <= region.layout.view {
                    return Err(ViewError::Stale {
                        region: view.region,
                        current: region.layout.view,
                        new: view.id,
                    });
                }
                region.layout = layout;
                region.ring.reset_for_view(now);
            }
            None => {
                let region = Region {
                    id: view.region,
                    layout,
                    feeds: BTreeMap::new(),
                    send: None,
                    ring: RingState::new(now),
                    rx_bytes: 0,
                };
                self.regions.insert(view.region, region);
            }
        }
        Ok(())
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
        let feed = r.send.get_or_insert_with(|| SendFeed::new(region.0, me.0, cfg, now));
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
        let me = self.me;
        let cx = Cx { now, cfg: &self.cfg, me, stream: self.stream };
        let io = &mut self.io;
        let Some(region) = self.regions.get_mut(&RegionId(header.region)) else {
            io.stats.ignored += 1;
            return;
        };
        let from = NodeId(header.from);
        match frame {
            Frame::Data(d) => region.on_data(&cx, NodeId(d.sender), d.seq, datagram.clone(), io),
            Frame::Heartbeat(hb) => {
                if NodeId(hb.sender) != cx.stream && NodeId(hb.sender) == from {
                    if let Some(feed) = region.feed(from, now) {
                        feed.cutoff = feed.cutoff.max(hb.highest);
                    }
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
            Frame::Alive => {} // presence, for the runtime's failure detection
            Frame::Nak(n) => {
                let member = region.layout.position(from).is_some();
                match (NodeId(n.sender) == cx.stream && member, region.send.as_mut()) {
                    (true, Some(feed)) => {
                        feed.on_nak(cx.cfg, n.ranges.iter());
                    }
                    _ => io.stats.ignored += 1,
                }
            }
        }
    }
}

impl Protocol for QsmNode {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, _from: NodeId, datagram: Bytes) {
        match argent_wire::decode(&datagram) {
            Ok((header, frame)) => self.dispatch(now, header, frame, &datagram),
            Err(_) => self.io.stats.decode_errors += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let cx = Cx { now, cfg: &self.cfg, me: self.me, stream: self.stream };
        for region in self.regions.values_mut() {
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
            return Some(Transmit { dest: Destination::Region(id), payload });
        }
        None
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.io.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for region in self.regions.values() {
            let feed = region.send.as_ref().and_then(|s| s.deadline(&self.cfg));
            let ring = region.ring_deadline(self.me, &self.cfg);
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
