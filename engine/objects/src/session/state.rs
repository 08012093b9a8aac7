//! The session itself: its phase (joining, member, failed), its inputs and outputs.

use super::config::SessionConfig;
use super::events::{JoinError, Problem, Sabotage, SessionEvent, SessionStats, SubmitError, Transmit};
use super::joiner::Joiner;
use crate::frame::{encode, HEADER, TAG_UPDATE};
use crate::key::{open, sign, ObjectKey, Opened, MAC_LEN};
use crate::object::{Fences, LiveObject, Proxy, RequestId, Stamp};
use crate::reference::ObjectId;
use argent_core::Instant;
use std::collections::VecDeque;

pub(super) enum Phase<O: LiveObject> {
    Joining(Box<Joiner<O>>),
    Member(Proxy<O>),
    Failed,
}

/// One object's protocol at one process (see the [module](crate::session) documentation).
pub struct Session<O: LiveObject> {
    pub(super) id: ObjectId,
    pub(super) key: Option<ObjectKey>,
    pub(super) origin: u64,
    pub(super) cfg: SessionConfig,
    pub(super) phase: Phase<O>,
    pub(super) fences: Fences,
    /// The region's current members (node ids), whose fences count.
    pub(super) members: Vec<u64>,
    /// Bounded by what one input makes: a frame or two per message, a checkpoint's parts per
    /// due request (at most [`crate::object::FENCED_REQUESTS`] wait); the binding drains it
    /// after every input.
    pub(super) transmits: VecDeque<Transmit>,
    /// Bounded like `transmits`: at most the updates of one delivery, or a join's backlog.
    pub(super) events: VecDeque<SessionEvent<O::Change>>,
    pub(super) stats: SessionStats,
    /// Always `None` unless the simulator sets it (feature `sabotage`).
    pub(super) sabotage: Option<Sabotage>,
    /// A durable object's disk bookkeeping ([`Session::with_durability`]).
    pub(super) durable: Option<super::persist::Durable>,
}

impl<O: LiveObject> std::fmt::Debug for Session<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("joined", &self.is_member())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<O: LiveObject> Session<O> {
    /// A founding member: the object in its initial state, serving joiners.
    pub fn founding(id: ObjectId, key: Option<ObjectKey>, origin: u64, cfg: SessionConfig) -> Self {
        Self::new(id, key, origin, cfg, Phase::Member(Proxy::new(origin)))
    }

    /// A joiner: asks at once (the binding subscribed to the group first, so every update
    /// from here on is buffered).
    pub fn join(id: ObjectId, key: Option<ObjectKey>, origin: u64, cfg: SessionConfig, now: Instant) -> Self {
        let joiner = Joiner::new(origin, &cfg, now);
        let mut s = Self::new(id, key, origin, cfg, Phase::Joining(Box::new(joiner)));
        s.ask(now);
        s
    }

    pub(super) fn new(
        id: ObjectId,
        key: Option<ObjectKey>,
        origin: u64,
        cfg: SessionConfig,
        phase: Phase<O>,
    ) -> Self {
        Session {
            id,
            key,
            origin,
            cfg,
            phase,
            fences: Fences::new(),
            members: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: SessionStats::default(),
            sabotage: None,
            durable: None,
        }
    }

    /// Break one decision on purpose (tests of the simulator's checkers only).
    #[cfg(feature = "sabotage")]
    pub fn sabotage(&mut self, s: Sabotage) {
        self.sabotage = Some(s);
    }

    pub(super) fn sabotaged(&self, s: Sabotage) -> bool {
        self.sabotage == Some(s)
    }

    /// The object.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// This session's origin (its identity in stamps and positions).
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// Whether the join completed (or the session founded the object).
    pub fn is_member(&self) -> bool {
        matches!(self.phase, Phase::Member(_))
    }

    /// The proxy, once a member.
    pub fn proxy(&self) -> Option<&Proxy<O>> {
        match &self.phase {
            Phase::Member(p) => Some(p),
            _ => None,
        }
    }

