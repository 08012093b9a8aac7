//! One GMS replica: raft-rs drives agreement on membership commands; the leader also runs
//! failure detection and pushes views to members. Sans-IO: time and messages come in, messages
//! to send come out, and the owner (runtime or simulator) moves them.

use super::msg::{decode_batch, encode_batch, GmsMsg, StatusReport};
use super::state::{Command, GmsState, RemoveReason};
use super::view::View;
use crate::regions::{AddressPool, Overflow};
use argent_core::{Instant, NodeId, ViewId};
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, Message as RaftMessage, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, RawNode, StateRole, Storage};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use thiserror::Error;

/// Views sent in one push (each may be large: thousands of groups); the member acknowledges
/// them and gets the next ones.
pub const MAX_VIEWS_PER_PUSH: usize = 4;
/// Requests proposed at once without waiting for the next tick.
const PROPOSE_NOW: usize = 64;

/// Most groups one member may be in.
pub const MAX_GROUPS_PER_MEMBER: usize = 100_000;
/// Node ids must fit in 16 bits (sender streams put the incarnation in the upper half).
pub const MAX_NODE_ID: u32 = u16::MAX as u32;

/// Settings of a GMS replica.
#[derive(Clone, Debug)]
pub struct GmsConfig {
    /// This replica's raft id (1-based).
    pub id: u64,
    /// Raft ids of all replicas (1 by default; 3 or 5 to survive crashes).
    pub replicas: Vec<u64>,
    /// Multicast addresses regions get.
    pub pool: AddressPool,
    /// What regions beyond the pool do.
    pub overflow: Overflow,
    /// Raft tick.
    pub tick: Duration,
    /// Ticks without a leader before an election (randomised by raft up to twice this).
    pub election_ticks: usize,
    /// Ticks between the leader's raft heartbeats.
    pub heartbeat_ticks: usize,
    /// A member silent this long is suspected: probed, reported, not yet evicted.
    pub suspect_after: Duration,
    /// A member silent this long is evicted.
    pub evict_after: Duration,
    /// Unacknowledged views are pushed again after this.
    pub push_retry: Duration,
    /// A proposal not applied within this is proposed again (the leader may have changed).
    pub proposal_retry: Duration,
    /// The raft log is compacted into a snapshot every this many applied entries.
    pub compact_every: u64,
    /// Queue what must reach stable storage ([`Gms::poll_persist`]) so a restarted replica
    /// can come back with [`Gms::restore`]. Off: the replica lives in memory only.
    pub persist: bool,
}

impl GmsConfig {
    /// Defaults for a single replica with id 1: suspicion after 1 s, eviction after 3 s.
    pub fn new(pool: AddressPool) -> Self {
        GmsConfig {
            id: 1,
            replicas: vec![1],
            pool,
            overflow: Overflow::Share,
            tick: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 2,
            suspect_after: Duration::from_secs(1),
            evict_after: Duration::from_secs(3),
            push_retry: Duration::from_millis(200),
            proposal_retry: Duration::from_secs(1),
            compact_every: 512,
            persist: false,
        }
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<(), GmsError> {
        if self.replicas.is_empty() || !self.replicas.contains(&self.id) || self.replicas.contains(&0) {
            return Err(GmsError::Config(format!(
                "replica id {} must be one of the replica ids {:?} (ids start at 1)",
                self.id, self.replicas
            )));
        }
        if self.election_ticks <= self.heartbeat_ticks || self.heartbeat_ticks == 0 {
            return Err(GmsError::Config(format!(
                "election_ticks ({}) must exceed heartbeat_ticks ({}), which must be at least 1",
                self.election_ticks, self.heartbeat_ticks
            )));
        }
        if self.tick.is_zero() || self.push_retry.is_zero() || self.compact_every == 0 {
            return Err(GmsError::Config("tick, push_retry and compact_every must be positive".into()));
        }
        if self.evict_after <= self.suspect_after {
            return Err(GmsError::Config(format!(
                "evict_after ({:?}) must be longer than suspect_after ({:?})",
                self.evict_after, self.suspect_after
            )));
        }
        Ok(())
    }
}

/// A GMS replica that cannot start.
#[derive(Debug, Error)]
pub enum GmsError {
    /// Bad settings.
    #[error("GMS settings: {0}")]
    Config(String),
    /// raft refused to start.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
}

/// What a replica must write to stable storage, in order, before it sends any message it
/// queued since (raft's rule: votes and appends are durable before they are acknowledged).
/// Payloads are raft-rs protobuf encodings, opaque to the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Persist {
    /// The hard state (term, vote, commit).
    HardState(Vec<u8>),
    /// Log entries from `first_index` on; entries on disk at or after it are replaced.
    Append {
        /// Index of the first entry.
        first_index: u64,
        /// Entries, in order.
        entries: Vec<Vec<u8>>,
    },
    /// A snapshot of the state machine: the log up to `index` is no longer needed.
    Snapshot {
        /// Last log index it covers.
        index: u64,
        /// The snapshot.
        bytes: Vec<u8>,
    },
}

