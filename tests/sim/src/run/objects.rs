//! Live objects inside a simulation: every member runs the shipped object session
//! ([`argent_objects::session::Session`], the code `argent::live` drives) for a replicated
//! map and a replicated variable, over the simulated QSM. The simulator only moves the
//! sessions' frames: each is carried in a simulated application message (senders' messages
//! carry their updates; any member's control messages carry requests, promises, answers and
//! fences), fences are the runtime's fence messages (`argent_wire::message`), and the
//! region's members are handed to the sessions at every view. At the end every member's
//! checkpoint bytes must equal every other's and include every update published.

use super::limits::REGION;
use super::replicas::{add, drain, Map, Objects, Outputs, Var, CONTROL, KEYS, MAP, MESSAGE_HEADER};
use super::sim::{Ev, Sim, SimNode};
use argent_core::{Instant, NodeId};
use argent_membership::gms::{ClientStatus, View};
use argent_objects::object::{MapOp, VarOp};
use argent_objects::session::{Session, Transmit};
use argent_wire::message::{fence_message, parse_fence};

impl Sim<'_> {
    /// Run `f` on node `n`'s sessions, then carry out what they asked for: frames to the
    /// outbox (published as control messages), fence requests to the protocol, joins and
    /// problems to the outcome, and the sessions' next timer.
    fn with_sessions(&mut self, n: u32, f: impl FnOnce(Instant, &mut Session<Map>, &mut Session<Var>)) {
        let node = &mut self.nodes[n as usize];
        let now = node.busy_until;
        let Some(objects) = node.objects.as_mut() else { return };
        let Some((map, var)) = objects.sessions.as_mut() else { return };
        f(now, map, var);
        let mut out = Outputs::default();
        drain(map, &mut objects.outbox, &mut out);
        drain(var, &mut objects.outbox, &mut out);
        let due = [map.poll_timeout(), var.poll_timeout()].into_iter().flatten().min();
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
        self.with_sessions(n, |now, map, var| {
            for &k in &to {
                match fence {
                    Some(request) if k == MAP => map.handle_fence(now, request, node),
                    Some(request) => var.handle_fence(now, request, node),
                    None if k == MAP => map.handle_message(now, node, frame),
                    None => var.handle_message(now, node, frame),
                }
            }
            for &(request, from) in &released {
                for &k in &to {
                    if k == MAP {
                        map.handle_fence(now, request, from);
                    } else {
                        var.handle_fence(now, request, from);
                    }
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
        if self.sc.gms.is_some() {
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
        let (max, sabotage) = (self.sc.qsm.max_message_len(), self.sc.sabotage);
        let node = &mut self.nodes[n as usize];
        let now = node.busy_until;
        let Some(objects) = node.objects.as_mut().filter(|o| o.sessions.is_none()) else { return };
        objects.start(begun.then_some(now), max, sabotage);
        if begun {
            self.object_joiners += 2;
        }
        let members = self.member_nodes(n);
        self.with_sessions(n, |now, map, var| {
            map.handle_members(now, &members);
            var.handle_members(now, &members);
        });
    }

    /// After a membership view: hand the sessions the region's members (members that left
    /// are no longer waited for).
    pub(super) fn objects_members(&mut self, n: u32) {
        let members = self.member_nodes(n);
        self.with_sessions(n, |now, map, var| {
            map.handle_members(now, &members);
            var.handle_members(now, &members);
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
        self.with_sessions(n, |now, map, var| {
            map.handle_timeout(now);
            var.handle_timeout(now);
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
            match node.proto.claim(t, region, len) {
                Ok(mut claim) => {
                    super::app::write_message(&mut claim, n, CONTROL | objects.control_next, f);
                    claim.commit();
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
    /// one time in eight) or, every fourth message, of the variable, made by its session.
    pub(super) fn object_update(&mut self, n: u32, index: u64) -> Vec<u8> {
        // The operation's value: one draw of the run's generator, seeded by sender and index.
        let x = crate::SimRng::new(u64::from(n) << 40 ^ index, 2).next_u64();
        let made = match self.nodes[n as usize]
            .objects
            .as_mut()
            .and_then(|o| o.sessions.as_mut().map(|s| (s, &mut o.outbox)))
        {
            Some(((map, var), outbox)) => {
                // What the sessions made before goes out first, as control messages.
                let mut out = Outputs::default();
                drain(map, outbox, &mut out);
                drain(var, outbox, &mut out);
                let submitted = if index % 4 == 3 {
                    var.submit(VarOp::Set(x)).map(|()| var.poll_transmit())
                } else {
                    let key = (x % KEYS) as u32;
                    let op = if (x >> 8).is_multiple_of(8) {
                        MapOp::Remove(key)
                    } else {
                        MapOp::Put(key, index << 8 | 0xff & u64::from(n))
                    };
                    map.submit(op).map(|()| map.poll_transmit())
                };
                match submitted {
                    Ok(Some(Transmit::Publish(f))) => Ok(f),
                    Ok(other) => Err(format!("the session made {other:?} for an update")),
                    Err(e) => Err(e.to_string()),
                }
            }
            None => Err("no objects".into()),
        };
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

    /// Whether every member's objects are settled and its control messages acknowledged.
    pub(super) fn objects_settled(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| self.counted(n))
            .all(|n| n.objects.as_ref().is_none_or(Objects::settled) && n.proto.send_drained())
    }

    /// Whether a node is a member whose objects are checked (alive, and in the membership).
    fn counted(&self, node: &SimNode) -> bool {
        !node.crashed
            && (self.sc.gms.is_none()
                || node.client.as_ref().is_some_and(|c| c.status() == ClientStatus::Member))
    }

    /// End-of-run checks of an objects run: every member has joined, its checkpoints equal
    /// everyone else's, and they include every update published.
    pub(super) fn finish_objects(&mut self) {
        let mut found = Vec::new();
        let mut reference: Option<(u32, Vec<u8>, Vec<u8>)> = None;
        let mut stats = self.retired_object_stats;
        for (n, node) in self.nodes.iter().enumerate() {
            let Some(objects) = &node.objects else { continue };
            stats = add(stats, objects.stats());
            if !self.counted(node) {
                continue;
            }
            self.out.object_members_checked += 1;
            let inc = node.incarnation;
            let proxies = objects.sessions.as_ref().and_then(|(m, v)| m.proxy().zip(v.proxy()));
            let Some((map, var)) = proxies else {
                found.push(format!(
                    "node {n} (incarnation {inc}): still joining at the end ({})",
                    objects.waits()
                ));
                self.out.object_divergent += 1;
                continue;
            };
            let total = map.position().total() + var.position().total();
            let (map, var) = match (map.checkpoint(), var.checkpoint()) {
                (Ok(m), Ok(v)) => (m, v),
                (Err(e), _) | (_, Err(e)) => {
                    found.push(format!("node {n}: no checkpoint: {e}"));
                    continue;
                }
            };
            if total != self.out.object_updates_published {
                let published = self.out.object_updates_published;
                found.push(format!(
                    "node {n} (incarnation {inc}): state includes {total} of {published} updates published"
                ));
            }
            match &reference {
                None => reference = Some((n as u32, map, var)),
                Some((r, rmap, rvar)) => {
                    if *rmap != map || *rvar != var {
                        self.out.object_divergent += 1;
                        let which = if *rmap != map { "map" } else { "variable" };
                        found.push(format!(
                            "node {n} (incarnation {inc}): {which} state differs from node {r}'s"
                        ));
                    }
                }
            }
        }
        let o = &mut self.out;
        o.object_updates_applied = stats.proxy.applied;
        o.object_duplicates = stats.proxy.duplicates;
        o.object_rejected = stats.rejected;
        o.object_checkpoints_sent = stats.checkpoints_sent;
        o.object_join_requests = stats.requests;
        o.object_join_retries = stats.join_retries;
        // Every request beyond a joiner's first that no refused answer caused: asked again
        // after no fenced answer came in time.
        o.object_join_timeouts = stats.requests.saturating_sub(self.object_joiners + stats.join_retries);
        for f in found {
            self.violation(f);
        }
    }
}
