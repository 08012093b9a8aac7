//! The replica as its owner sees it: its state, construction and restart, queries, and the
//! sans-IO interface (time and messages in, messages and writes to stable storage out).

use super::config::{GmsConfig, GmsError};
use super::liveness::Liveness;
use super::stats::GmsStats;
use super::storage::{recover, GmsStorage, Persist, Recovered, Restored};
use crate::gms::msg::{GmsMsg, StatusReport};
use crate::gms::state::{Command, GmsState};
use crate::gms::view::View;
use argent_core::{Instant, NodeId};
use protobuf::Message as _;
use raft::eraftpb::Message as RaftMessage;
use raft::RawNode;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Who a GMS message goes to or came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Another replica, by raft id.
    Replica(u64),
    /// A member process, by node id (the owner maps it to the address it last heard from).
    Member(NodeId),
}

/// One replica of the membership service.
pub struct Gms {
    pub(super) cfg: GmsConfig,
    pub(super) raw: RawNode<GmsStorage>,
    pub(super) state: GmsState,
    pub(super) applied: u64,
    pub(super) snapshot_index: u64,
    pub(super) out: VecDeque<(Peer, GmsMsg)>,
    pub(super) pending: Vec<Command>,
    /// Proposed and not yet applied: key → when proposed.
    pub(super) in_flight: HashMap<(NodeId, u64, u8), Instant>,
    pub(super) live: BTreeMap<NodeId, Liveness>,
    /// Ids handed out by [`Gms::grant_id`], reserved until then.
    pub(super) granted: BTreeMap<NodeId, Instant>,
    pub(super) leader: bool,
    pub(super) persist: VecDeque<Persist>,
    pub(super) next_tick: Instant,
    pub(super) now: Instant,
    pub(super) stats: GmsStats,
}

impl std::fmt::Debug for Gms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gms")
            .field("id", &self.cfg.id)
            .field("leader", &self.leader)
            .field("view", &self.state.view().id)
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

impl Gms {
    /// A replica that starts empty (view 0), at time `now`.
    pub fn new(cfg: GmsConfig, now: Instant) -> Result<Gms, GmsError> {
        Gms::restore(cfg, now, Restored::default())
    }

    /// A replica that comes back with what it wrote before it stopped (`Restored::default()`
    /// for a fresh one). Committed entries after the snapshot are applied again.
    pub fn restore(cfg: GmsConfig, now: Instant, restored: Restored) -> Result<Gms, GmsError> {
        cfg.validate()?;
        let mut raft_cfg = cfg.raft_config();
        let fresh =
            restored.snapshot.is_none() && restored.hard_state.is_none() && restored.entries.is_empty();
        let Recovered { storage, state, applied } = recover(&cfg, &restored)?;
        raft_cfg.applied = applied;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let mut raw = RawNode::new(&raft_cfg, storage, &logger)?;
        if cfg.rank() == 0 && fresh {
            // The first replica stands at once instead of waiting out an election timeout;
            // with pre-vote this cannot disturb a leader that is already there.
            raw.campaign()?;
        }
        let mut gms = Gms {
            next_tick: now + cfg.tick,
            cfg,
            raw,
            state,
            applied,
            snapshot_index: applied,
            out: VecDeque::new(),
            pending: Vec::new(),
            in_flight: HashMap::new(),
            live: BTreeMap::new(),
            granted: BTreeMap::new(),
            leader: false,
            persist: VecDeque::new(),
            now,
            stats: GmsStats::default(),
        };
        gms.process_ready();
        Ok(gms)
    }

    /// This replica's raft id.
    pub fn id(&self) -> u64 {
        self.cfg.id
    }

    /// Whether this replica leads (decides, detects failures, pushes views).
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// The leader's raft id, if known.
    pub fn leader_id(&self) -> Option<u64> {
        Some(self.raw.raft.leader_id).filter(|id| *id != 0)
    }

    /// The latest view this replica applied.
    pub fn view(&self) -> &Arc<View> {
        self.state.view()
    }

    /// The replicated state.
    pub fn state(&self) -> &GmsState {
        &self.state
    }

    /// Counters.
    pub fn stats(&self) -> &GmsStats {
        &self.stats
    }

    /// What `argent status` shows: view, leader, suspects.
    pub fn report(&self) -> StatusReport {
        StatusReport {
            replica: self.cfg.id,
            leader: self.leader_id(),
            view: self.state.view().clone(),
            suspects: self.suspects(),
            refusals: crate::gms::msg::Refusals {
                registrations: self.stats.refused_registrations,
                ..Default::default()
            },
        }
    }

    /// Members the leader currently suspects.
    pub fn suspects(&self) -> Vec<NodeId> {
        self.live.iter().filter(|(_, l)| l.suspected).map(|(n, _)| *n).collect()
    }

    /// Next write to stable storage (with `persist` on). Drain these, and make them durable,
    /// before sending what [`Gms::poll_transmit`] returns.
    pub fn poll_persist(&mut self) -> Option<Persist> {
        self.persist.pop_front()
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<(Peer, GmsMsg)> {
        self.out.pop_front()
    }

    /// When [`Gms::handle_timeout`] must next be called: the next raft tick. Failure
    /// detection and view re-pushes run at tick granularity, so an overdue action that cannot
    /// complete yet (an eviction waiting for a quorum) never makes the owner spin.
    pub fn poll_timeout(&self) -> Instant {
        self.next_tick
    }

    /// Time passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while self.next_tick <= now {
            self.raw.tick();
            self.next_tick += self.cfg.tick;
        }
        if self.leader {
            self.detect_failures(now);
            self.push_views(now);
        }
        self.flush_inner(now, true);
    }

    /// A message arrived.
    pub fn handle_message(&mut self, now: Instant, from: Peer, msg: GmsMsg) {
        self.now = now;
        match (from, msg) {
            (Peer::Replica(r), GmsMsg::Raft(bytes)) => {
                if !self.cfg.replicas.contains(&r) {
                    self.stats.bad_raft_messages += 1;
                    return;
                }
                match RaftMessage::parse_from_bytes(&bytes) {
                    Ok(m) if m.from == r && m.to == self.cfg.id => {
                        if self.raw.step(m).is_err() {
                            self.stats.bad_raft_messages += 1;
                        }
                    }
                    _ => self.stats.bad_raft_messages += 1,
                }
            }
            (Peer::Member(node), msg) => self.member_request(now, node, msg),
            (Peer::Replica(_), _) => {}
        }
        self.flush(now);
    }
}