/// What a replica wrote to stable storage before it stopped ([`Gms::restore`]).
#[derive(Clone, Debug, Default)]
pub struct Restored {
    /// The latest snapshot written.
    pub snapshot: Option<Vec<u8>>,
    /// The latest hard state written.
    pub hard_state: Option<Vec<u8>>,
    /// Log entries after the snapshot, in order.
    pub entries: Vec<Vec<u8>>,
}

/// Who a GMS message goes to or came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Another replica, by raft id.
    Replica(u64),
    /// A member process, by node id (the owner maps it to the address it last heard from).
    Member(NodeId),
}

/// Counters of a replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GmsStats {
    /// Batches proposed while leader.
    pub proposals: u64,
    /// Views this replica applied.
    pub views: u64,
    /// Times members were suspected.
    pub suspicions: u64,
    /// Evictions this replica proposed.
    pub evictions_proposed: u64,
    /// View pushes sent.
    pub pushes: u64,
    /// Member requests answered with `NotLeader`.
    pub redirects: u64,
    /// Raft messages refused (undecodable or from unknown replicas).
    pub bad_raft_messages: u64,
    /// Log compactions.
    pub compactions: u64,
}

/// Liveness of a member, kept by the leader only (soft state, rebuilt after a failover).
#[derive(Clone, Debug)]
struct Liveness {
    incarnation: u64,
    last_heard: Instant,
    /// Last view the member said it installed; `None` until it says.
    acked: Option<ViewId>,
    last_push: Option<Instant>,
    suspected: bool,
}

/// raft storage: the in-memory log of raft-rs plus a snapshot that carries our state, so a
/// compacted log can still bring a lagging replica up to date.
struct GmsStorage {
    mem: MemStorage,
    snap: Arc<RwLock<Snapshot>>,
}

impl Storage for GmsStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }
    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }
    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }
    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }
    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let snap = self.snap.read().expect("snapshot lock");
        if snap.get_metadata().index >= request_index && !snap.get_data().is_empty() {
            Ok(snap.clone())
        } else {
            Err(raft::Error::Store(raft::StorageError::SnapshotTemporarilyUnavailable))
        }
    }
}

