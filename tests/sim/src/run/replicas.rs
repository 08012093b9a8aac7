//! A member's live objects in a simulation: the shipped sessions (a replicated map and a
//! replicated variable; on the total-order driver a counter too) and the control frames
//! waiting for room in the send buffer.

use super::limits::MAX_VIRTUAL;
use crate::scenario::Sabotage;
use argent_core::Instant;
use argent_objects::object::{
    Counter, CounterChange, LiveObject, ObjectError, ReplicatedMap, ReplicatedVar, RequestId, Stamp,
};
use argent_objects::reference::ObjectId;
use argent_objects::session::{
    origin_for, Demux, Session, SessionConfig, SessionEvent, SessionStats, Transmit,
};
use std::collections::VecDeque;
use std::time::Duration;

/// The replicated map every member holds.
pub(super) type Map = ReplicatedMap<u32, u64>;
/// The replicated variable every member holds.
pub(super) type Var = ReplicatedVar<u64>;

/// The sessions' keys in [`Objects::demux`]: the map, the variable, the counter.
pub(super) const MAP: u8 = 0;
pub(super) const VAR: u8 = 1;
pub(super) const COUNTER: u8 = 2;
pub(super) const MAP_ID: ObjectId = ObjectId(0x006d_6170);
pub(super) const VAR_ID: ObjectId = ObjectId(0x0076_6172);
pub(super) const COUNTER_ID: ObjectId = ObjectId(0x0063_6e74);
/// Bit of the counter's origins, above every map's and variable's (incarnation << 1 | 0 or 1).
const COUNTER_ORIGINS: u64 = 1 << 39;
/// The objects' names, in the order of [`Sessions::all`].
pub(super) const NAMES: [&str; 3] = ["map", "variable", "counter"];
/// Keys the senders write (bounds the map's checkpoint).
pub(super) const KEYS: u64 = 64;
/// How long a joiner waits for a fenced answer before asking again.
pub(super) const ASK_EVERY: Duration = Duration::from_millis(50);
/// Message index bit of control messages (requests, answers, fences), which any member may
/// publish; application messages (updates) go through the FIFO checker.
pub(super) const CONTROL: u64 = 1 << 63;
/// Bytes before the frame in a message (argent_verify's long form).
pub(super) const MESSAGE_HEADER: usize = argent_verify::FRAME_AT;

/// What one counter update decided at one replica: applied or refused, and the count after.
pub(super) type Decision = (Stamp, bool, u64);

/// One member's sessions: the map and the variable (convergent kinds, on every driver) and,
/// on the total-order driver, the counter, whose conditional decrements depend on the order.
pub(super) struct Sessions {
    pub(super) map: Session<Map>,
    pub(super) var: Session<Var>,
    pub(super) counter: Option<Session<Counter>>,
}

impl Sessions {
    /// Every session, in the order of [`NAMES`].
    pub(super) fn all(&self) -> impl Iterator<Item = &dyn Driven> + '_ {
        let counter = self.counter.as_ref().map(|c| c as &dyn Driven);
        [Some(&self.map as &dyn Driven), Some(&self.var as &dyn Driven), counter].into_iter().flatten()
    }

    /// Every session, to hand it an input.
    pub(super) fn each(&mut self) -> impl Iterator<Item = &mut dyn Driven> + '_ {
        let counter = self.counter.as_mut().map(|c| c as &mut dyn Driven);
        [Some(&mut self.map as &mut dyn Driven), Some(&mut self.var as &mut dyn Driven), counter]
            .into_iter()
            .flatten()
    }

    /// The session the demultiplexer named by `key`.
    pub(super) fn by_key(&mut self, key: u8) -> Option<&mut dyn Driven> {
        match key {
            MAP => Some(&mut self.map),
            VAR => Some(&mut self.var),
            COUNTER => self.counter.as_mut().map(|c| c as &mut dyn Driven),
            _ => None,
        }
    }
}

/// What the simulator does with a session, whatever its kind.
pub(super) trait Driven {
    fn handle_members(&mut self, now: Instant, members: &[u32]);
    fn handle_message(&mut self, now: Instant, node: u32, frame: &[u8]);
    fn handle_fence(&mut self, now: Instant, request: RequestId, node: u32);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    /// Move its transmits to `outbox` and its events to `out`.
    fn drain(&mut self, outbox: &mut VecDeque<Vec<u8>>, out: &mut Outputs);
    fn is_member(&self) -> bool;
    fn stats(&self) -> SessionStats;
    fn waiting_for(&self) -> Option<String>;
    /// Once joined: its checkpoint, and how many updates its state includes.
    fn state(&self) -> Option<Result<(Vec<u8>, u64), ObjectError>>;
}

