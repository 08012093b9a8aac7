//! A joiner's state between its first request and its restore.

use super::config::SessionConfig;
use super::events::JoinError;
use crate::frame::Assembler;
use crate::object::{Fences, Joining, LiveObject, Position};
use argent_core::Instant;
use std::time::Duration;

/// A joiner's state between its first request and its restore.
pub(super) struct Joiner<O: LiveObject> {
    pub(super) joining: Joining<O>,
    /// Checkpoints arriving in parts, per sending node.
    pub(super) parts: Assembler,
    pub(super) deadline: Instant,
    pub(super) next_ask: Instant,
    /// Nonce of the latest request; answers to earlier ones are ignored.
    pub(super) nonce: u64,
    pub(super) requests: u32,
    /// Requests whose fences were all in by the time of the next request: every member of
    /// the region was reachable, and none answered or promised.
    pub(super) fenced: u32,
    /// Answers and promises received, to any request.
    pub(super) answers: u32,
    /// The first answer to the latest request, restored once every member's fence is in.
    pub(super) answer: Option<(Vec<u8>, Position)>,
}

impl<O: LiveObject> Joiner<O> {
    pub(super) fn new(origin: u64, cfg: &SessionConfig, now: Instant) -> Self {
        Joiner {
            joining: Joining::with_limit(origin, cfg.backlog_bytes),
            parts: Assembler::new(cfg.backlog_bytes),
            deadline: now + cfg.join_timeout,
            next_ask: now,
            nonce: 0,
            requests: 0,
            fenced: 0,
            answers: 0,
            answer: None,
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(super) fn next_ask(&self) -> Instant {
        self.next_ask
    }

    pub(super) fn timeout_error(&self, waited: Duration) -> JoinError {
        JoinError::Timeout {
            waited,
            requests: self.requests,
            answers: self.answers,
            buffered: self.joining.backlog(),
        }
    }

    pub(super) fn describe(&self, fences: &Fences, members: &[u64]) -> String {
        format!(
            "request {}: {}, fences from {:?} of members {members:?}, {} updates buffered",
            self.nonce,
            if self.answer.is_some() { "answered" } else { "no answer" },
            fences.fenced((self.joining_origin(), self.nonce)),
            self.joining.backlog(),
        )
    }

    fn joining_origin(&self) -> u64 {
        self.joining.origin()
    }
}
