//! Publishing: a byte ring per shard the publisher reaches; messages are written in place
//! (`group tag | message`) and the shard multicasts them in every region of the group it owns.

use crate::error::PublishError;
use crate::groups::{Routes, GROUP_TAG_LEN};
use crate::pubring;
use crate::signal::{ShardWake, Signal};
use argent_membership::GroupId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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

/// Publishes from one application thread, to one group ([`Runtime::publisher`]) or to any
/// ([`Runtime::publisher_any`]). Holds one byte ring per shard it reaches; each entry is
/// `group tag | message`, and the shard multicasts it in every region of the group it owns.
pub struct Publisher {
    /// Indexed by shard; `None` for shards this publisher does not reach.
    lanes: Vec<Option<PubLane>>,
    lanes_mask: u64,
    routes: Arc<Routes>,
    bound: Option<(GroupId, u64)>,
    space: Arc<Signal>,
    max_message: usize,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let free: Vec<usize> = self.lanes.iter().flatten().map(|l| l.ring.slots()).collect();
        f.debug_struct("Publisher").field("group", &self.bound.map(|b| b.0)).field("free", &free).finish()
    }
}

impl Publisher {
    pub(crate) fn new(
        lanes: Vec<Option<PubLane>>,
        lanes_mask: u64,
        routes: Arc<Routes>,
        bound: Option<(GroupId, u64)>,
        space: Arc<Signal>,
        max_message: usize,
    ) -> Self {
        Publisher { lanes, lanes_mask, routes, bound, space, max_message }
    }

    /// The group this publisher is bound to, if any.
    pub fn group(&self) -> Option<GroupId> {
        self.bound.map(|(g, _)| g)
    }

    /// The largest message accepted (the datagram's room minus the group tag).
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Where `group` goes: the shards (lanes) holding its regions.
    #[inline]
    fn route(&self, group: Option<GroupId>) -> Result<(GroupId, u64), PublishError> {
        match (group, self.bound) {
            (None, Some(b)) => Ok(b),
            (None, None) => Err(PublishError::NotBound),
            (Some(g), Some((b, mask))) if g == b => Ok((g, mask)),
            // A publisher made for one group publishes to that group only.
            (Some(g), Some(_)) => Err(PublishError::NoRoute(g)),
            (Some(g), None) => match self.routes.get(g) {
                Some(mask) if mask & !self.lanes_mask == 0 => Ok((g, mask)),
                _ => Err(PublishError::NoRoute(g)),
            },
        }
    }

