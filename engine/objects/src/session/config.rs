//! How a session joins and how large its frames may be.

use crate::object::JOIN_BACKLOG_BYTES;
use std::time::Duration;

/// How a session joins and how large its frames may be.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long a joiner waits for a fenced answer before asking again.
    pub ask_every: Duration,
    /// Requests fenced by every member of the region, without any answer or promise, after
    /// which a joiner concludes nobody holds the object.
    pub unanswered_means_first: u32,
    /// The longest a join may take.
    pub join_timeout: Duration,
    /// The largest message the group carries (frames, MAC included, are at most this).
    pub max_message: usize,
    /// What a joiner may buffer while its checkpoint is on the way, in bytes.
    pub backlog_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ask_every: Duration::from_millis(300),
            unanswered_means_first: 3,
            join_timeout: Duration::from_secs(10),
            max_message: 65_000,
            backlog_bytes: JOIN_BACKLOG_BYTES,
        }
    }
}