/// One replica of the membership service.
pub struct Gms {
    cfg: GmsConfig,
    raw: RawNode<GmsStorage>,
    state: GmsState,
    applied: u64,
    snapshot_index: u64,
    out: VecDeque<(Peer, GmsMsg)>,
    pending: Vec<Command>,
    /// Proposed and not yet applied: key → when proposed.
    in_flight: HashMap<(NodeId, u64, u8), Instant>,
    live: BTreeMap<NodeId, Liveness>,
    leader: bool,
    persist: VecDeque<Persist>,
    next_tick: Instant,
    now: Instant,
    stats: GmsStats,
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
        let corrupt =
            |what: &str, e: protobuf::ProtobufError| GmsError::Config(format!("stored {what}: {e}"));
        // raft-rs draws each election timeout at random from [min, max); a range of one
        // value keeps replicas deterministic (the simulator replays seeds exactly), and
        // staggering it by replica avoids split votes: the first in the list times out first.
        let rank = cfg.replicas.iter().position(|r| *r == cfg.id).unwrap_or(0);
        let election = cfg.election_ticks + 3 * rank;
        let raft_cfg = raft::Config {
            id: cfg.id,
            election_tick: cfg.election_ticks,
            min_election_tick: election,
            max_election_tick: election + 1,
            heartbeat_tick: cfg.heartbeat_ticks,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 64,
            ..Default::default()
        };
        let mut raft_cfg = raft_cfg;
        let mem = MemStorage::new_with_conf_state(ConfState::from((cfg.replicas.clone(), vec![])));
        let mut snap = Snapshot::default();
        let mut state = GmsState::new(cfg.pool, cfg.overflow);
        let fresh =
            restored.snapshot.is_none() && restored.hard_state.is_none() && restored.entries.is_empty();
        if let Some(bytes) = &restored.snapshot {
            snap = Snapshot::parse_from_bytes(bytes).map_err(|e| corrupt("snapshot", e))?;
            state = GmsState::from_bytes(snap.get_data())
                .map_err(|e| GmsError::Config(format!("stored snapshot state: {e}")))?;
            mem.wl().apply_snapshot(snap.clone())?;
            raft_cfg.applied = snap.get_metadata().index;
        }
        let entries = restored
            .entries
            .iter()
            .map(|b| Entry::parse_from_bytes(b).map_err(|e| corrupt("log entry", e)))
            .collect::<Result<Vec<Entry>, _>>()?;
        let after: Vec<Entry> = entries.into_iter().filter(|e| e.index > raft_cfg.applied).collect();
        if !after.is_empty() {
            mem.wl().append(&after)?;
        }
        if let Some(bytes) = &restored.hard_state {
            let hs =
                raft::eraftpb::HardState::parse_from_bytes(bytes).map_err(|e| corrupt("hard state", e))?;
            mem.wl().set_hardstate(hs);
        }
        let snapshot_index = raft_cfg.applied;
        let storage = GmsStorage { mem, snap: Arc::new(RwLock::new(snap)) };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let mut raw = RawNode::new(&raft_cfg, storage, &logger)?;
        if rank == 0 && fresh {
            // The first replica stands at once instead of waiting out an election timeout;
            // with pre-vote this cannot disturb a leader that is already there.
            raw.campaign()?;
        }
        let mut gms = Gms {
            next_tick: now + cfg.tick,
            cfg,
            raw,
            state,
            applied: snapshot_index,
            snapshot_index,
            out: VecDeque::new(),
            pending: Vec::new(),
            in_flight: HashMap::new(),
            live: BTreeMap::new(),
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

    fn member_request(&mut self, now: Instant, node: NodeId, msg: GmsMsg) {
        let is_request = matches!(
            msg,
            GmsMsg::Register { .. }
                | GmsMsg::Heartbeat { .. }
                | GmsMsg::SetGroups { .. }
                | GmsMsg::Leave { .. }
        );
        if !is_request {
            return;
        }
        if !self.leader {
            self.stats.redirects += 1;
            self.out.push_back((Peer::Member(node), GmsMsg::NotLeader { leader: self.leader_id() }));
            return;
        }
        match msg {
            GmsMsg::Register { member, groups } => {
                if member.node != node || member.node.0 > MAX_NODE_ID || groups.len() > MAX_GROUPS_PER_MEMBER
                {
                    return; // malformed; a well-behaved member never sends this
                }
                if self.state.was_removed(node, member.incarnation) {
                    // Evicted (or left) before it learnt it was admitted: it must come back
                    // as a new incarnation, since members retired this one's streams.
                    self.unknown(node, member.incarnation);
                    return;
                }
                match self.state.incarnation(node) {
                    // Admitted, but it has not installed a view yet (it would heartbeat
                    // otherwise): it has view 0, so it gets the current view.
                    Some(i) if i == member.incarnation => {
                        self.heard(now, node, member.incarnation, Some(ViewId(0)))
                    }
                    Some(i) if i > member.incarnation => self.unknown(node, member.incarnation),
                    _ => self.propose_once(now, Command::Register { member, groups }),
                }
            }
            GmsMsg::Heartbeat { node: n, incarnation, view } if n == node => {
                if self.state.incarnation(node) == Some(incarnation) {
                    self.heard(now, node, incarnation, Some(view));
                    let current = self.state.view().id;
                    self.out.push_back((Peer::Member(node), GmsMsg::Ack { view: current }));
                } else if !self.in_flight.contains_key(&(node, incarnation, 0)) {
                    self.unknown(node, incarnation);
                }
            }
            GmsMsg::SetGroups { node: n, incarnation, version, groups } if n == node => {
                if groups.len() > MAX_GROUPS_PER_MEMBER {
                    return;
                }
                let Some(m) = self.state.view().member(node) else {
                    self.unknown(node, incarnation);
                    return;
                };
                if m.incarnation != incarnation {
                    self.unknown(node, incarnation);
                } else if m.groups_version < version {
                    self.heard(now, node, incarnation, None);
                    self.propose_once(now, Command::SetGroups { node, incarnation, version, groups });
                }
            }
            GmsMsg::Leave { node: n, incarnation }
                if n == node && self.state.incarnation(node) == Some(incarnation) =>
            {
                let reason = RemoveReason::Left;
                self.propose_once(now, Command::Remove { node, incarnation, reason });
            }
            _ => {}
        }
    }

    fn unknown(&mut self, node: NodeId, incarnation: u64) {
        // A new leader's state may lag what its predecessor committed until its own first
        // entry applies: it must not disown a member it has not caught up with yet.
        if !self.raw.raft.apply_to_current_term() {
            return;
        }
        self.out.push_back((Peer::Member(node), GmsMsg::Unknown { node, incarnation }));
    }

    fn heard(&mut self, now: Instant, node: NodeId, incarnation: u64, view: Option<ViewId>) {
        let l = self.live.entry(node).or_insert(Liveness {
            incarnation,
            last_heard: now,
            acked: None,
            last_push: None,
            suspected: false,
        });
        if l.incarnation != incarnation {
            *l = Liveness { incarnation, last_heard: now, acked: None, last_push: None, suspected: false };
        }
        l.last_heard = now;
        l.suspected = false;
        if let Some(v) = view {
            let acked = l.acked.map_or(v, |a| a.max(v));
            if l.acked != Some(acked) {
                l.acked = Some(acked);
                l.last_push = None; // anything newer goes out at once
            }
        }
        self.push_to(now, node);
    }

    fn propose_once(&mut self, now: Instant, cmd: Command) {
        let key = cmd.key();
        if let Some(at) = self.in_flight.get(&key) {
            if now.saturating_duration_since(*at) < self.cfg.proposal_retry {
                return;
            }
        }
        self.in_flight.insert(key, now);
        self.pending.push(cmd);
    }

    fn detect_failures(&mut self, now: Instant) {
        let mut evict = Vec::new();
        for (node, l) in &mut self.live {
            let silent = now.saturating_duration_since(l.last_heard);
            if silent >= self.cfg.evict_after {
                evict.push((*node, l.incarnation));
            } else if silent >= self.cfg.suspect_after && !l.suspected {
                l.suspected = true;
                self.stats.suspicions += 1;
                self.out.push_back((Peer::Member(*node), GmsMsg::Ping));
            }
        }
        for (node, incarnation) in evict {
            let before = self.pending.len();
            let reason = RemoveReason::Evicted;
            self.propose_once(now, Command::Remove { node, incarnation, reason });
            if self.pending.len() > before {
                self.stats.evictions_proposed += 1;
            }
        }
    }

    fn push_views(&mut self, now: Instant) {
        let nodes: Vec<NodeId> = self.live.keys().copied().collect();
        for node in nodes {
            self.push_to(now, node);
        }
    }

    /// Push `node` the views it lacks, a few at a time (it acknowledges them by heartbeat and
    /// gets the next ones), unless a push is already on its way.
    fn push_to(&mut self, now: Instant, node: NodeId) {
        let current = self.state.view().clone();
        let Some(l) = self.live.get_mut(&node) else { return };
        let Some(acked) = l.acked else { return };
        if acked >= current.id {
            return;
        }
        if l.last_push.is_some_and(|p| now.saturating_duration_since(p) < self.cfg.push_retry) {
            return;
        }
        l.last_push = Some(now);
        let msg = match (acked.0, self.state.views_after(acked)) {
            (0, _) | (_, None) => GmsMsg::Views { views: vec![current], first: true },
            (_, Some(mut views)) => {
                views.truncate(MAX_VIEWS_PER_PUSH);
                GmsMsg::Views { views, first: false }
            }
        };
        self.stats.pushes += 1;
        self.out.push_back((Peer::Member(node), msg));
    }

    fn flush(&mut self, now: Instant) {
        self.flush_inner(now, false);
    }

    /// Requests arriving between ticks are batched into one log entry (one view), proposed
    /// at the tick or once `PROPOSE_NOW` are waiting.
    fn flush_inner(&mut self, now: Instant, tick: bool) {
        let due = tick || self.pending.len() >= PROPOSE_NOW;
        if self.leader && due && !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            if self.raw.propose(vec![], encode_batch(&batch)).is_ok() {
                self.stats.proposals += 1;
            }
        } else if !self.leader {
            self.pending.clear();
        }
        self.process_ready();
        let leader = self.raw.raft.state == StateRole::Leader;
        if leader && !self.leader {
            // New leader: every member gets a fresh grace period; views are pushed once each
            // member says which one it has.
            self.live = self
                .state
                .view()
                .members
                .iter()
                .map(|m| {
                    let l = Liveness {
                        incarnation: m.incarnation,
                        last_heard: now,
                        acked: None,
                        last_push: None,
                        suspected: false,
                    };
                    (m.node, l)
                })
                .collect();
            self.in_flight.clear();
        } else if !leader && self.leader {
            self.live.clear();
            self.in_flight.clear();
        }
        self.leader = leader;
    }