    /// Reserve `len` bytes for a message to the bound group, to write it in place;
    /// `WouldBlock` when the ring is full.
    pub fn claim(&mut self, len: usize) -> Result<PubClaim<'_>, PublishError> {
        let (group, mask) = self.route(None)?;
        self.claim_routed(group, mask, len)
    }

    /// Reserve `len` bytes for a message to `group`, to write it in place; `WouldBlock` when
    /// the ring is full.
    pub fn claim_to(&mut self, group: GroupId, len: usize) -> Result<PubClaim<'_>, PublishError> {
        let (group, mask) = self.route(Some(group))?;
        self.claim_routed(group, mask, len)
    }

    fn claim_routed(&mut self, group: GroupId, mask: u64, len: usize) -> Result<PubClaim<'_>, PublishError> {
        if len > self.max_message {
            return Err(PublishError::TooLarge { len, max: self.max_message });
        }
        if mask == 0 {
            return Err(PublishError::NoRoute(group));
        }
        let entry = GROUP_TAG_LEN + len;
        let first = mask.trailing_zeros() as usize;
        let rest = mask & mask.wrapping_sub(1);
        // A group whose regions live on several shards: the message is copied into the other
        // rings at commit; make sure they have room now (only this thread fills them).
        for s in shards_in(rest) {
            let lane = self.lanes[s].as_mut().ok_or(PublishError::NoRoute(group))?;
            if lane.ring.is_abandoned() {
                return Err(PublishError::Closed);
            }
            if pubring::reserve(&mut lane.ring, entry).is_none() {
                return Err(PublishError::WouldBlock);
            }
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

    /// Publish a copy of `msg` to the bound group; `WouldBlock` when the ring is full.
    pub fn publish(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let mut c = self.claim(msg.len())?;
        c.bytes_mut().copy_from_slice(msg);
        c.commit();
        Ok(())
    }

    /// Publish a copy of `msg` to `group`; `WouldBlock` when the ring is full.
    pub fn publish_to(&mut self, group: GroupId, msg: &[u8]) -> Result<(), PublishError> {
        let mut c = self.claim_to(group, msg.len())?;
        c.bytes_mut().copy_from_slice(msg);
        c.commit();
        Ok(())
    }

    /// Publish to the bound group, waiting while the ring is full.
    pub fn publish_blocking(&mut self, msg: &[u8]) -> Result<(), PublishError> {
        let (group, _) = self.route(None)?;
        self.publish_blocking_to(group, msg)
    }

    /// Publish to `group`, waiting while the ring is full.
    pub fn publish_blocking_to(&mut self, group: GroupId, msg: &[u8]) -> Result<(), PublishError> {
        self.publish_until(group, msg, None)
    }

    /// Publish to `group`, waiting at most `timeout` while the ring is full
    /// ([`PublishError::WouldBlock`] if it stays full).
    pub fn publish_within(
        &mut self,
        group: GroupId,
        msg: &[u8],
        timeout: Duration,
    ) -> Result<(), PublishError> {
        self.publish_until(group, msg, Some(std::time::Instant::now() + timeout))
    }

    fn publish_until(
        &mut self,
        group: GroupId,
        msg: &[u8],
        deadline: Option<std::time::Instant>,
    ) -> Result<(), PublishError> {
        loop {
            match self.publish_to(group, msg) {
                Err(PublishError::WouldBlock) if deadline.is_none_or(|d| std::time::Instant::now() < d) => {
                    self.wait_for_space_to(group, msg.len(), Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Whether an entry of `len` bytes fits in every ring of `mask` now.
    fn fits(&mut self, mask: u64, len: usize) -> bool {
        shards_in(mask).all(|s| {
            self.lanes[s]
                .as_mut()
                .is_some_and(|l| pubring::reserve(&mut l.ring, GROUP_TAG_LEN + len).is_some())
        })
    }

    fn wake_lanes(&self, mask: u64) {
        for s in shards_in(mask) {
            if let Some(l) = &self.lanes[s] {
                l.wake.wake();
            }
        }
    }

    /// Publish to the bound group, awaiting room in the ring.
    pub fn publish_async<'a>(&'a mut self, msg: &'a [u8]) -> PublishFuture<'a> {
        PublishFuture { publisher: self, group: None, msg }
    }

    /// Publish to `group`, awaiting room in the ring.
    pub fn publish_async_to<'a>(&'a mut self, group: GroupId, msg: &'a [u8]) -> PublishFuture<'a> {
        PublishFuture { publisher: self, group: Some(group), msg }
    }

    /// Wait up to `timeout` until the ring has room for a message of `len` bytes to the bound
    /// group (an unbound publisher: room in every ring).
    pub fn wait_for_space(&mut self, len: usize, timeout: Duration) -> bool {
        let mask = self.bound.map_or(self.lanes_mask, |(_, m)| m);
        self.wait_mask(mask, len, timeout)
    }

    /// Wait up to `timeout` until the rings of `group` have room for a message of `len` bytes.
    pub fn wait_for_space_to(&mut self, group: GroupId, len: usize, timeout: Duration) -> bool {
        match self.route(Some(group)) {
            Ok((_, mask)) => self.wait_mask(mask, len, timeout),
            Err(_) => false,
        }
    }

    fn wait_mask(&mut self, mask: u64, len: usize, timeout: Duration) -> bool {
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
    pub fn is_drained(&self) -> bool {
        self.lanes.iter().flatten().all(|l| l.ring.slots() == l.ring.buffer().capacity())
    }

    /// Make the shards pick up what was published (they are woken on every commit anyway
    /// when they sleep; this is for callers that batch).
    pub fn flush(&self) {
        self.wake_lanes(self.lanes_mask);
    }
}

/// Future of [`Publisher::publish_async`] and [`Publisher::publish_async_to`].
#[derive(Debug)]
pub struct PublishFuture<'a> {
    publisher: &'a mut Publisher,
    group: Option<GroupId>,
    msg: &'a [u8],
}

impl Future for PublishFuture<'_> {
    type Output = Result<(), PublishError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let p = &mut *this.publisher;
        let (group, mask) = match p.route(this.group) {
            Ok(r) => r,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match p.publish_to(group, this.msg) {
            Err(PublishError::WouldBlock) => {
                p.space.arm_task(cx.waker());
                if p.fits(mask, this.msg.len()) {
                    cx.waker().wake_by_ref();
                }
                p.wake_lanes(mask);
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// Space reserved in the publish ring(s): write the message, then [`PubClaim::commit`].
pub struct PubClaim<'a> {
    chunk: Option<rtrb::chunks::WriteChunk<'a, u8>>,
    skip: usize,
    len: usize,
    group: GroupId,
    wake: &'a ShardWake,
    /// The shard of `chunk`, and the other shards the group's regions live on.
    first: usize,
    rest: u64,
    /// The publisher's other lanes, below and above `first`.
    before: &'a mut [Option<PubLane>],
    after: &'a mut [Option<PubLane>],
}

impl std::fmt::Debug for PubClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubClaim").field("group", &self.group).field("len", &self.len).finish()
    }
}

impl PubClaim<'_> {
    /// Publish the message written.
    pub fn commit(mut self) {
        let Some(mut chunk) = self.chunk.take() else { return };
        let entry = pubring::payload(&mut chunk, self.skip, GROUP_TAG_LEN + self.len);
        entry[..GROUP_TAG_LEN].copy_from_slice(&self.group.0.to_le_bytes());
        for s in shards_in(self.rest) {
            let lane = if s < self.first { &mut self.before[s] } else { &mut self.after[s - self.first - 1] };
            let Some(lane) = lane else { continue };
            // Room was checked at claim time and only this thread fills the ring.
            if let Some((mut c, skip)) = pubring::reserve(&mut lane.ring, entry.len()) {
                pubring::payload(&mut c, skip, entry.len()).copy_from_slice(entry);
                pubring::commit_entry(c, skip, entry.len());
                lane.wake.wake();
            }
        }
        pubring::commit_entry(chunk, self.skip, GROUP_TAG_LEN + self.len);
        self.wake.wake();
    }

    /// The group the message goes to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The reserved bytes, to write the message in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self.chunk.as_mut() {
            Some(chunk) => &mut pubring::payload(chunk, self.skip, GROUP_TAG_LEN + self.len)[GROUP_TAG_LEN..],
            None => &mut [],
        }
    }
}

impl AsMut<[u8]> for PubClaim<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}