/// The kinds the simulator runs, with what a change tells the checkers.
pub(super) trait Kind: LiveObject {
    /// The decision a change records, for kinds whose updates decide at apply time.
    fn decision(_change: &Self::Change) -> Option<Decision> {
        None
    }
}

impl Kind for Map {}
impl Kind for Var {}
impl Kind for Counter {
    fn decision(c: &CounterChange) -> Option<Decision> {
        Some((c.stamp, c.applied, c.value))
    }
}

impl<O: Kind> Driven for Session<O> {
    fn handle_members(&mut self, now: Instant, members: &[u32]) {
        Session::handle_members(self, now, members);
    }
    fn handle_message(&mut self, now: Instant, node: u32, frame: &[u8]) {
        Session::handle_message(self, now, node, frame);
    }
    fn handle_fence(&mut self, now: Instant, request: RequestId, node: u32) {
        Session::handle_fence(self, now, request, node);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }
    fn drain(&mut self, outbox: &mut VecDeque<Vec<u8>>, out: &mut Outputs) {
        while let Some(t) = self.poll_transmit() {
            match t {
                Transmit::Publish(f) => outbox.push_back(f),
                Transmit::RequestFences { key, nonce } => out.fence_requests.push((key, nonce)),
            }
        }
        while let Some(e) = self.poll_event() {
            match e {
                SessionEvent::Changed(c) => out.decisions.extend(O::decision(&c)),
                SessionEvent::Joined { backlog, .. } => out.joined.push(backlog),
                SessionEvent::Failed(e) => {
                    out.problems.push(format!("object {}: join failed: {e}", self.id()))
                }
                SessionEvent::Problem(p) => out.problems.push(format!("object {}: {p}", self.id())),
            }
        }
    }
    fn is_member(&self) -> bool {
        Session::is_member(self)
    }
    fn stats(&self) -> SessionStats {
        Session::stats(self)
    }
    fn waiting_for(&self) -> Option<String> {
        Session::waiting_for(self)
    }
    fn state(&self) -> Option<Result<(Vec<u8>, u64), ObjectError>> {
        let p = self.proxy()?;
        Some(p.checkpoint().map(|c| (c, p.position().total())))
    }
}

/// A member's objects: its sessions once its region is installed, and the control frames
/// waiting for room in the send buffer.
pub(super) struct Objects {
    pub(super) node: u32,
    pub(super) incarnation: u64,
    pub(super) sessions: Option<Sessions>,
    /// Routes frames and fences to the sessions ([`MAP`], [`VAR`], [`COUNTER`]), as the
    /// engine's object driver does.
    pub(super) demux: Demux<u8>,
    /// Control frames waiting for room in the send buffer (bounded by what the sessions make
    /// per input; drained whenever the protocol accepts more).
    pub(super) outbox: VecDeque<Vec<u8>>,
    /// Index of the next control message.
    pub(super) control_next: u64,
    /// The deadline an [`Ev::ObjectTimer`] is scheduled for.
    pub(super) timer_at: Option<Instant>,
    /// Total-order runs: what each counter update decided here, in the order applied
    /// (one entry per counter update this incarnation applied).
    pub(super) decisions: Vec<Decision>,
}

/// The sessions' settings in the simulator: asks often (virtual time is cheap), never
/// times out (the liveness checker reports a join that never ends), frames up to the
/// largest message the driver carries.
pub(super) fn config(max_message: usize) -> SessionConfig {
    SessionConfig {
        ask_every: ASK_EVERY,
        join_timeout: MAX_VIRTUAL,
        max_message: max_message.saturating_sub(MESSAGE_HEADER),
        ..SessionConfig::default()
    }
}

pub(super) fn sabotaged<O: LiveObject>(mut s: Session<O>, sabotage: Sabotage) -> Session<O> {
    use argent_objects::session::Sabotage as S;
    match sabotage {
        Sabotage::DropBacklog => s.sabotage(S::DropBacklog),
        Sabotage::AnswerBeforeFences => s.sabotage(S::AnswerBeforeFences),
        Sabotage::UnfencedFirst => s.sabotage(S::UnfencedFirst),
        _ => {}
    }
    s
}

/// Object `id`'s session: founding (nothing published yet) or joining at `join_at`.
fn session<O: LiveObject>(
    id: ObjectId,
    origin: u64,
    join_at: Option<Instant>,
    cfg: SessionConfig,
) -> Session<O> {
    match join_at {
        None => Session::founding(id, None, origin, cfg),
        Some(now) => Session::join(id, None, origin, cfg, now),
    }
}

