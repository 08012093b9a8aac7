//! What can go wrong decoding, stamping or applying updates.

use thiserror::Error;

/// An update, checkpoint or position that could not be encoded, decoded or applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ObjectError {
    /// Nothing to decode: every encoding starts with a format version byte.
    #[error("empty {what}: expected a format version byte")]
    Empty {
        /// Which encoding ("update", "checkpoint", "position").
        what: &'static str,
    },
    /// Written by another format version of this crate.
    #[error("{what} format version {found}, this build reads version {expected}")]
    Version {
        /// Which encoding.
        what: &'static str,
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        expected: u8,
    },
    /// The body does not decode, or decodes to a value that breaks an invariant.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which encoding.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A value could not be serialised (its `Serialize` implementation failed).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// Which encoding.
        what: &'static str,
        /// The serialiser's message.
        reason: String,
    },
    /// An update arrived after a gap in its sender's sequence: the driver lost or reordered
    /// updates, or a joiner's checkpoint does not cover what it missed.
    #[error(
        "update {found} from origin {origin} arrived while {expected} was expected: updates \
         were lost or reordered, or the checkpoint does not cover them; rejoin from a newer checkpoint"
    )]
    Gap {
        /// The sender.
        origin: u64,
        /// The sequence number that should have come next.
        expected: u64,
        /// The sequence number that came.
        found: u64,
    },
    /// An update's Lamport time does not exceed its sender's previous one, so the sender
    /// is not following the protocol.
    #[error(
        "update {seq} from origin {origin} has Lamport time {lamport}, not after the \
         previous update's {previous}: the sender is broken or two proxies share an origin"
    )]
    StaleStamp {
        /// The sender.
        origin: u64,
        /// The update's sequence number.
        seq: u64,
        /// Its Lamport time.
        lamport: u64,
        /// The Lamport time of the sender's previous update.
        previous: u64,
    },
    /// An update's Lamport time runs further ahead of this proxy's clock than any working
    /// proxy's can ([`super::proxy::MAX_LAMPORT_LEAP`]): taking it would push every clock
    /// toward `u64::MAX` and, for last-writer-wins kinds, make that update win for good.
    #[error(
        "update {seq} from origin {origin} has Lamport time {lamport}, more than 2^32 past this          proxy's {latest}: refused (a broken sender)"
    )]
    StampAhead {
        /// The sender.
        origin: u64,
        /// The update's sequence number.
        seq: u64,
        /// Its Lamport time.
        lamport: u64,
        /// This proxy's clock.
        latest: u64,
    },
    /// A counter reached `u64::MAX`; the proxy cannot stamp more updates.
    #[error("the {0} is exhausted; start a new proxy incarnation with a fresh origin")]
    Exhausted(&'static str),
    /// A joiner's origin already has updates in the checkpoint it joins from.
    #[error("origin {0} already sent updates included in the checkpoint; a joiner needs a fresh origin")]
    OriginInUse(u64),
    /// A joiner buffered more than its limit before its checkpoint arrived.
    #[error("join backlog would exceed {limit} bytes; the checkpoint is late, ask again or raise the limit")]
    BacklogFull {
        /// The limit, in encoded bytes.
        limit: usize,
    },
}
