//! Which of a node's sessions an input of a region is for, sans-IO: many objects share a
//! region (regions are merged under budgets), and one driver serves every session a node
//! has open. The engine binding and the simulator route through this same code.
//!
//! - A frame goes to the sessions of the object it names (`frame::split`); a frame of an
//!   object not open here goes nowhere (each session would drop it anyway).
//! - A fence `(origin, nonce)` names the joiner's request, not the object. It matters only
//!   to the sessions of the object that joiner asks for, and its origin says which: the
//!   origin of a session opened here, or one learned from a request frame delivered here
//!   ([`crate::frame::TAG_REQUEST`]). A fence can be delivered before its request (they
//!   travel on different senders' streams): it is held until the request comes and then
//!   handed on right after it — the same point in the delivery order at which a session
//!   fed everything would find the request complete — or forgotten, oldest first, beyond
//!   [`HELD_FENCES`] (a request for an object not open here never comes).
//!
//! Handing fences only to the object they are for keeps a fence's cost independent of how
//! many objects share the region, and keeps other objects' fences out of each session's
//! bounded record ([`crate::object::FENCED_REQUESTS`]).

use super::origin::sent_by;
use crate::frame::{parse_request, split, TAG_REQUEST};
use crate::object::RequestId;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Fences held for requests not delivered yet, at most (oldest forgotten first).
pub const HELD_FENCES: usize = 4096;
/// Requesters' origins remembered, at most (oldest forgotten first; a joiner that asks
/// again is learned again).
pub const LEARNED_ORIGINS: usize = 65_536;

/// A fence delivered from `node`'s stream for `request`.
pub type Fence = (RequestId, u32);

/// Routes one node's object frames and fences to its sessions, named by keys `K`.
#[derive(Debug)]
pub struct Demux<K> {
    /// Open sessions per object.
    sessions: HashMap<u128, Vec<K>>,
    /// Requesters' origins and the object each asks for, with the order learned.
    origins: HashMap<u64, u128>,
    origin_order: VecDeque<u64>,
    /// Fences whose request has not been delivered, per origin (with when it was first
    /// held), and the order held: an entry of the order whose time differs is stale.
    held: HashMap<u64, (u64, Vec<Fence>)>,
    held_order: VecDeque<(u64, u64)>,
    held_count: usize,
    held_next: u64,
    forgotten: u64,
}

impl<K> Default for Demux<K> {
    fn default() -> Self {
        Demux {
            sessions: HashMap::new(),
            origins: HashMap::new(),
            origin_order: VecDeque::new(),
            held: HashMap::new(),
            held_order: VecDeque::new(),
            held_count: 0,
            held_next: 0,
            forgotten: 0,
        }
    }
}

impl<K: Copy + Eq + Hash> Demux<K> {
    /// Nothing open.
    pub fn new() -> Self {
        Self::default()
    }

    /// A session `key` of `object` with origin `origin` opened here. Returns the fences
    /// already held for its own requests (none for a fresh origin), to hand to it.
    pub fn open(&mut self, key: K, object: u128, origin: u64) -> Vec<Fence> {
        let keys = self.sessions.entry(object).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
        self.learn(origin, object)
    }

