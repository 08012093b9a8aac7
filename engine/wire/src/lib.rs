//! The argent wire format.
//!
//! Every datagram starts with a 12-byte versioned [`Header`] followed by one frame body.
//! All integers are little-endian. Decoding borrows from the datagram: message payloads,
//! range lists and token entries are views into the input, never copies. Every malformed,
//! truncated or hostile input yields a [`DecodeError`]; decoding never panics.
//!
//! ```text
//! header   magic "AG" (2) | version (1) | kind (1) | region u32 | from u32
//! data     sender u32 | seq u64 | count u16 | count × (len u16 | payload)
//! hb       sender u32 | highest u64
//! token    view u64 | round u64 | hop u32 | flags u8 | entries u16 | entries × entry
//! tokenack view u64 | round u64 | hop u32
//! ack      view u64 | round u64 | sender u32 | stable u64 | max_seen u64 | rate min/avg/max u32
//! pull,nak sender u32 | count u16 | count × (start u64 | len u32)
//! alive    (header only)
//! startreq view u64 | sender u32
//! start    view u64 | sender u32 | base u64 | flags u8
//! ```

mod codec;
mod constants;
mod control;
mod data;
mod error;
pub mod fragment;
mod frame;
mod header;
pub mod message;
mod range;
mod request;
mod token;

pub use constants::{
    DATA_PREFIX_LEN, HEADER_LEN, MAGIC, MAX_DATAGRAM, MAX_REQUEST_RANGES, MAX_TOKEN_RANGES, MESSAGE_OVERHEAD,
    VERSION,
};
pub use control::{
    encode_ack, encode_alive, encode_fence_request, encode_heartbeat, encode_start_request,
    encode_stream_start, encode_token_ack, Ack, FenceRequest, Heartbeat, StartRequest, StreamStart, TokenAck,
    STREAM_BEGINS, STREAM_GONE,
};
pub use data::{encode_data_copy, message_count, messages_of, view_of, DataBuilder, DataFrame, Messages};
pub use error::DecodeError;
pub use frame::{decode, Frame};
pub use header::{transmitter, FrameKind, Header};
pub use range::SeqRange;
pub use request::{encode_request, RangeList, RangeRequest};
pub use token::{
    Token, TokenEntries, TokenEntry, TokenEntryRef, TokenFrame, TokenRanges, TOKEN_ENTRY_MAX_LEN,
    TOKEN_HEADER_LEN,
};
