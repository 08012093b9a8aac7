//! What a durable session keeps for its binding to write: the records, in order, and its
//! bookkeeping (the log's size since the last base).

use crate::object::Position;
use std::collections::VecDeque;

/// What a durable session asks its binding to keep on disk, in the order polled
/// ([`Session::poll_persist`](super::Session::poll_persist)). The binding writes each before it hands out the changes
/// made by the same input, and makes them durable (fsync) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persist {
    /// A new base: the state's position (encoded) and checkpoint, including every update
    /// persisted before; once it is durable the log before it may be emptied.
    Base {
        /// The encoded [`Position`].
        position: Vec<u8>,
        /// The kind's checkpoint.
        checkpoint: Vec<u8>,
    },
    /// An update applied (the encoded update, as delivered), after everything before.
    Update(Vec<u8>),
}

/// A durable session's bookkeeping.
#[derive(Debug)]
pub(super) struct Durable {
    pub(super) log_limit: usize,
    /// Bytes of updates persisted since the last base.
    pub(super) logged: usize,
    /// The last base's size.
    pub(super) base: usize,
    /// The state to start from when nobody holds the object (else the initial one).
    pub(super) stored: Option<(Vec<u8>, Position)>,
    /// Bounded by what one input makes (a delivery's update, or a join's base): the binding
    /// drains it after every input.
    pub(super) queue: VecDeque<Persist>,
}
