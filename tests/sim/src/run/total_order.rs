//! Total-order runs (`--driver total-order`): every member's QSM deliveries go through the
//! shipped `argent-vsync` layer, and the checker compares every member's sequence of
//! messages with the common one.

use super::app::read_message;
use super::sim::Sim;
use crate::scenario::Sabotage;
use argent_core::NodeId;
use argent_qsm::Delivery;
use argent_vsync::Output;

impl Sim<'_> {
    /// Let node `n`'s layer publish what it has (the sequencer's order records); true if it
    /// published anything.
    pub(super) fn ordered_publish(&mut self, n: u32) -> bool {
        let node = &mut self.nodes[n as usize];
        let Some(to) = node.to.as_mut() else { return false };
        let before = to.stats().order_frames;
        to.flush(&mut node.proto, node.busy_until);
        to.stats().order_frames != before
    }

    /// A QSM delivery at node `n`: to the layer; what it releases in total order goes to the
    /// checkers, message by message.
    pub(super) fn ordered_deliver(&mut self, n: u32, d: Delivery) {
        let Some(to) = self.nodes[n as usize].to.as_mut() else { return };
        to.deliver(d);
        self.ordered_outputs(n);
    }

    /// What node `n`'s layer released: messages in total order, and view changes.
    pub(super) fn ordered_outputs(&mut self, n: u32) {
        let Some(to) = self.nodes[n as usize].to.as_mut() else { return };
        let outputs: Vec<Output> = std::iter::from_fn(|| to.poll()).collect();
        for o in outputs {
            match o {
                Output::Deliver(d) => {
                    let d = d.item;
                    if self.sc.sabotage == (Sabotage::NoFlush { node: n })
                        && self.nodes[n as usize].to_flushing
                    {
                        continue; // as if it installed the next view without closing this one
                    }
                    for msg in d.messages() {
                        if let Some(body) = argent_vsync::frame::data(msg) {
                            self.ordered_message(n, d.sender, body);
                        }
                    }
                }
                Output::View { id, .. } => self.view_begins(n, id.0),
                Output::Writable => {
                    let t = self.nodes[n as usize].busy_until;
                    self.pump(n, t);
                }
            }
        }
    }

    /// Node `n`'s layer began view `view`: virtual synchrony holds if every member that
    /// begins it does so at the same position of the common sequence (each delivered the
    /// same messages before it).
    fn view_begins(&mut self, n: u32, view: u64) {
        let node = &mut self.nodes[n as usize];
        node.to_flushing = false;
        let pos = node.to_pos;
        match self.view_starts.get(&view) {
            None => {
                self.view_starts.insert(view, pos);
            }
            Some(&want) if want == pos => {}
            Some(&want) => {
                self.out.vsync_violations += 1;
                self.violation(format!(
                    "node {n} began view {view} after {pos} messages in total order, another member after {want}"
                ));
            }
        }
    }

    fn ordered_message(&mut self, n: u32, sender: NodeId, body: &[u8]) {
        let node = &mut self.nodes[n as usize];
        let nth = node.delivered;
        node.delivered += 1;
        if let Sabotage::SwapOrder { node: s, nth: k } = self.sc.sabotage {
            if s == n && k == nth {
                node.to_swapped = Some((sender, body.to_vec()));
                return;
            }
        }
        self.ordered_check(n, sender, body);
        if let Some((sender, body)) = self.nodes[n as usize].to_swapped.take() {
            self.ordered_check(n, sender, &body);
        }
    }

    /// At the end: no layer refused an input or still holds a datagram.
    pub(super) fn finish_total_order(&mut self) {
        let mut found = Vec::new();
        for (n, node) in self.nodes.iter().enumerate().filter(|(_, n)| !n.crashed) {
            let Some(to) = &node.to else { continue };
            let s = to.stats();
            self.out.flushes += s.flushes;
            self.out.flush_dropped += s.flush_dropped;
            if self.crashed.contains(&0) {
                self.out.sequencer_flushes += s.flushes;
            }
            if s.refused + s.bad_frames + s.other_region > 0 {
                found.push(format!("node {n}: the total-order layer refused inputs: {s:?}"));
            }
            if to.held() > 0 || to.queued() > 0 {
                found.push(format!(
                    "node {n}: {} datagrams never ordered, {} frames never published (view {}, flush waiting: {}, {s:?})",
                    to.held(),
                    to.queued(),
                    to.view(),
                    to.flush_waiting()
                ));
            }
        }
        for f in found {
            self.violation(f);
        }
    }

    /// The order checker (position `to_pos` of node `n` against the common sequence), then
    /// the per-sender exactly-once checker.
    fn ordered_check(&mut self, n: u32, sender: NodeId, body: &[u8]) {
        // Members that crash are not held to the order: the sequencer, or a member with its
        // records, may deliver just before crashing in an order no survivor received (the
        // guarantee is not uniform, as Spread's "agreed" order; decision 014).
        let doomed = self.nodes[n as usize].doomed;
        if let Some((from, index, _)) = read_message(body, self.sc.size).filter(|_| !doomed) {
            let node = &mut self.nodes[n as usize];
            let pos = node.to_pos;
            node.to_pos += 1;
            match self.order_log.get(pos) {
                None => self.order_log.push((from, index)),
                Some(&want) if want == (from, index) => {}
                Some(&(wf, wi)) => {
                    self.out.order_disagreements += 1;
                    self.violation(format!(
                        "node {n}: message {pos} in total order is {index} from n{from}, but another member delivered {wi} from n{wf} there"
                    ));
                }
            }
        }
        self.check_delivery(n, sender, body);
    }
}
