//! One publisher ring to one shard, and the shards of a mask.

use crate::signal::ShardWake;

/// Shards in a mask, lowest first.
pub(crate) fn shards_in(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let s = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            s
        })
    })
}

/// A publisher's ring to one shard.
pub(crate) struct PubLane {
    pub(crate) ring: rtrb::Producer<u8>,
    pub(crate) wake: ShardWake,
}
