//! How a proxy is opened, and what it counts.

use argent_objects::key::ObjectKey;
use argent_objects::object::ProxyStats;
use std::path::PathBuf;
use std::time::Duration;

/// How long publishing waits for room in the publisher's ring before it gives up.
pub(super) const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// How a proxy is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The longest a join may take before [`LiveError::JoinTimeout`](super::LiveError::JoinTimeout).
    pub join_timeout: Duration,
    /// The object's key, for an authenticated object (`auth = "key"` in its reference).
    pub key: Option<ObjectKey>,
    /// Where a durable object (`durable = "true"`) keeps its replica (see
    /// [`data_dir`](super::data_dir) for the default: `$ARGENT_DATA_DIR`, else
    /// `$XDG_STATE_HOME/argent`, else `~/.local/state/argent`).
    pub data_dir: Option<PathBuf>,
    /// A durable object's log is compacted (a new base checkpoint, the log emptied) past
    /// this many bytes, or twice the base's size if larger.
    pub log_limit: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            join_timeout: Duration::from_secs(10),
            key: None,
            data_dir: None,
            log_limit: argent_objects::durable::DEFAULT_LOG_LIMIT,
        }
    }
}

/// Counters of one proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// The object layer's counters (updates sent, applied, duplicates skipped).
    pub proxy: ProxyStats,
    /// Frames of this object that failed its key, or updates that did not decode or apply.
    pub rejected: u64,
    /// Checkpoints sent to joiners.
    pub checkpoints_sent: u64,
    /// Changes dropped for watchers that did not keep up (their queue was full).
    pub watch_lagged: u64,
}
