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

pub use key::{ClusterKey, KeyFileError, KeyRing, KEY_LEN, MAX_EPOCHS};
pub use seal::{Mode, OpenStats, Opened, Opener, Refusal, Sealer, MAX_WINDOWS, TRAILER};
pub use window::{ReplayWindow, Seen, WINDOW};
