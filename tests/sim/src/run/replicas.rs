//! A member's live objects in a simulation: the two shipped sessions (a replicated map and a
//! replicated variable) and the control frames waiting for room in the send buffer.

use super::limits::MAX_VIRTUAL;
use crate::scenario::Sabotage;
use argent_core::Instant;
use argent_objects::object::{LiveObject, ReplicatedMap, ReplicatedVar};
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

/// The map's and the variable's session keys in [`Objects::demux`].
pub(super) const MAP: u8 = 0;
pub(super) const VAR: u8 = 1;
pub(super) const MAP_ID: ObjectId = ObjectId(0x006d_6170);
pub(super) const VAR_ID: ObjectId = ObjectId(0x0076_6172);
/// Keys the senders write (bounds the map's checkpoint).
pub(super) const KEYS: u64 = 64;
/// How long a joiner waits for a fenced answer before asking again.
pub(super) const ASK_EVERY: Duration = Duration::from_millis(50);
/// Message index bit of control messages (requests, answers, fences), which any member may
/// publish; application messages (updates) go through the FIFO checker.
pub(super) const CONTROL: u64 = 1 << 63;
/// Bytes before the frame in a message (argent_verify's long form).
pub(super) const MESSAGE_HEADER: usize = argent_verify::FRAME_AT;

/// A member's objects: both sessions once its region is installed, and the control frames
/// waiting for room in the send buffer.
pub(super) struct Objects {
    pub(super) node: u32,
    pub(super) incarnation: u64,
    pub(super) sessions: Option<(Session<Map>, Session<Var>)>,
    /// Routes frames and fences to the sessions ([`MAP`] and [`VAR`]), as the engine's
    /// object driver does.
    pub(super) demux: Demux<u8>,
    /// Control frames waiting for room in the send buffer (bounded by what the sessions make
    /// per input; drained whenever the protocol accepts more).
    pub(super) outbox: VecDeque<Vec<u8>>,
    /// Index of the next control message.
    pub(super) control_next: u64,
    /// The deadline an [`Ev::ObjectTimer`] is scheduled for.
    pub(super) timer_at: Option<Instant>,
}

/// The sessions' settings in the simulator: asks often (virtual time is cheap), never
/// times out (the liveness checker reports a join that never ends), frames up to the
/// largest message the protocol carries.
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
        }
    }

    /// Origins unique to this node, incarnation and object (the node in the top bits, as
    /// the session checks).
    pub(super) fn origins(&self) -> (u64, u64) {
        (origin_for(self.node, self.incarnation << 1), origin_for(self.node, self.incarnation << 1 | 1))
    }

    /// Start the sessions: as founding members (nothing published yet), or joining.
    pub(super) fn start(&mut self, join_at: Option<Instant>, max_message: usize, sabotage: Sabotage) {
        let (map, var) = self.origins();
        self.demux = Demux::new();
        self.demux.open(MAP, MAP_ID.0, map);
        self.demux.open(VAR, VAR_ID.0, var);
        let cfg = config(max_message);
        let (map, var) = match join_at {
            None => {
                (Session::founding(MAP_ID, None, map, cfg.clone()), Session::founding(VAR_ID, None, var, cfg))
            }
            Some(now) => (
                Session::join(MAP_ID, None, map, cfg.clone(), now),
                Session::join(VAR_ID, None, var, cfg, now),
            ),
        };
        self.sessions = Some((sabotaged(map, sabotage), sabotaged(var, sabotage)));
    }

    /// Whether the objects are not (yet) joined.
    pub(super) fn joining(&self) -> bool {
        self.sessions.as_ref().is_none_or(|(m, v)| !m.is_member() || !v.is_member())
    }

    /// Whether nothing waits: joined, and every control frame published.
    pub(super) fn settled(&self) -> bool {
        !self.joining() && self.outbox.is_empty()
    }

    pub(super) fn stats(&self) -> SessionStats {
        let Some((m, v)) = &self.sessions else { return SessionStats::default() };
        add(m.stats(), v.stats())
    }

    /// What the sessions wait for, to explain one that never joined.
    pub(super) fn waits(&self) -> String {
        match &self.sessions {
            None => "no region yet".into(),
            Some((m, v)) => format!(
                "map {}; var {}; {} control frames waiting",
                m.waiting_for().unwrap_or_else(|| "joined".into()),
                v.waiting_for().unwrap_or_else(|| "joined".into()),
                self.outbox.len()
            ),
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

/// What a session's outputs asked for.
#[derive(Default)]
pub(super) struct Outputs {
    pub(super) fence_requests: Vec<(u64, u64)>,
    pub(super) problems: Vec<String>,
    /// Joins completed, with the updates each buffered.
    pub(super) joined: Vec<usize>,
}

/// Move a session's transmits to the outbox and its events to `out`.
pub(super) fn drain<O: LiveObject>(s: &mut Session<O>, outbox: &mut VecDeque<Vec<u8>>, out: &mut Outputs) {
    while let Some(t) = s.poll_transmit() {
        match t {
            Transmit::Publish(f) => outbox.push_back(f),
            Transmit::RequestFences { key, nonce } => out.fence_requests.push((key, nonce)),
        }
    }
    while let Some(e) = s.poll_event() {
        match e {
            SessionEvent::Changed(_) => {}
            SessionEvent::Joined { backlog, .. } => out.joined.push(backlog),
            SessionEvent::Failed(e) => out.problems.push(format!("object {}: join failed: {e}", s.id())),
            SessionEvent::Problem(p) => out.problems.push(format!("object {}: {p}", s.id())),
        }
    }
}
