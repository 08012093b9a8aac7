//! Faults of a run without the membership service: the plan (crash, pause, slow) and the
//! oracle's view changes.

use super::limits::REGION;
use super::sim::{Ev, Sim};
use crate::rng::SimRng;
use crate::scenario::{Driver, Sabotage};
use argent_core::{Instant, NodeId, ViewId};
use argent_qsm::RegionView;
use std::time::Duration;

impl Sim<'_> {
    /// Decide from the seed which receivers are slowed, paused and crashed, and when.
    pub(super) fn plan_faults(&mut self, seed: u64) {
        let mut plan = SimRng::new(seed, 2);
        let f = self.sc.faults;
        let receivers = self.first_sender;
        let est = self.sc.estimated_traffic();
        let mid = |plan: &mut SimRng| Instant::ZERO + plan.between(est / 10, est * 6 / 10);
        let pick = |plan: &mut SimRng, avoid: Option<u32>| -> Option<u32> {
            let pool: Vec<u32> = (0..receivers).filter(|n| Some(*n) != avoid).collect();
            (!pool.is_empty()).then(|| pool[plan.below(pool.len() as u64) as usize])
        };
        let mut crashed = None;
        if f.crash {
            if let Some(c) = pick(&mut plan, None) {
                let at = mid(&mut plan);
                self.nodes[c as usize].doomed = true;
                self.push(at, Ev::Crash { node: c });
                if let Some(timeout) = self.sc.qsm.member_timeout {
                    // The members' own failure detection evicts it (checked in `flush`): after
                    // the timeout, or, at a member that never heard from it (an early
                    // crash), once the startup grace has passed.
                    let grace = Instant::ZERO + argent_qsm::STARTUP_GRACE.max(timeout);
                    let detected = (at + timeout).max(grace) + 2 * argent_qsm::ALIVE_INTERVAL;
                    self.faults_end = self.faults_end.max(detected);
                    self.presence_crashed = Some(c);
                }
                let install = at + self.sc.detection;
                let oracle =
                    self.sc.sabotage != Sabotage::NoViewChange && self.sc.qsm.member_timeout.is_none();
                let survivors = if oracle { self.sc.nodes } else { 0 };
                for n in (0..survivors).filter(|n| *n != c) {
                    let skew = plan.between(Duration::ZERO, Duration::from_millis(1));
                    self.faults_end = self.faults_end.max(install + skew);
                    self.push(install + skew, Ev::Install { node: n, view: 2 });
                }
                crashed = Some(c);
            }
        }
        if f.pause {
            if let Some(p) = pick(&mut plan, crashed) {
                let at = mid(&mut plan);
                let until = at + plan.between(Duration::from_millis(20), Duration::from_millis(200));
                self.faults_end = self.faults_end.max(until);
                self.push(at, Ev::Pause { node: p, until });
            }
        }
        if f.slow {
            if let Some(s) = pick(&mut plan, crashed) {
                self.nodes[s as usize].slow = 4 + plan.below(13) as u32;
            }
        }
        let survivors = self.nodes.iter().filter(|n| !n.doomed).count() as u64;
        self.out.expected = survivors * u64::from(self.sc.senders) * self.sc.messages;
        self.remaining = self.out.expected;
    }

    pub(super) fn install(&mut self, n: u32, now: Instant, view: u64) {
        let node = &mut self.nodes[n as usize];
        if node.crashed {
            return;
        }
        let members: Vec<NodeId> =
            (0..self.sc.nodes).filter(|m| !self.crashed.contains(m)).map(NodeId).collect();
        let view = RegionView { region: REGION, id: ViewId(view), members };
        node.busy_until = node.busy_until.max(now);
        let installed = match node.to.as_mut() {
            // Total order: the layer installs the view in QSM and starts its flush.
            Some(to) => to.install_view(&mut node.proto, node.busy_until, view.clone()),
            None => node.proto.install_view(node.busy_until, view.clone()),
        };
        if self.sc.driver == Driver::TotalOrder {
            node.to_flushing = node.to.as_ref().is_some_and(argent_vsync::TotalOrder::flush_waiting);
            let first = node.to.is_none();
            // Members publish (the sequencer its records): a crashed member's stream is
            // repaired among the survivors, then retired, as the runtime does. Its stream
            // (incarnation 0 in static runs) is also tombstoned where it was never tracked:
            // a copy still queued at a paused member would otherwise look like a restart.
            for &c in &self.crashed {
                node.proto.remove_node(NodeId(c));
                node.proto.retire_stream(NodeId(c));
            }
            if first {
                self.ordered_start(n, view);
            }
        }
        if let Err(e) = installed {
            self.violation(format!("node {n}: view refused: {e}"));
        }
        if self.sc.objects {
            self.objects_region(n);
            self.objects_members(n); // the crashed member is not waited for any more
        }
        self.flush(n);
    }

    pub(super) fn crash(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        node.crashed = true;
        node.to_log.removed = true;
        node.unicast.clear();
        node.multicast.clear();
        self.crashed.push(n);
    }

    pub(super) fn pause(&mut self, n: u32, until: Instant) {
        let node = &mut self.nodes[n as usize];
        node.paused_until = node.paused_until.max(until);
    }
}
