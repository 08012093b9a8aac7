//! Groups and which nodes subscribe to them: the input regions are computed from.

use argent_core::NodeId;
use serde::{Deserialize, Serialize};

/// A group's identity.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct GroupId(pub u32);

/// Which groups each node subscribes to.
#[derive(Clone, Debug, Default)]
pub struct Subscriptions {
    nodes: Vec<(NodeId, Vec<GroupId>)>,
}

impl Subscriptions {
    /// Empty.
    pub fn new() -> Self {
        Subscriptions::default()
    }

    /// Node `node` subscribes to `groups` (order and duplicates do not matter).
    pub fn set(&mut self, node: NodeId, mut groups: Vec<GroupId>) {
        groups.sort_unstable();
        groups.dedup();
        match self.nodes.iter_mut().find(|(n, _)| *n == node) {
            Some((_, g)) => *g = groups,
            None => self.nodes.push((node, groups)),
        }
    }

    /// Nodes and their (sorted) groups.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &[GroupId])> {
        self.nodes.iter().map(|(n, g)| (*n, g.as_slice()))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node subscribes to anything.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
