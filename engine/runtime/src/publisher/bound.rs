//! A publisher bound to one group.

use super::claim::PubClaim;
use super::future::PublishFuture;
use super::lanes::Lanes;
use crate::error::PublishError;
use argent_membership::GroupId;
use std::time::Duration;

/// Publishes from one application thread to one group ([`crate::Runtime::publisher`]), in
/// each of its regions; no call names a group. Holds one byte ring per shard the group's
/// regions live on.
#[derive(Debug)]
pub struct Publisher {
    lanes: Lanes,
    group: GroupId,
    /// The shards of the group's regions when last looked up (kept while the group has no
    /// region: its messages then reach the shard, which counts them unrouted).
    mask: u64,
    /// The route table generation `mask` was looked up in.
    seen: u64,
}

impl Publisher {
    pub(crate) fn new(lanes: Lanes, group: GroupId, mask: u64) -> Self {
        // Generation 0 is never current: the first call looks the route up in the table the
        // lanes hold (the mask given may come from an older one).
        Publisher { lanes, group, mask, seen: 0 }
    }

    /// The group's shards now (its regions change with membership views): looked up again
    /// only when the route table changed, one atomic load otherwise.
    #[inline]
    fn routed(&mut self) -> u64 {
        let now = self.lanes.generation();
        if now != self.seen {
            self.seen = now;
            if let Ok((_, mask)) = self.lanes.route(self.group) {
                self.mask = mask;
            }
        }
        self.mask
    }

    /// The group this publisher publishes to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The largest message accepted (the datagram's room minus the group tag).
    #[inline]
    pub fn max_message(&self) -> usize {
        self.lanes.max_message
    }

    /// Reserve `len` bytes for a message, to write it in place; `WouldBlock` when the ring
    /// is full.
    #[inline]
    pub fn claim(&mut self, len: usize) -> Result<PubClaim<'_>, PublishError> {
        let mask = self.routed();
        self.lanes.claim_routed(self.group, mask, len)
    }

    /// Publish a copy of `msg`; `WouldBlock` when the ring is full.
    #[inline]
    pub fn publish(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let mask = self.routed();
        self.lanes.publish_routed(self.group, mask, msg)
    }

    /// Publish, waiting while the ring is full.
    pub fn publish_blocking(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let mask = self.routed();
        self.lanes.publish_until(self.group, mask, msg, None)
    }

    /// Publish, waiting at most `timeout` while the ring is full
    /// ([`PublishError::WouldBlock`] if it stays full).
    pub fn publish_within(&mut self, msg: &[u8], timeout: Duration) -> Result<(), PublishError> {
        let deadline = std::time::Instant::now() + timeout;
        let mask = self.routed();
        self.lanes.publish_until(self.group, mask, msg, Some(deadline))
    }

    /// Publish, awaiting room in the ring.
    pub fn publish_async<'a>(&'a mut self, msg: &'a [u8]) -> PublishFuture<'a> {
        let route = Ok((self.group, self.routed()));
        PublishFuture::new(&mut self.lanes, route, msg)
    }

    /// Wait up to `timeout` until the ring has room for a message of `len` bytes.
    pub fn wait_for_space(&mut self, len: usize, timeout: Duration) -> bool {
        let mask = self.routed();
        self.lanes.wait(mask, len, timeout)
    }

    /// Whether the shards have taken every message committed so far into the protocol.
    pub fn is_drained(&self) -> bool {
        self.lanes.is_drained()
    }

    /// Make the shards pick up what was published (they are woken on every commit anyway
    /// when they sleep; this is for callers that batch).
    pub fn flush(&self) {
        self.lanes.wake_lanes(self.mask);
    }
}
