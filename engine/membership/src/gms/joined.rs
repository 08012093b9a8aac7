//! The receiving side of run-time joins: which groups a node receives, and from which view
//! of each group's region.
//!
//! A region's view changes whenever its members change or a member joins or leaves one of
//! its groups, and senders stamp every datagram with the region view they sent it in (QSM
//! delivers a datagram only once the receiver has installed that view too). A node that
//! joins group `g` in view `v` therefore receives exactly the messages of `g` sent in `v` or
//! later: everything each sender published after installing `v`, and nothing from before.
//! Both the runtime's subscriptions and the simulator filter deliveries with this.

use super::view::View;
use crate::groups::GroupId;
use argent_core::{NodeId, ViewId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A node's group set as it asks the GMS for it (numbered as the GMS client numbers its
/// requests), the set the installed views record, and what it receives: the runtime's view
/// thread and the simulator keep one each.
#[derive(Clone, Debug, Default)]
pub struct GroupSets {
    requested: BTreeSet<GroupId>,
    version: u64,
    /// The set of the newest version an installed view records.
    recorded: BTreeSet<GroupId>,
    /// Sets asked for that no installed view records yet, by version (bounded by the
    /// requests in flight: each view that records a version drops it and those before).
    pending: VecDeque<(u64, BTreeSet<GroupId>)>,
    received: JoinedGroups,
}

impl GroupSets {
    /// A node that registers with `groups` (version 0).
    pub fn new(groups: impl IntoIterator<Item = GroupId>) -> Self {
        let requested: BTreeSet<GroupId> = groups.into_iter().collect();
        GroupSets { recorded: requested.clone(), requested, ..GroupSets::default() }
    }

    /// Ask to join or leave `group`: the version of the new set, if it changed (the GMS
    /// client's `set_groups` numbers it the same). A group left is not received from now on.
    pub fn request(&mut self, group: GroupId, join: bool) -> Option<u64> {
        let changed = if join { self.requested.insert(group) } else { self.requested.remove(&group) };
        if !changed {
            return None;
        }
        self.version += 1;
        self.pending.push_back((self.version, self.requested.clone()));
        if !join {
            self.received.leave(group);
        }
        Some(self.version)
    }

    /// `node` installs `view`: the groups it records for the node (by its group-set version)
    /// and still asked for are received, each from its region's view in `view` if new
    /// ([`JoinedGroups::install`]). Returns whether what is received changed.
    pub fn install(&mut self, view: &View, node: NodeId) -> bool {
        let Some(version) = view.member(node).map(|m| m.groups_version) else { return false };
        while self.pending.front().is_some_and(|(v, _)| *v <= version) {
            if let Some((_, set)) = self.pending.pop_front() {
                self.recorded = set;
            }
        }
        let requested = &self.requested;
        self.received.install(view, node, &self.recorded, |g| requested.contains(&g))
    }

    /// The node registers again as a new incarnation with the groups it asks for now: what
    /// it received is forgotten, and requests in flight are part of the registration.
    pub fn restart(&mut self) {
        self.pending.clear();
        self.recorded = self.requested.clone();
        self.received = JoinedGroups::new();
    }

    /// The groups asked for now, ascending.
    pub fn requested(&self) -> &BTreeSet<GroupId> {
        &self.requested
    }

    /// What is received, and from which view.
    pub fn received(&self) -> &JoinedGroups {
        &self.received
    }
}

/// The groups a node receives, each from the region view in which it joined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoinedGroups {
    since: BTreeMap<GroupId, ViewId>,
}

impl JoinedGroups {
    /// Receiving nothing yet.
    pub fn new() -> Self {
        JoinedGroups::default()
    }

