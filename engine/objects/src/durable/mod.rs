//! Durable objects, sans-IO: what a proxy of an object whose reference says
//! `durable = "true"` keeps on disk, in which format, and how a state is rebuilt from it.
//! The binding (`argent::live`) does the file I/O; the session decides what to write
//! ([`crate::session::Persist`]) and when to compact.
//!
//! Each proxy keeps a *replica*: a base checkpoint (the state and its
//! [`Position`], [`encode_base`]) and a log of the updates it
//! applied since, in the order it applied them ([`encode_record`]: length, checksum, the
//! update as delivered). When the log outgrows its bound ([`Durability::log_limit`], or
//! twice the base, whichever is larger) the session asks for a new base, after which the
//! binding empties the log: a replica's size stays within its state's checkpoint plus the
//! bound plus one update.
//!
//! Reading never panics and bounds every length: a record or base that is torn (a crash
//! mid-write) or fails its checksum ends what is read there ([`decode_records`] returns the
//! records before it), and [`rebuild`] applies the log to the base exactly as a proxy
//! would, skipping what the base includes.

mod format;
mod rebuild;

#[cfg(test)]
mod tests;

pub use format::{
    decode_base, decode_records, encode_base, encode_record, Base, Records, BASE_MAGIC, BASE_VERSION,
    MAX_BASE_BYTES, MAX_RECORD_BYTES, RECORD_HEADER,
};
pub use rebuild::{rebuild, Rebuilt};

use crate::object::Position;

/// Default bound of a replica's log, bytes ([`Durability::log_limit`]).
pub const DEFAULT_LOG_LIMIT: usize = 1 << 20;

/// How a durable session keeps its replica.
#[derive(Debug, Clone)]
pub struct Durability {
    /// Compact (a new base, the log emptied) once the log holds more than this many bytes
    /// or twice the last base's size, whichever is larger.
    pub log_limit: usize,
    /// What the disk holds from earlier proxies (rebuilt by [`rebuild`]): the state a
    /// joiner starts from instead of the initial one when nobody holds the object.
    pub stored: Option<(Vec<u8>, Position)>,
}

impl Default for Durability {
    fn default() -> Self {
        Durability { log_limit: DEFAULT_LOG_LIMIT, stored: None }
    }
}