    fn send_raft(&mut self, msgs: Vec<RaftMessage>) {
        for m in msgs {
            let to = m.to;
            if m.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot {
                // Sent over lossy UDP: tell raft it is done, so the follower goes back to
                // probing and a lost snapshot is offered again instead of pausing it forever.
                self.raw.report_snapshot(to, raft::SnapshotStatus::Finish);
            }
            match m.write_to_bytes() {
                Ok(bytes) => self.out.push_back((Peer::Replica(to), GmsMsg::Raft(bytes))),
                Err(_) => self.stats.bad_raft_messages += 1,
            }
        }
    }

    fn process_ready(&mut self) {
        if !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        self.send_raft(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            if let Ok(state) = GmsState::from_bytes(snap.get_data()) {
                self.state = state;
                self.applied = snap.get_metadata().index;
                self.snapshot_index = self.applied;
                *self.raw.store().snap.write().expect("snapshot lock") = snap.clone();
                if self.cfg.persist {
                    let bytes = snap.write_to_bytes().unwrap_or_default();
                    self.persist.push_back(Persist::Snapshot { index: self.applied, bytes });
                }
                let _ = self.raw.store().mem.wl().apply_snapshot(snap);
            }
        }
        self.apply_entries(ready.take_committed_entries());
        if !ready.entries().is_empty() {
            let _ = self.raw.store().mem.wl().append(ready.entries());
            if self.cfg.persist {
                let entries =
                    ready.entries().iter().map(|e| e.write_to_bytes().unwrap_or_default()).collect();
                self.persist.push_back(Persist::Append { first_index: ready.entries()[0].index, entries });
            }
        }
        if let Some(hs) = ready.hs() {
            self.raw.store().mem.wl().set_hardstate(hs.clone());
            if self.cfg.persist {
                self.persist.push_back(Persist::HardState(hs.write_to_bytes().unwrap_or_default()));
            }
        }
        self.send_raft(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.store().mem.wl().mut_hard_state().set_commit(commit);
            if self.cfg.persist {
                let hs = self.raw.store().mem.rl().hard_state().clone();
                self.persist.push_back(Persist::HardState(hs.write_to_bytes().unwrap_or_default()));
            }
        }
        self.send_raft(light.take_messages());
        self.apply_entries(light.take_committed_entries());
        self.raw.advance_apply();
        self.maybe_compact();
    }

