//! Groups inside regions: the 4-byte tag every message carries, and tables keyed by group id
//! with O(1) lookups — a vector indexed by id when ids are compact (the usual case: ids
//! 1..=N), otherwise a hash map with a cheap multiplicative hash.

use argent_core::ViewId;
use argent_membership::GroupId;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of the group tag in front of every message inside a QSM datagram (little-endian
/// group id; `argent_wire::message`). The application never sees it: publishers write after
/// it, subscriptions deliver what follows it.
pub const GROUP_TAG_LEN: usize = argent_wire::message::GROUP_TAG_LEN;

/// The group id reserved for fences: a fence is a message of this group whose body is the
/// request's key and nonce (8 + 8 bytes, little-endian), published by a node's shard in
/// answer to [`Runtime::request_fences`](crate::Runtime::request_fences) anywhere in the region; [`Delivery::fences`](crate::Delivery::fences) yields
/// them to every subscription of the region.
pub const FENCE_GROUP: GroupId = GroupId(argent_wire::message::FENCE_GROUP);
/// The reserved group of fragments of messages larger than a datagram
/// ([`argent_wire::fragment`]).
pub const FRAGMENT_GROUP: GroupId = GroupId(argent_wire::fragment::FRAGMENT_GROUP);

/// Ids below this are always kept in dense tables (at most 64 Ki entries).
const DENSE_ALWAYS: u32 = 1 << 16;
/// Above that, dense while the largest id is at most this many times the number of entries.
const DENSE_FACTOR: u64 = 8;

/// Split a tagged message into its group and the application's bytes.
#[inline]
pub(crate) fn split_tag(m: &[u8]) -> Option<(GroupId, &[u8])> {
    argent_wire::message::split_tag(m).map(|(g, rest)| (GroupId(g), rest))
}

/// The group whose regions carry message `m`: its tag's, or for a fragment of a larger
/// message ([`argent_wire::fragment`]) the whole message's.
#[inline]
pub(crate) fn route_group(m: &[u8]) -> Option<GroupId> {
    let (g, rest) = split_tag(m)?;
    if g != FRAGMENT_GROUP {
        return Some(g);
    }
    rest.first_chunk::<4>().map(|b| GroupId(u32::from_le_bytes(*b)))
}

/// Multiplicative hashing for integer ids (the default SipHash costs more than the rest of
/// a lookup).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdHasher(u64);

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(MIX);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(MIX);
    }
}

type IdBuild = BuildHasherDefault<IdHasher>;

fn dense(max: u32, entries: usize) -> bool {
    max < DENSE_ALWAYS || u64::from(max) <= DENSE_FACTOR * entries as u64
}

/// A map from group id to `V` with O(1) lookups.
#[derive(Debug, Clone)]
pub(crate) enum GroupMap<V> {
    Dense(Vec<Option<V>>),
    Sparse(HashMap<GroupId, V, IdBuild>),
}

impl<V> Default for GroupMap<V> {
    fn default() -> Self {
        GroupMap::Dense(Vec::new())
    }
}

impl<V> GroupMap<V> {
    /// Build from entries (a later entry for the same group replaces an earlier one).
    pub(crate) fn new(entries: Vec<(GroupId, V)>) -> Self {
        let max = entries.iter().map(|(g, _)| g.0).max().unwrap_or(0);
        if dense(max, entries.len()) {
            let mut v: Vec<Option<V>> = Vec::new();
            v.resize_with(if entries.is_empty() { 0 } else { max as usize + 1 }, || None);
            for (g, x) in entries {
                v[g.0 as usize] = Some(x);
            }
            GroupMap::Dense(v)
        } else {
            GroupMap::Sparse(entries.into_iter().collect())
        }
    }

    #[inline]
    pub(crate) fn get(&self, g: GroupId) -> Option<&V> {
        match self {
            GroupMap::Dense(v) => v.get(g.0 as usize).and_then(Option::as_ref),
            GroupMap::Sparse(m) => m.get(&g),
        }
    }
}

/// Where a publisher writes each group's messages: a bit mask of shards.
#[derive(Debug, Clone)]
pub(crate) enum Routes {
    /// Every group goes to the same shards (one shard, or all regions on one: the usual case):
    /// only which groups exist is looked up, in a compact set.
    Uniform {
        known: GroupSet,
        mask: u64,
    },
    PerGroup(GroupMap<u64>),
}

impl Routes {
    pub(crate) fn new(entries: Vec<(GroupId, u64)>) -> Self {
        match entries.first() {
            Some((_, mask)) if entries.iter().all(|(_, m)| m == mask) => {
                let groups: Vec<GroupId> = entries.iter().map(|(g, _)| *g).collect();
                Routes::Uniform { known: GroupSet::new(&groups), mask: *mask }
            }
            _ => Routes::PerGroup(GroupMap::new(entries)),
        }
    }

    #[inline]
    pub(crate) fn get(&self, g: GroupId) -> Option<u64> {
        match self {
            Routes::Uniform { known, mask } => known.contains(g).then_some(*mask),
            Routes::PerGroup(m) => m.get(g).copied(),
        }
    }
}

/// Where each group goes, replaced when a membership view adds or removes regions.
/// Publishers keep the table they last read and look at the generation on each call (one
/// atomic load while nothing changes).
#[derive(Debug)]
pub(crate) struct RouteTable {
    generation: AtomicU64,
    current: Mutex<Arc<Routes>>,
}

impl RouteTable {
    pub(crate) fn new(routes: Routes) -> Self {
        RouteTable { generation: AtomicU64::new(1), current: Mutex::new(Arc::new(routes)) }
    }

