//! A publisher to any group.

use super::claim::PubClaim;
use super::future::PublishFuture;
use super::lanes::Lanes;
use crate::error::PublishError;
use argent_membership::GroupId;
use std::time::Duration;

/// Publishes from one application thread to any group ([`crate::Runtime::publisher_any`]):
/// every call names its group. Holds one byte ring per shard, however many groups.
#[derive(Debug)]
pub struct AnyPublisher {
    lanes: Lanes,
}

impl AnyPublisher {
    pub(crate) fn new(lanes: Lanes) -> Self {
        AnyPublisher { lanes }
    }

    /// The largest message accepted (the datagram's room minus the group tag).
    #[inline]
    pub fn max_message(&self) -> usize {
        self.lanes.max_message
    }

    /// Reserve `len` bytes for a message to `group`, to write it in place; `WouldBlock` when
    /// the ring is full, `NoRoute` for a group no region carries.
    #[inline]
    pub fn claim_to(&mut self, group: GroupId, len: usize) -> Result<PubClaim<'_>, PublishError> {
        let (group, mask) = self.lanes.route(group)?;
        self.lanes.claim_routed(group, mask, len)
    }

    /// Publish a copy of `msg` to `group`; `WouldBlock` when the ring is full.
    #[inline]
    pub fn publish_to(&mut self, group: GroupId, msg: &[u8]) -> Result<(), PublishError> {
        let (group, mask) = self.lanes.route(group)?;
        self.lanes.publish_routed(group, mask, msg)
    }

    /// Publish to `group`, waiting while the ring is full.
    pub fn publish_blocking_to(&mut self, group: GroupId, msg: &[u8]) -> Result<(), PublishError> {
        let (group, mask) = self.lanes.route(group)?;
        self.lanes.publish_until(group, mask, msg, None)
    }

    /// Publish to `group`, waiting at most `timeout` while the ring is full
    /// ([`PublishError::WouldBlock`] if it stays full).
    pub fn publish_within_to(
        &mut self,
        group: GroupId,
        msg: &[u8],
        timeout: Duration,
    ) -> Result<(), PublishError> {
        let (group, mask) = self.lanes.route(group)?;
        let deadline = std::time::Instant::now() + timeout;
        self.lanes.publish_until(group, mask, msg, Some(deadline))
    }

    /// Publish to `group`, awaiting room in the ring.
    pub fn publish_async_to<'a>(&'a mut self, group: GroupId, msg: &'a [u8]) -> PublishFuture<'a> {
        let route = self.lanes.route(group);
        PublishFuture::new(&mut self.lanes, route, msg)
    }

    /// Wait up to `timeout` until the rings of `group` have room for a message of `len`
    /// bytes (false at once for a group no region carries).
    pub fn wait_for_space_to(&mut self, group: GroupId, len: usize, timeout: Duration) -> bool {
        match self.lanes.route(group) {
            Ok((_, mask)) => self.lanes.wait(mask, len, timeout),
            Err(_) => false,
        }
    }

    /// Wait up to `timeout` until every ring has room for a message of `len` bytes.
    pub fn wait_for_space(&mut self, len: usize, timeout: Duration) -> bool {
        let mask = self.lanes.mask;
        self.lanes.wait(mask, len, timeout)
    }

    /// Whether the shards have taken every message committed so far into the protocol.
    pub fn is_drained(&self) -> bool {
        self.lanes.is_drained()
    }

    /// Make the shards pick up what was published (they are woken on every commit anyway
    /// when they sleep; this is for callers that batch).
    pub fn flush(&self) {
        self.lanes.wake_lanes(self.lanes.mask);
    }
}
