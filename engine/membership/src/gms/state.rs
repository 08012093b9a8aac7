//! The replicated state machine: commands committed through raft are applied here, in the
//! same order on every replica, and produce the same views.

use super::view::{AddressStats, Member, RegionInfo, View};
use crate::groups::GroupId;
use crate::regions::{AddressPool, Addressing, Overflow};
use argent_core::{NodeId, RegionId, ViewId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Views kept for members that fell behind; one further behind gets the current view only.
pub const VIEW_HISTORY: usize = 64;

/// Why a member left the view.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoveReason {
    /// It said goodbye.
    Left,
    /// The failure detector gave up on it.
    Evicted,
}

/// One decision, as committed to the raft log (in batches).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A process (re)starts: a higher incarnation replaces the node's previous one.
    Register {
        /// The member, with the version of its group set.
        member: Member,
        /// Its groups.
        groups: Vec<GroupId>,
    },
    /// A member changes its group set (joins and leaves).
    SetGroups {
        /// Node.
        node: NodeId,
        /// Incarnation the request came from (stale ones are ignored).
        incarnation: u64,
        /// Version of the set; only a newer version is applied.
        version: u64,
        /// The whole set.
        groups: Vec<GroupId>,
    },
    /// A member leaves or is evicted.
    Remove {
        /// Node.
        node: NodeId,
        /// Incarnation being removed (a newer one is left alone).
        incarnation: u64,
        /// Why.
        reason: RemoveReason,
    },
}

