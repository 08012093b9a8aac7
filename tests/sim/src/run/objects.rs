//! Live objects inside a simulation: every member runs a proxy of a replicated map and of a
//! replicated variable ([`argent_objects`]), bound to the region as the engine binds them
//! (`engine/argent/src/live.rs`): every object message is a frame `tag | object id | body`
//! (an update, a checkpoint request, or a checkpoint with its position) carried in a
//! simulated application message. Senders' messages carry updates; a member that joins
//! mid-run (churn, eviction) subscribes first, asks for a checkpoint over the region and
//! buffers what is delivered meanwhile; every member multicasts a fence for the request,
//! answers it once it has delivered every current member's fence, and the joiner restores
//! the answer once it has delivered them too ([`Fences`]); it asks again after a timeout.
//! At the end every member's checkpoint bytes must equal every other's and include every
//! update published.

use super::{Ev, Sim, MIN_MESSAGE};
use crate::Sabotage;
use argent_core::{Instant, NodeId};
use argent_membership::gms::{ClientStatus, View};
use argent_objects::object::{
    Fences, Joining, LiveObject, MapOp, ObjectError, Position, Proxy, ProxyStats, ReplicatedMap,
    ReplicatedVar, VarOp,
};
use std::collections::VecDeque;
use std::time::Duration;

/// The replicated map every member holds.
pub(super) type Map = ReplicatedMap<u32, u64>;
/// The replicated variable every member holds.
pub(super) type Var = ReplicatedVar<u64>;

use argent_objects::frame::{
    encode as frame, parse_checkpoint, parse_request, TAG_CHECKPOINT, TAG_FENCE, TAG_REQUEST, TAG_UPDATE,
};
const MAP_ID: u128 = 0x006d_6170;
const VAR_ID: u128 = 0x0076_6172;
/// Keys the senders write (bounds the map's checkpoint).
const KEYS: u64 = 64;
/// How long a joiner waits for a covering checkpoint before asking again.
const ASK_EVERY: Duration = Duration::from_millis(50);
/// Message index bit of control messages (requests and checkpoints), which any member may
/// publish; application messages (updates) go through the FIFO checker.
pub(super) const CONTROL: u64 = 1 << 63;
/// Bytes before the frame in a message: sender, index, check word, frame length.
pub(super) const MESSAGE_HEADER: usize = MIN_MESSAGE + 4;

/// One object at one member: a proxy, or a joiner waiting for its checkpoint; and the
/// fences it has delivered.
struct Replica<O: LiveObject> {
    /// Origin of this proxy (node, incarnation and object: never reused); a joiner's fence
    /// key.
    origin: u64,
    state: State<O>,
    fences: Fences,
}

enum State<O: LiveObject> {
    Member(Proxy<O>),
    Joining {
        joining: Joining<O>,
        /// Nonce of the latest request; answers to earlier ones are ignored.
        nonce: u64,
        /// The first answer to it, restored once every member's fence is delivered.
        answer: Option<(Vec<u8>, Position)>,
    },
}

impl<O: LiveObject> Replica<O> {
    fn member(origin: u64) -> Self {
        Replica { origin, state: State::Member(Proxy::new(origin)), fences: Fences::new() }
    }

    fn joining(origin: u64) -> Self {
        let state = State::Joining { joining: Joining::new(origin), nonce: 0, answer: None };
        Replica { origin, state, fences: Fences::new() }
    }

    fn is_joining(&self) -> bool {
        matches!(self.state, State::Joining { .. })
    }

    fn stats(&self) -> ProxyStats {
        match &self.state {
            State::Member(p) => p.stats(),
            State::Joining { .. } => ProxyStats::default(),
        }
    }

    /// What a joiner waits for.
    fn waits(&self, members: &[u64]) -> String {
        let origin = self.origin;
        match &self.state {
            State::Member(_) => "joined".into(),
            State::Joining { nonce, answer, .. } => format!(
                "request {nonce}: {}, fences from {:?} of members {members:?}",
                if answer.is_some() { "answered" } else { "no answer" },
                self.fences.fenced((origin, *nonce)),
            ),
        }
    }

