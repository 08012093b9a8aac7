//! The leader's side of members: their requests (register, heartbeat, change groups, leave),
//! failure detection (suspicion, then eviction) and the views pushed to them.

use super::liveness::Liveness;
use super::server::{Gms, Peer};
use crate::gms::msg::GmsMsg;
use crate::gms::state::{Command, RemoveReason};
use crate::gms::view::{KeyEpoch, Member};
use crate::groups::GroupId;
use argent_core::{Instant, NodeId, ViewId};

/// Views sent in one push (each may be large: thousands of groups); the member acknowledges
/// them and gets the next ones.
pub(super) const MAX_VIEWS_PER_PUSH: usize = 4;
/// Most groups one member may be in.
pub const MAX_GROUPS_PER_MEMBER: usize = 100_000;
/// Node ids must fit in 16 bits (sender streams put the incarnation in the upper half).
pub const MAX_NODE_ID: u32 = u16::MAX as u32;
/// Most shards a member may register (argent_runtime::MAX_SHARDS).
pub const MAX_MEMBER_SHARDS: u16 = 64;
/// Incarnations are the wall-clock time of a start in milliseconds (about 2^41 today); a
/// registration above this (2^53 ms, some 285 000 years) is refused, so no member, buggy or
/// not, can push a node id's incarnation near `u64::MAX` and keep later starts out.
pub const MAX_INCARNATION: u64 = 1 << 53;

/// Why a registration is refused before it reaches consensus; `None`: admissible.
pub fn registration_problem(member: &Member, groups: usize) -> Option<&'static str> {
    let ip = member.addr.ip();
    if member.node.0 > MAX_NODE_ID {
        Some("node id above 65535")
    } else if member.incarnation > MAX_INCARNATION {
        Some("incarnation above 2^53 (it is a start time in ms)")
    } else if !ip.is_ipv4() {
        Some("not an IPv4 address (multicast regions are IPv4)")
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || ip == std::net::Ipv4Addr::BROADCAST
        || member.addr.port() == 0
    {
        Some("not a unicast address and port a peer can send to")
    } else if member.shards == 0 || member.shards > MAX_MEMBER_SHARDS {
        Some("shards outside 1..=64")
    } else if groups > MAX_GROUPS_PER_MEMBER {
        Some("more groups than MAX_GROUPS_PER_MEMBER")
    } else {
        None
    }
}

/// How long an id handed out by [`Gms::grant_id`] stays reserved for the process that
/// asked (it registers with it at once; a registration makes it a member's).
pub const GRANT_HOLD: std::time::Duration = std::time::Duration::from_secs(30);

/// The answer to a process asking for an id ([`Gms::grant_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// This id, reserved for [`GRANT_HOLD`].
    Id(NodeId),
    /// Not the leader: ask this replica (raft id), if known.
    NotLeader(Option<u64>),
    /// Every id up to [`MAX_NODE_ID`] is held.
    Full,
}

impl Gms {
    /// An id for a process that has none: the smallest one no member of the view holds, no
    /// registration in flight names, and no grant of the last [`GRANT_HOLD`] reserved.
    /// Only the leader grants (ids are then unique unless leadership moves within
    /// [`GRANT_HOLD`] of a grant; a member registered under a taken id would supersede the
    /// holder, so a process given an id that a view already shows registers under another).
    pub fn grant_id(&mut self, now: Instant) -> Grant {
        if !self.leader {
            return Grant::NotLeader(self.leader_id());
        }
        self.granted.retain(|_, at| now.saturating_duration_since(*at) < GRANT_HOLD);
        let view = self.state.view();
        let taken = |n: NodeId| {
            view.member(n).is_some()
                || self.granted.contains_key(&n)
                || self.in_flight.keys().any(|(node, _, _)| *node == n)
        };
        match (1..=MAX_NODE_ID).map(NodeId).find(|n| !taken(*n)) {
            Some(n) => {
                self.granted.insert(n, now);
                Grant::Id(n)
            }
            None => Grant::Full,
        }
    }

    /// A request from member `node`: the leader acts on it, a follower names the leader.
    pub(super) fn member_request(&mut self, now: Instant, node: NodeId, msg: GmsMsg) {
        let is_request = matches!(
            msg,
            GmsMsg::Register { .. }
                | GmsMsg::Heartbeat { .. }
                | GmsMsg::SetGroups { .. }
                | GmsMsg::Leave { .. }
                | GmsMsg::AddKey(_)
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
            GmsMsg::Register { member, groups } => self.register(now, node, member, groups),
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
                self.set_groups(now, node, incarnation, version, groups)
            }
            GmsMsg::AddKey(k) => {
                self.add_key(now, k);
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

    /// A member asks to be admitted, or asks again because it has not heard it was.
    fn register(&mut self, now: Instant, node: NodeId, member: Member, groups: Vec<GroupId>) {
        if member.node != node {
            self.stats.refused_registrations += 1;
            return; // a member speaks only for itself
        }
        if let Some(problem) = registration_problem(&member, groups.len()) {
            self.stats.refused_registrations += 1;
            tracing::warn!(node = node.0, addr = %member.addr, incarnation = member.incarnation, "registration refused: {problem}");
            return;
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
            Some(i) if i == member.incarnation => self.heard(now, node, member.incarnation, Some(ViewId(0))),
            Some(i) if i > member.incarnation => self.unknown(node, member.incarnation),
            _ => self.propose_once(now, Command::Register { member, groups }),
        }
    }

    /// Hand out a new key epoch (a key holder asked: a member, or `argent key rotate`
    /// through the service). The leader proposes it; false on a follower. An epoch not
    /// above the newest handed out, or malformed, changes nothing when applied.
    pub fn add_key(&mut self, now: Instant, key: KeyEpoch) -> bool {
        if !self.leader {
            return false;
        }
        self.propose_once(now, Command::AddKey(key));
        true
    }

    /// A member changes its groups.
    fn set_groups(
        &mut self,
        now: Instant,
        node: NodeId,
        incarnation: u64,
        version: u64,
        groups: Vec<GroupId>,
    ) {
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

    /// Tells `node` this incarnation is not a member (once this leader has caught up).
    pub(super) fn unknown(&mut self, node: NodeId, incarnation: u64) {
        // A new leader's state may lag what its predecessor committed until its own first
        // entry applies: it must not disown a member it has not caught up with yet.
        if !self.raw.raft.apply_to_current_term() {
            return;
        }
        self.out.push_back((Peer::Member(node), GmsMsg::Unknown { node, incarnation }));
    }

    fn heard(&mut self, now: Instant, node: NodeId, incarnation: u64, view: Option<ViewId>) {
        let l = self.live.entry(node).or_insert(Liveness::new(incarnation, now, None));
        if l.incarnation != incarnation {
            *l = Liveness::new(incarnation, now, None);
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

    /// Suspects (and pings) members silent for `suspect_after`; evicts those silent for
    /// `evict_after`.
    pub(super) fn detect_failures(&mut self, now: Instant) {
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

    /// Pushes every live member the views it lacks.
    pub(super) fn push_views(&mut self, now: Instant) {
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
}
