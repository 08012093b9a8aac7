//! One object's session at one process, sans-IO: the whole protocol a proxy runs over its
//! group, in the quinn-proto shape. The engine binding (`argent::live`) and the simulator
//! drive this same code; neither holds a copy of any decision here.
//!
//! Inputs carry the time: [`Session::handle_message`] (a message of the object's group,
//! with the node that sent it), [`Session::handle_fence`] (a fence the driver delivered),
//! [`Session::handle_members`] (the region's current members, whose fences count) and
//! [`Session::handle_timeout`]. Outputs are polled: [`Session::poll_transmit`] (frames to
//! publish into the group, in order, and fence requests for the driver),
//! [`Session::poll_event`] (changes, the end of the join, problems) and
//! [`Session::poll_timeout`]. No clock, thread, socket or randomness inside.
//!
//! What it decides:
//! - **Joining** ([`Session::join`]): ask the group for a checkpoint and the region for
//!   fences, buffer every update delivered meanwhile, count promises and answers, restore
//!   the first answer once every current member's fence for the request is in, apply the
//!   buffered updates after its position exactly once; ask again with a new nonce every
//!   [`SessionConfig::ask_every`] until then; with no answer or promise to
//!   [`SessionConfig::unanswered_means_first`] requests that every member of the region
//!   fenced, start from the initial state provided what was buffered starts at every
//!   sender's first update. [`Fences`] says why
//!   the join is exact.
//! - **Serving** (a member): apply updates; promise every authentic request an answer at
//!   once ([`crate::frame::TAG_PENDING`]); answer it with a checkpoint and its position, in
//!   parts when it does not fit one message, once every current member's fence for it is
//!   in; refuse a request that fails the object's key.
//! - **Keys and origins**: with a key, every frame is signed and checked
//!   ([`crate::key`]); an update whose origin is not one of its sending node's
//!   ([`sent_by`]) is refused and counted.

mod join;
mod serve;

use crate::frame::{encode, HEADER, TAG_UPDATE};
use crate::key::{open, sign, ObjectKey, Opened, MAC_LEN};
use crate::object::{
    Fences, LiveObject, ObjectError, Proxy, ProxyStats, RequestId, Update, JOIN_BACKLOG_BYTES,
};
use crate::reference::ObjectId;
use argent_core::Instant;
use join::Joiner;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::time::Duration;
use thiserror::Error;

/// How a session joins and how large its frames may be.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long a joiner waits for a fenced answer before asking again.
    pub ask_every: Duration,
    /// Requests fenced by every member of the region, without any answer or promise, after
    /// which a joiner concludes nobody holds the object.
    pub unanswered_means_first: u32,
    /// The longest a join may take.
    pub join_timeout: Duration,
    /// The largest message the group carries (frames, MAC included, are at most this).
    pub max_message: usize,
    /// What a joiner may buffer while its checkpoint is on the way, in bytes.
    pub backlog_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ask_every: Duration::from_millis(300),
            unanswered_means_first: 3,
            join_timeout: Duration::from_secs(10),
            max_message: 65_000,
            backlog_bytes: JOIN_BACKLOG_BYTES,
        }
    }
}

/// What the session asks its driver binding to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Publish this frame into the object's group (in the order polled).
    Publish(Vec<u8>),
    /// Ask every node of the group's region for a fence for request `(key, nonce)`.
    RequestFences {
        /// The joiner's origin.
        key: u64,
        /// The request's nonce.
        nonce: u64,
    },
}

/// What happened, for the application and the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent<C> {
    /// A delivered update changed the state (also each buffered update applied at the end
    /// of a join).
    Changed(C),
    /// The join completed: the session is a member.
    Joined {
        /// Updates buffered while joining.
        backlog: usize,
        /// Nobody held the object: started from the initial state.
        initial: bool,
    },
    /// The join failed for good; the session serves nothing.
    Failed(JoinError),
    /// Something was refused or went wrong; the session goes on.
    Problem(Problem),
}