impl Command {
    /// What makes two proposals the same request (the leader proposes each once until it
    /// applies or its retry time passes): the node, the incarnation or group-set version,
    /// and the kind.
    pub(crate) fn key(&self) -> (NodeId, u64, u8) {
        match self {
            Command::Register { member, .. } => (member.node, member.incarnation, 0),
            Command::SetGroups { node, version, .. } => (*node, *version, 1),
            Command::Remove { node, incarnation, .. } => (*node, *incarnation, 2),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct MemberState {
    member: Member,
    groups: Vec<GroupId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct RegionState {
    info: RegionInfo,
    /// Pool index of its own address, if it has one.
    own: Option<u32>,
}

/// Counters of what the state machine applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyStats {
    /// Commands applied.
    pub commands: u64,
    /// Commands that changed nothing (stale incarnation or version, duplicates).
    pub ignored: u64,
    /// Members evicted by the failure detector.
    pub evicted: u64,
    /// Members that left.
    pub left: u64,
}

/// The membership state every replica holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GmsState {
    pool: AddressPool,
    overflow: Overflow,
    members: BTreeMap<NodeId, MemberState>,
    /// Per node not registered now, the incarnation last removed (left or evicted): it is
    /// never admitted again, since members have retired its streams. A word per node.
    #[serde(default)]
    removed: BTreeMap<NodeId, u64>,
    regions: BTreeMap<RegionId, RegionState>,
    by_groups: BTreeMap<Vec<GroupId>, RegionId>,
    next_region: u32,
    free: BTreeSet<u32>,
    history: VecDeque<Arc<View>>,
    stats: ApplyStats,
    /// Regions whose member list changed in the batch being applied.
    #[serde(skip)]
    dirty: BTreeSet<RegionId>,
}

impl GmsState {
    /// Nothing registered yet; view 0.
    pub fn new(pool: AddressPool, overflow: Overflow) -> Self {
        let mut history = VecDeque::with_capacity(VIEW_HISTORY);
        history.push_back(Arc::new(View::empty()));
        GmsState {
            pool,
            overflow,
            members: BTreeMap::new(),
            removed: BTreeMap::new(),
            regions: BTreeMap::new(),
            by_groups: BTreeMap::new(),
            next_region: 1,
            free: (0..pool.count).collect(),
            history,
            stats: ApplyStats::default(),
            dirty: BTreeSet::new(),
        }
    }

    /// The latest view.
    pub fn view(&self) -> &Arc<View> {
        self.history.back().expect("history is never empty")
    }

    /// Views after `after`, oldest first, as far back as the history reaches: `None` if the
    /// member is further behind than that (it gets the current view only).
    pub fn views_after(&self, after: ViewId) -> Option<Vec<Arc<View>>> {
        let first = self.history.front()?.id;
        if after.0 + 1 < first.0 {
            return None;
        }
        Some(self.history.iter().filter(|v| v.id > after).cloned().collect())
    }

    /// The registered incarnation of `node`.
    pub fn incarnation(&self, node: NodeId) -> Option<u64> {
        self.members.get(&node).map(|m| m.member.incarnation)
    }

    /// Whether `incarnation` of `node` was removed (left or was evicted): it may not
    /// register again, only a newer incarnation may.
    pub fn was_removed(&self, node: NodeId, incarnation: u64) -> bool {
        self.removed.get(&node).is_some_and(|r| *r >= incarnation)
    }

    /// Counters.
    pub fn stats(&self) -> &ApplyStats {
        &self.stats
    }

    /// Apply one committed batch; a batch that changes anything produces exactly one view.
    pub fn apply(&mut self, batch: &[Command]) -> bool {
        let mut changed = false;
        for c in batch {
            self.stats.commands += 1;
            let did = self.apply_one(c);
            if !did {
                self.stats.ignored += 1;
            }
            changed |= did;
        }
        if changed {
            self.publish_view();
        }
        changed
    }

    fn apply_one(&mut self, c: &Command) -> bool {
        match c {
            Command::Register { member, groups } => {
                let groups = normalise(groups);
                if self.was_removed(member.node, member.incarnation) {
                    return false;
                }
                self.removed.remove(&member.node);
                if let Some(old) = self.members.get_mut(&member.node) {
                    if old.member.incarnation >= member.incarnation {
                        return false;
                    }
                    if old.groups == groups && !groups.is_empty() {
                        // A restart with the same groups: same region (no address churn, no
                        // new region id), the new incarnation moved to the end of the ring.
                        old.member = member.clone();
                        let rid = self.by_groups[&groups];
                        let region = &mut self.regions.get_mut(&rid).expect("indexed region exists").info;
                        region.members.retain(|m| *m != member.node);
                        region.members.push(member.node);
                        self.dirty.insert(rid);
                        return true;
                    }
                    self.detach(member.node);
                }
                self.members
                    .insert(member.node, MemberState { member: member.clone(), groups: groups.clone() });
                self.attach(member.node, groups);
                true
            }
            Command::SetGroups { node, incarnation, version, groups } => {
                let Some(m) = self.members.get_mut(node) else { return false };
                if m.member.incarnation != *incarnation || m.member.groups_version >= *version {
                    return false;
                }
                m.member.groups_version = *version;
                let groups = normalise(groups);
                if m.groups == groups {
                    return true; // the version moved on; the view records it
                }
                self.detach(*node);
                self.members.get_mut(node).expect("checked above").groups = groups.clone();
                self.attach(*node, groups);
                true
            }
            Command::Remove { node, incarnation, reason } => {
                match self.members.get(node) {
                    Some(m) if m.member.incarnation == *incarnation => {}
                    _ => return false,
                }
                self.detach(*node);
                self.members.remove(node);
                self.removed.insert(*node, *incarnation);
                match reason {
                    RemoveReason::Left => self.stats.left += 1,
                    RemoveReason::Evicted => self.stats.evicted += 1,
                }
                true
            }
        }
    }

    /// Take `node` out of its region; an emptied region is dropped and its address returned.
    fn detach(&mut self, node: NodeId) {
        let Some(groups) = self.members.get(&node).map(|m| m.groups.clone()) else { return };
        let Some(&rid) = self.by_groups.get(&groups) else { return };
        let region = self.regions.get_mut(&rid).expect("indexed region exists");
        region.info.members.retain(|m| *m != node);
        self.dirty.insert(rid);
        if region.info.members.is_empty() {
            if let Some(i) = region.own {
                self.free.insert(i);
            }
            self.regions.remove(&rid);
            self.by_groups.remove(&groups);
        }
    }

    /// Put `node` into the region of `groups`, creating it (with an address) if needed.
    fn attach(&mut self, node: NodeId, groups: Vec<GroupId>) {
        if groups.is_empty() {
            return;
        }
        if let Some(rid) = self.by_groups.get(&groups) {
            self.regions.get_mut(rid).expect("indexed region exists").info.members.push(node);
            self.dirty.insert(*rid);
            return;
        }
        let id = RegionId(self.next_region);
        self.next_region += 1;
        let own = self.free.pop_first();
        let addressing = match (own, self.overflow) {
            (Some(i), _) => Addressing::Multicast(self.pool.address(i)),
            (None, Overflow::Share) if self.pool.count > 0 => {
                Addressing::Shared(self.pool.address(id.0 % self.pool.count))
            }
            (None, _) => Addressing::Unicast,
        };
        self.by_groups.insert(groups.clone(), id);
        let info = RegionInfo { id, groups, members: vec![node], addressing, since: ViewId(0) };
        self.dirty.insert(id);
        self.regions.insert(id, RegionState { info, own });
    }

    fn publish_view(&mut self) {
        let id = ViewId(self.view().id.0 + 1);
        for rid in std::mem::take(&mut self.dirty) {
            if let Some(r) = self.regions.get_mut(&rid) {
                r.info.since = id;
            }
        }
        let regions: Vec<RegionInfo> = self.regions.values().map(|r| r.info.clone()).collect();
        let mut addresses = AddressStats::default();
        for r in &regions {
            match r.addressing {
                Addressing::Multicast(_) => addresses.own_address += 1,
                Addressing::Shared(_) => addresses.shared_address += 1,
                Addressing::Unicast => addresses.unicast += 1,
            }
        }
        let members = self.members.values().map(|m| m.member.clone()).collect();
        if self.history.len() == VIEW_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Arc::new(View { id, members, regions, addresses }));
    }

    /// Serialise for a raft snapshot.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("membership state serialises")
    }