    /// Checkpoint bytes and position total of a member.
    fn checkpoint(&self) -> Option<Result<(Vec<u8>, u64), ObjectError>> {
        match &self.state {
            State::Member(p) => Some(p.checkpoint().map(|c| (c, p.position().total()))),
            State::Joining { .. } => None,
        }
    }
}

/// A member's objects.
pub(super) struct Objects {
    map: Replica<Map>,
    var: Replica<Var>,
    /// Control frames waiting for room in the send buffer.
    outbox: VecDeque<Vec<u8>>,
    /// Index of the next control message.
    control_next: u64,
    /// Whether this joiner has asked for checkpoints in this incarnation.
    asked: bool,
    /// Bumped at every request, so that a stale re-ask timer does nothing.
    ask_generation: u64,
}

impl Objects {
    /// A member from the start: both objects in their initial state.
    pub(super) fn founding(node: u32, incarnation: u64) -> Self {
        Self::new(origin(node, incarnation), true)
    }

    /// A new incarnation joining the objects.
    pub(super) fn joiner(node: u32, incarnation: u64) -> Self {
        Self::new(origin(node, incarnation), false)
    }

    fn new(origin: u64, founding: bool) -> Self {
        let (map, var) = if founding {
            (Replica::member(origin), Replica::member(origin | VAR_ORIGIN))
        } else {
            (Replica::joining(origin), Replica::joining(origin | VAR_ORIGIN))
        };
        Objects { map, var, outbox: VecDeque::new(), control_next: 0, asked: founding, ask_generation: 0 }
    }

    /// What a joiner waits for, to explain one that never joined.
    fn waits(&self, members: &[u64]) -> String {
        let (map, var) = (self.map.waits(members), self.var.waits(members));
        format!("map {map}; var {var}; {} control frames waiting", self.outbox.len())
    }

    pub(super) fn joining(&self) -> bool {
        self.map.is_joining() || self.var.is_joining()
    }

    /// Whether nothing waits: joined, and every control frame published.
    pub(super) fn settled(&self) -> bool {
        !self.joining() && self.outbox.is_empty()
    }

    fn stats(&self) -> ProxyStats {
        let (a, b) = (self.map.stats(), self.var.stats());
        ProxyStats {
            sent: a.sent + b.sent,
            applied: a.applied + b.applied,
            duplicates: a.duplicates + b.duplicates,
        }
    }

    /// The frame of a sender's `index`-th message: an update of the map (a put, or a remove
    /// one time in eight) or, every fourth message, of the variable.
    pub(super) fn update(&mut self, node: u32, index: u64) -> Result<Vec<u8>, String> {
        let x = mix(u64::from(node) << 40 ^ index);
        let (id, update) = if index % 4 == 3 {
            let State::Member(p) = &mut self.var.state else { return Err("sender is joining".into()) };
            (VAR_ID, p.local(VarOp::Set(x)))
        } else {
            let State::Member(p) = &mut self.map.state else { return Err("sender is joining".into()) };
            let key = (x % KEYS) as u32;
            let op = if (x >> 8).is_multiple_of(8) {
                MapOp::Remove(key)
            } else {
                MapOp::Put(key, index << 8 | 0xff & u64::from(node))
            };
            (MAP_ID, p.local(op))
        };
        let update = update.map_err(|e| e.to_string())?;
        Ok(frame(TAG_UPDATE, id, &[&update]))
    }
}

/// What handling one frame did.
#[derive(Default)]
struct Effects {
    publish: Vec<Vec<u8>>,
    /// Fences to ask the region for: (key, nonce).
    fence_requests: Vec<(u64, u64)>,
    problems: Vec<String>,
    rejected: u64,
    checkpoints_sent: u64,
    /// A join completed, with this many updates buffered.
    joined: Option<usize>,
    retries: u64,
    requests: u64,
}

fn origin(node: u32, incarnation: u64) -> u64 {
    u64::from(node) << 16 | incarnation
}

/// Marks the variable's origins (the map's are [`origin`]'s).
const VAR_ORIGIN: u64 = 1 << 62;

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn request(id: u128, origin: u64, nonce: u64) -> Vec<u8> {
    frame(TAG_REQUEST, id, &[&argent_objects::frame::request(origin, nonce)])
}

