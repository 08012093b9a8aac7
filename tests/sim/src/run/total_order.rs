//! Total-order runs (`--driver total-order`): every member's QSM deliveries go through the
//! shipped `argent-vsync` layer. Each incarnation of a node logs what it delivered in total
//! order and where each view began; at the end the checkers line the logs of the members
//! that stayed up against one another (a joiner from the point its first view began at the
//! others) and compare them.

use super::app::read_message;
use super::sim::Sim;
use crate::scenario::Sabotage;
use argent_core::NodeId;
use argent_qsm::{Delivery, RegionView};
use argent_vsync::{Output, TotalOrder};
use std::collections::HashMap;

pub(super) use super::to_log::ToLog;

impl Sim<'_> {
    /// Node `n` (a new incarnation, or a member at the start) starts in `view`, installed in
    /// its QSM: its layer, and a fresh log.
    pub(super) fn ordered_start(&mut self, n: u32, view: RegionView) {
        let node = &mut self.nodes[n as usize];
        node.to_log = ToLog { first_view: view.id.0, ..ToLog::default() };
        node.to_flushing = false;
        node.to_swapped = None;
        node.to_members = view.members.iter().map(|m| m.0).collect();
        node.to = Some(TotalOrder::new(view, NodeId(n)));
    }

    /// Let node `n`'s layer publish what it has (the sequencer's order records); true if it
    /// published anything.
    pub(super) fn ordered_publish(&mut self, n: u32) -> bool {
        let node = &mut self.nodes[n as usize];
        let Some(to) = node.to.as_mut() else { return false };
        let before = to.stats().order_frames;
        to.flush(&mut node.proto, node.busy_until);
        let published = to.stats().order_frames != before;
        // A decision on a flush's ends may have closed the view.
        self.ordered_outputs(n);
        published
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
                Output::View { id, members } => self.view_begins(n, id.0, members),
                Output::Writable => {
                    let t = self.nodes[n as usize].busy_until;
                    self.pump(n, t);
                }
            }
        }
    }

    /// Node `n`'s layer began view `view` of `members`: logged, to compare with the other
    /// members; objects wait for these members' fences from here on in the order.
    fn view_begins(&mut self, n: u32, view: u64, members: Vec<NodeId>) {
        let node = &mut self.nodes[n as usize];
        node.to_flushing = false;
        node.to_log.views.push((view, node.to_log.msgs.len()));
        node.to_members = members.iter().map(|m| m.0).collect();
        if self.sc.objects {
            self.objects_members(n);
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

    /// At the end: no layer refused an input or still holds a datagram, and the members'
    /// logs agree.
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
            if to.held() > 0 || to.queued() > 0 || to.flush_waiting() {
                found.push(format!(
                    "node {n}: {} datagrams never ordered, {} frames never published (view {}, flush waiting: {}, {s:?})",
                    to.held(),
                    to.queued(),
                    to.view(),
                    to.flush_waiting()
                ));
                found.extend(to.flush_summary().map(|w| format!("node {n}: {w}")));
            }
        }
        for f in found {
            self.violation(f);
        }
        self.compare_logs();
    }

    /// Total-order agreement and virtual synchrony over the logs of the members that stayed.
    /// A log that began in the first view any log began in starts at position 0 of the
    /// common sequence; any other at the position where its first view began at a member
    /// that closed the view before (found through logs already placed; the logs of removed
    /// incarnations serve only if no other does). Without objects nothing is published
    /// before traffic starts, so a log that began before then and is placed no other way
    /// starts at 0 too (with objects, joiners' requests and members' fences may be ordered
    /// in earlier views). Every placed log must hold the same message at each position, and
    /// begin each view at the same position.
    fn compare_logs(&mut self) {
        let start = self.start_view.map_or(1, |v| v.0);
        let logs: Vec<(u32, &ToLog)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.to.is_some() || !node.to_log.msgs.is_empty())
            .map(|(n, node)| (n as u32, &node.to_log))
            .collect();
        let first = logs.iter().map(|(_, l)| l.first_view).min().unwrap_or(start);
        let mut offset: Vec<Option<usize>> =
            logs.iter().map(|(_, l)| (l.first_view == first).then_some(0)).collect();
        place_logs(&logs, &mut offset);
        if !self.sc.objects {
            for (o, (_, l)) in offset.iter_mut().zip(&logs) {
                if o.is_none() && l.first_view <= start {
                    *o = Some(0);
                }
            }
        }
        let mut common: Vec<Option<(u32, u64)>> = Vec::new();
        let mut begins: HashMap<u64, (u32, usize)> = HashMap::new();
        let mut found = Vec::new();
        let (mut disagreements, mut vsync) = (0, 0);
        for ((n, log), o) in logs.iter().zip(&offset) {
            if log.removed {
                continue;
            }
            let Some(o) = *o else {
                found.push(format!(
                    "node {n}: its layer began in view {}, which no other member's log shows beginning: not compared",
                    log.first_view
                ));
                continue;
            };
            if common.len() < o + log.msgs.len() {
                common.resize(o + log.msgs.len(), None);
            }
            for (i, &m) in log.msgs.iter().enumerate() {
                match common[o + i] {
                    None => common[o + i] = Some(m),
                    Some(want) if want == m => {}
                    Some((wf, wi)) => {
                        disagreements += 1;
                        found.push(format!(
                            "node {n}: message {} in total order is {} from n{}, but another member delivered {wi} from n{wf} there",
                            o + i,
                            m.1,
                            m.0
                        ));
                        break; // one disagreement per member: the rest follows from it
                    }
                }
            }
            for &(v, p) in &log.views {
                match begins.get(&v) {
                    None => {
                        begins.insert(v, (*n, o + p));
                    }
                    Some(&(_, at)) if at == o + p => {}
                    Some(&(other, at)) => {
                        vsync += 1;
                        found.push(format!(
                            "node {n} began view {v} after {} messages in total order, node {other} after {at}",
                            o + p
                        ));
                    }
                }
            }
        }
        self.out.order_disagreements += disagreements;
        self.out.vsync_violations += vsync;
        for f in found {
            self.violation(f);
        }
    }

    /// Log the message at node `n`'s next position, then the per-sender exactly-once checker.
    fn ordered_check(&mut self, n: u32, sender: NodeId, body: &[u8]) {
        if let Some((from, index, _)) = read_message(body, self.sc.size) {
            self.nodes[n as usize].to_log.msgs.push((from, index));
        }
        self.check_delivery(n, sender, body);
    }
}

/// Place every log it can by the view it began in: at the position where that view began
/// in a log already placed (logs of removed incarnations serve only if no other does).
fn place_logs(logs: &[(u32, &ToLog)], offset: &mut [Option<usize>]) {
    for use_removed in [false, true] {
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..logs.len() {
                if offset[i].is_some() {
                    continue;
                }
                let want = logs[i].1.first_view;
                let found = logs.iter().zip(offset.iter()).find_map(|((_, l), o)| {
                    let o = (*o)?;
                    (use_removed || !l.removed)
                        .then(|| l.views.iter().find(|(v, _)| *v == want).map(|(_, p)| o + p))
                        .flatten()
                });
                if found.is_some() {
                    offset[i] = found;
                    progress = true;
                }
            }
        }
    }
}
