//! A minimal in-memory network for driving `QsmNode`s in tests: 10 µs steps of virtual time,
//! every datagram delivered at the next step, optional seeded loss, crashed nodes, and a
//! filter for dropping chosen datagrams. Deterministic. (The fault simulator with a network
//! and CPU model lives in `argent-sim`.)

#![allow(dead_code)] // each test file uses its own part of the harness

use argent_qsm::{
    Config, Destination, Event, Instant, NodeId, Protocol, QsmNode, RegionId, RegionView, ViewId,
};
use bytes::Bytes;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Duration;

/// The region every test uses.
pub const R: RegionId = RegionId(7);

/// Whether a datagram from node `from` to node `to` gets through (`false`: dropped).
pub type Filter = fn(from: usize, to: usize, datagram: &Bytes) -> bool;

pub struct Net {
    /// Node `i` has id `NodeId(i)`.
    pub nodes: Vec<QsmNode>,
    pub now: Instant,
    pub inbox: Vec<Vec<(NodeId, Bytes)>>,
    /// Messages delivered to each node, with the stream they came from.
    pub delivered: Vec<Vec<(NodeId, Bytes)>>,
    pub writable: Vec<u32>,
    /// Probability that any one copy of any datagram is lost.
    pub loss: f64,
    /// Crashed nodes: not driven, and whatever is sent to them is lost.
    pub down: Vec<bool>,
    /// Datagrams unicast to each node (counted when sent, lost or not).
    pub unicasts_to: Vec<u64>,
    pub filter: Option<Filter>,
    /// Fences each node was asked for; it publishes [`fence`] for each at once.
    pub fences_asked: Vec<u32>,
    /// Views each node installed without a silent member (`Config::member_timeout`).
    pub evicted: Vec<Vec<(NodeId, ViewId)>>,
    rng: Xoshiro256PlusPlus,
}

impl Net {
    /// `n` nodes, all members of view 1 of region [`R`].
    pub fn new(n: u32, cfg: Config) -> Self {
        let mut net = Net::idle(n, cfg);
        let view = view(1, &(0..n).collect::<Vec<_>>());
        for node in &mut net.nodes {
            node.install_view(Instant::ZERO, view.clone()).expect("view");
        }
        net
    }

    /// `n` nodes that have installed no view yet.
    pub fn idle(n: u32, cfg: Config) -> Self {
        let nodes: Vec<QsmNode> =
            (0..n).map(|i| QsmNode::new(NodeId(i), cfg.clone()).expect("config")).collect();
        let n = n as usize;
        Net {
            nodes,
            now: Instant::ZERO,
            inbox: vec![Vec::new(); n],
            delivered: vec![Vec::new(); n],
            writable: vec![0; n],
            loss: 0.0,
            down: vec![false; n],
            unicasts_to: vec![0; n],
            filter: None,
            fences_asked: vec![0; n],
            evicted: vec![Vec::new(); n],
            rng: Xoshiro256PlusPlus::seed_from_u64(0x005E_ED0F_A12E),
        }
    }

    /// Exchange datagrams and fire timers for `span` of virtual time, 10 µs per step.
    pub fn drive(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            self.step();
        }
    }

    /// One step of 10 µs.
    pub fn step(&mut self) {
        self.now += Duration::from_micros(10);
        let now = self.now;
        for i in 0..self.nodes.len() {
            if self.down[i] {
                self.inbox[i].clear();
                continue;
            }
            for (_, d) in std::mem::take(&mut self.inbox[i]) {
                self.nodes[i].handle_datagram(now, d);
            }
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].handle_timeout(now);
            }
            self.flush(i);
        }
    }

    /// Send what node `i` has to send and collect its events.
    pub fn flush(&mut self, i: usize) {
        let now = self.now;
        while let Some(t) = self.nodes[i].poll_transmit(now) {
            match t.dest {
                Destination::Node(to) => {
                    let to = to.0 as usize;
                    if to < self.nodes.len() {
                        self.unicasts_to[to] += 1;
                        self.send(i, to, t.payload);
                    }
                }
                Destination::Region => {
                    for j in (0..self.nodes.len()).filter(|j| *j != i) {
                        self.send(i, j, t.payload.clone());
                    }
                }
            }
        }
        while let Some(ev) = self.nodes[i].poll_event() {
            match ev {
                Event::Deliver(d) => self.delivered[i].extend(d.message_bytes().map(|m| (d.sender, m))),
                Event::Writable(_) => self.writable[i] += 1,
                Event::Fence { region, nonce, .. } => {
                    self.fences_asked[i] += 1;
                    self.nodes[i].publish(now, region, &fence(nonce)).expect("room for a fence");
                }
                Event::Evicted { node, view, .. } => self.evicted[i].push((node, view)),
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, d: Bytes) {
        if self.down[to] || self.filter.is_some_and(|f| !f(from, to, &d)) || self.lost() {
            return;
        }
        self.inbox[to].push((NodeId(from as u32), d));
    }

    fn lost(&mut self) -> bool {
        if self.loss <= 0.0 {
            return false;
        }
        // A fixed seed, so every run loses the same datagrams.
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= self.loss
    }

    /// The numbered messages (see [`msg`]) node `i` delivered from `stream`, in order.
    pub fn numbers(&self, i: usize, stream: NodeId) -> Vec<u32> {
        self.delivered[i].iter().filter(|(s, _)| *s == stream).map(|(_, m)| number(m)).collect()
    }
}

/// View `id` of region [`R`] with the given members (the first leads).
pub fn view(id: u64, members: &[u32]) -> RegionView {
    RegionView { region: R, id: ViewId(id), members: members.iter().copied().map(NodeId).collect() }
}

/// Message number `n`, padded to `len` bytes.
pub fn msg(n: u32, len: usize) -> Vec<u8> {
    let mut m = vec![0u8; len.max(4)];
    m[..4].copy_from_slice(&n.to_le_bytes());
    m
}

/// Numbers of fence messages start here (nonce added).
pub const FENCE: u32 = 1 << 30;

/// The fence message the harness publishes for request `nonce`.
pub fn fence(nonce: u64) -> Vec<u8> {
    msg(FENCE + nonce as u32, 8)
}

/// The number of a message made by [`msg`].
pub fn number(m: &[u8]) -> u32 {
    u32::from_le_bytes(m[..4].try_into().expect("at least 4 bytes"))
}