    /// What a joiner waits for (to explain a join that does not end); `None` once a member.
    pub fn waiting_for(&self) -> Option<String> {
        match &self.phase {
            Phase::Joining(j) => Some(j.describe(&self.fences, &self.members)),
            Phase::Member(_) => None,
            Phase::Failed => Some("failed".into()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        let mut s = self.stats;
        if let Phase::Member(p) = &self.phase {
            s.proxy = p.stats();
        }
        s
    }

    /// A message of the object's group, delivered from `node`; frames of other objects are
    /// ignored.
    pub fn handle_message(&mut self, now: Instant, node: u32, msg: &[u8]) {
        let Some(opened) = open(self.id, self.key.as_ref(), msg) else { return };
        match opened {
            Opened::Forged(tag, body) => self.forged(tag, body),
            Opened::Authentic(tag, body) => match self.phase {
                Phase::Joining(_) => self.joiner_message(now, node, tag, body),
                Phase::Member(_) => self.member_message(node, tag, body),
                Phase::Failed => {}
            },
        }
    }

    /// The driver delivered node `node`'s fence for `request` (the runtime's fence message,
    /// `argent_wire::message::parse_fence`). Fences count per node: the one rule every
    /// binding follows, since both the runtime and the simulator know a region's members by
    /// node (a restarted node's old stream is retired before its new one sends).
    pub fn handle_fence(&mut self, now: Instant, request: RequestId, node: u32) {
        self.fences.fence(request, u64::from(node));
        self.settle(now);
    }

    /// The nodes of the region now: a member no longer listed is not waited for.
    pub fn handle_members(&mut self, now: Instant, members: &[u32]) {
        if !self.members.iter().copied().eq(members.iter().map(|m| u64::from(*m))) {
            self.members.clear();
            self.members.extend(members.iter().map(|m| u64::from(*m)));
        }
        self.settle(now);
    }

    /// The deadline of [`Session::poll_timeout`] passed: a joiner asks again, or gives up.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Phase::Joining(j) = &self.phase else { return };
        if now >= j.deadline() {
            let e = j.timeout_error(self.cfg.join_timeout);
            self.fail(e);
        } else if now >= j.next_ask() {
            self.ask(now);
        }
    }

    /// When [`Session::handle_timeout`] is due: a joiner's next request, or its deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Joining(j) => Some(j.next_ask().min(j.deadline())),
            _ => None,
        }
    }

    /// The next frame to publish or fence request to make.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Puts back a transmit the binding could not carry out (its publisher stayed full): it
    /// is the next one polled, so nothing is lost and the order is kept.
    pub fn requeue_transmit(&mut self, t: Transmit) {
        self.transmits.push_front(t);
    }

    /// How many transmits wait to be polled.
    pub fn pending_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent<O::Change>> {
        self.events.pop_front()
    }

    /// Stamps `op` and queues its frame; it is applied (here too) when delivered back.
    /// Refused before numbering when its frame would not fit one message (a number never
    /// sent would be a gap at every receiver).
    pub fn submit(&mut self, op: O::Op) -> Result<(), SubmitError> {
        self.submit_stamped(op).map(|_| ())
    }

    /// [`Session::submit`], returning the update's stamp: the change its delivery makes
    /// names it ([`crate::object::Stamped`]), so the submitter can wait for its outcome.
    pub fn submit_stamped(&mut self, op: O::Op) -> Result<Stamp, SubmitError> {
        let Phase::Member(proxy) = &mut self.phase else { return Err(SubmitError::NotJoined) };
        // The envelope (version, stamp, sequence number) adds at most ENVELOPE bytes.
        const ENVELOPE: usize = 32;
        let op_len = postcard::experimental::serialized_size(&op).unwrap_or(usize::MAX);
        let mac = if self.key.is_some() { MAC_LEN } else { 0 };
        let len = op_len.saturating_add(ENVELOPE + HEADER + mac);
        if len > self.cfg.max_message {
            return Err(SubmitError::TooLarge { len, max: self.cfg.max_message });
        }
        let update = proxy.local(op)?;
        let stamp = Stamp { lamport: proxy.clock().latest(), origin: proxy.origin() };
        self.publish(encode(TAG_UPDATE, self.id.0, &[&update]));
        Ok(stamp)
    }

    /// Queue `frame`, signed under the object's key.
    pub(super) fn publish(&mut self, frame: Vec<u8>) {
        self.transmits.push_back(Transmit::Publish(sign(frame, self.key.as_ref())));
    }

    pub(super) fn problem(&mut self, p: Problem) {
        self.events.push_back(SessionEvent::Problem(p));
    }

    pub(super) fn fail(&mut self, e: JoinError) {
        self.phase = Phase::Failed;
        self.events.push_back(SessionEvent::Failed(e));
    }

    /// What the fences and answers delivered so far allow now.
    pub(super) fn settle(&mut self, now: Instant) {
        match self.phase {
            Phase::Joining(_) => self.try_restore(now),
            Phase::Member(_) => self.answer_due(),
            Phase::Failed => {}
        }
    }
}
