//! Receiving: a ring of delivered datagrams per shard the subscription listens to; each
//! datagram is seen through the subscription's groups ([`Delivery`]).

use crate::delivery::{unframe, Delivery};
use crate::error::{Closed, RecvTimeoutError};
use crate::groups::Filter;
use crate::signal::Signal;
use argent_core::ViewId;
use argent_membership::GroupId;
use argent_wire::fragment::{parse_fragment, Reassembly, ReassemblyStats};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

/// A subscription's ring from one shard. Taking from it wakes nobody: a shard holding
/// deliveries back for a full ring never sleeps on its transport (it polls, or naps briefly
/// past `MAX_HELD_DELIVERIES`), so a wake per taken datagram would only cut short the sleep of
/// an idle shard (one `eventfd` write and one context switch per datagram; 13 % of a LAN
/// subscriber's time at 500 k msgs/s).
pub(crate) struct SubLane {
    pub(crate) ring: rtrb::Consumer<argent_qsm::Delivery>,
}

/// The groups the node has joined, shared with its subscriptions, each with the region view
/// it is received from (`argent_membership::gms::JoinedGroups`): a subscription sees a
/// group's messages sent in that view or later, and stops seeing a group the node left (its
/// region may still deliver it: it carries other groups the node is in). Checked with one
/// atomic load per datagram while nothing changes.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    generation: AtomicU64,
    /// `None`: every group, from the start (static files).
    groups: Mutex<Option<Vec<(GroupId, ViewId)>>>,
}

impl Joined {
    pub(crate) fn new(groups: Option<&[GroupId]>) -> Self {
        let groups = groups.map(|g| g.iter().map(|g| (*g, ViewId(0))).collect());
        Joined { generation: AtomicU64::new(0), groups: Mutex::new(groups) }
    }

    /// Whether this node joined `group` (with no list, every group).
    pub(crate) fn wants(&self, group: GroupId) -> bool {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|j| j.iter().any(|(g, _)| *g == group))
    }

    pub(crate) fn set(&self, groups: &[(GroupId, ViewId)]) {
        *self.groups.lock().unwrap_or_else(|e| e.into_inner()) = Some(groups.to_vec());
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Of `wanted` (ascending, distinct), the groups joined now and the views they are
    /// received from, and the generation that answer is from.
    fn filter(&self, wanted: &[GroupId]) -> (u64, Filter) {
        let generation = self.generation.load(Ordering::Acquire);
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let kept: Vec<(GroupId, ViewId)> = match groups.as_ref() {
            None => wanted.iter().map(|g| (*g, ViewId(0))).collect(),
            Some(j) => j.iter().filter(|(g, _)| wanted.binary_search(g).is_ok()).copied().collect(),
        };
        (generation, Filter::new(kept))
    }
}

/// Receives the messages of one or more groups, a datagram at a time.
pub struct Subscription {
    /// One per shard owning a region of the subscribed groups (usually one).
    lanes: Vec<SubLane>,
    next: usize,
    filter: Arc<Filter>,
    /// The groups asked for, and the node's joined groups the filter was made with.
    wanted: Vec<GroupId>,
    joined: Arc<Joined>,
    seen: u64,
    /// Hand out datagrams that hold only fences, too.
    fences: bool,
    ready: Arc<Signal>,
    /// Messages larger than a datagram, being put back together per sender stream.
    reassembly: Reassembly<argent_core::NodeId>,
    /// The node runs the total-order driver: messages are frames.
    framed: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queued: usize = self.lanes.iter().map(|l| l.ring.slots()).sum();
        f.debug_struct("Subscription").field("queued", &queued).finish()
    }
}

impl Subscription {
    pub(crate) fn new(
        lanes: Vec<SubLane>,
        mut wanted: Vec<GroupId>,
        joined: Arc<Joined>,
        ready: Arc<Signal>,
        partials: (usize, usize),
        framed: bool,
    ) -> Self {
        wanted.sort_unstable();
        wanted.dedup();
        let (seen, filter) = joined.filter(&wanted);
        let reassembly = Reassembly::new(partials.0, partials.1);
        Subscription {
            lanes,
            next: 0,
            filter: Arc::new(filter),
            wanted,
            joined,
            seen,
            fences: false,
            ready,
            reassembly,
            framed,
        }
    }

    /// Messages larger than a datagram: completed, partial ones dropped to stay within the
    /// limits, fragments that did not continue their message; and those held now.
    pub fn reassembly(&self) -> (ReassemblyStats, (usize, usize)) {
        (self.reassembly.stats(), self.reassembly.held())
    }

    /// Hand out datagrams holding fences ([`Delivery::fences`]) even when they hold no
    /// message of the subscription's groups (otherwise such datagrams are skipped).
    pub fn with_fences(mut self) -> Self {
        self.fences = true;
        self
    }

