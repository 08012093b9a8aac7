//! Where groups and regions are at this node: the regions it knows (its own and those it
//! only sends to), which shard owns each, and where publishers write each group. Membership
//! views change it while traffic flows ([`crate::ViewSink`]).

use crate::config::RegionSpec;
use crate::groups::Routes;
use crate::subscription::Joined;
use argent_core::{NodeId, RegionId};
use argent_membership::GroupId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The regions this node knows, by id.
#[derive(Debug)]
pub(crate) struct Topology {
    me: NodeId,
    shards: usize,
    regions: BTreeMap<RegionId, RegionSpec>,
    /// The groups this node joined, shared with its subscriptions: with the GMS a region
    /// carries every group created with it, and its members are the nodes that joined any
    /// of them, so a node may be in a region for groups it did not join.
    joined: Arc<Joined>,
}

impl Topology {
    pub(crate) fn new(me: NodeId, shards: usize, regions: &[RegionSpec], joined: Arc<Joined>) -> Self {
        let regions = regions.iter().map(|r| (r.region, r.clone())).collect();
        Topology { me, shards: shards.max(1), regions, joined }
    }

    fn wants(&self, g: GroupId) -> bool {
        self.joined.wants(g)
    }

    /// The shard that owns region `r` (whether or not it is known yet).
    pub(crate) fn shard_for(&self, r: RegionId) -> usize {
        r.0 as usize % self.shards
    }

    /// The shard owning a known region.
    pub(crate) fn shard_of(&self, r: RegionId) -> Option<usize> {
        self.regions.contains_key(&r).then(|| self.shard_for(r))
    }

    pub(crate) fn contains(&self, r: RegionId) -> bool {
        self.regions.contains_key(&r)
    }

    pub(crate) fn ids(&self) -> Vec<RegionId> {
        self.regions.keys().copied().collect()
    }

    pub(crate) fn insert(&mut self, spec: RegionSpec) {
        self.regions.insert(spec.region, spec);
    }

    pub(crate) fn remove(&mut self, r: RegionId) -> Option<RegionSpec> {
        self.regions.remove(&r)
    }

    /// New members and groups of a known region; returns whether its groups changed (a
    /// group created in an existing region).
    pub(crate) fn update(&mut self, r: RegionId, members: &[NodeId], groups: &[GroupId]) -> bool {
        let Some(spec) = self.regions.get_mut(&r) else { return false };
        spec.members.clear();
        spec.members.extend_from_slice(members);
        if spec.groups == groups {
            return false;
        }
        spec.groups.clear();
        spec.groups.extend_from_slice(groups);
        true
    }

    /// The region in which this node receives `group` (it is a member), lowest id first.
    pub(crate) fn region_of(&self, group: GroupId) -> Option<RegionId> {
        self.regions
            .values()
            .find(|r| r.members.contains(&self.me) && r.groups.contains(&group))
            .map(|r| r.region)
    }

    /// The groups this node receives, ascending.
    pub(crate) fn member_groups(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = self
            .regions
            .values()
            .filter(|r| r.members.contains(&self.me))
            .flat_map(|r| r.groups.iter().copied())
            .filter(|g| self.wants(*g))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// For each group, the shards of the regions carrying it (where publishers write).
    pub(crate) fn routes(&self) -> Routes {
        let mut masks: HashMap<GroupId, u64> = HashMap::new();
        for r in self.regions.values() {
            let bit = 1u64 << self.shard_for(r.region);
            for g in &r.groups {
                *masks.entry(*g).or_default() |= bit;
            }
        }
        Routes::new(masks.into_iter().collect())
    }
}
