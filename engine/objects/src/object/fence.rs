//! Fences: what makes a join exact.
//!
//! The driver delivers each sender's stream in order, and a joiner delivers every sender's
//! stream from its join point on; what came before, it must find in the checkpoint. A
//! checkpoint is exact for the joiner if, for every sender, the member that took it had
//! delivered everything before the joiner's join point on that sender's stream — which
//! nobody can tell from positions alone (the joiner may have buffered nothing from a sender
//! the member lags behind).
//!
//! So every party that delivers a joiner's request — members and other joiners, one per
//! node — multicasts a *fence* for it in its own stream. A member answers the request only
//! once it has delivered the fence of every current member (its own included); the joiner
//! restores the answer only once it has delivered the fence of every current member too.
//! A fence the joiner delivers lies after its join point on that stream, and the member
//! delivered it before taking the checkpoint, so the checkpoint includes everything before
//! the joiner's join point on every member's stream; the joiner's buffer holds everything
//! after it. A fence sent before its sender had the joiner in its view is never delivered
//! to the joiner: it asks again, with a new nonce, after a timeout.
//!
//! [`Fences`] is the bookkeeping, sans-IO: streams are whatever `u64` the driver names
//! them by.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Requests whose fences are remembered per object; older ones are forgotten (their
/// joiners have asked again or gone).
pub const FENCED_REQUESTS: usize = 256;

/// A joiner's request: its origin and nonce.
pub type RequestId = (u64, u64);

/// The fences delivered for recent requests, and the requests this member has yet to
/// answer, for one object at one node.
#[derive(Debug, Default)]
pub struct Fences {
    /// Streams whose fence was delivered, per request (the newest [`FENCED_REQUESTS`]).
    seen: BTreeMap<RequestId, BTreeSet<u64>>,
    /// Requests in the order first heard of, to forget the oldest.
    order: VecDeque<RequestId>,
    /// Requests delivered here that this member answers once fenced.
    waiting: BTreeSet<RequestId>,
}

impl Fences {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A request was delivered; if `answer`, the caller (a member) answers it once
    /// [`Fences::due`] returns it. The caller multicasts its fence for it in any case.
    /// Requests of the same joiner with earlier nonces are dropped.
    pub fn request(&mut self, request: RequestId, answer: bool) {
        let (joiner, nonce) = request;
        self.waiting.retain(|&(j, n)| j != joiner || n >= nonce);
        self.seen.retain(|&(j, n), _| j != joiner || n >= nonce);
        self.order.retain(|r| self.seen.contains_key(r));
        self.note(request);
        if answer {
            self.waiting.insert(request);
        }
    }

    /// `stream`'s fence for `request` was delivered (possibly before the request itself).
    pub fn fence(&mut self, request: RequestId, stream: u64) {
        self.note(request);
        if let Some(s) = self.seen.get_mut(&request) {
            s.insert(stream);
        }
    }

    /// Whether the fences of all of `members` (the streams of the current view) were
    /// delivered for `request`.
    pub fn complete(&self, request: RequestId, members: &[u64]) -> bool {
        self.seen.get(&request).is_some_and(|s| members.iter().all(|m| s.contains(m)))
    }

    /// The waiting requests now fenced by all of `members`, removed from the waiting set:
    /// answer each with a checkpoint taken now.
    pub fn due(&mut self, members: &[u64]) -> Vec<RequestId> {
        let due: Vec<RequestId> =
            self.waiting.iter().copied().filter(|r| self.complete(*r, members)).collect();
        for r in &due {
            self.waiting.remove(r);
        }
        due
    }

    /// The streams whose fence for `request` was delivered.
    pub fn fenced(&self, request: RequestId) -> Vec<u64> {
        self.seen.get(&request).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// Requests waiting for an answer here.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn note(&mut self, request: RequestId) {
        if self.seen.contains_key(&request) {
            return;
        }
        if self.order.len() == FENCED_REQUESTS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
                self.waiting.remove(&old);
            }
        }
        self.seen.insert(request, BTreeSet::new());
        self.order.push_back(request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_answers_once_every_member_fenced() {
        let mut f = Fences::new();
        f.fence((9, 1), 2); // a fence may come before the request
        f.request((9, 1), true);
        f.fence((9, 1), 1);
        assert!(f.due(&[1, 2, 3]).is_empty());
        f.fence((9, 1), 3);
        assert_eq!(f.due(&[1, 2, 3]), vec![(9, 1)]);
        assert!(f.due(&[1, 2, 3]).is_empty(), "answered once");
        assert!(f.complete((9, 1), &[1, 2, 3]));
    }

    #[test]
    fn a_member_that_leaves_the_view_is_not_waited_for() {
        let mut f = Fences::new();
        f.request((9, 1), true);
        f.fence((9, 1), 1);
        assert!(f.due(&[1, 2]).is_empty());
        assert_eq!(f.due(&[1]), vec![(9, 1)]);
    }

    #[test]
    fn a_newer_request_of_the_joiner_replaces_the_older() {
        let mut f = Fences::new();
        f.request((9, 1), true);
        f.request((9, 2), true);
        f.fence((9, 1), 1);
        f.fence((9, 2), 1);
        assert_eq!(f.due(&[1]), vec![(9, 2)]);
        assert_eq!(f.waiting(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let mut f = Fences::new();
        for j in 0..10 * FENCED_REQUESTS as u64 {
            f.request((j, 1), true);
            f.fence((j, 1), 7);
        }
        assert!(f.seen.len() <= FENCED_REQUESTS && f.order.len() <= FENCED_REQUESTS);
        assert!(f.waiting() <= FENCED_REQUESTS);
    }
}
