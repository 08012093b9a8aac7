//! argent's datagram authentication, sans-IO.
//!
//! A cluster shares a key file ([`KeyRing`]); every node derives the keys of every sender
//! from it ([`ClusterKey::node_key`]), so a datagram's tag proves which member sealed it.
//! A node seals what it sends ([`Sealer`]) and opens what it receives ([`Opener`]): the
//! trailer's version, mode and key epoch, the sender's membership, the replay window of the
//! sender's channel and the tag are checked, each refusal counted, and nothing is kept for a
//! datagram that fails. In `aead` mode bodies are encrypted as well. Opening never panics,
//! whatever the input (property-tested and fuzzed).

mod key;
mod seal;
mod window;

pub use key::{ClusterKey, KeyFileError, KeyRing, KEY_LEN, MAX_EPOCHS, WRAPPED_LEN};

/// How long after a member learns a new key epoch (from the membership service) it starts
/// sealing under it: every member learns it from the same view within milliseconds, so by
/// then every receiver opens it; a receiver that has not is like one that lost the
/// datagram, and the protocol repairs it.
pub const ACTIVATION: std::time::Duration = std::time::Duration::from_secs(2);
pub use seal::{Mode, OpenStats, Opened, Opener, Refusal, Sealer, MAX_WINDOWS, TRAILER};
pub use window::{ReplayWindow, Seen, WINDOW};

/// A cluster key and how to use it: what a keyed node, GMS replica or tool is given.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The cluster's keys (a key file).
    pub keys: KeyRing,
    /// Tags only, or AEAD.
    pub mode: Mode,
}

/// Sender ids of membership-service traffic: replicas seal as `REPLICA_IDS | raft id`, a
/// member as its node id, and a process without an id yet (asking for one, or for the
/// status) as [`ANONYMOUS`].
pub const REPLICA_IDS: u32 = 0xFFFF_0000;
/// The sender id of a process that has no node id.
pub const ANONYMOUS: u32 = u32::MAX;
