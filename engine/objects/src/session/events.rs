//! What a session hands out: transmits, events, errors, problems, counters; and the test-only
//! sabotage knobs.

use crate::object::{ObjectError, ProxyStats};
use std::time::Duration;
use thiserror::Error;

/// What the session asks its driver binding to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Publish this frame into the object's group (in the order polled).
    Publish(Vec<u8>),
    /// Ask every node of the group's region for a fence for request `(key, nonce)`.
    RequestFences {
        /// The joiner's origin.
        key: u64,
        /// The request's nonce.
        nonce: u64,
    },
}

/// What happened, for the application and the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent<C> {
    /// A delivered update changed the state (also each buffered update applied at the end
    /// of a join).
    Changed(C),
    /// The join completed: the session is a member.
    Joined {
        /// Updates buffered while joining.
        backlog: usize,
        /// Nobody held the object: started from the initial state.
        initial: bool,
        /// Nobody held the object: started from the state a durable object's disk held.
        stored: bool,
    },
    /// The join failed for good; the session serves nothing.
    Failed(JoinError),
    /// Something was refused or went wrong; the session goes on.
    Problem(Problem),
}

/// Why a join failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JoinError {
    /// The members refused this session's key.
    #[error("the members refused this process's key: it is not the object's key")]
    Refused,
    /// The members' checkpoint does not restore as this kind.
    #[error("the members' checkpoint does not restore as the kind opened here ({0}): do they hold it as another class or value type?")]
    Incompatible(ObjectError),
    /// The joiner buffered more than its limit.
    #[error("{0}")]
    BacklogFull(ObjectError),
    /// No usable answer in time.
    #[error(
        "joining took longer than {waited:?} ({requests} checkpoint requests, {answers} answers or promises \
         of one, {buffered} updates buffered meanwhile): no member answered, or not every member of the \
         group's region fenced the request (a member that cannot publish?)"
    )]
    Timeout {
        /// How long the join waited.
        waited: Duration,
        /// Requests sent.
        requests: u32,
        /// Answers and promises received.
        answers: u32,
        /// Updates buffered.
        buffered: usize,
    },
}

/// Something refused or gone wrong that does not stop the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A frame of this object failed its key (dropped; a forged request is refused).
    Forged {
        /// The frame's tag.
        tag: u8,
    },
    /// A delivered update was not applied (malformed, another node's origin, a gap).
    UpdateRefused(ObjectError),
    /// A frame of this object that does not parse.
    Malformed {
        /// The frame's tag.
        tag: u8,
    },
    /// An answer whose position does not decode.
    BadPosition(ObjectError),
    /// A fenced answer that does not cover what the joiner buffered (asked again).
    FencedCheckpointRefused(ObjectError),
    /// This member could not answer a joiner.
    NoCheckpoint(String),
    /// A frame with a tag this build does not know.
    UnknownTag(u8),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Forged { tag } => write!(f, "a frame (tag {tag}) failed the object's key: dropped"),
            Problem::UpdateRefused(e) => write!(f, "update not applied: {e}"),
            Problem::Malformed { tag } => write!(f, "a frame (tag {tag}) that does not parse"),
            Problem::BadPosition(e) => write!(f, "a checkpoint with a bad position: {e}"),
            Problem::FencedCheckpointRefused(e) => {
                write!(f, "fenced checkpoint does not cover the join ({e}); asking again")
            }
            Problem::NoCheckpoint(e) => write!(f, "no checkpoint for a joiner: {e}"),
            Problem::UnknownTag(t) => write!(f, "a frame with unknown tag {t}"),
        }
    }
}

/// Why an update could not be submitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    /// The session has not joined (or its join failed).
    #[error("the object is not joined yet")]
    NotJoined,
    /// The update's frame would not fit one message; nothing was numbered.
    #[error("a frame of {len} bytes does not fit one message (at most {max})")]
    TooLarge {
        /// Its size with the frame.
        len: usize,
        /// The largest message.
        max: usize,
    },
    /// The object layer refused (an operation that does not encode, an exhausted clock).
    #[error(transparent)]
    Object(#[from] ObjectError),
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// The proxy's counters (updates sent, applied, duplicates skipped).
    pub proxy: ProxyStats,
    /// Frames of this object refused: forged, or updates that did not decode or apply.
    pub rejected: u64,
    /// Checkpoints sent to joiners.
    pub checkpoints_sent: u64,
    /// Checkpoint requests this session sent while joining.
    pub requests: u64,
    /// Fenced answers refused as not covering the join (asked again).
    pub join_retries: u64,
    /// Checkpoints, parts and refusals a joiner ignored because their node is not a current
    /// member of the object's region (only members hand out state or turn a joiner away).
    pub not_member_answers: u64,
}

/// A test-only knob that breaks one decision of the session on purpose, so the simulator
/// can prove its checkers catch it (set only with the feature `sabotage`, which only the
/// simulator enables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// A joiner restores its answer from the checkpoint alone, dropping the updates it
    /// buffered while joining.
    DropBacklog,
    /// A member answers a request at once, without waiting for every member's fence.
    AnswerBeforeFences,
    /// A joiner concludes nobody holds the object after unanswered requests alone, fenced or
    /// not (the rule before the simulator drove the shipped session).
    UnfencedFirst,
}