    /// `node` installs `view`, which records `recorded` as its group set (the set of the
    /// group-set version `view.member(node)` carries). It receives the groups recorded that
    /// `requested` still holds (a group it has asked to leave since is not received again; a
    /// group it asked to join is received once a view records it). A group received from now
    /// on is received from the view of its region in `view`. Returns whether the set changed.
    pub fn install(
        &mut self,
        view: &View,
        node: NodeId,
        recorded: &BTreeSet<GroupId>,
        requested: impl Fn(GroupId) -> bool,
    ) -> bool {
        let before = self.since.len();
        self.since.retain(|g, _| recorded.contains(g) && requested(*g));
        let mut changed = self.since.len() != before;
        let new: BTreeSet<GroupId> =
            recorded.iter().filter(|g| !self.since.contains_key(g) && requested(**g)).copied().collect();
        if new.is_empty() {
            return changed;
        }
        for r in view.regions.iter().filter(|r| r.members.contains(&node)) {
            for g in r.groups.iter().filter(|g| new.contains(g)) {
                // The region view its members and senders installed (ids start at 1).
                self.since.insert(*g, ViewId(r.since.0.max(1)));
                changed = true;
            }
        }
        changed
    }

    /// Stop receiving `group` at once (the node asked to leave it); whether it was received.
    pub fn leave(&mut self, group: GroupId) -> bool {
        self.since.remove(&group).is_some()
    }

    /// The view from which `group` is received, if it is.
    pub fn since(&self, group: GroupId) -> Option<ViewId> {
        self.since.get(&group).copied()
    }

    /// Whether a message of `group` sent in region view `sent_in` is received.
    pub fn admits(&self, group: GroupId, sent_in: ViewId) -> bool {
        self.since(group).is_some_and(|since| sent_in >= since)
    }

    /// The groups received, each with the view it is received from, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (GroupId, ViewId)> + '_ {
        self.since.iter().map(|(g, v)| (*g, *v))
    }

    /// Number of groups received.
    pub fn len(&self) -> usize {
        self.since.len()
    }

    /// Whether no group is received.
    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gms::view::{AddressStats, RegionInfo};
    use crate::regions::Addressing;
    use argent_core::RegionId;

    fn view(id: u64, regions: &[(u32, &[u32], &[u32], u64)]) -> View {
        View {
            id: ViewId(id),
            members: Vec::new(),
            regions: regions
                .iter()
                .map(|(r, groups, members, since)| RegionInfo {
                    id: RegionId(*r),
                    groups: groups.iter().map(|g| GroupId(*g)).collect(),
                    members: members.iter().map(|m| NodeId(*m)).collect(),
                    addressing: Addressing::Unicast,
                    since: ViewId(*since),
                    ring: ViewId(*since),
                })
                .collect(),
            addresses: AddressStats::default(),
            keys: Vec::new(),
        }
    }

    fn set(groups: &[u32]) -> BTreeSet<GroupId> {
        groups.iter().map(|g| GroupId(*g)).collect()
    }

    #[test]
    fn a_group_is_received_from_its_regions_view_in_the_view_that_records_it() {
        let me = NodeId(4);
        let mut j = JoinedGroups::new();
        assert!(j.install(&view(3, &[(1, &[10, 11], &[4, 5], 2)]), me, &set(&[10]), |_| true));
        assert_eq!(j.since(GroupId(10)), Some(ViewId(2)));
        assert!(j.admits(GroupId(10), ViewId(2)) && !j.admits(GroupId(10), ViewId(1)));
        assert!(!j.admits(GroupId(11), ViewId(9)), "a group of the region not joined");
        // Group 11 joined in view 5, where the region's view became 5; group 10 keeps its view.
        assert!(j.install(&view(5, &[(1, &[10, 11], &[4, 5], 5)]), me, &set(&[10, 11]), |_| true));
        assert_eq!(j.since(GroupId(11)), Some(ViewId(5)));
        assert_eq!(j.since(GroupId(10)), Some(ViewId(2)));
        // A view recording an older set does not bring back a group left since.
        assert!(j.leave(GroupId(10)));
        assert!(
            !j.install(&view(6, &[(1, &[10, 11], &[4, 5], 5)]), me, &set(&[10, 11]), |g| g != GroupId(10))
        );
        assert_eq!(j.iter().collect::<Vec<_>>(), vec![(GroupId(11), ViewId(5))]);
        // Nor is a group asked for received before a view records it.
        assert!(j.install(&view(7, &[(1, &[10, 11], &[4, 5], 7)]), me, &set(&[]), |_| true));
        assert!(j.is_empty());
    }
}
