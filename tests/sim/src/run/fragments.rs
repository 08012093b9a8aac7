//! Fragmented runs: messages larger than a datagram carries. Senders cut each message into
//! fragments and receivers put them back together with the runtime's own sans-IO code
//! (`argent_wire::fragment`), so loss, repair, crashes and churn exercise it; the checkers
//! then see whole messages only.

use super::limits::REGION;
use super::sim::Sim;
use argent_core::{Instant, NodeId};
use argent_qsm::PublishError;
use argent_wire::fragment::{fragments, parse_fragment};

impl Sim<'_> {
    /// The application at a sender in a fragmented run: publish fragments until the buffer
    /// pushes back, a message's next fragment first.
    pub(super) fn pump_fragments(&mut self, n: u32, at: Instant) {
        let sc = self.sc;
        let mut t = at;
        let max = sc.qsm.max_message_len();
        loop {
            let node = &mut self.nodes[n as usize];
            let region = node.region.as_ref().map_or(REGION, |r| r.0);
            let Some(app) = node.app.as_mut() else { return };
            if app.next >= sc.messages {
                break;
            }
            if app.frags.is_empty() {
                let mut msg = vec![0; sc.size];
                super::app::write_message(&mut msg, n, app.next, &[]);
                // The message id is its index: a message restarted in a new stream after a
                // rejoin replaces what receivers held of it.
                let cut = fragments(0, app.next, &msg, max).expect("scenario validated: fragments fit");
                app.frags.extend(cut);
            }
            let f = app.frags.front().expect("just filled");
            match node.proto.claim(t, region, f.len()) {
                Ok(mut claim) => {
                    claim.copy_from_slice(f);
                    claim.commit();
                    app.frags.pop_front();
                    app.frag_sent = !app.frags.is_empty();
                    if app.frags.is_empty() {
                        app.next += 1;
                    }
                    t += sc.cpu_per_message * node.slow;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => panic!("scenario validated, yet publish failed: {e}"),
            }
        }
        self.sender_progress(n, t);
    }

    /// A fragment delivered to node `n`: into its reassembly, and the message it completes to
    /// the checkers. Anything but a fragment is a violation in a fragmented run.
    pub(super) fn reassemble(&mut self, n: u32, sender: NodeId, msg: &[u8]) {
        let Some(f) = parse_fragment(msg) else {
            self.violation(format!("node {n}: a {}-byte message from {sender} is not a fragment", msg.len()));
            return;
        };
        let r = &mut self.nodes[n as usize].reassembly;
        let before = r.stats();
        let whole = r.add(sender, f);
        let (after, (held, _)) = (r.stats(), r.held());
        self.out.fragments_orphaned += after.out_of_order - before.out_of_order;
        self.out.partials_evicted += after.evicted - before.evicted;
        self.out.max_partials_held = self.out.max_partials_held.max(held as u64);
        if let Some((group, bytes)) = whole {
            self.out.reassembled += 1;
            if group != 0 {
                self.violation(format!("node {n}: reassembled a message for group {group} from {sender}"));
                return;
            }
            self.check_message(n, sender, &bytes);
        }
    }
}
