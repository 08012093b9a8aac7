//! The application at every node: senders publish verifiable messages, every member checks
//! exactly-once FIFO delivery of what it receives.

use super::limits::REGION;
use super::replicas::{Objects, CONTROL, MESSAGE_HEADER};
use super::sim::Sim;
use crate::scenario::MIN_MESSAGE;
use argent_core::{Instant, NodeId, RegionId};
use argent_qsm::{PublishError, QsmNode};
use argent_verify::{Header, Message, Verdict};
use argent_vsync::TotalOrder;

impl Sim<'_> {
    /// The application at a sender: publish until the buffer pushes back.
    pub(super) fn pump(&mut self, n: u32, at: Instant) {
        let sc = self.sc;
        let mut t = at;
        if sc.objects {
            // Objects runs: control messages (checkpoint requests and answers) first.
            t = self.drain_outbox(n, t);
        }
        let node = &self.nodes[n as usize];
        let region = node.region.as_ref().map_or(REGION, |r| r.0);
        let Some(app) = node.app.as_ref() else { return };
        if sc.gms.is_some() && !app.started {
            return; // waits for the first view with every member
        }
        if node.objects.as_ref().is_some_and(Objects::joining) {
            return; // a sender that joined late publishes once it has joined the objects
        }
        if self.groups.is_some() {
            return self.pump_groups(n, at);
        }
        if sc.fragmented() {
            return self.pump_fragments(n, at);
        }
        loop {
            let next = self.nodes[n as usize].app.as_ref().map_or(sc.messages, |a| a.next);
            if next >= sc.messages {
                break;
            }
            if sc.objects && self.nodes[n as usize].app.as_ref().is_some_and(|a| a.pending.is_none()) {
                let f = self.object_update(n, next);
                if let Some(app) = self.nodes[n as usize].app.as_mut() {
                    app.pending = Some(f);
                }
            }
            let node = &mut self.nodes[n as usize];
            let Some(app) = node.app.as_mut() else { break };
            let frame = app.pending.as_deref().unwrap_or_default();
            let len = if frame.is_empty() { sc.size } else { sc.size.max(MESSAGE_HEADER + frame.len()) };
            let published =
                publish(&mut node.proto, node.to.as_mut(), (t, region), len, (n, app.next, frame));
            match published {
                Ok(()) => {
                    app.next += 1;
                    app.pending = None;
                    t += sc.cpu_per_message * node.slow;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => panic!("scenario validated, yet publish failed: {e}"),
            }
        }
        self.sender_progress(n, t);
    }

    /// After publishing up to local time `t`: the sender is busy until then, and done once
    /// every message is in its stream.
    pub(super) fn sender_progress(&mut self, n: u32, t: Instant) {
        let sc = self.sc;
        let node = &mut self.nodes[n as usize];
        let Some(app) = node.app.as_mut() else { return };
        node.busy_until = node.busy_until.max(t);
        if app.next == sc.messages && !app.done {
            app.done = true;
            self.apps_pending -= 1;
            self.apps_done_at = self.apps_done_at.max(t);
        }
    }

    pub(super) fn check_delivery(&mut self, n: u32, sender: NodeId, msg: &[u8]) {
        if self.sc.fragmented() {
            return self.reassemble(n, sender, msg);
        }
        self.check_message(n, sender, msg);
    }

    /// Checks one whole message from `sender` at node `n`.
    pub(super) fn check_message(&mut self, n: u32, sender: NodeId, msg: &[u8]) {
        let sc = self.sc;
        self.out.deliveries += 1;
        let node = &mut self.nodes[n as usize];
        node.busy_until += sc.cpu_per_message * node.slow;
        let doomed = node.doomed;
        let Some((from, index, frame)) = read_message(msg, sc.size) else {
            self.violation(format!("node {n}: corrupt message of {} bytes from {sender}", msg.len()));
            return;
        };
        if sc.objects && index & CONTROL != 0 {
            // A checkpoint request or answer, which any member publishes: to the objects.
            if argent_qsm::node_of(sender).0 != from {
                self.violation(format!(
                    "node {n}: control message claims sender {from} but came from {sender}"
                ));
                return;
            }
            self.object_frame(n, sender, frame);
            return;
        }
        let slot = from.checked_sub(self.first_sender).filter(|_| from == argent_qsm::node_of(sender).0);
        let Some(slot) = slot.filter(|s| *s < sc.senders) else {
            self.violation(format!("node {n}: message claims sender {from} but came from {sender}"));
            return;
        };
        if sc.objects {
            // Every delivery goes to the sessions, duplicates included.
            self.object_frame(n, sender, frame);
        }
        let node = &mut self.nodes[n as usize];
        let stream = &mut node.streams[slot as usize];
        let expected = stream.next();
        match stream.check(index) {
            verdict @ (Verdict::InOrder | Verdict::First) => {
                if verdict == Verdict::First {
                    // A joiner starts where the sender's stream was when it joined; checked at the end.
                    node.first_index[slot as usize] = Some(index);
                }
                if !doomed && self.remaining > 0 {
                    self.remaining -= 1;
                    self.out.delivered += 1;
                }
            }
            Verdict::Duplicate => self.violation(format!(
                "node {n}: duplicate message {index} from {sender} (expected {expected})"
            )),
            Verdict::Skipped(_) => self.violation(format!(
                "node {n}: message {index} from {sender} out of order or after a gap (expected {expected})"
            )),
        }
    }
}

/// Publish message `index` of `sender` (`msg`: sender, index, object frame), `len` bytes,
/// at local time `at` into `region`: on the total-order driver as its layer's DATA frame,
/// else straight into QSM.
pub(super) fn publish(
    proto: &mut QsmNode,
    to: Option<&mut TotalOrder>,
    (at, region): (Instant, RegionId),
    len: usize,
    (sender, index, frame): (u32, u64, &[u8]),
) -> Result<(), PublishError> {
    match to {
        Some(to) => to.publish_with(proto, at, len, |buf| write_message(buf, sender, index, frame)),
        None => proto.claim(at, region, len).map(|mut claim| {
            write_message(&mut claim, sender, index, frame);
            claim.commit();
        }),
    }
}

/// Writes message `index` of `sender` into `buf` (argent_verify's layout): objects runs carry
/// an object frame, and a message is longer than the scenario's size only for a frame that
/// needs it.
pub(super) fn write_message(buf: &mut [u8], sender: u32, index: u64, frame: &[u8]) {
    argent_verify::write(buf, Header { index, sender, ..Header::default() }, frame);
}

/// Sender, index and object frame (empty when none) of a message written by
/// [`write_message`]; `None` if it is corrupt.
pub(super) fn read_message(msg: &[u8], size: usize) -> Option<(u32, u64, &[u8])> {
    if msg.len() < size.max(MIN_MESSAGE) {
        return None;
    }
    let Ok(Message::Data(d)) = argent_verify::read(msg) else { return None };
    let padded = msg.len() == size || (msg.len() > size && d.fill.is_empty() && !d.frame.is_empty());
    (padded && d.fill_ok()).then_some((d.header.sender, d.header.index, d.frame))
}