/// Ask for a checkpoint of `rep` if it is joining, and for the region's fences.
fn ask<O: LiveObject>(rep: &mut Replica<O>, id: u128, fx: &mut Effects) {
    if let State::Joining { nonce, answer, .. } = &mut rep.state {
        *nonce += 1;
        *answer = None;
        fx.publish.push(request(id, rep.origin, *nonce));
        fx.fence_requests.push((rep.origin, *nonce));
        fx.requests += 1;
    }
}

/// Where a frame was delivered: the object's id, the stream that sent the frame and the
/// streams of the current view's members.
struct At<'a> {
    id: u128,
    stream: u64,
    members: &'a [u64],
    sabotage: bool,
}

/// One frame of object `id` at a member, as the engine's proxy loop and join loop handle it.
fn handle<O: LiveObject>(rep: &mut Replica<O>, at: &At<'_>, tag: u8, body: &[u8], fx: &mut Effects) {
    let origin = rep.origin;
    match tag {
        TAG_REQUEST | TAG_FENCE => {
            let Some(req) = parse_request(body) else {
                fx.problems.push("malformed checkpoint request or fence".into());
                return;
            };
            if tag == TAG_REQUEST {
                rep.fences.request(req, !rep.is_joining());
            } else {
                rep.fences.fence(req, at.stream);
            }
            settle(rep, at, fx);
        }
        TAG_UPDATE => {
            let delivered = match &mut rep.state {
                State::Member(p) => p.deliver(body).map(|_| ()),
                State::Joining { joining, .. } => joining.deliver(body),
            };
            if let Err(e) = delivered {
                fx.rejected += 1;
                fx.problems.push(format!("update refused by {origin:#x}: {e}"));
            }
        }
        TAG_CHECKPOINT => {
            let State::Joining { nonce, answer, .. } = &mut rep.state else { return };
            let Some((to, n, position, checkpoint)) = parse_checkpoint(body) else {
                fx.problems.push("malformed checkpoint frame".into());
                return;
            };
            if to != origin || n != *nonce || answer.is_some() {
                return; // another joiner's, an answer to an earlier request, or a second one
            }
            match Position::decode(position) {
                Ok(p) => *answer = Some((checkpoint.to_vec(), p)),
                Err(e) => fx.problems.push(format!("joiner {origin:#x}: bad position: {e}")),
            }
            settle(rep, at, fx);
        }
        _ => fx.problems.push(format!("frame with unknown tag {tag}")),
    }
}

/// What the fences delivered so far allow: a member answers the requests every current
/// member has fenced; a joiner restores its answer once its request is fenced.
fn settle<O: LiveObject>(rep: &mut Replica<O>, at: &At<'_>, fx: &mut Effects) {
    let (id, origin) = (at.id, rep.origin);
    match &mut rep.state {
        State::Member(p) => {
            for (to, nonce) in rep.fences.due(at.members) {
                match p.position().encode().and_then(|pos| Ok((pos, p.checkpoint()?))) {
                    Ok((position, checkpoint)) => {
                        fx.publish.push(argent_objects::frame::checkpoint(
                            id,
                            to,
                            nonce,
                            &position,
                            &checkpoint,
                        ));
                        fx.checkpoints_sent += 1;
                    }
                    Err(e) => fx.problems.push(format!("no checkpoint: {e}")),
                }
            }
        }
        State::Joining { joining, nonce, answer } => {
            if answer.is_none() || !rep.fences.complete((origin, *nonce), at.members) {
                return;
            }
            let Some((checkpoint, position)) = answer.take() else { return };
            let backlog = joining.backlog();
            let mut j = std::mem::replace(joining, Joining::new(origin));
            if at.sabotage {
                j = Joining::new(origin); // what was buffered while joining is lost
            }
            match j.complete(&checkpoint, &position) {
                Ok(joined) => {
                    rep.state = State::Member(joined.proxy);
                    fx.joined = Some(backlog);
                    // Requests of other joiners delivered while this one joined.
                    settle(rep, at, fx);
                }
                Err((j, e)) => {
                    // Not expected once fenced: say so, and ask again.
                    fx.problems.push(format!("joiner {origin:#x}: fenced checkpoint refused: {e}"));
                    *joining = j;
                    fx.retries += 1;
                    ask(rep, id, fx);
                }
            }
        }
    }
}