impl Objects {
    /// A node's objects before its region is known.
    pub(super) fn new(node: u32, incarnation: u64) -> Self {
        Objects {
            node,
            incarnation,
            sessions: None,
            demux: Demux::new(),
            outbox: VecDeque::new(),
            control_next: 0,
            timer_at: None,
            decisions: Vec::new(),
        }
    }

    /// Origin of object `k` ([`MAP`], [`VAR`], [`COUNTER`]): unique to this node,
    /// incarnation and object (the node in the top bits, as the session checks).
    pub(super) fn origin(&self, k: u8) -> u64 {
        let unique = match k {
            MAP | VAR => self.incarnation << 1 | u64::from(k),
            _ => COUNTER_ORIGINS | self.incarnation,
        };
        origin_for(self.node, unique)
    }

    /// Start the sessions — as founding members (nothing published yet), or joining — with
    /// the counter if `ordered` (the total-order driver).
    pub(super) fn start(
        &mut self,
        join_at: Option<Instant>,
        max_message: usize,
        sabotage: Sabotage,
        ordered: bool,
    ) {
        self.demux = Demux::new();
        self.demux.open(MAP, MAP_ID.0, self.origin(MAP));
        self.demux.open(VAR, VAR_ID.0, self.origin(VAR));
        if ordered {
            self.demux.open(COUNTER, COUNTER_ID.0, self.origin(COUNTER));
        }
        let cfg = config(max_message);
        let counter = ordered
            .then(|| sabotaged(session(COUNTER_ID, self.origin(COUNTER), join_at, cfg.clone()), sabotage));
        self.sessions = Some(Sessions {
            map: sabotaged(session(MAP_ID, self.origin(MAP), join_at, cfg.clone()), sabotage),
            var: sabotaged(session(VAR_ID, self.origin(VAR), join_at, cfg), sabotage),
            counter,
        });
    }

    /// Move every session's transmits to the outbox and its decisions to
    /// [`Objects::decisions`]; returns what else they asked for.
    pub(super) fn drain(&mut self) -> Outputs {
        let mut out = Outputs::default();
        if let Some(s) = self.sessions.as_mut() {
            for s in s.each() {
                s.drain(&mut self.outbox, &mut out);
            }
        }
        self.decisions.append(&mut out.decisions);
        out
    }

    /// Whether the objects are not (yet) joined.
    pub(super) fn joining(&self) -> bool {
        self.sessions.as_ref().is_none_or(|s| s.all().any(|s| !s.is_member()))
    }

    /// Whether nothing waits: joined, and every control frame published.
    pub(super) fn settled(&self) -> bool {
        !self.joining() && self.outbox.is_empty()
    }

    pub(super) fn stats(&self) -> SessionStats {
        let Some(s) = &self.sessions else { return SessionStats::default() };
        s.all().map(|s| s.stats()).fold(SessionStats::default(), add)
    }

    /// What the sessions wait for, to explain one that never joined.
    pub(super) fn waits(&self) -> String {
        match &self.sessions {
            None => "no region yet".into(),
            Some(s) => {
                let each: Vec<String> = s
                    .all()
                    .zip(NAMES)
                    .map(|(s, name)| format!("{name} {}", s.waiting_for().unwrap_or_else(|| "joined".into())))
                    .collect();
                format!("{}; {} control frames waiting", each.join("; "), self.outbox.len())
            }
        }
    }
}

pub(super) fn add(a: SessionStats, b: SessionStats) -> SessionStats {
    SessionStats {
        proxy: argent_objects::object::ProxyStats {
            sent: a.proxy.sent + b.proxy.sent,
            applied: a.proxy.applied + b.proxy.applied,
            duplicates: a.proxy.duplicates + b.proxy.duplicates,
            refused_ahead: a.proxy.refused_ahead + b.proxy.refused_ahead,
        },
        rejected: a.rejected + b.rejected,
        checkpoints_sent: a.checkpoints_sent + b.checkpoints_sent,
        requests: a.requests + b.requests,
        join_retries: a.join_retries + b.join_retries,
        not_member_answers: a.not_member_answers + b.not_member_answers,
    }
}

/// What the sessions' outputs asked for.
#[derive(Default)]
pub(super) struct Outputs {
    pub(super) fence_requests: Vec<(u64, u64)>,
    pub(super) problems: Vec<String>,
    /// Joins completed, with the updates each buffered.
    pub(super) joined: Vec<usize>,
    /// Counter decisions (moved to [`Objects::decisions`]).
    pub(super) decisions: Vec<Decision>,
}
