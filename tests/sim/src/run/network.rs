//! The network and CPU model: arrivals into bounded sockets, the CPU that handles them,
//! timers, and every copy of a datagram on its way (loss, delay, duplication, reordering).

use super::sim::{CopyKind, Ev, Sim, Who};
use crate::scenario::Sabotage;
use argent_core::{Destination, Instant, Protocol, RegionId};
use argent_qsm::Event;
use bytes::Bytes;
use std::time::Duration;

impl Sim<'_> {
    pub(super) fn arrive(
        &mut self,
        n: u32,
        from: u32,
        data: Bytes,
        multicast: bool,
        kind: CopyKind,
        now: Instant,
    ) {
        let sock = self.sc.socket_buffer;
        let node = &mut self.nodes[n as usize];
        if node.crashed {
            return;
        }
        let socket = if multicast { &mut node.multicast } else { &mut node.unicast };
        if !socket.push(from, data, kind, sock) {
            self.out.overflow_drops += 1;
            self.out.lost_datagrams += 1;
            return;
        }
        if !node.wake_scheduled {
            node.wake_scheduled = true;
            let at = now.max(node.busy_until).max(node.paused_until);
            self.push(at, Ev::Wake { node: n });
        }
    }

    pub(super) fn wake(&mut self, n: u32, now: Instant) {
        let node = &mut self.nodes[n as usize];
        node.wake_scheduled = false;
        if node.crashed {
            return;
        }
        let ready = node.busy_until.max(node.paused_until);
        if ready > now {
            node.wake_scheduled = true;
            self.push(ready, Ev::Wake { node: n });
            return;
        }
        let Some((_, data, kind)) = node.unicast.pop().or_else(|| node.multicast.pop()) else { return };
        node.busy_until = now + self.sc.cpu_per_input * node.slow;
        if let Some(data) = self.open(n, data, kind) {
            self.nodes[n as usize].proto.handle_datagram(now, data);
        }
        self.flush(n);
        let node = &mut self.nodes[n as usize];
        let queued = !node.unicast.queue.is_empty() || !node.multicast.queue.is_empty();
        if queued && !node.wake_scheduled {
            node.wake_scheduled = true;
            let at = node.busy_until;
            self.push(at, Ev::Wake { node: n });
        }
    }

    pub(super) fn timer(&mut self, n: u32, now: Instant) {
        let node = &mut self.nodes[n as usize];
        if node.crashed || node.timer_at != Some(now) {
            return; // crashed, or superseded by a newer deadline
        }
        let ready = node.busy_until.max(node.paused_until);
        if ready > now {
            node.timer_at = Some(ready);
            self.push(ready, Ev::Timer { node: n });
            return;
        }
        node.timer_at = None;
        node.busy_until = now + self.sc.cpu_per_input * node.slow;
        node.proto.handle_timeout(now);
        self.flush(n);
    }

    /// Send what node `n` has to send, hand its events to the checkers and the
    /// application, and re-arm its timer. Runs at the node's local time (`busy_until`).
    pub(super) fn flush(&mut self, n: u32) {
        loop {
            self.ordered_outputs(n); // what an install released
            let mut progressed = self.ordered_publish(n);
            while let Some(t) = {
                let node = &mut self.nodes[n as usize];
                node.proto.poll_transmit(node.busy_until)
            } {
                progressed = true;
                self.transmit(n, t.region, t.dest, t.payload);
            }
            while let Some(ev) = self.nodes[n as usize].proto.poll_event() {
                progressed = true;
                match ev {
                    Event::Deliver(d) if self.nodes[n as usize].to.is_some() => self.ordered_deliver(n, d),
                    Event::Deliver(d) if self.groups.is_some() => self.check_group_delivery(n, &d),
                    Event::Deliver(d) => {
                        for msg in d.messages() {
                            let nth = self.nodes[n as usize].delivered;
                            self.nodes[n as usize].delivered += 1;
                            match self.sc.sabotage {
                                Sabotage::DropDelivery { node, nth: k } if node == n && k == nth => {}
                                Sabotage::DuplicateDelivery { node, nth: k } if node == n && k == nth => {
                                    self.check_delivery(n, d.sender, msg);
                                    self.check_delivery(n, d.sender, msg);
                                }
                                _ => self.check_delivery(n, d.sender, msg),
                            }
                        }
                    }
                    Event::Writable(_) => {
                        let t = self.nodes[n as usize].busy_until;
                        self.pump(n, t);
                    }
                    Event::Fence { key, nonce, .. } => self.object_fence(n, key, nonce),
                    Event::Evicted { node: gone, .. } => {
                        self.out.presence_evictions += 1;
                        if self.presence_crashed != Some(gone.0) {
                            self.violation(format!("node {n} evicted {gone}, which did not crash"));
                        }
                        if self.sc.objects {
                            self.objects_members(n);
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        let node = &mut self.nodes[n as usize];
        let next = node.proto.poll_timeout().map(|t| t.max(node.busy_until));
        if next.is_some() && next != node.timer_at {
            node.timer_at = next;
            let at = next.unwrap_or_default();
            self.push(at, Ev::Timer { node: n });
        }
    }

    pub(super) fn transmit(&mut self, n: u32, region: RegionId, dest: Destination, data: Bytes) {
        let sc = self.sc;
        let node = &mut self.nodes[n as usize];
        let data = match node.guard.as_mut() {
            // As the runtime seals: `mac` puts the trailer beside the untouched body (the
            // runtime sends it as a second iovec), `aead` encrypts a copy in place.
            Some(g) => {
                let channel = argent_qsm::Guard::channel(0, dest);
                let mut buf = Vec::with_capacity(data.len() + argent_auth::TRAILER);
                buf.extend_from_slice(&data);
                match g.trailer(channel, &data) {
                    Some(trailer) => buf.extend_from_slice(&trailer),
                    None => {
                        buf.resize(data.len() + argent_auth::TRAILER, 0);
                        g.seal_in_place(channel, &mut buf);
                    }
                }
                Bytes::from(buf)
            }
            None => data,
        };
        node.busy_until += sc.cpu_per_send * node.slow;
        let depart = node.busy_until.max(node.egress_free);
        let wire = Duration::from_nanos(data.len() as u64 * 1_000_000_000 / sc.bandwidth);
        node.egress_free = depart + wire;
        let arrive = depart + wire;
        match dest {
            Destination::Node(to) => self.copy(n, to.0, arrive, data, false),
            Destination::Region => {
                for to in (0..sc.nodes).filter(|m| *m != n) {
                    // Groups runs: the region's address reaches the nodes that joined it.
                    let joined = self.groups.as_ref().is_none_or(|g| g.nodes[to as usize].member(region, to));
                    if joined {
                        self.copy(n, to, arrive, data.clone(), true);
                    }
                }
            }
        }
    }

    /// One copy of a datagram on its way from `from` to `to`: loss, delay, duplication.
    pub(super) fn copy(&mut self, from: u32, to: u32, depart: Instant, data: Bytes, multicast: bool) {
        let sc = self.sc;
        if self.separated(Who::Node(from), Who::Node(to)) {
            self.out.lost_datagrams += 1;
            return;
        }
        let Some(node) = self.nodes.get_mut(to as usize) else { return };
        if node.crashed {
            return;
        }
        let f = sc.faults;
        let mut lost = self.net.chance(sc.loss);
        if f.burst {
            let flip = if node.burst_bad { 0.2 } else { 0.002 };
            if self.net.chance(flip) {
                node.burst_bad = !node.burst_bad;
            }
            lost |= node.burst_bad && self.net.chance(0.5);
        }
        if lost {
            self.out.lost_datagrams += 1;
            return;
        }
        let jitter = if f.jitter { Duration::from_micros(200) } else { Duration::from_micros(5) };
        let mut at = depart + sc.latency + self.net.between(Duration::ZERO, jitter);
        if f.reorder && self.net.chance(0.1) {
            at += self.net.between(Duration::ZERO, Duration::from_micros(500));
        }
        let dup = (f.dup && self.net.chance(0.05))
            .then(|| at + self.net.between(Duration::ZERO, Duration::from_micros(100)));
        let forged = (f.forge && self.net.chance(0.03)).then(|| self.forge(from, to, at, &data, multicast));
        // A forgery goes ahead of the genuine copy (unguarded, it would take its place); a
        // copy of the genuine one, duplicated or replayed, comes after it.
        let mut after = None;
        match forged {
            Some((when, ev @ Ev::Arrive { kind: CopyKind::Forged, .. })) => self.push(when, ev),
            other => after = other,
        }
        self.push(at, Ev::Arrive { node: to, from, data: data.clone(), multicast, kind: CopyKind::Genuine });
        if let Some(later) = dup {
            self.push(
                later,
                Ev::Arrive { node: to, from, data: data.clone(), multicast, kind: CopyKind::Dup },
            );
        }
        if let Some((when, ev)) = after {
            self.push(when, ev);
        }
    }
}

impl Sim<'_> {
    /// The forge fault: an attacker without the cluster's key injects, next to the copy of
    /// `data` on its way to `to` at `at`, a replay of it (at once or up to 50 ms later), a
    /// copy with one byte changed, its body sealed under another key, or its body unsealed:
    /// when and what arrives.
    fn forge(&mut self, from: u32, to: u32, at: Instant, data: &Bytes, multicast: bool) -> (Instant, Ev) {
        self.out.forged_injected += 1;
        let body = &data[..data.len().saturating_sub(argent_auth::TRAILER)];
        let (when, forged, kind) = match self.net.below(5) {
            0 => (at + Duration::from_nanos(1), data.clone(), CopyKind::Replay),
            1 => (
                at + self.net.between(Duration::from_millis(1), Duration::from_millis(50)),
                data.clone(),
                CopyKind::Replay,
            ),
            2 => {
                let mut d = data.to_vec();
                let i = self.net.below(d.len() as u64) as usize;
                d[i] ^= 1 + self.net.below(255) as u8;
                (at, Bytes::from(d), CopyKind::Forged)
            }
            3 => {
                let outsider = super::sim::cluster_key(self.out.seed, 2);
                let mut s = argent_auth::Sealer::starting_at(
                    &outsider.keys,
                    from,
                    outsider.mode,
                    self.net.next_u64() >> 8,
                );
                let mut d = Vec::new();
                let dest =
                    if multicast { Destination::Region } else { Destination::Node(argent_core::NodeId(to)) };
                s.seal(argent_qsm::Guard::channel(0, dest), body, &mut d);
                (at, Bytes::from(d), CopyKind::Forged)
            }
            _ => (at, Bytes::copy_from_slice(body), CopyKind::Forged),
        };
        (when, Ev::Arrive { node: to, from, data: forged, multicast, kind })
    }

    /// A datagram at node `n` through its guard (forge runs): its body, or `None` if refused.
    /// A refused genuine copy, or an accepted forgery, is a violation.
    fn open(&mut self, n: u32, data: Bytes, kind: CopyKind) -> Option<Bytes> {
        let Some(g) = self.nodes[n as usize].guard.as_mut() else { return Some(data) };
        let before = g.stats();
        match g.verify(&data) {
            Some(passed) => {
                if kind == CopyKind::Forged {
                    self.violation(format!("node {n} accepted a forged datagram of {} bytes", data.len()));
                    return None;
                }
                Some(data.slice(..passed.len))
            }
            None => {
                self.out.forged_refused += u64::from(matches!(kind, CopyKind::Forged | CopyKind::Replay));
                if kind == CopyKind::Genuine {
                    let after = self.nodes[n as usize].guard.as_ref().map(|g| g.stats()).unwrap_or_default();
                    self.violation(format!(
                        "node {n} refused a genuine datagram of {} bytes (refusals before {before:?}, after {after:?})",
                        data.len()
                    ));
                }
                None
            }
        }
    }
}
