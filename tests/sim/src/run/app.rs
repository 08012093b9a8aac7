//! The application at every node: senders publish verifiable messages, every member checks
//! exactly-once FIFO delivery of what it receives.

use super::limits::REGION;
use super::replicas::{Objects, CONTROL, MESSAGE_HEADER};
use super::sim::Sim;
use crate::scenario::MIN_MESSAGE;
use argent_core::{Instant, NodeId};
use argent_qsm::PublishError;
use std::cmp::Ordering;

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
            match node.proto.claim(t, region, len) {
                Ok(mut claim) => {
                    write_message(&mut claim, n, app.next, frame);
                    claim.commit();
                    app.next += 1;
                    app.pending = None;
                    t += sc.cpu_per_message * node.slow;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => panic!("scenario validated, yet publish failed: {e}"),
            }
        }
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
        if sc.gms.is_some() && node.first_index[slot as usize].is_none() {
            // A joiner starts where the sender's stream was when it joined; checked at the end.
            node.first_index[slot as usize] = Some(index);
            node.expected_next[slot as usize] = index;
        }
        if sc.objects {
            // Every delivery goes to the sessions, duplicates included.
            self.object_frame(n, sender, frame);
        }
        let node = &mut self.nodes[n as usize];
        let expected = &mut node.expected_next[slot as usize];
        match index.cmp(expected) {
            Ordering::Equal => {
                *expected += 1;
                if !doomed && self.remaining > 0 {
                    self.remaining -= 1;
                    self.out.delivered += 1;
                }
            }
            Ordering::Less => {
                let e = *expected;
                self.violation(format!("node {n}: duplicate message {index} from {sender} (expected {e})"))
            }
            Ordering::Greater => {
                let e = *expected;
                *expected = index + 1; // resynchronise: one gap is one violation
                self.violation(format!(
                    "node {n}: message {index} from {sender} out of order or after a gap (expected {e})"
                ))
            }
        }
    }
}

/// Message layout: sender id (u32), index (u64), check word (u32), then zeros; objects
/// runs: then the length of an object frame (u32) and the frame, then zeros up to the
/// scenario's size (a message is longer only for a frame that needs it).
pub(super) fn write_message(buf: &mut [u8], sender: u32, index: u64, frame: &[u8]) {
    buf[0..4].copy_from_slice(&sender.to_le_bytes());
    buf[4..12].copy_from_slice(&index.to_le_bytes());
    buf[12..16].copy_from_slice(&check_word(sender, index).to_le_bytes());
    if frame.is_empty() {
        return;
    }
    buf[16..20].copy_from_slice(&(frame.len() as u32).to_le_bytes());
    let end = MESSAGE_HEADER + frame.len();
    buf[MESSAGE_HEADER..end].copy_from_slice(frame);
    buf[end..].fill(0);
}

/// Sender, index and object frame (empty when none) of a message written by
/// [`write_message`]; `None` if it is corrupt.
pub(super) fn read_message(msg: &[u8], size: usize) -> Option<(u32, u64, &[u8])> {
    if msg.len() < size.max(MIN_MESSAGE) {
        return None;
    }
    let sender = u32::from_le_bytes(msg.get(0..4)?.try_into().ok()?);
    let index = u64::from_le_bytes(msg.get(4..12)?.try_into().ok()?);
    let check = u32::from_le_bytes(msg.get(12..16)?.try_into().ok()?);
    let (frame, rest) = match msg.get(16..MESSAGE_HEADER) {
        Some(len) => {
            let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
            let end = MESSAGE_HEADER.checked_add(len)?;
            (msg.get(MESSAGE_HEADER..end)?, &msg[end..])
        }
        None => (&msg[..0], &msg[16..]),
    };
    let padded = msg.len() == size || (msg.len() > size && rest.is_empty() && !frame.is_empty());
    (padded && check == check_word(sender, index) && rest.iter().all(|b| *b == 0))
        .then_some((sender, index, frame))
}

fn check_word(sender: u32, index: u64) -> u32 {
    let x = (u64::from(sender) << 40 ^ index).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}