    fn apply_entries(&mut self, entries: Vec<Entry>) {
        for e in entries {
            self.applied = e.index;
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            let Ok(batch) = decode_batch(&e.data) else { continue };
            let before = self.state.view().id;
            self.state.apply(&batch);
            if self.state.view().id != before {
                self.stats.views += 1;
            }
            for c in &batch {
                self.in_flight.remove(&c.key());
                if !self.leader {
                    continue;
                }
                match c {
                    Command::Register { member, .. }
                        if self.state.incarnation(member.node) == Some(member.incarnation) =>
                    {
                        // Newly admitted: its first push is the current view.
                        let l = Liveness {
                            incarnation: member.incarnation,
                            last_heard: self.now,
                            acked: Some(ViewId(0)),
                            last_push: None,
                            suspected: false,
                        };
                        self.live.insert(member.node, l);
                    }
                    Command::Remove { node, incarnation, .. }
                        if self.live.get(node).is_some_and(|l| l.incarnation == *incarnation) =>
                    {
                        self.live.remove(node);
                        // Tell it, in case it is alive but was cut off.
                        self.unknown(*node, *incarnation);
                    }
                    _ => {}
                }
            }
        }
        if self.leader {
            let now = self.now;
            self.push_views(now);
        }
    }

    fn maybe_compact(&mut self) {
        if self.applied < self.snapshot_index + self.cfg.compact_every {
            return;
        }
        let store = self.raw.store();
        let Ok(term) = store.term(self.applied) else { return };
        let mut snap = Snapshot::default();
        snap.set_data(self.state.to_bytes().into());
        let meta = snap.mut_metadata();
        meta.index = self.applied;
        meta.term = term;
        meta.set_conf_state(ConfState::from((self.cfg.replicas.clone(), vec![])));
        if self.cfg.persist {
            let bytes = snap.write_to_bytes().unwrap_or_default();
            self.persist.push_back(Persist::Snapshot { index: self.applied, bytes });
        }
        *store.snap.write().expect("snapshot lock") = snap;
        let _ = store.mem.wl().compact(self.applied);
        self.snapshot_index = self.applied;
        self.stats.compactions += 1;
    }
}
