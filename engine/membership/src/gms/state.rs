//! The replicated state machine: commands committed through raft are applied here, in the
//! same order on every replica, and produce the same views.

use super::view::{AddressStats, KeyEpoch, Member, RegionInfo, View};
use crate::groups::GroupId;
use crate::regions::{AddressPool, Addressing, Overflow};
use argent_core::{NodeId, RegionId, ViewId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Views kept for members that fell behind; one further behind gets the current view only.
pub const VIEW_HISTORY: usize = 64;
/// Most key epochs the GMS hands out at once (`argent_auth::MAX_EPOCHS`): the oldest goes.
pub const MAX_KEY_EPOCHS: usize = 8;
/// Bytes of a wrapped key (`argent_auth::WRAPPED_LEN`).
pub const WRAPPED_KEY_LEN: usize = 60;

/// Regions a member takes part in before the groups it creates join one of its regions
/// (decision 008: the bound `argent regions` plans with).
pub const DEFAULT_RINGS_PER_NODE: usize = 16;

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
    /// A new cluster key epoch to hand out (`argent key rotate`).
    AddKey(KeyEpoch),
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
            Command::AddKey(k) => (NodeId(0), u64::from(k.epoch), 3),
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
    /// Group → the region carrying it. A group exists while its region has members; each
    /// group is carried by exactly one region, for as long as it exists.
    carried: BTreeMap<GroupId, RegionId>,
    /// The most regions a member takes part in before groups it creates are added to one of
    /// its regions instead of a new one (decision 008).
    rings_per_node: usize,
    next_region: u32,
    free: BTreeSet<u32>,
    history: VecDeque<Arc<View>>,
    stats: ApplyStats,
    /// Key epochs handed out, ascending, at most [`MAX_KEY_EPOCHS`].
    #[serde(default)]
    keys: Vec<KeyEpoch>,
    /// Regions that changed in the batch being applied (members, or a member's groups in it).
    #[serde(skip)]
    dirty: BTreeSet<RegionId>,
    /// Of those, regions whose member list (or a member's incarnation) changed: their ring
    /// is formed again.
    #[serde(skip)]
    reringed: BTreeSet<RegionId>,
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
            carried: BTreeMap::new(),
            rings_per_node: DEFAULT_RINGS_PER_NODE,
            next_region: 1,
            free: (0..pool.count).collect(),
            history,
            stats: ApplyStats::default(),
            keys: Vec::new(),
            dirty: BTreeSet::new(),
            reringed: BTreeSet::new(),
        }
    }

    /// With at most `n` (at least 1) regions per member before the groups it creates join
    /// one of its regions.
    pub fn with_rings_per_node(mut self, n: usize) -> Self {
        self.rings_per_node = n.max(1);
        self
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
                        // A restart with the same groups: same regions (no address churn, no
                        // new region ids), the new incarnation moved to the end of each ring.
                        old.member = member.clone();
                        for rid in self.regions_of(member.node) {
                            let region = &mut self.regions.get_mut(&rid).expect("listed region exists").info;
                            region.members.retain(|m| *m != member.node);
                            region.members.push(member.node);
                            self.dirty.insert(rid);
                            self.reringed.insert(rid);
                        }
                        return true;
                    }
                    self.set_groups(member.node, Vec::new());
                }
                self.members.insert(member.node, MemberState { member: member.clone(), groups: Vec::new() });
                self.set_groups(member.node, groups);
                true
            }
            Command::SetGroups { node, incarnation, version, groups } => {
                let Some(m) = self.members.get_mut(node) else { return false };
                if m.member.incarnation != *incarnation || m.member.groups_version >= *version {
                    return false;
                }
                m.member.groups_version = *version;
                let groups = normalise(groups);
                if m.groups != groups {
                    self.set_groups(*node, groups);
                }
                true // the version moved on at least; the view records it
            }
            Command::Remove { node, incarnation, reason } => {
                match self.members.get(node) {
                    Some(m) if m.member.incarnation == *incarnation => {}
                    _ => return false,
                }
                self.set_groups(*node, Vec::new());
                self.members.remove(node);
                self.removed.insert(*node, *incarnation);
                match reason {
                    RemoveReason::Left => self.stats.left += 1,
                    RemoveReason::Evicted => self.stats.evicted += 1,
                }
                true
            }
            Command::AddKey(k) => {
                // Each epoch once, ascending, wrapped under an older one.
                let newest = self.keys.last().map_or(0, |k| k.epoch);
                if k.epoch <= newest
                    || k.under == 0
                    || k.under >= k.epoch
                    || k.wrapped.len() != WRAPPED_KEY_LEN
                {
                    return false;
                }
                self.keys.push(k.clone());
                if self.keys.len() > MAX_KEY_EPOCHS {
                    self.keys.remove(0);
                }
                true
            }
        }
    }

    /// The regions `node` is a member of, ascending.
    fn regions_of(&self, node: NodeId) -> Vec<RegionId> {
        self.regions.iter().filter(|(_, r)| r.info.members.contains(&node)).map(|(id, _)| *id).collect()
    }

    /// Give `node` (registered) the group set `groups` (normalised): it becomes a member of
    /// the region of each of its groups and leaves the regions that carry none of them
    /// (regions left empty are dropped, their groups cease to exist and their address goes
    /// back to the pool). Groups no region carries yet are created in one new region, or,
    /// if the node already takes part in the most regions allowed, added to its region with
    /// the fewest members (whose other members then drop their messages by the group tag).
    /// A group's region never changes while the group exists: joining and leaving a group
    /// is joining and leaving that region, with the join points QSM gives a view change.
    fn set_groups(&mut self, node: NodeId, groups: Vec<GroupId>) {
        let want: BTreeSet<RegionId> = groups.iter().filter_map(|g| self.carried.get(g).copied()).collect();
        for rid in self.regions_of(node) {
            if !want.contains(&rid) {
                self.leave(node, rid);
            }
        }
        let had: Vec<GroupId> = self.members.get(&node).map(|m| m.groups.clone()).unwrap_or_default();
        for rid in &want {
            let region = &mut self.regions.get_mut(rid).expect("carried groups have regions").info;
            if !region.members.contains(&node) {
                region.members.push(node);
                self.dirty.insert(*rid);
                self.reringed.insert(*rid);
            } else {
                // A member of the region joins or leaves one of its groups: the region gets a
                // new view all the same, so that senders mark where the change falls in their
                // streams (datagrams carry the view they were sent in).
                let mine = |set: &[GroupId]| -> Vec<GroupId> {
                    set.iter().filter(|g| region.groups.binary_search(g).is_ok()).copied().collect()
                };
                if mine(&had) != mine(&groups) {
                    self.dirty.insert(*rid);
                }
            }
        }
        let new: Vec<GroupId> = groups.iter().filter(|g| !self.carried.contains_key(g)).copied().collect();
        if !new.is_empty() {
            let mine = self.regions_of(node);
            let host = if mine.len() >= self.rings_per_node {
                mine.iter().min_by_key(|r| (self.regions[r].info.members.len(), **r)).copied()
            } else {
                None
            };
            match host {
                Some(rid) => {
                    let region = &mut self.regions.get_mut(&rid).expect("listed region exists").info;
                    region.groups.extend(&new);
                    region.groups.sort_unstable();
                    for g in &new {
                        self.carried.insert(*g, rid);
                    }
                    self.dirty.insert(rid);
                }
                None => self.create(node, new),
            }
        }
        if let Some(m) = self.members.get_mut(&node) {
            m.groups = groups;
        }
    }

    /// `node` leaves region `rid`; an emptied region is dropped, its groups cease to exist
    /// and its address returns to the pool.
    fn leave(&mut self, node: NodeId, rid: RegionId) {
        let Some(region) = self.regions.get_mut(&rid) else { return };
        region.info.members.retain(|m| *m != node);
        self.dirty.insert(rid);
        self.reringed.insert(rid);
        if region.info.members.is_empty() {
            if let Some(i) = region.own {
                self.free.insert(i);
            }
            for g in &region.info.groups {
                self.carried.remove(g);
            }
            self.regions.remove(&rid);
        }
    }

    /// A new region carrying `groups`, with `node` its first member and an address.
    fn create(&mut self, node: NodeId, groups: Vec<GroupId>) {
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
        for g in &groups {
            self.carried.insert(*g, id);
        }
        let info =
            RegionInfo { id, groups, members: vec![node], addressing, since: ViewId(0), ring: ViewId(0) };
        self.dirty.insert(id);
        self.reringed.insert(id);
        self.regions.insert(id, RegionState { info, own });
    }

    fn publish_view(&mut self) {
        let id = ViewId(self.view().id.0 + 1);
        for rid in std::mem::take(&mut self.dirty) {
            if let Some(r) = self.regions.get_mut(&rid) {
                r.info.since = id;
            }
        }
        for rid in std::mem::take(&mut self.reringed) {
            if let Some(r) = self.regions.get_mut(&rid) {
                r.info.ring = id;
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
        let keys = self.keys.clone();
        self.history.push_back(Arc::new(View { id, members, regions, addresses, keys }));
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

    fn set(node: u32, version: u64, groups: &[u32]) -> Command {
        Command::SetGroups {
            node: NodeId(node),
            incarnation: 1,
            version,
            groups: groups.iter().map(|g| GroupId(*g)).collect(),
        }
    }

    #[test]
    fn a_group_keeps_its_region_while_members_join_and_leave_it() {
        let mut s = GmsState::new(pool(4), Overflow::Share);
        assert!(s.apply(&[register(1, 1, &[1, 2]), register(2, 1, &[2, 1]), register(3, 1, &[1])]));
        let v = s.view().clone();
        assert_eq!(v.id, ViewId(1));
        // Groups 1 and 2 were created together: one region carries both; every node that
        // has one of them is a member.
        assert_eq!(v.regions.len(), 1);
        let r = v.regions[0].clone();
        assert_eq!(
            (r.groups.clone(), r.members.clone()),
            (vec![GroupId(1), GroupId(2)], vec![NodeId(1), NodeId(2), NodeId(3)])
        );
        assert_eq!(v.group_index()[&GroupId(1)].len(), 1);
        // Node 1 leaves group 2: still in the region (group 1), which keeps id and members,
        // and gets a new view (senders mark where the leave falls in their streams).
        assert!(s.apply(&[set(1, 1, &[1])]));
        assert_eq!(s.view().regions, vec![RegionInfo { since: ViewId(2), ring: ViewId(1), ..r.clone() }]);
        // A set that changes nothing in the region leaves its view as it was.
        assert!(s.apply(&[set(1, 2, &[1])]));
        assert_eq!(s.view().regions[0].since, ViewId(2));
        // Node 3 creates group 5: a new region of its own; node 2 joins group 5 and leaves
        // group 1, staying in region 1 for group 2.
        assert!(s.apply(&[set(3, 1, &[1, 5])]));
        assert_eq!(s.view().region(r.id).unwrap().since, ViewId(2), "node 3 kept its groups of region 1");
        let r5 = s.view().regions.iter().find(|x| x.groups == vec![GroupId(5)]).unwrap().clone();
        assert_eq!(r5.members, vec![NodeId(3)]);
        assert!(s.apply(&[set(2, 1, &[2, 5])]));
        let id = s.view().id;
        assert_eq!(s.view().region(r.id).unwrap().since, id, "node 2 left group 1 of region 1");
        let v = s.view().clone();
        assert_eq!(v.region(r5.id).unwrap().members, vec![NodeId(3), NodeId(2)]);
        assert_eq!(v.region(r.id).unwrap().members, vec![NodeId(1), NodeId(2), NodeId(3)]);
        // Everyone leaves group 5: its region goes, and the group with it.
        assert!(s.apply(&[set(2, 2, &[2]), set(3, 2, &[1])]));
        assert!(s.view().region(r5.id).is_none());
        assert_eq!(s.view().regions.len(), 1);
        // A stale version changes nothing and makes no view.
        let id = s.view().id;
        assert!(!s.apply(&[set(1, 1, &[])]));
        assert_eq!(s.view().id, id);
    }

    #[test]
    fn ten_thousand_groups_created_and_dropped_leave_the_state_as_it_was() {
        let mut s = GmsState::new(pool(4), Overflow::Share);
        s.apply(&[register(1, 1, &[1])]);
        let cycle = |s: &mut GmsState, i: u64| {
            // Group 1000 + i is created by joining it and dropped when its member leaves.
            assert!(s.apply(&[set(1, 2 * i + 1, &[1, 1000 + i as u32])]));
            assert_eq!(s.view().regions.len(), 2);
            assert!(s.apply(&[set(1, 2 * i + 2, &[1])]));
        };
        for i in 0..VIEW_HISTORY as u64 {
            cycle(&mut s, i); // the view history fills up to its bound
        }
        let (regions, size) = (s.view().regions.clone(), s.to_bytes().len());
        for i in VIEW_HISTORY as u64..10_000 {
            cycle(&mut s, i);
        }
        assert_eq!(s.view().regions, regions, "the long-lived region is untouched");
        assert_eq!((s.carried.len(), s.free.len()), (1, 3), "groups and addresses released");
        // Only the numbers grow (view, region and version ids: a byte more per varint in
        // each of the views kept); a leak of one byte per cycle would be 10 000.
        let grown = s.to_bytes().len() as i64 - size as i64;
        assert!(grown.abs() < 1024, "the state grew by {grown} bytes");
    }

    #[test]
    fn groups_created_beyond_the_ring_budget_join_an_existing_region() {
        let mut s = GmsState::new(pool(8), Overflow::Share).with_rings_per_node(2);
        s.apply(&[register(1, 1, &[1]), register(2, 1, &[1])]);
        s.apply(&[set(1, 1, &[1, 2])]);
        assert_eq!(s.view().regions.len(), 2, "a second region for group 2");
        s.apply(&[set(1, 2, &[1, 2, 3])]);
        let v = s.view().clone();
        assert_eq!(v.regions.len(), 2, "node 1 is in two regions already: group 3 joins one");
        let host = v.regions.iter().find(|r| r.groups.contains(&GroupId(3))).unwrap();
        assert_eq!(host.groups, vec![GroupId(2), GroupId(3)], "the one with the fewest members");
        assert_eq!(v.group_index().len(), 3);
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
