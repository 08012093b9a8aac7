//! The per-process protocol object: dispatch of datagrams to regions, the publish API,
//! and the [`Protocol`] implementation.

use crate::churn::Left;
use crate::config::{Config, ConfigError};
use crate::events::{Event, PublishError, Stats, ViewError};
use crate::io::{Cx, Io};
use crate::layout::{RegionView, RingLayout};
use crate::presence::Presence;
use crate::region::{announce_start, Region};
use crate::send::{Outgoing, SendFeed};
use crate::stream::{node_of, stream_id};
use argent_core::{Destination, Instant, NodeId, Protocol, RegionId, Transmit, ViewId};
use argent_wire::{Frame, FrameKind, Header, StartRequest, StreamStart, STREAM_BEGINS, STREAM_GONE};
use bytes::Bytes;
use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};

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
            Some(r) => Some(r.installed),
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
                region.installed = view.id;
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
        if member {
            region.release_waiting(self.me, &mut self.io);
        }
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
                id: ViewId(r.installed.0 + 1),
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

    /// The streams of `node` that this node tracks in `region` (delivering, or winding down
    /// after the node departed: [`QsmNode::remove_node`]); a retired stream is not tracked,
    /// and nothing more of it is delivered.
    pub fn streams_of(&self, region: RegionId, node: NodeId) -> Vec<NodeId> {
        self.regions
            .get(&region)
            .map_or_else(Vec::new, |r| r.feeds.keys().copied().filter(|s| node_of(*s) == node).collect())
    }

    /// How far every member of `region` holds `stream` (read-only): a datagram up to here
    /// needs no repair any more. For this node's own stream, what every member acknowledged;
    /// for another's, how far this member dropped its cached copies (the ring's cleanup).
    /// `None` for a stream not tracked. A total-order layer keeps the datagrams past it, to
    /// relay them should their sender depart.
    pub fn stable_upto(&self, region: RegionId, stream: NodeId) -> Option<u64> {
        let r = self.regions.get(&region)?;
        if stream == self.stream() {
            return r.send.as_ref().map(|f| f.stable);
        }
        r.feeds.get(&stream).map(|f| f.cleanup)
    }

    /// The last datagram of this node's stream in `region` sealed so far (0: none). Right
    /// after [`QsmNode::install_view`] it is where the stream stands at the end of the views
    /// before: the install seals the open datagram, and what is published next is sent in the
    /// new view (a total-order layer's flush reports it).
    pub fn sealed_upto(&self, region: RegionId) -> Option<u64> {
        let r = self.regions.get(&region)?;
        Some(r.send.as_ref().map_or(r.resume, |f| f.sealed_upto()))
    }

    /// The newest view of `region` installed here (its ring view or a later cut).
    pub fn installed_view(&self, region: RegionId) -> Option<ViewId> {
        self.regions.get(&region).map(|r| r.installed)
    }

    /// Install view `view` of `region` whose ring did not change: the same members in the
    /// same incarnations (one of them joined or left a group the region carries). The ring
    /// goes on in the view it was formed in; what moves is the view this node's datagrams
    /// are sent in (its open datagram is sealed first, and its join point recorded, so the
    /// view is a cut in its stream) and the newest view a datagram it delivers may have been
    /// sent in (what waited for this one is delivered now). Every member and sender of the
    /// region installs the same cuts, in order, between the same ring views.
    pub fn install_cut(&mut self, region: RegionId, view: ViewId) -> Result<(), ViewError> {
        let Some(r) = self.regions.get_mut(&region) else {
            return Err(ViewError::UnknownRegion { region, view });
        };
        if view <= r.installed {
            return Err(ViewError::Stale { region, current: r.installed, new: view });
        }
        r.installed = view;
        r.record_view(view, self.stream, self.me, &mut self.io);
        if r.joined.is_some() {
            r.release_waiting(self.me, &mut self.io);
        }
        Ok(())
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
        self.left.insert(region, Left { view: r.installed, last_seq, stable, joins: r.joins });
        true
    }

    /// Forget a region that exists nowhere any more (the membership service dropped it when
    /// its last member left, and never reuses its id): leave it if this node has not, and
    /// drop what [`QsmNode::leave_region`] keeps, so that regions created and dropped as
    /// groups come and go cost nothing once gone. Returns false if the region was unknown.
    pub fn forget_region(&mut self, region: RegionId) -> bool {
        let known = self.leave_region(region);
        self.left.remove(&region).is_some() || known
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
            announce_start(region, self.me, me, r.installed, r.resume, STREAM_BEGINS, &mut self.io);
        }
        let start = r.resume;
        let view = r.installed.0;
        let feed = r.send.get_or_insert_with(|| SendFeed::new(region.0, me.0, view, cfg, now, start));
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

    /// Streams whose sender departed that this node still winds down (repairs among the
    /// survivors) before retiring them, all regions.
    pub fn departing_streams(&self) -> usize {
        self.regions.values().map(|r| r.departing).sum()
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
