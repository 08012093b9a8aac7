//! Total-order runs (`--driver total-order`): every member's QSM deliveries go through the
//! shipped `argent-vsync` layer, and the checker compares every member's sequence of
//! messages with the common one.

use super::app::read_message;
use super::sim::Sim;
use crate::scenario::Sabotage;
use argent_core::NodeId;
use argent_qsm::Delivery;

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
        let ordered: Vec<Delivery> = std::iter::from_fn(|| to.poll()).map(|o| o.item).collect();
        for d in ordered {
            for msg in d.messages() {
                if let Some(body) = argent_vsync::frame::data(msg) {
                    self.ordered_message(n, d.sender, body);
                }
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
            if s.refused + s.bad_frames + s.other_region > 0 {
                found.push(format!("node {n}: the total-order layer refused inputs: {s:?}"));
            }
            if to.held() > 0 || to.queued() > 0 {
                found.push(format!(
                    "node {n}: {} datagrams never ordered, {} frames never published",
                    to.held(),
                    to.queued()
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
        if let Some((from, index, _)) = read_message(body, self.sc.size) {
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
