//! Live objects inside a simulation: every member runs the shipped object session
//! ([`argent_objects::session::Session`], the code `argent::live` drives) for a replicated
//! map and a replicated variable — and on the total-order driver a counter, whose
//! conditional decrements depend on the order — over the simulated driver. The simulator
//! only moves the sessions' frames: each is carried in a simulated application message
//! (senders' messages carry their updates; any member's control messages carry requests,
//! promises, answers and fences), fences are the runtime's fence messages
//! (`argent_wire::message`), published like any message (on the total-order driver through
//! the layer, as the runtime's shard does, so they are ordered with the updates), and the
//! region's members are handed to the sessions at every view (on the total-order driver, as
//! each view begins in the order). At the end every member's checkpoint bytes must equal
//! every other's and include every update published, and every counter update must have
//! decided the same at every member that applied it.

use super::limits::REGION;
use super::replicas::{add, Objects, Sessions, CONTROL, KEYS, MESSAGE_HEADER};
use super::sim::{Ev, Sim};
use crate::scenario::Driver;
use argent_core::{Instant, NodeId};
use argent_membership::gms::View;
use argent_objects::object::{CounterOp, MapOp, VarOp};
use argent_objects::session::Transmit;
use argent_wire::message::{fence_message, parse_fence};

impl Sim<'_> {
    /// Run `f` on node `n`'s sessions, then carry out what they asked for: frames to the
    /// outbox (published as control messages), fence requests to the protocol, joins and
    /// problems to the outcome, and the sessions' next timer.
    fn with_sessions(&mut self, n: u32, f: impl FnOnce(Instant, &mut Sessions)) {
        let node = &mut self.nodes[n as usize];
        let now = node.busy_until;
        let Some(objects) = node.objects.as_mut() else { return };
        let Some(sessions) = objects.sessions.as_mut() else { return };
        f(now, sessions);
        let due = sessions.all().filter_map(|s| s.poll_timeout()).min();
        let out = objects.drain();
        let incarnation = objects.incarnation;
        let schedule = due.filter(|d| objects.timer_at != Some(*d));
        if schedule.is_some() {
            objects.timer_at = due;
        }
        if let Some(at) = schedule {
            self.push(at.max(now), Ev::ObjectTimer { node: n, incarnation, at });
        }
        let node = &mut self.nodes[n as usize];
        if let Some(region) = node.region.as_ref().map(|r| r.0) {
            for &(key, nonce) in &out.fence_requests {
                node.proto.request_fences(region, key, nonce);
            }
        }
        for backlog in &out.joined {
            let o = &mut self.out;
            o.object_joins += 1;
            o.object_join_backlog += *backlog as u64;
            if self.apps_pending > 0 {
                o.object_joins_during_traffic += 1;
            }
        }
        for p in out.problems {
            self.violation(format!("node {n}: {p}"));
        }
        let node = &self.nodes[n as usize];
        if !out.joined.is_empty() || node.objects.as_ref().is_some_and(|o| !o.outbox.is_empty()) {
            // Control messages to send, or a sender that may publish now it has joined.
            let t = node.busy_until;
            self.pump(n, t);
        }
    }

    /// An object frame or a fence delivered to node `n` from stream `sender`, routed to the
    /// sessions it is for by the shipped [`argent_objects::session::Demux`].
    pub(super) fn object_frame(&mut self, n: u32, sender: NodeId, frame: &[u8]) {
        let node = argent_qsm::node_of(sender).0;
        let Some(objects) = self.nodes[n as usize].objects.as_mut() else { return };
        let (mut to, mut released) = (Vec::new(), Vec::new());
        // Fences count per node, as in the engine.
        let fence = parse_fence(frame);
        match fence {
            Some(request) => objects.demux.fence(request, node, &mut to),
            None => objects.demux.frame(frame, node, &mut to, &mut released),
        }
        if to.is_empty() {
            return;
        }
        self.with_sessions(n, |now, sessions| {
            for &k in &to {
                let Some(s) = sessions.by_key(k) else { continue };
                match fence {
                    Some(request) => s.handle_fence(now, request, node),
                    None => s.handle_message(now, node, frame),
                }
                // Fences the frame's request released (held until it came).
                for &(request, from) in &released {
                    s.handle_fence(now, request, from);
                }
            }
        });
    }

    /// The driver asks node `n` for a fence: publish one, after everything it sent so far
    /// (with its other control frames, which follow its updates in the stream).
    pub(super) fn object_fence(&mut self, n: u32, key: u64, nonce: u64) {
        let Some(objects) = self.nodes[n as usize].objects.as_mut() else { return };
        objects.outbox.push_back(fence_message(key, nonce).to_vec());
        let t = self.nodes[n as usize].busy_until;
        self.pump(n, t);
    }

    /// The members of node `n`'s current view: whose fences it waits for.
    fn member_nodes(&self, n: u32) -> Vec<u32> {
        let node = &self.nodes[n as usize];
        if self.sc.driver == Driver::TotalOrder {
            // The view that begins in the order: the members whose frames are ordered now.
            node.to_members.clone()
        } else if self.sc.gms.is_some() {
            node.known.iter().map(|&(m, _)| m).collect()
        } else {
            // Static membership: the nodes that did not crash (the oracle's view, or the one
            // the members' presence converges on).
            (0..self.sc.nodes).filter(|m| !self.crashed.contains(m)).collect()
        }
    }

    /// A node's protocol installed a region: its objects start — with the other founding
    /// members if no update has been made yet, else joining them.
    pub(super) fn objects_region(&mut self, n: u32) {
        let begun = self.out.object_updates_published > 0;
        let (max, sabotage) = (self.sc.message_limit(), self.sc.sabotage);
        let ordered = self.sc.driver == Driver::TotalOrder;
        let node = &mut self.nodes[n as usize];
        let now = node.busy_until;
        let Some(objects) = node.objects.as_mut().filter(|o| o.sessions.is_none()) else { return };
        objects.start(begun.then_some(now), max, sabotage, ordered);
        if begun {
            self.object_joiners += objects.sessions.as_ref().map_or(0, |s| s.all().count() as u64);
        }
        self.objects_members(n);
    }

    /// After a membership view: hand the sessions the region's members (members that left
    /// are no longer waited for).
    pub(super) fn objects_members(&mut self, n: u32) {
        let members = self.member_nodes(n);
        self.with_sessions(n, |now, sessions| {
            for s in sessions.each() {
                s.handle_members(now, &members);
            }
        });
    }

    /// A session timer of node `n`'s incarnation `incarnation`, scheduled for `at`, firing
    /// at `now`.
    pub(super) fn object_timer(&mut self, n: u32, incarnation: u64, at: Instant, now: Instant) {
        let node = &mut self.nodes[n as usize];
        if node.crashed || node.incarnation != incarnation {
            return;
        }
        node.busy_until = node.busy_until.max(now);
        let Some(objects) = node.objects.as_mut().filter(|o| o.timer_at == Some(at)) else { return };
        objects.timer_at = None;
        self.with_sessions(n, |now, sessions| {
            for s in sessions.each() {
                s.handle_timeout(now);
            }
        });
    }

    /// Publish node `n`'s waiting control frames until the send buffer pushes back; returns
    /// the node's local time after the work.
    pub(super) fn drain_outbox(&mut self, n: u32, at: Instant) -> Instant {
        let sc = self.sc;
        let mut t = at;
        let mut problems = Vec::new();
        let node = &mut self.nodes[n as usize];
        if sc.gms.is_some() && node.region.is_none() {
            return t; // not in a region yet (or any more)
        }
        let region = node.region.as_ref().map_or(REGION, |r| r.0);
        let Some(objects) = node.objects.as_mut() else { return t };
        while let Some(f) = objects.outbox.front() {
            let len = sc.size.max(MESSAGE_HEADER + f.len());
            let index = CONTROL | objects.control_next;
            match super::app::publish(&mut node.proto, node.to.as_mut(), (t, region), len, (n, index, f)) {
                Ok(()) => {
                    objects.control_next += 1;
                    objects.outbox.pop_front();
                    t += sc.cpu_per_message * node.slow;
                }
                Err(argent_qsm::PublishError::WouldBlock) => break,
                Err(e) => {
                    problems.push(format!("node {n}: object message of {len} bytes not published: {e}"));
                    objects.outbox.pop_front();
                }
            }
        }
        node.busy_until = node.busy_until.max(t);
        for p in problems {
            self.violation(p);
        }
        t
    }

    /// The frame of sender `n`'s `index`-th message: an update of the map (a put, or a remove
    /// one time in eight) or, every fourth message, of the variable, made by its session;
    /// on the total-order driver every fourth message (another one) updates the counter.
    pub(super) fn object_update(&mut self, n: u32, index: u64) -> Vec<u8> {
        // The operation's value: one draw of the run's generator, seeded by sender and index.
        let x = crate::SimRng::new(u64::from(n) << 40 ^ index, 2).next_u64();
        let mut problems = Vec::new();
        let made = match self.nodes[n as usize].objects.as_mut() {
            Some(objects) => {
                // What the sessions made before goes out first, as control messages.
                problems = objects.drain().problems;
                objects
                    .sessions
                    .as_mut()
                    .map_or_else(|| Err("no sessions".into()), |s| submit(s, n, index, x))
            }
            None => Err("no objects".into()),
        };
        for p in problems {
            self.violation(format!("node {n}: {p}"));
        }
        match made {
            Ok(f) => {
                self.out.object_updates_published += 1;
                f
            }
            Err(e) => {
                self.violation(format!("sender {n}: no update for message {index}: {e}"));
                Vec::new()
            }
        }
    }

    /// A restarted node's objects join again, as a new incarnation (once it has a region).
    pub(super) fn objects_restart(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        let fresh = Objects::new(n, node.incarnation);
        if let Some(old) = node.objects.replace(fresh) {
            self.retired_object_stats = add(self.retired_object_stats, old.stats());
        }
    }

    /// As the engine's runtime does on every membership view: retire the streams of nodes
    /// that left and of incarnations that were replaced (members publish control messages,
    /// so a departed member's stream must not be waited for).
    pub(super) fn retire_departed(&mut self, n: u32, v: &View) {
        let node = &mut self.nodes[n as usize];
        for &(m, inc) in &node.known {
            let old = argent_qsm::stream_id(NodeId(m), argent_qsm::stream_incarnation(inc));
            let gone = match v.member(NodeId(m)) {
                None => true,
                Some(member) => member.incarnation != inc,
            };
            if gone {
                // Only the exact stream: `remove_node` would also retire a newer
                // incarnation's stream that this node may already track.
                node.proto.retire_stream(old);
                if let Some(to) = node.to.as_mut() {
                    to.departed(NodeId(m), [old]);
                }
            }
        }
        node.known = v.members.iter().map(|m| (m.node.0, m.incarnation)).collect();
    }
}

