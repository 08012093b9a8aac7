use thiserror::Error;

/// Why a datagram could not be decoded. Decoders return these; they never panic.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The datagram ended before a field was complete.
    #[error("{frame} frame truncated: needed {need} more bytes, {have} left")]
    Truncated {
        /// Frame being decoded.
        frame: &'static str,
        /// Bytes the field needed.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// Not an argent datagram.
    #[error("not an argent datagram: magic {0:02x?}, expected \"AG\"")]
    BadMagic([u8; 2]),
    /// A wire version this build does not speak.
    #[error("unsupported wire version {0} (this build speaks version {v})", v = crate::constants::VERSION)]
    UnsupportedVersion(u8),
    /// A frame kind this build does not know.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// Bytes left over after a complete frame.
    #[error("{frame} frame has {extra} trailing bytes")]
    TrailingBytes {
        /// Frame decoded.
        frame: &'static str,
        /// Bytes left over.
        extra: usize,
    },
    /// A sequence range that is empty, starts at 0 or overflows.
    #[error("{frame} frame has an invalid range: start {start}, length {len}")]
    BadRange {
        /// Frame decoded.
        frame: &'static str,
        /// Start of the range (relative or absolute, as on the wire).
        start: u64,
        /// Length of the range.
        len: u64,
    },
    /// More ranges than the protocol allows.
    #[error("{frame} frame carries {count} ranges, at most {max} are allowed")]
    TooManyRanges {
        /// Frame decoded.
        frame: &'static str,
        /// Ranges announced.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A data frame with a zero sequence number (sequence numbers start at 1).
    #[error("data frame has sequence number 0 (sequence numbers start at 1)")]
    ZeroSequence,
    /// A data frame announcing no messages.
    #[error("data frame carries no messages")]
    EmptyData,
}
