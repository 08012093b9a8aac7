//! Verifiable messages: every message says which stream it belongs to, where in it, and
//! carries a check word, so a receiver can verify exactly-once, in-order, intact delivery.
//! One layout for `argent bench` (pub/sub), `argent-peer` and the simulator.
//!
//! All integers are little-endian. The short form fits messages of 16 to 31 bytes; the long
//! form, 32 bytes and more, adds a send time, a stream (a group) and a frame (an
//! application payload of its own length, such as the simulator's object updates):
//!
//! ```text
//! short   0..8 index | 8..12 sender | 12..16 check | 16.. fill
//! long    0..8 index | 8..12 sender | 12..16 check | 16..24 send_ns | 24..28 stream
//!         | 28..32 frame length F | 32..32+F frame | fill
//! ```
//!
//! The fill is the low byte of the index, repeated. The check word covers every header
//! field. The end of a stream is marked by a message of the same layout whose index is the
//! number of messages sent, whose check word is XORed with a magic constant, whose send-time
//! slot holds the stream's checksum (the wrapping sum of [`message_sum`] over its messages;
//! long form only), and whose bytes after the header are zeros.

mod checker;
mod layout;
mod sum;

pub use checker::{Checker, Verdict};
pub use layout::{
    now_ns, read, write, write_end, write_summed, Corrupt, Data, End, Header, Message, FRAME_AT, LONG_SIZE,
    MIN_SIZE,
};
pub use sum::message_sum;
