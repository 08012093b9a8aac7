//! Ring layout of a region view: partitions of R members, and the order the token visits.

use argent_core::{NodeId, RegionId, ViewId};
use std::collections::HashMap;

/// A membership view of one region, as given by the membership service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionView {
    /// Region this view is for.
    pub region: RegionId,
    /// Version; views of a region are installed in increasing order.
    pub id: ViewId,
    /// Members; the first is the region leader. Must be non-empty and free of duplicates.
    pub members: Vec<NodeId>,
}

/// The partitions of a region's ring: with N members and partitions of R there are
/// P = max(1, ⌊N/R⌋) partitions, member i (in view order) in partition i mod P. The token
/// visits partition 0's members, then partition 1's, and so on.
pub fn ring_partitions(members: &[NodeId], partition_size: usize) -> Vec<Vec<NodeId>> {
    assert!(partition_size >= 1);
    let n = members.len();
    let p = (n / partition_size).max(1);
    let mut parts: Vec<Vec<NodeId>> = vec![Vec::with_capacity(n / p + 1); p];
    for (i, m) in members.iter().enumerate() {
        parts[i % p].push(*m);
    }
    parts
}

/// The token ring of one view: with N members and partitions of R, there are
/// P = max(1, ⌊N/R⌋) partitions and member i belongs to partition i mod P. The token visits
/// partition 0's members, then partition 1's, and so on, then returns to the leader.
#[derive(Clone, Debug)]
pub(crate) struct RingLayout {
    pub(crate) view: ViewId,
    /// Ring order: partition 0's members (leader first), then partition 1's, ...
    pub(crate) order: Vec<NodeId>,
    /// Partition of each ring position.
    part_of_pos: Vec<u32>,
    /// Members of each partition, in ring order.
    parts: Vec<Vec<NodeId>>,
    pos_of: HashMap<NodeId, usize>,
}

impl RingLayout {
    pub(crate) fn new(view: &RegionView, partition_size: usize) -> Self {
        assert!(!view.members.is_empty(), "a region view has at least one member");
        let n = view.members.len();
        let parts = ring_partitions(&view.members, partition_size);
        let mut order = Vec::with_capacity(n);
        let mut part_of_pos = Vec::with_capacity(n);
        for (pi, members) in parts.iter().enumerate() {
            order.extend_from_slice(members);
            part_of_pos.extend(std::iter::repeat_n(pi as u32, members.len()));
        }
        let pos_of: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        assert_eq!(pos_of.len(), n, "duplicate member in view {:?}", view.id);
        RingLayout { view: view.id, order, part_of_pos, parts, pos_of }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn leader(&self) -> NodeId {
        self.order[0]
    }

    pub(crate) fn partitions(&self) -> usize {
        self.parts.len()
    }

    pub(crate) fn position(&self, node: NodeId) -> Option<usize> {
        self.pos_of.get(&node).copied()
    }

    pub(crate) fn partition_at(&self, pos: usize) -> usize {
        self.part_of_pos[pos] as usize
    }

    /// Members of partition `p`, in ring order.
    pub(crate) fn partition_members(&self, p: usize) -> &[NodeId] {
        &self.parts[p]
    }

    /// Partition that caches datagram `seq`: (seq − 1) mod P.
    pub(crate) fn owner(&self, seq: u64) -> usize {
        ((seq.saturating_sub(1)) % self.parts.len() as u64) as usize
    }

    /// Whether ring position `pos` is the first of its partition.
    pub(crate) fn starts_partition(&self, pos: usize) -> bool {
        pos == 0 || self.part_of_pos[pos - 1] != self.part_of_pos[pos]
    }

    /// Whether ring position `pos` is the last of its partition.
    pub(crate) fn ends_partition(&self, pos: usize) -> bool {
        pos + 1 == self.order.len() || self.part_of_pos[pos + 1] != self.part_of_pos[pos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: u32) -> RegionView {
        RegionView { region: RegionId(1), id: ViewId(1), members: (0..n).map(NodeId).collect() }
    }

    #[test]
    fn partitions_of_five() {
        let l = RingLayout::new(&view(25), 5);
        assert_eq!(l.partitions(), 5);
        assert_eq!(l.partition_members(0), &[NodeId(0), NodeId(5), NodeId(10), NodeId(15), NodeId(20)]);
        assert_eq!(l.leader(), NodeId(0));
        assert!(l.starts_partition(0) && l.ends_partition(4) && l.starts_partition(5));
        assert_eq!(l.owner(1), 0);
        assert_eq!(l.owner(7), 1);
    }

    #[test]
    fn small_and_uneven_regions() {
        let l = RingLayout::new(&view(3), 5);
        assert_eq!(l.partitions(), 1);
        assert_eq!(l.order, vec![NodeId(0), NodeId(1), NodeId(2)]);
        let l = RingLayout::new(&view(12), 5);
        assert_eq!(l.partitions(), 2);
        assert_eq!(l.partition_members(0).len(), 6);
        assert_eq!(l.len(), 12);
    }
}