    /// Restore from a raft snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

fn normalise(groups: &[GroupId]) -> Vec<GroupId> {
    let mut g = groups.to_vec();
    g.sort_unstable();
    g.dedup();
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    fn pool(count: u32) -> AddressPool {
        AddressPool { base: Ipv4Addr::new(239, 1, 0, 1), count, port: 7000 }
    }

    fn member(node: u32, incarnation: u64) -> Member {
        Member {
            node: NodeId(node),
            incarnation,
            addr: SocketAddr::from(([127, 0, 0, 1], 9000 + node as u16)),
            shards: 1,
            groups_version: 0,
        }
    }

    fn register(node: u32, inc: u64, groups: &[u32]) -> Command {
        Command::Register { member: member(node, inc), groups: groups.iter().map(|g| GroupId(*g)).collect() }
    }

    #[test]
    fn regions_follow_group_sets_and_keep_their_ids_and_order() {
        let mut s = GmsState::new(pool(4), Overflow::Share);
        assert!(s.apply(&[register(1, 1, &[1, 2]), register(2, 1, &[2, 1]), register(3, 1, &[1])]));
        let v = s.view().clone();
        assert_eq!(v.id, ViewId(1));
        assert_eq!(v.regions.len(), 2);
        let r12 = v.region_of_node(NodeId(1)).unwrap();
        assert_eq!(r12.members, vec![NodeId(1), NodeId(2)]);
        assert_eq!(v.group_index()[&GroupId(1)].len(), 2);
        // node 1 leaves group 2: it moves to node 3's region; region {1,2} keeps id, node 2 leads it
        assert!(s.apply(&[Command::SetGroups {
            node: NodeId(1),
            incarnation: 1,
            version: 1,
            groups: vec![GroupId(1)]
        }]));
        let v2 = s.view().clone();
        assert_eq!(v2.id, ViewId(2));
        assert_eq!(v2.region(r12.id).unwrap().members, vec![NodeId(2)]);
        assert_eq!(v2.region_of_node(NodeId(1)).unwrap().members, vec![NodeId(3), NodeId(1)]);
        // a stale version changes nothing and makes no view
        assert!(!s.apply(&[Command::SetGroups {
            node: NodeId(1),
            incarnation: 1,
            version: 1,
            groups: vec![]
        }]));
        assert_eq!(s.view().id, ViewId(2));
    }

    #[test]
    fn restart_replaces_the_incarnation_and_stale_removal_is_ignored() {
        let mut s = GmsState::new(pool(4), Overflow::Share);
        s.apply(&[register(1, 5, &[1]), register(2, 1, &[1])]);
        assert!(!s.apply(&[register(1, 4, &[1])]), "older incarnation ignored");
        assert!(s.apply(&[register(1, 6, &[1])]));
        let v = s.view();
        assert_eq!(v.member(NodeId(1)).unwrap().incarnation, 6);
        // it rejoined at the end of the ring
        assert_eq!(v.regions[0].members, vec![NodeId(2), NodeId(1)]);
        assert!(!s.apply(&[Command::Remove {
            node: NodeId(1),
            incarnation: 5,
            reason: RemoveReason::Evicted
        }]));
        assert!(s.apply(&[Command::Remove { node: NodeId(1), incarnation: 6, reason: RemoveReason::Left }]));
        assert_eq!(s.stats().left, 1);
        // A removed incarnation never comes back (members retired its streams): a late
        // retry of its registration is ignored; a newer incarnation is admitted.
        assert!(s.was_removed(NodeId(1), 6));
        assert!(!s.apply(&[register(1, 6, &[1])]), "removed incarnation re-registered");
        assert!(s.apply(&[register(1, 7, &[1])]));
        assert!(!s.was_removed(NodeId(1), 7));
    }

    #[test]
    fn addresses_return_to_the_pool_and_overflow_is_counted() {
        let mut s = GmsState::new(pool(1), Overflow::Share);
        s.apply(&[register(1, 1, &[1]), register(2, 1, &[2]), register(3, 1, &[3])]);
        let v = s.view().clone();
        assert_eq!(v.addresses, AddressStats { own_address: 1, shared_address: 2, unicast: 0 });
        let own = v.regions.iter().find(|r| matches!(r.addressing, Addressing::Multicast(_))).unwrap();
        let node = own.members[0];
        s.apply(&[Command::Remove { node, incarnation: 1, reason: RemoveReason::Evicted }]);
        s.apply(&[register(9, 1, &[9])]);
        let v = s.view();
        assert_eq!(v.addresses.own_address, 1, "the freed address is reused by the next region");
        let mut u = GmsState::new(pool(0), Overflow::Unicast);
        u.apply(&[register(1, 1, &[1])]);
        assert_eq!(u.view().addresses.unicast, 1);
    }

    #[test]
    fn history_is_bounded_and_snapshots_round_trip() {
        let mut s = GmsState::new(pool(8), Overflow::Share);
        for i in 0..(VIEW_HISTORY as u64 + 10) {
            s.apply(&[register(1, i + 1, &[1])]);
        }
        assert!(s.views_after(ViewId(0)).is_none());
        let recent = s.views_after(ViewId(s.view().id.0 - 3)).unwrap();
        assert_eq!(recent.len(), 3);
        let back = GmsState::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.view(), s.view());
        assert!(GmsState::from_bytes(&[0xff, 0xff, 0xff]).is_err());
    }
}
