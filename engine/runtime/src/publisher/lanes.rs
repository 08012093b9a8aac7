//! What both kinds of publisher are made of: one byte ring per shard they reach, and the
//! claim, publish and wait operations on a route (a group and the shards of its regions).

use super::claim::PubClaim;
use super::lane::{shards_in, PubLane};
use crate::error::PublishError;
use crate::groups::{RouteTable, Routes, FRAGMENT_GROUP, GROUP_TAG_LEN};
use crate::pubring;
use crate::signal::Signal;
use argent_membership::GroupId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The rings of one publisher, indexed by shard, and where groups go.
pub(crate) struct Lanes {
    /// Indexed by shard; `None` for shards this publisher does not reach.
    lanes: Vec<Option<PubLane>>,
    /// The shards it reaches (every shard of the node: regions come and go).
    pub(crate) mask: u64,
    table: Arc<RouteTable>,
    /// The generation of `table` that `routes` is.
    seen: u64,
    routes: Arc<Routes>,
    pub(crate) space: Arc<Signal>,
    pub(crate) max_message: usize,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let free: Vec<usize> = self.lanes.iter().flatten().map(|l| l.ring.slots()).collect();
        f.debug_struct("Lanes").field("free", &free).finish()
    }
}

impl Lanes {
    pub(crate) fn new(
        lanes: Vec<Option<PubLane>>,
        mask: u64,
        table: Arc<RouteTable>,
        space: Arc<Signal>,
        max_message: usize,
    ) -> Self {
        let (seen, routes) = table.load();
        Lanes { lanes, mask, table, seen, routes, space, max_message }
    }

    /// The generation of the route table now (it changes when views add or drop regions).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.table.generation()
    }

    /// The shards holding `group`'s regions now, if this publisher reaches them all.
    #[inline]
    pub(crate) fn route(&mut self, group: GroupId) -> Result<(GroupId, u64), PublishError> {
        if self.table.generation() != self.seen {
            (self.seen, self.routes) = self.table.load();
        }
        match self.routes.get(group) {
            Some(mask) if mask & !self.mask == 0 => Ok((group, mask)),
            _ => Err(PublishError::NoRoute(group)),
        }
    }

    /// Reserve room for a message of `len` bytes to `group` in every ring of `mask`. Always
    /// inlined: a claim returned through memory is read back (by the caller's copy of it)
    /// before the stores that wrote it can be forwarded, which stalled 64 B publishing.
    #[inline(always)]
    pub(crate) fn claim_routed(
        &mut self,
        group: GroupId,
        mask: u64,
        len: usize,
    ) -> Result<PubClaim<'_>, PublishError> {
        if len > self.max_message {
            return Err(PublishError::TooLarge { len, max: self.max_message });
        }
        if mask == 0 {
            return Err(PublishError::NoRoute(group));
        }
        let entry = GROUP_TAG_LEN + len;
        let first = mask.trailing_zeros() as usize;
        let rest = mask & mask.wrapping_sub(1);
        if rest != 0 {
            self.room_in(group, rest, entry)?;
        }
        let (before, tail) = self.lanes.split_at_mut(first);
        let Some((Some(lane), after)) = tail.split_first_mut() else {
            return Err(PublishError::NoRoute(group));
        };
        let PubLane { ring, wake } = lane;
        if ring.is_abandoned() {
            return Err(PublishError::Closed);
        }
        let (chunk, skip) = pubring::reserve(ring, entry).ok_or(PublishError::WouldBlock)?;
        Ok(PubClaim { chunk: Some(chunk), skip, len, group, wake, first, rest, before, after })
    }

    /// A group whose regions live on several shards: the message is copied into the rings of
    /// `rest` at commit; make sure they have room now (only this thread fills them).
    #[cold]
    fn room_in(&mut self, group: GroupId, rest: u64, entry: usize) -> Result<(), PublishError> {
        for s in shards_in(rest) {
            let lane = self.lanes[s].as_mut().ok_or(PublishError::NoRoute(group))?;
            if lane.ring.is_abandoned() {
                return Err(PublishError::Closed);
            }
            if pubring::reserve(&mut lane.ring, entry).is_none() {
                return Err(PublishError::WouldBlock);
            }
        }
        Ok(())
    }

    /// Publish a copy of `msg`; `WouldBlock` when a ring is full.
    #[inline]
    pub(crate) fn publish_routed(
        &mut self,
        group: GroupId,
        mask: u64,
        msg: &[u8],
    ) -> Result<(), PublishError> {
        let mut c = self.claim_routed(group, mask, msg.len())?;
        c.bytes_mut().copy_from_slice(msg);
        c.commit();
        Ok(())
    }

    /// Publish, waiting while a ring is full, until `deadline` if any. A message larger
    /// than a datagram goes in fragments ([`Lanes::fragments`]); the deadline applies to
    /// the first, after which the rest follow whatever the wait (receivers would otherwise
    /// hold a partial message).
    pub(crate) fn publish_until(
        &mut self,
        group: GroupId,
        mask: u64,
        msg: &[u8],
        deadline: Option<std::time::Instant>,
    ) -> Result<(), PublishError> {
        if msg.len() > self.max_message {
            let frags = self.fragments(group, msg)?;
            for (i, f) in frags.iter().enumerate() {
                let body = &f[GROUP_TAG_LEN..];
                self.publish_until(FRAGMENT_GROUP, mask, body, if i == 0 { deadline } else { None })?;
            }
            return Ok(());
        }
        loop {
            match self.publish_routed(group, mask, msg) {
                Err(PublishError::WouldBlock) if deadline.is_none_or(|d| std::time::Instant::now() < d) => {
                    self.wait(mask, msg.len(), Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// The fragments of `msg` for `group` (each with its tag, which the ring entry carries
    /// apart), under a message id unique in this process (so in its sender streams).
    pub(crate) fn fragments(&self, group: GroupId, msg: &[u8]) -> Result<Vec<Vec<u8>>, PublishError> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        argent_wire::fragment::fragments(group.0, id, msg, self.max_message + GROUP_TAG_LEN)
            .ok_or(PublishError::TooLarge { len: msg.len(), max: argent_wire::fragment::MAX_FRAGMENTED })
    }

    /// Whether an entry of `len` bytes fits in every ring of `mask` now.
    pub(crate) fn fits(&mut self, mask: u64, len: usize) -> bool {
        shards_in(mask).all(|s| {
            self.lanes[s]
                .as_mut()
                .is_some_and(|l| pubring::reserve(&mut l.ring, GROUP_TAG_LEN + len).is_some())
        })
    }

    pub(crate) fn wake_lanes(&self, mask: u64) {
        for s in shards_in(mask) {
            if let Some(l) = &self.lanes[s] {
                l.wake.wake();
            }
        }
    }

    /// Wait up to `timeout` until every ring of `mask` has room for `len` bytes.
    pub(crate) fn wait(&mut self, mask: u64, len: usize, timeout: Duration) -> bool {
        if self.fits(mask, len) {
            return true;
        }
        self.space.arm_thread();
        if self.fits(mask, len) {
            self.space.disarm();
            return true;
        }
        self.wake_lanes(mask);
        self.space.park(timeout);
        self.space.disarm();
        self.fits(mask, len)
    }

    /// Whether the shards have taken every message committed so far into the protocol.
    pub(crate) fn is_drained(&self) -> bool {
        self.lanes.iter().flatten().all(|l| l.ring.slots() == l.ring.buffer().capacity())
    }
}
