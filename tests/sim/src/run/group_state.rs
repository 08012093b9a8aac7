//! The state of a groups run (see `groups`): popularity, what senders published where, and
//! each node's groups.

use crate::rng::SimRng;
use argent_core::{NodeId, RegionId, ViewId};
use argent_membership::gms::GroupSets;
use argent_membership::GroupId;
use std::collections::{BTreeMap, HashMap};

pub(super) const TAG: usize = argent_wire::message::GROUP_TAG_LEN;
/// Most groups a node holds while groups churn (and at least one).
pub(super) const MAX_PER_NODE: usize = 12;

/// The run's groups: popularity, what senders published where, and every node's view of it.
pub(super) struct Groups {
    /// Cumulative Zipf weights of ranks 1..=G (group r is `GroupId(r)`).
    pub(super) cdf: Vec<f64>,
    /// Per sender slot: the group each message went to and its region (`None`: the group
    /// had no region in the sender's view, so nobody was in it), by index.
    pub(super) sent: Vec<Vec<Option<(GroupId, RegionId)>>>,
    /// Per sender slot: the draws of message groups.
    pub(super) draws: Vec<SimRng>,
    /// Per (sender slot, group, region): the indices published there, ascending.
    pub(super) positions: HashMap<(u32, GroupId, RegionId), Vec<u64>>,
    /// Per sender slot: (region, region view, next index) at each region view it installed.
    pub(super) installs: Vec<Vec<(RegionId, ViewId, u64)>>,
    pub(super) nodes: Vec<NodeGroups>,
    pub(super) churn: SimRng,
}

/// One node's groups.
#[derive(Default)]
pub(super) struct NodeGroups {
    /// Region views installed in the protocol (every region of the view: a sender sends to
    /// regions it is not a member of), with their members.
    pub(super) installed: BTreeMap<RegionId, (ViewId, Vec<NodeId>)>,
    /// Group → region, as the last view installed says.
    pub(super) route: HashMap<GroupId, RegionId>,
    /// The groups asked for, as the views record them, and as received (the runtime's
    /// shipped bookkeeping and filter).
    pub(super) sets: GroupSets,
    /// Per group received: its region, and whether it was joined while the node ran.
    pub(super) joins: HashMap<GroupId, (RegionId, bool)>,
    /// Per (sender slot, group): position of the next message expected in `positions`, once
    /// the first one of the interval arrived.
    pub(super) next: HashMap<(u32, GroupId), usize>,
}

impl NodeGroups {
    /// Whether this node is a member of `region` (it receives its multicast).
    pub(super) fn member(&self, region: RegionId, me: u32) -> bool {
        self.installed.get(&region).is_some_and(|(_, m)| m.contains(&NodeId(me)))
    }
}

impl Groups {
    pub(super) fn new(nodes: u32, senders: u32, groups: u32, seed: u64) -> Self {
        let mut total = 0.0;
        let cdf = (1..=groups)
            .map(|r| {
                total += 1.0 / f64::from(r);
                total
            })
            .collect();
        let subs = argent_membership::zipf_subscriptions(nodes, groups, 1.0, seed);
        let nodes = subs
            .iter()
            .map(|(_, gs)| NodeGroups { sets: GroupSets::new(gs.iter().copied()), ..NodeGroups::default() })
            .collect();
        Groups {
            cdf,
            sent: vec![Vec::new(); senders as usize],
            draws: (0..senders).map(|s| SimRng::new(seed, 100 + u64::from(s))).collect(),
            positions: HashMap::new(),
            installs: vec![Vec::new(); senders as usize],
            nodes,
            churn: SimRng::new(seed, 4),
        }
    }

    /// The initial group set of node `n`.
    pub(super) fn initial(&self, n: u32) -> Vec<GroupId> {
        self.nodes[n as usize].sets.requested().iter().copied().collect()
    }

    pub(super) fn draw(cdf: &[f64], rng: &mut SimRng) -> GroupId {
        let x = rng.unit() * cdf.last().copied().unwrap_or(1.0);
        GroupId(cdf.partition_point(|c| *c <= x).min(cdf.len() - 1) as u32 + 1)
    }

    /// What sender `slot` had published when it installed view `since` of `region` (or the
    /// first later view of it), if it has.
    pub(super) fn bound(&self, slot: u32, region: RegionId, since: ViewId) -> Option<u64> {
        self.installs[slot as usize]
            .iter()
            .find(|(r, v, _)| *r == region && *v >= since)
            .map(|(_, _, next)| *next)
    }

    /// Position in `positions[(slot, g, region)]` of the first message at or after `bound`,
    /// and how many there are from it on.
    pub(super) fn expected_from(
        &self,
        slot: u32,
        g: GroupId,
        region: RegionId,
        bound: u64,
    ) -> (usize, usize) {
        let list = self.positions.get(&(slot, g, region)).map_or(&[][..], Vec::as_slice);
        let first = list.partition_point(|i| *i < bound);
        (first, list.len() - first)
    }
}

/// The node stops receiving `g`: its interval ends (checked message by message up to here).
/// Returns 1 if the group was joined while the node ran (a leave counted).
pub(super) fn close(ng: &mut NodeGroups, g: GroupId) -> u64 {
    ng.next.retain(|(_, x), _| *x != g);
    u64::from(ng.joins.remove(&g).is_some())
}
