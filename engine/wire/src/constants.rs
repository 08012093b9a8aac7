//! Constants of the wire format: identification and size limits.

/// First two bytes of every argent datagram.
pub const MAGIC: [u8; 2] = *b"AG";
/// Wire format version this crate speaks.
pub const VERSION: u8 = 2;
/// Bytes of the common header.
pub const HEADER_LEN: usize = 12;
/// Bytes of a data frame before its first message (header included).
pub const DATA_PREFIX_LEN: usize = HEADER_LEN + 4 + 8 + 8 + 2;
/// Bytes each aggregated message costs on top of its payload (its length prefix).
pub const MESSAGE_OVERHEAD: usize = 2;
/// Largest datagram argent produces or accepts (the UDP payload limit over IPv4).
pub const MAX_DATAGRAM: usize = 65_507;
/// Most ranges a token carries in one missing-range list (QSM: at most 20).
pub const MAX_TOKEN_RANGES: usize = 20;
/// Most ranges one pull or NAK carries.
pub const MAX_REQUEST_RANGES: usize = 256;