    /// Session `key` of `object` closed.
    pub fn close(&mut self, key: K, object: u128) {
        if let Some(keys) = self.sessions.get_mut(&object) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.sessions.remove(&object);
            }
        }
    }

    /// Sessions open here, counted.
    pub fn open_sessions(&self) -> usize {
        self.sessions.values().map(Vec::len).sum()
    }

    /// Fences forgotten unrouted (their request never came while they were held).
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Routes a frame delivered from `node`'s stream: the sessions to hand it to go in
    /// `to`, then (after the frame) the fences it released in `released`, for the same
    /// sessions. Both are cleared first. A request teaches its origin only if `node` may
    /// send for it ([`sent_by`]: the origin names its node), so no other node can steer a
    /// joiner's fences elsewhere; fences held for an object not open here are dropped.
    pub fn frame(&mut self, frame: &[u8], node: u32, to: &mut Vec<K>, released: &mut Vec<Fence>) {
        to.clear();
        released.clear();
        let Some((tag, object, body)) = split(frame) else { return };
        let learnt = match (tag, parse_request(body)) {
            (TAG_REQUEST, Some((origin, _))) if sent_by(origin, node) => self.learn(origin, object),
            _ => Vec::new(),
        };
        let Some(keys) = self.sessions.get(&object) else { return };
        to.extend_from_slice(keys);
        released.extend(learnt);
    }

    /// Routes a fence delivered from `node`'s stream: the sessions to hand it to go in
    /// `to` (cleared first); none while its request is unknown here (then it is held).
    pub fn fence(&mut self, request: RequestId, node: u32, to: &mut Vec<K>) {
        to.clear();
        let origin = request.0;
        match self.origins.get(&origin) {
            Some(object) => {
                if let Some(keys) = self.sessions.get(object) {
                    to.extend_from_slice(keys);
                }
            }
            None => self.hold(origin, (request, node)),
        }
    }

    /// `origin` asks for `object`: remember it (the first object an origin names stays: an
    /// origin is one proxy's), and give back what was held for it.
    fn learn(&mut self, origin: u64, object: u128) -> Vec<Fence> {
        if let std::collections::hash_map::Entry::Vacant(v) = self.origins.entry(origin) {
            v.insert(object);
            self.origin_order.push_back(origin);
            while self.origin_order.len() > LEARNED_ORIGINS {
                if let Some(old) = self.origin_order.pop_front() {
                    self.origins.remove(&old);
                }
            }
        }
        let Some((_, fences)) = self.held.remove(&origin) else { return Vec::new() };
        self.held_count -= fences.len();
        self.tidy();
        fences
    }

    fn hold(&mut self, origin: u64, fence: Fence) {
        let next = &mut self.held_next;
        let (_, list) = self.held.entry(origin).or_insert_with(|| {
            *next += 1;
            self.held_order.push_back((origin, *next));
            (*next, Vec::new())
        });
        list.push(fence);
        self.held_count += 1;
        while self.held_count > HELD_FENCES {
            let Some((old, at)) = self.held_order.pop_front() else { break };
            if self.held.get(&old).is_some_and(|(t, _)| *t == at) {
                let (_, gone) = self.held.remove(&old).unwrap_or_default();
                self.held_count -= gone.len();
                self.forgotten += gone.len() as u64;
            }
        }
        self.tidy();
    }

    /// Drops entries of the order whose fences were released (so the order stays within
    /// twice the held origins, however many come and go).
    fn tidy(&mut self) {
        let live = |held: &HashMap<u64, (u64, Vec<Fence>)>, (o, at): &(u64, u64)| {
            held.get(o).is_some_and(|(t, _)| t == at)
        };
        while self.held_order.front().is_some_and(|e| !live(&self.held, e)) {
            self.held_order.pop_front();
        }
        if self.held_order.len() > 2 * self.held.len() + 64 {
            let held = &self.held;
            self.held_order.retain(|e| live(held, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, request, TAG_UPDATE};
    use crate::session::origin_for;

    /// The node every test frame comes from, and an origin of it.
    const NODE: u32 = 3;
    fn o(n: u64) -> u64 {
        origin_for(NODE, n)
    }

    fn req(object: u128, origin: u64, nonce: u64) -> Vec<u8> {
        encode(TAG_REQUEST, object, &[&request(origin, nonce)])
    }

    #[test]
    fn frames_go_to_the_sessions_of_their_object_only() {
        let mut d = Demux::new();
        d.open(1u32, 10, o(100));
        d.open(2, 10, o(101));
        d.open(3, 11, o(102));
        let (mut to, mut rel) = (Vec::new(), Vec::new());
        d.frame(&encode(TAG_UPDATE, 10, &[b"x"]), NODE, &mut to, &mut rel);
        assert_eq!(to, vec![1, 2]);
        d.frame(&encode(TAG_UPDATE, 12, &[b"x"]), NODE, &mut to, &mut rel);
        assert!(to.is_empty(), "an object not open here");
        d.frame(b"short", NODE, &mut to, &mut rel);
        assert!(to.is_empty(), "not a frame");
        d.close(1, 10);
        d.frame(&encode(TAG_UPDATE, 10, &[b"x"]), NODE, &mut to, &mut rel);
        assert_eq!(to, vec![2]);
        assert_eq!(d.open_sessions(), 2);
    }

    #[test]
    fn a_fence_goes_to_the_object_its_requester_asks_for() {
        let mut d = Demux::new();
        d.open(1u32, 10, o(100));
        d.open(2, 11, o(200));
        let mut to = Vec::new();
        d.fence((o(100), 1), 7, &mut to);
        assert_eq!(to, vec![1], "a local joiner's own request");
        let mut rel = Vec::new();
        d.frame(&req(11, o(555), 1), NODE, &mut to, &mut rel);
        assert_eq!((to.clone(), rel.clone()), (vec![2], vec![]));
        d.fence((o(555), 1), 3, &mut to);
        assert_eq!(to, vec![2], "a remote joiner's request, learned from its frame");
    }

    #[test]
    fn only_the_origin_s_own_node_teaches_it_and_a_local_origin_stays() {
        let mut d = Demux::new();
        d.open(1u32, 10, o(100));
        d.open(2, 11, o(200));
        let (mut to, mut rel) = (Vec::new(), Vec::new());
        // Another node claims a request of this node's joiner for another object.
        d.frame(&req(11, o(100), 1), NODE + 1, &mut to, &mut rel);
        d.frame(&req(11, o(100), 1), NODE, &mut to, &mut rel);
        d.fence((o(100), 1), 7, &mut to);
        assert_eq!(to, vec![1], "the joiner's fences still reach it");
        // A request from a node for an origin that is not its own teaches nothing.
        d.frame(&req(11, origin_for(NODE + 5, 9), 1), NODE, &mut to, &mut rel);
        d.fence((origin_for(NODE + 5, 9), 1), 7, &mut to);
        assert!(to.is_empty(), "held, not routed");
    }

    #[test]
    fn a_fence_before_its_request_is_handed_on_right_after_the_request() {
        let mut d = Demux::new();
        d.open(1u32, 10, o(100));
        let mut to = Vec::new();
        d.fence((o(555), 4), 3, &mut to);
        d.fence((o(555), 4), 5, &mut to);
        assert!(to.is_empty(), "held");
        let mut rel = Vec::new();
        d.frame(&req(10, o(555), 4), NODE, &mut to, &mut rel);
        assert_eq!(to, vec![1]);
        assert_eq!(rel, vec![((o(555), 4), 3), ((o(555), 4), 5)]);
        d.frame(&req(10, o(555), 5), NODE, &mut to, &mut rel);
        assert!(rel.is_empty(), "released once");
    }

    #[test]
    fn fences_held_for_an_object_not_open_here_are_dropped_by_its_request() {
        let mut d = Demux::new();
        d.open(1u32, 10, o(100));
        let (mut to, mut rel) = (Vec::new(), Vec::new());
        d.fence((o(777), 1), 3, &mut to);
        assert_eq!(d.held_count, 1);
        d.frame(&req(99, o(777), 1), NODE, &mut to, &mut rel);
        assert!(to.is_empty() && rel.is_empty());
        assert_eq!(d.held_count, 0, "no longer held");
        d.fence((o(777), 1), 4, &mut to);
        assert!(to.is_empty() && d.held_count == 0, "known now: for nobody here");
    }

    #[test]
    fn held_fences_are_bounded() {
        let mut d: Demux<u32> = Demux::new();
        let mut to = Vec::new();
        for n in 0..(HELD_FENCES as u64 + 100) {
            d.fence((o(n), 1), 1, &mut to);
        }
        assert_eq!(d.held_count, HELD_FENCES);
        assert_eq!(d.forgotten(), 100);
        assert!(d.held.len() <= HELD_FENCES && d.held_order.len() <= HELD_FENCES);
        d.open(1, 9, o(5_000_000));
        let mut rel = Vec::new();
        d.frame(&req(9, o(0), 1), NODE, &mut to, &mut rel);
        assert!(rel.is_empty(), "the oldest were forgotten");
        d.frame(&req(9, o(HELD_FENCES as u64 + 99), 1), NODE, &mut to, &mut rel);
        assert_eq!(rel.len(), 1);
    }

    #[test]
    fn the_order_of_held_fences_stays_bounded_as_they_come_and_go() {
        let mut d: Demux<u32> = Demux::new();
        d.open(1, 9, o(1));
        let (mut to, mut rel) = (Vec::new(), Vec::new());
        d.fence((o(2), 1), 1, &mut to); // held for good: its request never comes
        for n in 10..100_000u64 {
            d.fence((o(n), 1), 1, &mut to);
            d.frame(&req(9, o(n), 1), NODE, &mut to, &mut rel);
            assert_eq!(rel.len(), 1);
        }
        assert_eq!(d.held_count, 1);
        assert!(d.held_order.len() <= 2 * d.held.len() + 64, "{}", d.held_order.len());
    }

    #[test]
    fn learned_origins_are_bounded() {
        let mut d: Demux<u32> = Demux::new();
        d.open(1, 9, o(1));
        let (mut to, mut rel) = (Vec::new(), Vec::new());
        for n in 0..(LEARNED_ORIGINS as u64 + 10) {
            d.frame(&req(9, o(n + 2), 1), NODE, &mut to, &mut rel);
        }
        assert_eq!(d.origins.len(), LEARNED_ORIGINS);
        assert_eq!(d.origin_order.len(), LEARNED_ORIGINS);
    }
}
