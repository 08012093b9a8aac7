//! The end of a run: the region must go quiet, every member must have what it should, and
//! the outcome is filled in.

use super::limits::QUIET;
use super::outcome::Outcome;
use super::sim::Sim;
use argent_core::Instant;
use argent_verify::Checker;

impl Sim<'_> {
    /// Data and repair datagrams sent so far, all nodes.
    pub(super) fn repair_activity(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.proto.stats())
            .chain(std::iter::once(&self.restarted_stats))
            .map(|s| {
                s.data_sent
                    + s.sender_retransmissions
                    + s.peer_repairs
                    + s.pulls_sent
                    + s.naks_sent
                    + s.naks_escalated
            })
            .sum()
    }

    pub(super) fn check_quiet(&mut self, activity_at_completion: u64) {
        let extra = self.repair_activity() - activity_at_completion;
        if extra > 0 {
            self.violation(format!(
                "{extra} data or repair datagrams sent after everything was acknowledged"
            ));
        }
        let held: Vec<(usize, u64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.crashed)
            .map(|(i, n)| (i, n.proto.receive_held_bytes()))
            .filter(|(_, b)| *b > 0)
            .collect();
        if let Some((i, b)) = held.first() {
            self.violation(format!(
                "node {i} still holds {b} bytes {} ms after everything was acknowledged (cache not cleaned up)",
                QUIET.as_millis()
            ));
        }
    }

    pub(super) fn finish(mut self, end: Instant) -> Outcome {
        let sc = self.sc;
        self.out.virtual_secs = end.as_secs_f64();
        if let Some(c) = self.presence_crashed {
            // Every survivor evicted the crashed member, once (one region).
            let survivors = self.nodes.iter().filter(|n| !n.crashed).count() as u64;
            if self.out.presence_evictions != survivors {
                let got = self.out.presence_evictions;
                self.violation(format!("{got} evictions of crashed node {c} for {survivors} survivors"));
            }
        }
        let mut s = self.restarted_stats.clone();
        for node in &self.nodes {
            s.merge(node.proto.stats());
            let o = &mut self.out;
            o.max_sender_buffer_bytes = o.max_sender_buffer_bytes.max(node.proto.max_send_buffered_bytes());
            o.max_receiver_buffer_bytes =
                o.max_receiver_buffer_bytes.max(node.proto.max_receive_held_bytes());
        }
        let o = &mut self.out;
        o.max_token_bytes = s.max_token_bytes;
        o.sender_retransmissions = s.sender_retransmissions;
        o.peer_repairs = s.peer_repairs;
        o.pulls = s.pulls_sent;
        o.naks = s.naks_sent;
        o.naks_escalated = s.naks_escalated;
        o.rounds = s.rounds_completed;
        o.rounds_regenerated = s.rounds_regenerated;
        let mut found = Vec::new();
        for (n, node) in self.nodes.iter().enumerate() {
            // Membership runs check members from their join points (finish_membership).
            if !node.doomed && sc.gms.is_none() {
                for (slot, got) in node.streams.iter().map(Checker::next).enumerate() {
                    if got != sc.messages {
                        let s = self.first_sender + slot as u32;
                        found.push(format!("node {n}: got {got} of {} messages from n{s}", sc.messages));
                    }
                }
            }
            if let Some(app) = &node.app {
                if app.next != sc.messages {
                    found
                        .push(format!("sender {n}: published only {} of {} messages", app.next, sc.messages));
                } else if !node.proto.send_drained() {
                    found.push(format!("sender {n}: send buffer not acknowledged at the end"));
                }
            }
        }
        if self.out.max_sender_buffer_bytes > sc.qsm.send_buffer_bytes as u64 {
            found.push(format!(
                "send buffer reached {} bytes, bound {}",
                self.out.max_sender_buffer_bytes, sc.qsm.send_buffer_bytes
            ));
        }
        if self.out.max_receiver_buffer_bytes > sc.qsm.receive_bound_bytes() {
            found.push(format!(
                "a receiver held {} bytes for one stream, bound {}",
                self.out.max_receiver_buffer_bytes,
                sc.qsm.receive_bound_bytes()
            ));
        }
        for f in found {
            self.violation(f);
        }
        if sc.gms.is_some() {
            self.finish_membership();
        }
        if sc.driver == crate::scenario::Driver::TotalOrder {
            self.finish_total_order();
        }
        if sc.objects {
            self.finish_objects();
        }
        self.out
    }
}