    /// Replace the table (after the shards were told of the regions it names).
    pub(crate) fn set(&self, routes: Routes) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The generation now: it changes with every [`RouteTable::set`].
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The table and its generation (a generation read before the table: a table set in
    /// between is read again at the next call).
    pub(crate) fn load(&self) -> (u64, Arc<Routes>) {
        let generation = self.generation();
        (generation, self.current.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The groups one subscription receives: checked once per delivered message.
#[derive(Debug, Clone)]
pub(crate) enum GroupSet {
    One(GroupId),
    Dense(Box<[u64]>),
    Sparse(HashSet<GroupId, IdBuild>),
}

impl GroupSet {
    /// `groups` must not be empty (duplicates are fine).
    pub(crate) fn new(groups: &[GroupId]) -> Self {
        let mut distinct: Vec<GroupId> = groups.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if let [one] = distinct.as_slice() {
            return GroupSet::One(*one);
        }
        let max = distinct.last().map_or(0, |g| g.0);
        if dense(max, distinct.len()) {
            let mut bits = vec![0u64; max as usize / 64 + 1].into_boxed_slice();
            for g in &distinct {
                bits[g.0 as usize / 64] |= 1 << (g.0 % 64);
            }
            GroupSet::Dense(bits)
        } else {
            GroupSet::Sparse(distinct.into_iter().collect())
        }
    }

    #[inline]
    pub(crate) fn contains(&self, g: GroupId) -> bool {
        match self {
            GroupSet::One(x) => *x == g,
            GroupSet::Dense(bits) => bits.get(g.0 as usize / 64).is_some_and(|w| w & (1 << (g.0 % 64)) != 0),
            GroupSet::Sparse(s) => s.contains(&g),
        }
    }
}

/// The groups a subscription hands out now, each from the view it is received from: one
/// lookup per message either way.
#[derive(Debug)]
pub(crate) enum Filter {
    /// Every group from the start (static files).
    FromStart(GroupSet),
    /// Groups joined through the GMS, each from its join view.
    Since(GroupMap<ViewId>),
}

impl Filter {
    pub(crate) fn new(groups: Vec<(GroupId, ViewId)>) -> Self {
        if groups.iter().any(|(_, v)| v.0 > 0) {
            return Filter::Since(GroupMap::new(groups));
        }
        let ids: Vec<GroupId> = groups.iter().map(|(g, _)| *g).collect();
        Filter::FromStart(GroupSet::new(&ids))
    }

    /// Whether a message of `group` sent in region view `sent_in` is handed out.
    #[inline]
    pub(crate) fn admits(&self, group: GroupId, sent_in: ViewId) -> bool {
        match self {
            Filter::FromStart(set) => set.contains(group),
            Filter::Since(map) => map.get(group).is_some_and(|since| sent_in >= *since),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_tables_agree() {
        let compact: Vec<(GroupId, u32)> = (1..=10_000).map(|g| (GroupId(g), g * 2)).collect();
        let m = GroupMap::new(compact);
        assert!(matches!(m, GroupMap::Dense(_)));
        assert_eq!(m.get(GroupId(77)), Some(&154));
        assert_eq!(m.get(GroupId(0)), None);
        assert_eq!(m.get(GroupId(10_001)), None);
        let spread = GroupMap::new(vec![(GroupId(3), 1u8), (GroupId(u32::MAX), 2)]);
        assert!(matches!(spread, GroupMap::Sparse(_)));
        assert_eq!(spread.get(GroupId(u32::MAX)), Some(&2));
        assert_eq!(spread.get(GroupId(4)), None);
    }

    #[test]
    fn group_sets_contain_exactly_their_groups() {
        let one = GroupSet::new(&[GroupId(5), GroupId(5)]);
        assert!(matches!(one, GroupSet::One(_)));
        assert!(one.contains(GroupId(5)) && !one.contains(GroupId(6)));
        let ids: Vec<GroupId> = (0..1000).step_by(3).map(GroupId).collect();
        let dense = GroupSet::new(&ids);
        assert!(matches!(dense, GroupSet::Dense(_)));
        for g in 0..1100 {
            assert_eq!(dense.contains(GroupId(g)), g % 3 == 0 && g < 1000, "{g}");
        }
        let sparse = GroupSet::new(&[GroupId(1), GroupId(4_000_000_000)]);
        assert!(matches!(sparse, GroupSet::Sparse(_)));
        assert!(sparse.contains(GroupId(4_000_000_000)) && !sparse.contains(GroupId(2)));
    }

    #[test]
    fn routes_agree_whether_uniform_or_per_group() {
        let uniform = Routes::new((1..=100).map(|g| (GroupId(g), 0b1)).collect());
        assert!(matches!(uniform, Routes::Uniform { .. }));
        assert_eq!(uniform.get(GroupId(50)), Some(0b1));
        assert_eq!(uniform.get(GroupId(101)), None);
        let mixed = Routes::new(vec![(GroupId(1), 0b1), (GroupId(2), 0b11)]);
        assert!(matches!(mixed, Routes::PerGroup(_)));
        assert_eq!(mixed.get(GroupId(2)), Some(0b11));
        assert_eq!(Routes::new(Vec::new()).get(GroupId(0)), None);
    }

    #[test]
    fn tags_split_off_the_front() {
        let m = [7, 0, 0, 0, b'h', b'i'];
        assert_eq!(split_tag(&m), Some((GroupId(7), &b"hi"[..])));
        assert_eq!(split_tag(&m[..3]), None);
    }
}