/// Why a join failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JoinError {
    /// The members refused this session's key.
    #[error("the members refused this process's key: it is not the object's key")]
    Refused,
    /// The members' checkpoint does not restore as this kind.
    #[error("the members' checkpoint does not restore as the kind opened here ({0}): do they hold it as another class or value type?")]
    Incompatible(ObjectError),
    /// The joiner buffered more than its limit.
    #[error("{0}")]
    BacklogFull(ObjectError),
    /// No usable answer in time.
    #[error(
        "joining took longer than {waited:?} ({requests} checkpoint requests, {answers} answers or promises \
         of one, {buffered} updates buffered meanwhile): no member answered, or not every member of the \
         group's region fenced the request (a member that cannot publish?)"
    )]
    Timeout {
        /// How long the join waited.
        waited: Duration,
        /// Requests sent.
        requests: u32,
        /// Answers and promises received.
        answers: u32,
        /// Updates buffered.
        buffered: usize,
    },
}

/// Something refused or gone wrong that does not stop the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A frame of this object failed its key (dropped; a forged request is refused).
    Forged {
        /// The frame's tag.
        tag: u8,
    },
    /// A delivered update was not applied (malformed, another node's origin, a gap).
    UpdateRefused(ObjectError),
    /// A frame of this object that does not parse.
    Malformed {
        /// The frame's tag.
        tag: u8,
    },
    /// An answer whose position does not decode.
    BadPosition(ObjectError),
    /// A fenced answer that does not cover what the joiner buffered (asked again).
    FencedCheckpointRefused(ObjectError),
    /// This member could not answer a joiner.
    NoCheckpoint(String),
    /// A frame with a tag this build does not know.
    UnknownTag(u8),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Forged { tag } => write!(f, "a frame (tag {tag}) failed the object's key: dropped"),
            Problem::UpdateRefused(e) => write!(f, "update not applied: {e}"),
            Problem::Malformed { tag } => write!(f, "a frame (tag {tag}) that does not parse"),
            Problem::BadPosition(e) => write!(f, "a checkpoint with a bad position: {e}"),
            Problem::FencedCheckpointRefused(e) => {
                write!(f, "fenced checkpoint does not cover the join ({e}); asking again")
            }
            Problem::NoCheckpoint(e) => write!(f, "no checkpoint for a joiner: {e}"),
            Problem::UnknownTag(t) => write!(f, "a frame with unknown tag {t}"),
        }
    }
}

/// Why an update could not be submitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    /// The session has not joined (or its join failed).
    #[error("the object is not joined yet")]
    NotJoined,
    /// The update's frame would not fit one message; nothing was numbered.
    #[error("a frame of {len} bytes does not fit one message (at most {max})")]
    TooLarge {
        /// Its size with the frame.
        len: usize,
        /// The largest message.
        max: usize,
    },
    /// The object layer refused (an operation that does not encode, an exhausted clock).
    #[error(transparent)]
    Object(#[from] ObjectError),
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// The proxy's counters (updates sent, applied, duplicates skipped).
    pub proxy: ProxyStats,
    /// Frames of this object refused: forged, or updates that did not decode or apply.
    pub rejected: u64,
    /// Checkpoints sent to joiners.
    pub checkpoints_sent: u64,
    /// Checkpoint requests this session sent while joining.
    pub requests: u64,
    /// Fenced answers refused as not covering the join (asked again).
    pub join_retries: u64,
}

/// A test-only knob that breaks one decision of the session on purpose, so the simulator
/// can prove its checkers catch it (set only with the feature `sabotage`, which only the
/// simulator enables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// A joiner restores its answer from the checkpoint alone, dropping the updates it
    /// buffered while joining.
    DropBacklog,
    /// A member answers a request at once, without waiting for every member's fence.
    AnswerBeforeFences,
}

enum Phase<O: LiveObject> {
    Joining(Box<Joiner<O>>),
    Member(Proxy<O>),
    Failed,
}

