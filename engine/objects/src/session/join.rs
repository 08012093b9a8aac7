//! The joining side of a session: requests, promises, answers, fences, the backlog, the
//! restore, and asking again.

use super::events::{JoinError, Problem, Sabotage, SessionEvent, Transmit};
use super::origin::update_from;
use super::state::{Phase, Session};
use crate::frame::{
    encode, parse_checkpoint, parse_request, request, TAG_BYTES, TAG_CHECKPOINT, TAG_CHECKPOINT_PART,
    TAG_PENDING, TAG_REFUSED, TAG_REQUEST, TAG_UPDATE,
};
use crate::object::{Joining, LiveObject, ObjectError, Position};
use argent_core::Instant;

impl<O: LiveObject> Session<O> {
    /// Ask for a checkpoint and for the region's fences, with a new nonce — unless so many
    /// requests were fenced by every member of the region (so the members were reachable)
    /// and nobody answered or promised an answer that nobody holds the object, and what was
    /// buffered starts at every sender's first update: then start from the initial state.
    /// (Unanswered requests alone do not suffice: a joiner cut off from the members hears
    /// nothing either.)
    pub(super) fn ask(&mut self, now: Instant) {
        let unfenced = self.sabotaged(Sabotage::UnfencedFirst);
        let Phase::Joining(j) = &mut self.phase else { return };
        if j.requests > 0
            && (unfenced
                || !self.members.is_empty() && self.fences.complete((self.origin, j.nonce), &self.members))
        {
            j.fenced += 1;
        }
        if j.fenced >= self.cfg.unanswered_means_first && j.answers == 0 {
            // Nobody holds the object: a durable one starts from what the disk held.
            let start = match self.stored() {
                Some((checkpoint, position)) => Ok((checkpoint.clone(), position.clone())),
                None => O::checkpoint(&O::initial()).map(|c| (c, Position::new())),
            };
            match start {
                Ok((checkpoint, position)) => {
                    if self.restore(now, &checkpoint, &position, true) {
                        return;
                    }
                }
                Err(e) => self.problem(Problem::NoCheckpoint(e.to_string())),
            }
        }
        let Phase::Joining(j) = &mut self.phase else { return };
        j.nonce += 1;
        j.answer = None;
        j.requests += 1;
        j.next_ask = now + self.cfg.ask_every;
        let nonce = j.nonce;
        self.stats.requests += 1;
        self.fences.request((self.origin, nonce), false);
        self.publish(encode(TAG_REQUEST, self.id.0, &[&request(self.origin, nonce)]));
        self.transmits.push_back(Transmit::RequestFences { key: self.origin, nonce });
    }

    /// A frame of the object delivered to a joiner.
    pub(super) fn joiner_message(&mut self, now: Instant, node: u32, tag: u8, body: &[u8]) {
        let origin = self.origin;
        let Phase::Joining(j) = &mut self.phase else { return };
        // Only a member may hand a joiner its state or turn it away. (Promises are not
        // filtered: a member this joiner's view does not list yet may promise, and ignoring
        // a promise could make the joiner believe nobody holds the object.)
        let answer = matches!(tag, TAG_CHECKPOINT | TAG_CHECKPOINT_PART | TAG_REFUSED);
        if answer && !self.members.contains(&u64::from(node)) {
            // Counted, not reported: a member that just left (or that this joiner's view
            // does not list yet) answers like this too; the joiner asks again.
            self.stats.not_member_answers += 1;
            return;
        }
        match tag {
            TAG_CHECKPOINT_PART => {
                if let Some(whole) = j.parts.push(u64::from(node), body) {
                    self.answered(&whole);
                }
            }
            TAG_CHECKPOINT => self.answered(body),
            TAG_REFUSED => {
                if parse_request(body).is_some_and(|(to, _)| to == origin) {
                    self.fail(JoinError::Refused);
                }
            }
            TAG_UPDATE => {
                match update_from::<O::Op>(body, node).and_then(|u| j.joining.deliver_update(u, body.len())) {
                    Ok(()) => {}
                    Err(e @ ObjectError::BacklogFull { .. }) => self.fail(JoinError::BacklogFull(e)),
                    // A malformed update does not stop the join: it is applied nowhere.
                    Err(e) => {
                        self.stats.rejected += 1;
                        self.problem(Problem::UpdateRefused(e));
                    }
                }
            }
            TAG_PENDING => {
                if parse_request(body) == Some((origin, j.nonce)) {
                    j.answers += 1;
                }
            }
            // Other joiners' requests (a joiner answers nothing) and raw events.
            TAG_REQUEST | TAG_BYTES => {}
            other => self.problem(Problem::UnknownTag(other)),
        }
        self.settle(now);
    }

    /// A whole checkpoint frame's body: kept if it answers this joiner's latest request
    /// and is the first to.
    fn answered(&mut self, body: &[u8]) {
        let origin = self.origin;
        let Phase::Joining(j) = &mut self.phase else { return };
        let Some((to, nonce, position, checkpoint)) = parse_checkpoint(body) else {
            self.problem(Problem::Malformed { tag: TAG_CHECKPOINT });
            return;
        };
        if to != origin || nonce != j.nonce || j.answer.is_some() {
            return; // another joiner's, an answer to an earlier request, or a second one
        }
        j.answers += 1;
        match Position::decode(position) {
            Ok(p) => j.answer = Some((checkpoint.to_vec(), p)),
            Err(e) => self.problem(Problem::BadPosition(e)),
        }
    }

    /// Restore the answer once every current member's fence for the request is in.
    pub(super) fn try_restore(&mut self, now: Instant) {
        let Phase::Joining(j) = &mut self.phase else { return };
        if j.answer.is_none() {
            return;
        }
        let fenced = !self.members.is_empty() && self.fences.complete((self.origin, j.nonce), &self.members);
        if !fenced {
            return;
        }
        let Some((checkpoint, position)) = j.answer.take() else { return };
        self.restore(now, &checkpoint, &position, false);
    }

    /// Become a member from `checkpoint` at `position` and the backlog; `initial`: nobody
    /// holds the object. Returns whether the join completed.
    fn restore(&mut self, now: Instant, checkpoint: &[u8], position: &Position, initial: bool) -> bool {
        let Phase::Joining(j) = &mut self.phase else { return false };
        let placeholder = Joining::with_limit(self.origin, 0);
        let mut joining = std::mem::replace(&mut j.joining, placeholder);
        if !initial && self.sabotage == Some(Sabotage::DropBacklog) {
            joining = Joining::with_limit(self.origin, self.cfg.backlog_bytes);
        }
        let backlog = joining.backlog();
        match joining.complete(checkpoint, position) {
            Ok(joined) => {
                self.phase = Phase::Member(joined.proxy);
                // A durable object's replica starts with the joined state (on disk before
                // the join is reported).
                self.persist_base();
                let stored = initial && self.stored().is_some();
                self.events.extend(joined.changes.into_iter().map(SessionEvent::Changed));
                self.events.push_back(SessionEvent::Joined { backlog, initial: initial && !stored, stored });
                true
            }
            Err((joining, e @ ObjectError::Gap { .. })) => {
                j.joining = joining;
                if !initial {
                    // Not expected once fenced (a view change in between may do it): ask again.
                    self.stats.join_retries += 1;
                    self.problem(Problem::FencedCheckpointRefused(e));
                    self.ask(now);
                }
                false
            }
            // A checkpoint that does not decode as this kind will not decode next time
            // either: the members hold the object as another kind or value type.
            Err((_, e)) => {
                self.fail(JoinError::Incompatible(e));
                false
            }
        }
    }
}
