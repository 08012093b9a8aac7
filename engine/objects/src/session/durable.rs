//! A durable session's part: what it asks its binding to keep on disk, in order, and the
//! stored state a joiner starts from when nobody holds the object.

use super::events::Problem;
use super::persist::{Durable, Persist};
use super::state::{Phase, Session};
use crate::durable::Durability;
use crate::object::{LiveObject, Position};
use std::collections::VecDeque;

impl<O: LiveObject> Session<O> {
    /// Makes the session durable (call before its first input): it asks its binding to keep
    /// a base and a log of what it applies ([`Session::poll_persist`]), and a joiner that
    /// finds nobody holding the object starts from `durability.stored` instead of the
    /// initial state.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durable = Some(Durable {
            log_limit: durability.log_limit,
            logged: 0,
            base: 0,
            stored: durability.stored,
            queue: VecDeque::new(),
        });
        if self.is_member() {
            self.persist_base();
        }
        self
    }

    /// The next record to keep on disk, in order.
    pub fn poll_persist(&mut self) -> Option<Persist> {
        self.durable.as_mut().and_then(|d| d.queue.pop_front())
    }

    /// Queues a base of the state as it is now.
    pub(super) fn persist_base(&mut self) {
        let (Some(d), Phase::Member(proxy)) = (&mut self.durable, &self.phase) else { return };
        match proxy.position().encode().and_then(|p| Ok((p, proxy.checkpoint()?))) {
            Ok((position, checkpoint)) => {
                d.logged = 0;
                d.base = position.len() + checkpoint.len();
                d.queue.push_back(Persist::Base { position, checkpoint });
            }
            // The state is still served; the disk keeps the last base and the log grows
            // until a base can be made.
            Err(e) => self.problem(Problem::NoCheckpoint(format!("no base for the disk: {e}"))),
        }
    }

    /// Queues an applied update, then a new base when the log outgrew its bound.
    pub(super) fn persist_update(&mut self, update: &[u8]) {
        let Some(d) = &mut self.durable else { return };
        d.queue.push_back(Persist::Update(update.to_vec()));
        d.logged = d.logged.saturating_add(update.len() + crate::durable::RECORD_HEADER);
        if d.logged > d.log_limit.max(d.base.saturating_mul(2)) {
            self.persist_base();
        }
    }

    /// The stored state, if the session is durable and the disk held one.
    pub(super) fn stored(&self) -> Option<&(Vec<u8>, Position)> {
        self.durable.as_ref().and_then(|d| d.stored.as_ref())
    }
}
