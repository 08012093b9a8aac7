//! Groups and which nodes subscribe to them: the input regions are computed from.

use argent_core::NodeId;
use serde::{Deserialize, Serialize};

/// A group's identity.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct GroupId(pub u32);

impl GroupId {
    /// Ids from names start here: below are the ids membership files number by hand.
    pub const NAMED_FROM: u32 = 1 << 24;

    /// The id every process derives from a group `name` created at run time: a BLAKE3
    /// digest of the name, in `NAMED_FROM..u32::MAX - 1` (`u32::MAX` is reserved for fences,
    /// `u32::MAX - 1` for fragments).
    /// Two names may share an id (among 1 000 names, about one chance in 8 500): they are
    /// then one group, and their subscribers receive each other's messages.
    pub fn named(name: &str) -> GroupId {
        let digest = blake3::hash(name.as_bytes());
        let raw = u32::from_le_bytes(digest.as_bytes()[..4].try_into().expect("4 bytes"));
        GroupId(Self::NAMED_FROM + raw % (u32::MAX - 1 - Self::NAMED_FROM))
    }
}

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
