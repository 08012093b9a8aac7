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
/// P = max(1, ⌊N/R⌋) partitions, member i (in view order) in partition i mod P. The
/// partitions' tokens go round at the same time, each visiting its partition's members.
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

/// Partitions whose tokens one partition's first member starts and gathers: the fan-out of
/// the tree of partitions (a region of up to 17 partitions is a tree of depth one; of up
/// to 273, of depth two).
pub(crate) const TREE_FANOUT: usize = 16;

/// What a token datagram is to the member that receives it (its `hop` field, checked
/// against the sender).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hop {
    /// A visit: hop = the receiver's ring position.
    Visit,
    /// Partition p's token back at its first member, from its last: hop = N + p.
    PartitionBack(usize),
    /// The folded tokens of partition c's subtree, from c's first member to the first member
    /// of c's parent partition: hop = N + P + c.
    SubtreeBack(usize),
}

/// The token rings of one view: with N members and partitions of R, there are
/// P = max(1, ⌊N/R⌋) partitions and member i belongs to partition i mod P. The partitions
/// form a tree (partition p's children are p·F + 1 ..= p·F + F, F = [`TREE_FANOUT`];
/// partition 0, the leader's, is the root). Each round, the first member of each partition
/// (its head) gets the round's token from its parent's head (the leader starts it), starts
/// its children's at once, and sends its own round its partition, whose last member hands
/// it back. The head folds its partition's token and its children's subtrees into one and
/// hands that to its parent's head; the leader's fold is the round. A round takes about
/// R + 2 × depth hops, depth = ⌈log_F P⌉: it does not grow with the region but by one level
/// per F-fold growth, and no member handles more than F + 2 tokens a round.
#[derive(Clone, Debug)]
pub(crate) struct RingLayout {
    pub(crate) view: ViewId,
    /// Ring order: partition 0's members (leader first), then partition 1's, ...
    pub(crate) order: Vec<NodeId>,
    /// Partition of each ring position.
    part_of_pos: Vec<u32>,
    /// Ring position of each partition's first member.
    part_start: Vec<usize>,
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
        let mut part_start = Vec::with_capacity(parts.len());
        for (pi, members) in parts.iter().enumerate() {
            part_start.push(order.len());
            order.extend_from_slice(members);
            part_of_pos.extend(std::iter::repeat_n(pi as u32, members.len()));
        }
        let pos_of: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        assert_eq!(pos_of.len(), n, "duplicate member in view {:?}", view.id);
        RingLayout { view: view.id, order, part_of_pos, part_start, parts, pos_of }
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

    /// Ring position of partition `p`'s first member.
    pub(crate) fn partition_start(&self, p: usize) -> usize {
        self.part_start[p]
    }

    /// First member of partition `p`: it starts and gathers the partition's token.
    pub(crate) fn head(&self, p: usize) -> NodeId {
        self.order[self.part_start[p]]
    }

    /// Parent of partition `p` in the tree of partitions (none for the leader's).
    pub(crate) fn parent(&self, p: usize) -> Option<usize> {
        p.checked_sub(1).map(|q| q / TREE_FANOUT)
    }

    /// Children of partition `p` in the tree of partitions.
    pub(crate) fn children(&self, p: usize) -> std::ops::Range<usize> {
        let first = p.saturating_mul(TREE_FANOUT).saturating_add(1).min(self.parts.len());
        first..first.saturating_add(TREE_FANOUT).min(self.parts.len())
    }

    /// The member that hands the token to ring position `pos`: the head of the parent
    /// partition for a partition's head, else the member before.
    pub(crate) fn predecessor(&self, pos: usize) -> Option<NodeId> {
        if !self.starts_partition(pos) {
            return Some(self.order[pos - 1]);
        }
        self.parent(self.partition_at(pos)).map(|q| self.head(q))
    }

    /// What a token with `hop` from `from` is to the member at ring position `pos`; `None`
    /// if `from` may not send it that (not its predecessor, or not the member that hands
    /// that partition's or subtree's token back here).
    pub(crate) fn classify(&self, pos: usize, hop: usize, from: NodeId) -> Option<Hop> {
        let n = self.order.len();
        let parts = self.parts.len();
        if hop < n {
            return (hop == pos && self.predecessor(pos) == Some(from)).then_some(Hop::Visit);
        }
        if !self.starts_partition(pos) {
            return None;
        }
        let mine = self.partition_at(pos);
        let p = hop - n;
        if p < parts {
            return (p == mine && self.partition_last(p) == from).then_some(Hop::PartitionBack(p));
        }
        let c = p - parts;
        (c < parts && self.parent(c) == Some(mine) && self.head(c) == from).then_some(Hop::SubtreeBack(c))
    }

    /// Last member of partition `p` (it hands the partition's token back to its head).
    pub(crate) fn partition_last(&self, p: usize) -> NodeId {
        *self.parts[p].last().expect("partitions are non-empty")
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
        assert_eq!(l.partition_start(3), 15);
        assert_eq!(l.partition_last(1), NodeId(21));
        assert_eq!(l.predecessor(5), Some(NodeId(0)), "the leader starts every child partition");
        assert_eq!(l.predecessor(6), Some(NodeId(1)));
        assert_eq!(l.predecessor(0), None);
        assert_eq!(l.classify(6, 6, NodeId(1)), Some(Hop::Visit));
        assert_eq!(l.classify(6, 6, NodeId(0)), None);
        assert_eq!(l.classify(0, 25, NodeId(20)), Some(Hop::PartitionBack(0)));
        assert_eq!(l.classify(0, 26, NodeId(21)), None, "partition 1 returns to its own head");
        assert_eq!(l.classify(5, 26, NodeId(21)), Some(Hop::PartitionBack(1)));
        assert_eq!(l.classify(0, 31, NodeId(1)), Some(Hop::SubtreeBack(1)));
        assert_eq!(l.classify(0, 31, NodeId(6)), None);
        assert_eq!(l.owner(1), 0);
        assert_eq!(l.owner(7), 1);
    }

    #[test]
    fn partitions_form_a_tree() {
        let l = RingLayout::new(&view(1000), 5);
        assert_eq!(l.partitions(), 200);
        assert_eq!(l.children(0), 1..17);
        assert_eq!(l.children(1), 17..33);
        assert_eq!(l.children(12), 193..200);
        assert_eq!(l.children(13), 200..200);
        for p in 1..200 {
            let q = l.parent(p).expect("a parent");
            assert!(l.children(q).contains(&p), "partition {p} is a child of {q}");
            assert!(l.parent(q).is_none_or(|r| l.parent(r).is_none()), "depth two at most");
        }
        let pos = l.partition_start(40);
        let parent_head = l.head(l.parent(40).expect("a parent"));
        assert_eq!(l.classify(pos, pos, parent_head), Some(Hop::Visit));
        let back = 1000 + 200 + 40;
        assert_eq!(l.classify(l.partition_start(2), back, l.head(40)), Some(Hop::SubtreeBack(40)));
        assert_eq!(l.classify(0, back, l.head(40)), None, "a grandchild reports to its parent");
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