/// Sender `n`'s update for its message `index`, drawn from `x` (see [`Sim::object_update`]):
/// the frame its session made.
fn submit(s: &mut Sessions, n: u32, index: u64, x: u64) -> Result<Vec<u8>, String> {
    let submitted = match (index % 4, s.counter.as_mut()) {
        (3, _) => s.var.submit(VarOp::Set(x)).map(|()| s.var.poll_transmit()),
        (1, Some(counter)) => counter.submit(counter_op(x)).map(|()| counter.poll_transmit()),
        _ => {
            let key = (x % KEYS) as u32;
            let op = if (x >> 8).is_multiple_of(8) {
                MapOp::Remove(key)
            } else {
                MapOp::Put(key, index << 8 | 0xff & u64::from(n))
            };
            s.map.submit(op).map(|()| s.map.poll_transmit())
        }
    };
    match submitted {
        Ok(Some(Transmit::Publish(f))) => Ok(f),
        Ok(other) => Err(format!("the session made {other:?} for an update")),
        Err(e) => Err(e.to_string()),
    }
}

/// A counter update: one time in three an increment of 1–8, else a withdrawal of 1–4 if the
/// count allows it. Withdrawals take about as much as increments add, so the count stays
/// near zero and many are refused: which ones depends on the order.
fn counter_op(x: u64) -> CounterOp {
    if (x >> 24).is_multiple_of(3) {
        CounterOp::Increment(1 + (x >> 16) % 8)
    } else {
        CounterOp::DecrementIfAtLeast(1 + (x >> 16) % 4)
    }
}