/// One object's protocol at one process (see the [module](self) documentation).
pub struct Session<O: LiveObject> {
    id: ObjectId,
    key: Option<ObjectKey>,
    origin: u64,
    cfg: SessionConfig,
    phase: Phase<O>,
    fences: Fences,
    /// The fence keys of the region's current members.
    members: Vec<u64>,
    /// Bounded by what one input makes: a frame or two per message, a checkpoint's parts per
    /// due request (at most [`crate::object::FENCED_REQUESTS`] wait); the binding drains it
    /// after every input.
    transmits: VecDeque<Transmit>,
    /// Bounded like `transmits`: at most the updates of one delivery, or a join's backlog.
    events: VecDeque<SessionEvent<O::Change>>,
    stats: SessionStats,
    /// Always `None` unless the simulator sets it (feature `sabotage`).
    sabotage: Option<Sabotage>,
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

/// A proxy origin for `node`: its top 24 bits are the node id's low 24 ([`sent_by`]), the
/// rest `unique` (the caller makes it unique among the node's proxies, ever).
pub fn origin_for(node: u32, unique: u64) -> u64 {
    (u64::from(node) & 0xFF_FFFF) << 40 | (unique & ((1 << 40) - 1))
}

/// Whether `origin` is one of `node`'s ([`origin_for`]): an update that names another
/// node's origin than the node that sent it is refused, so a member cannot stamp as another.
pub fn sent_by(origin: u64, node: u32) -> bool {
    origin >> 40 == u64::from(node) & 0xFF_FFFF
}

/// Decodes an update delivered from `node`, refusing one whose origin is another node's.
fn update_from<Op: DeserializeOwned>(body: &[u8], node: u32) -> Result<Update<Op>, ObjectError> {
    let update = Update::<Op>::decode(body)?;
    if !sent_by(update.stamp.origin, node) {
        let reason = format!("origin {:#x} is not one of node {node}'s", update.stamp.origin);
        return Err(ObjectError::Malformed { what: "update", reason });
    }
    Ok(update)
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

    fn new(id: ObjectId, key: Option<ObjectKey>, origin: u64, cfg: SessionConfig, phase: Phase<O>) -> Self {
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
        }
    }

    /// Break one decision on purpose (tests of the simulator's checkers only).
    #[cfg(feature = "sabotage")]
    pub fn sabotage(&mut self, s: Sabotage) {
        self.sabotage = Some(s);
    }

    fn sabotaged(&self, s: Sabotage) -> bool {
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

    /// The driver delivered `key`'s fence for `request` (the runtime's fence message, or the
    /// simulator's: `argent_wire::message::parse_fence`).
    pub fn handle_fence(&mut self, now: Instant, request: RequestId, key: u64) {
        self.fences.fence(request, key);
        self.settle(now);
    }

    /// The region's current members, by the keys their fences count under: a member no
    /// longer listed is not waited for.
    pub fn handle_members(&mut self, now: Instant, members: &[u64]) {
        if self.members != members {
            self.members.clear();
            self.members.extend_from_slice(members);
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
        self.publish(encode(TAG_UPDATE, self.id.0, &[&update]));
        Ok(())
    }

    /// Queue `frame`, signed under the object's key.
    fn publish(&mut self, frame: Vec<u8>) {
        self.transmits.push_back(Transmit::Publish(sign(frame, self.key.as_ref())));
    }

    fn problem(&mut self, p: Problem) {
        self.events.push_back(SessionEvent::Problem(p));
    }

    fn fail(&mut self, e: JoinError) {
        self.phase = Phase::Failed;
        self.events.push_back(SessionEvent::Failed(e));
    }

    /// What the fences and answers delivered so far allow now.
    fn settle(&mut self, now: Instant) {
        match self.phase {
            Phase::Joining(_) => self.try_restore(now),
            Phase::Member(_) => self.answer_due(),
            Phase::Failed => {}
        }
    }
}

#[cfg(test)]
mod tests;