impl Sim<'_> {
    /// A frame delivered to node `n` from stream `sender`; `None`: the view changed, see
    /// what the fences delivered so far allow now.
    pub(super) fn object_frame(&mut self, n: u32, sender: NodeId, frame: Option<&[u8]>) {
        let sabotage = self.sc.sabotage == Sabotage::DropJoinBacklog;
        let members = self.member_streams(n);
        let Some(objects) = self.nodes[n as usize].objects.as_mut() else { return };
        let mut fx = Effects::default();
        let at = |id| At { id, stream: u64::from(sender.0), members: &members, sabotage };
        match frame.map(argent_objects::frame::split) {
            None => {
                let (map, var) = (at(MAP_ID), at(VAR_ID));
                settle(&mut objects.map, &map, &mut fx);
                settle(&mut objects.var, &var, &mut fx);
            }
            // A fence (published for the driver's `Event::Fence`) names its request's key:
            // it is the map's or the variable's, and harmless to the other.
            Some(Some((TAG_FENCE, _, body))) => {
                handle(&mut objects.map, &at(MAP_ID), TAG_FENCE, body, &mut fx);
                handle(&mut objects.var, &at(VAR_ID), TAG_FENCE, body, &mut fx);
            }
            Some(None) => fx.problems.push(format!("object frame of {} bytes", frame.map_or(0, <[u8]>::len))),
            Some(Some((tag, MAP_ID, body))) => handle(&mut objects.map, &at(MAP_ID), tag, body, &mut fx),
            Some(Some((tag, VAR_ID, body))) => handle(&mut objects.var, &at(VAR_ID), tag, body, &mut fx),
            Some(Some((_, other, _))) => fx.problems.push(format!("frame of unknown object {other:#x}")),
        }
        if fx.requests > 0 {
            objects.ask_generation += 1;
        }
        objects.outbox.extend(fx.publish.drain(..));
        self.request_fences(n, &fx.fence_requests);
        let o = &mut self.out;
        o.object_rejected += fx.rejected;
        o.object_checkpoints_sent += fx.checkpoints_sent;
        o.object_join_retries += fx.retries;
        o.object_join_requests += fx.requests;
        if let Some(backlog) = fx.joined {
            o.object_joins += 1;
            o.object_join_backlog += backlog as u64;
            if self.apps_pending > 0 {
                o.object_joins_during_traffic += 1;
            }
        }
        for p in fx.problems {
            self.violation(format!("node {n}: {p}"));
        }
        let node = &self.nodes[n as usize];
        if fx.joined.is_some() || node.objects.as_ref().is_some_and(|o| !o.outbox.is_empty()) {
            // Control messages to send, or a sender that may publish now it has joined.
            let t = node.busy_until;
            self.pump(n, t);
        }
    }

    /// Ask node `n`'s region for fences (the driver multicasts the request and asks this
    /// node for its own at once, see [`Sim::object_fence`]).
    fn request_fences(&mut self, n: u32, requests: &[(u64, u64)]) {
        let node = &mut self.nodes[n as usize];
        let Some(region) = node.region.as_ref().map(|r| r.0) else { return };
        for &(key, nonce) in requests {
            node.proto.request_fences(region, key, nonce);
        }
    }

    /// The driver asks node `n` for a fence: publish one, after everything it sent so far
    /// (with its other control frames, which follow its updates in the stream).
    pub(super) fn object_fence(&mut self, n: u32, key: u64, nonce: u64) {
        let Some(objects) = self.nodes[n as usize].objects.as_mut() else { return };
        objects.outbox.push_back(frame(TAG_FENCE, 0, &[&argent_objects::frame::request(key, nonce)]));
        let t = self.nodes[n as usize].busy_until;
        self.pump(n, t);
    }

    /// The streams of the members of node `n`'s current view: whose fences it waits for.
    fn member_streams(&self, n: u32) -> Vec<u64> {
        let node = &self.nodes[n as usize];
        if self.sc.gms.is_some() {
            let stream = |&(m, inc): &(u32, u64)| argent_qsm::stream_id(NodeId(m), stream_incarnation(inc));
            node.known.iter().map(|k| u64::from(stream(k).0)).collect()
        } else {
            (0..self.sc.nodes).map(u64::from).collect()
        }
    }

    /// A node's protocol installed a region: if no update has been made yet, its objects
    /// start in the initial state with the other founding members; else it joins them.
    pub(super) fn objects_region(&mut self, n: u32) {
        let begun = self.out.object_updates_published > 0;
        let node = &mut self.nodes[n as usize];
        let incarnation = node.incarnation;
        if let Some(o) = node.objects.as_mut().filter(|o| !o.asked && o.joining() && !begun) {
            *o = Objects::founding(n, incarnation);
        }
    }

    /// A joiner whose protocol has installed a region view asks for checkpoints (once per
    /// incarnation; again after [`ASK_EVERY`] without a covering answer).
    pub(super) fn object_ask(&mut self, n: u32, now: Instant, again: Option<u64>) {
        let incarnation = self.nodes[n as usize].incarnation;
        let node = &mut self.nodes[n as usize];
        if node.crashed || node.region.is_none() {
            return;
        }
        let Some(objects) = node.objects.as_mut() else { return };
        match again {
            None if objects.asked => return,
            Some(generation) if generation != objects.ask_generation || !objects.joining() => return,
            _ => {}
        }
        objects.asked = true;
        let mut fx = Effects::default();
        ask(&mut objects.map, MAP_ID, &mut fx);
        ask(&mut objects.var, VAR_ID, &mut fx);
        objects.ask_generation += 1;
        let generation = objects.ask_generation;
        objects.outbox.extend(fx.publish.drain(..));
        self.request_fences(n, &fx.fence_requests);
        self.out.object_join_requests += fx.requests;
        if again.is_some() {
            self.out.object_join_timeouts += 1;
        }
        self.push(now + ASK_EVERY, Ev::ObjectAsk { node: n, incarnation, generation });
        let t = self.nodes[n as usize].busy_until.max(now);
        self.pump(n, t);
    }

    /// The re-ask timer of a joiner.
    pub(super) fn object_ask_timer(&mut self, n: u32, incarnation: u64, generation: u64, now: Instant) {
        if self.nodes[n as usize].incarnation == incarnation {
            self.object_ask(n, now, Some(generation));
        }
    }

    /// Publish node `n`'s waiting control frames until the send buffer pushes back; returns
    /// the node's local time after the work.
    pub(super) fn drain_outbox(&mut self, n: u32, at: Instant) -> Instant {
        let sc = self.sc;
        let mut t = at;
        let mut problems = Vec::new();
        let node = &mut self.nodes[n as usize];
        if sc.gms.is_some() && node.region.is_none() {
            return t; // not in a region yet (or any more)
        }
        let region = node.region.as_ref().map_or(super::REGION, |r| r.0);
        let Some(objects) = node.objects.as_mut() else { return t };
        while let Some(f) = objects.outbox.front() {
            let len = sc.size.max(MESSAGE_HEADER + f.len());
            match node.proto.claim(t, region, len) {
                Ok(mut claim) => {
                    super::write_message(&mut claim, n, CONTROL | objects.control_next, f);
                    claim.commit();
                    objects.control_next += 1;
                    objects.outbox.pop_front();
                    t += sc.cpu_per_message * node.slow;
                }
                Err(argent_qsm::PublishError::WouldBlock) => break,
                Err(e) => {
                    problems.push(format!("node {n}: object message of {len} bytes not published: {e}"));
                    objects.outbox.pop_front();
                }
            }
        }
        node.busy_until = node.busy_until.max(t);
        for p in problems {
            self.violation(p);
        }
        t
    }

    /// The frame of sender `n`'s `index`-th message.
    pub(super) fn object_update(&mut self, n: u32, index: u64) -> Vec<u8> {
        let made = match self.nodes[n as usize].objects.as_mut() {
            Some(o) => o.update(n, index),
            None => Err("no objects".into()),
        };
        match made {
            Ok(f) => {
                self.out.object_updates_published += 1;
                f
            }
            Err(e) => {
                self.violation(format!("sender {n}: no update for message {index}: {e}"));
                Vec::new()
            }
        }
    }

    /// A restarted node's objects join again, as a new incarnation.
    pub(super) fn objects_restart(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        let incarnation = node.incarnation;
        if let Some(old) = node.objects.replace(Objects::joiner(n, incarnation)) {
            let s = old.stats();
            self.retired_object_stats.0 += s.applied;
            self.retired_object_stats.1 += s.duplicates;
        }
    }

    /// As the engine's runtime does on every membership view: retire the streams of nodes
    /// that left and of incarnations that were replaced (members publish control messages,
    /// so a departed member's stream must not be waited for).
    pub(super) fn retire_departed(&mut self, n: u32, v: &View) {
        let node = &mut self.nodes[n as usize];
        for &(m, inc) in &node.known {
            let old = argent_qsm::stream_id(argent_core::NodeId(m), stream_incarnation(inc));
            match v.member(argent_core::NodeId(m)) {
                // Only the exact stream: `remove_node` would also retire a newer
                // incarnation's stream that this node may already track.
                None => node.proto.retire_stream(old),
                Some(member) if member.incarnation != inc => node.proto.retire_stream(old),
                Some(_) => {}
            }
        }
        node.known = v.members.iter().map(|m| (m.node.0, m.incarnation)).collect();
    }

    /// Whether every member's objects are settled and its control messages acknowledged.
    pub(super) fn objects_settled(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| self.counted(n))
            .all(|n| n.objects.as_ref().is_none_or(Objects::settled) && n.proto.send_drained())
    }

    /// Whether a node is a member whose objects are checked (alive, and in the membership).
    fn counted(&self, node: &super::SimNode) -> bool {
        !node.crashed
            && (self.sc.gms.is_none()
                || node.client.as_ref().is_some_and(|c| c.status() == ClientStatus::Member))
    }

    /// End-of-run checks of an objects run: every member has joined, its checkpoints equal
    /// everyone else's, and they include every update published.
    pub(super) fn finish_objects(&mut self) {
        let mut found = Vec::new();
        let mut reference: Option<(u32, Vec<u8>, Vec<u8>)> = None;
        let (mut applied, mut duplicates) = self.retired_object_stats;
        let mut included = None;
        for (n, node) in self.nodes.iter().enumerate() {
            let Some(objects) = &node.objects else { continue };
            let s = objects.stats();
            applied += s.applied;
            duplicates += s.duplicates;
            if !self.counted(node) {
                continue;
            }
            self.out.object_members_checked += 1;
            let (Some(map), Some(var)) = (objects.map.checkpoint(), objects.var.checkpoint()) else {
                let waits = objects.waits(&self.member_streams(n as u32));
                found.push(format!(
                    "node {n} (incarnation {}): still joining at the end ({waits})",
                    node.incarnation
                ));
                self.out.object_divergent += 1;
                continue;
            };
            let ((map, map_total), (var, var_total)) = match (map, var) {
                (Ok(m), Ok(v)) => (m, v),
                (Err(e), _) | (_, Err(e)) => {
                    found.push(format!("node {n}: no checkpoint: {e}"));
                    continue;
                }
            };
            included.get_or_insert(map_total + var_total);
            if map_total + var_total != self.out.object_updates_published {
                found.push(format!(
                    "node {n} (incarnation {}): state includes {} of {} updates published",
                    node.incarnation,
                    map_total + var_total,
                    self.out.object_updates_published
                ));
            }
            match &reference {
                None => reference = Some((n as u32, map, var)),
                Some((r, rmap, rvar)) => {
                    if *rmap != map || *rvar != var {
                        self.out.object_divergent += 1;
                        let which = if *rmap != map { "map" } else { "variable" };
                        found.push(format!(
                            "node {n} (incarnation {}): {which} state differs from node {r}'s",
                            node.incarnation
                        ));
                    }
                }
            }
        }
        self.out.object_updates_applied = applied;
        self.out.object_duplicates = duplicates;
        for f in found {
            self.violation(f);
        }
    }
}

/// The stream incarnation of membership incarnation `inc` (the first is 0: the node's id).
pub(super) fn stream_incarnation(inc: u64) -> u16 {
    (inc.saturating_sub(1) % 65_535) as u16
}
