//! The serving side of a session: updates applied, requests promised and answered once
//! fenced, forged requests refused.

use super::events::{Problem, Sabotage, SessionEvent, Transmit};
use super::origin::update_from;
use super::state::{Phase, Session};
use crate::frame::{
    checkpoint_frames, encode, parse_request, request, TAG_BYTES, TAG_CHECKPOINT, TAG_CHECKPOINT_PART,
    TAG_PENDING, TAG_REFUSED, TAG_REQUEST, TAG_UPDATE,
};
use crate::key::MAC_LEN;
use crate::object::LiveObject;

impl<O: LiveObject> Session<O> {
    /// A frame of the object delivered to a member.
    pub(super) fn member_message(&mut self, node: u32, tag: u8, body: &[u8]) {
        let Phase::Member(proxy) = &mut self.phase else { return };
        match tag {
            TAG_UPDATE => {
                let applied = proxy.stats().applied;
                let outcome = update_from(body, node).and_then(|u| proxy.deliver_update(u));
                if proxy.stats().applied > applied {
                    // Kept on disk (a durable object) before the change is handed out.
                    self.persist_update(body);
                }
                match outcome {
                    Ok(Some(change)) => self.events.push_back(SessionEvent::Changed(change)),
                    Ok(None) => {}
                    Err(e) => {
                        self.stats.rejected += 1;
                        self.problem(Problem::UpdateRefused(e));
                    }
                }
            }
            TAG_REQUEST => {
                let Some(req) = parse_request(body) else {
                    self.problem(Problem::Malformed { tag });
                    return;
                };
                self.fences.request(req, true);
                // A promise at once: the joiner then knows the object has members.
                self.publish(encode(TAG_PENDING, self.id.0, &[&request(req.0, req.1)]));
                self.answer_due();
            }
            // For joiners: answers, promises, refusals; raw events are the byte stream's.
            TAG_CHECKPOINT | TAG_CHECKPOINT_PART | TAG_PENDING | TAG_REFUSED | TAG_BYTES => {}
            other => self.problem(Problem::UnknownTag(other)),
        }
    }

    /// A frame of this object that failed its key: dropped and counted; a member refuses a
    /// forged request, so that a joiner with the wrong key learns it at once.
    pub(super) fn forged(&mut self, tag: u8, body: &[u8]) {
        self.stats.rejected += 1;
        self.problem(Problem::Forged { tag });
        if tag != TAG_REQUEST || !self.is_member() {
            return;
        }
        if let Some((to, nonce)) = parse_request(body) {
            // Unsigned: the joiner cannot check our MAC (refusals never carry one).
            let refusal = encode(TAG_REFUSED, self.id.0, &[&request(to, nonce)]);
            self.transmits.push_back(Transmit::Publish(refusal));
        }
    }

    /// Answer the requests every current member has fenced, with a checkpoint taken now.
    pub(super) fn answer_due(&mut self) {
        if self.fences.waiting() == 0 {
            return;
        }
        // Sabotaged: every waiting request is due at once (complete over no members).
        let early = self.sabotaged(Sabotage::AnswerBeforeFences);
        if self.members.is_empty() && !early {
            return; // members not known yet
        }
        let members = if early { Vec::new() } else { self.members.clone() };
        for (to, nonce) in self.fences.due(&members) {
            self.answer(to, nonce);
        }
    }

    /// Publish a checkpoint and its position for joiner `to`'s request `nonce`, in parts
    /// if it does not fit one message.
    fn answer(&mut self, to: u64, nonce: u64) {
        let Phase::Member(proxy) = &self.phase else { return };
        let made = proxy.position().encode().and_then(|pos| Ok((pos, proxy.checkpoint()?)));
        let (position, checkpoint) = match made {
            Ok(m) => m,
            Err(e) => return self.problem(Problem::NoCheckpoint(e.to_string())),
        };
        let mac = if self.key.is_some() { MAC_LEN } else { 0 };
        let max = self.cfg.max_message.saturating_sub(mac);
        let Some(frames) = checkpoint_frames(self.id.0, to, nonce, &position, &checkpoint, max) else {
            let why =
                format!("messages of {} bytes leave no room for a checkpoint part", self.cfg.max_message);
            return self.problem(Problem::NoCheckpoint(why));
        };
        for f in frames {
            self.publish(f);
        }
        self.stats.checkpoints_sent += 1;
    }
}