    /// The next delivered datagram holding messages of the subscription's groups (or
    /// fences, see [`Subscription::with_fences`]), if one is ready. Its messages are slices of the received buffer, released when the `Delivery` is
    /// dropped.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        if self.joined.generation.load(Ordering::Acquire) != self.seen {
            let (seen, filter) = self.joined.filter(&self.wanted);
            (self.seen, self.filter) = (seen, Arc::new(filter));
        }
        let n = self.lanes.len();
        for k in 0..n {
            let i = if self.next + k >= n { self.next + k - n } else { self.next + k };
            let lane = &mut self.lanes[i];
            while let Ok(d) = lane.ring.pop() {
                let d = Delivery::new(d, self.filter.clone(), self.framed);
                let d = assemble(&self.filter, &mut self.reassembly, d);
                if d.has_any() || (self.fences && d.fences().next().is_some()) {
                    self.next = if i + 1 == n { 0 } else { i + 1 };
                    return Some(d);
                }
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.lanes.iter().all(|l| l.ring.is_empty())
    }

    /// Whether a delivered datagram waits (it may still hold nothing for the subscription's
    /// groups: [`Subscription::try_recv`] skips those).
    pub fn has_queued(&self) -> bool {
        !self.is_empty()
    }

    /// Receive `groups` from now on instead of the groups asked for so far. They must be
    /// carried by the regions the subscription was made for (a group of another region has
    /// no datagram here); datagrams already queued are seen through the new set.
    pub fn set_groups(&mut self, groups: &[GroupId]) {
        let mut wanted = groups.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let (seen, filter) = self.joined.filter(&wanted);
        (self.wanted, self.seen, self.filter) = (wanted, seen, Arc::new(filter));
    }

    /// Wait up to `timeout` for the next delivered datagram: [`RecvTimeoutError::Timeout`]
    /// if none came, [`RecvTimeoutError::Closed`] once the node has shut down (as
    /// [`Subscription::recv`] and [`Subscription::recv_async`] report it).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Delivery, RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(d) = self.try_recv() {
                return Ok(d);
            }
            if self.is_closed() {
                return Err(RecvTimeoutError::Closed);
            }
            self.ready.arm_thread();
            if !self.is_empty() || self.is_closed() {
                self.ready.disarm();
                continue;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                self.ready.disarm();
                return Err(RecvTimeoutError::Timeout);
            }
            self.ready.park((deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Wait for the next delivered datagram; `Err(Closed)` once the node has shut down.
    pub fn recv(&mut self) -> Result<Delivery, Closed> {
        loop {
            match self.recv_timeout(Duration::from_millis(500)) {
                Ok(d) => return Ok(d),
                Err(RecvTimeoutError::Closed) => return Err(Closed),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Whether the node behind this subscription has shut down.
    pub fn is_closed(&self) -> bool {
        self.lanes.iter().any(|l| l.ring.is_abandoned())
    }

    /// Await the next delivered datagram; `Err(Closed)` once the node has shut down.
    pub fn recv_async(&mut self) -> RecvFuture<'_> {
        RecvFuture { sub: self }
    }
}

/// Feeds the fragments of this datagram's admitted groups to the reassembly; the messages
/// they complete go with the delivery.
fn assemble(filter: &Filter, reassembly: &mut Reassembly<argent_core::NodeId>, d: Delivery) -> Delivery {
    let inner = d.inner();
    let mut done = Vec::new();
    let framed = d.framed();
    for (i, m) in inner.messages().enumerate() {
        let Some(f) = unframe(m, framed).and_then(parse_fragment) else { continue };
        if !filter.admits(GroupId(f.group), inner.view) {
            continue; // not for us, or sent before our join point: never whole here
        }
        if let Some((g, bytes)) = reassembly.add(inner.sender, f) {
            done.push((i, GroupId(g), bytes::Bytes::from(bytes)));
        }
    }
    d.with_assembled(done)
}

/// Future of [`Subscription::recv_async`].
#[derive(Debug)]
pub struct RecvFuture<'a> {
    sub: &'a mut Subscription,
}

impl Future for RecvFuture<'_> {
    type Output = Result<Delivery, Closed>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Delivery, Closed>> {
        self.get_mut().sub.poll_delivery(cx)
    }
}

impl Subscription {
    /// The next delivery, `Err(Closed)` once the node has shut down, or `Pending` with
    /// `cx`'s task woken when one arrives (or the node shuts down).
    fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Result<Delivery, Closed>> {
        if let Some(d) = self.try_recv() {
            return Poll::Ready(Ok(d));
        }
        self.ready.arm_task(cx.waker());
        match self.try_recv() {
            Some(d) => {
                self.ready.disarm();
                Poll::Ready(Ok(d))
            }
            None if self.is_closed() => {
                self.ready.disarm();
                Poll::Ready(Err(Closed))
            }
            None => Poll::Pending,
        }
    }
}

/// With the feature `stream`: a subscription is a [`futures_core::Stream`] of deliveries,
/// which ends when the node shuts down.
#[cfg(feature = "stream")]
impl futures_core::Stream for Subscription {
    type Item = Delivery;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = self.get_mut();
        match this.poll_delivery(cx) {
            Poll::Ready(Ok(d)) => Poll::Ready(Some(d)),
            Poll::Ready(Err(Closed)) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
