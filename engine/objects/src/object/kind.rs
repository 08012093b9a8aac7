//! The trait every kind of live object implements.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ObjectError;
use super::stamp::Stamp;

/// A kind of live object: its replicated state and how one update changes it.
///
/// Implementations must make `apply` convergent: applying the same set of updates (each
/// with a distinct stamp) in any order must give states whose [`LiveObject::checkpoint`]
/// bytes are equal. The built-in kinds do this by deciding every conflict by [`Stamp`] —
/// except those whose category needs total order
/// ([`Category::needs`](crate::types::Category::needs)): their `apply` must be
/// deterministic, so that replicas applying the same updates in the same order (the only
/// order a total-order driver delivers) reach equal states.
pub trait LiveObject {
    /// The replicated state every proxy holds.
    type State;
    /// What an application asks for (for example "set the value to 5"); sent in an
    /// [`Update`](super::Update) and applied when delivered.
    type Op: Serialize + DeserializeOwned;
    /// What an applied update changed, for watchers.
    type Change;

    /// The state of an object nobody has updated yet.
    fn initial() -> Self::State;

    /// Apply one delivered update; returns what changed, or `None` when it changed nothing
    /// a watcher can see (a stale write, a write of the same value).
    fn apply(state: &mut Self::State, stamp: Stamp, op: Self::Op) -> Option<Self::Change>;

    /// Serialise the state for a joiner (see [`encode_checkpoint`](super::encode_checkpoint));
    /// equal states must give equal bytes.
    fn checkpoint(state: &Self::State) -> Result<Vec<u8>, ObjectError>;

    /// Rebuild a state from [`LiveObject::checkpoint`] bytes; untrusted input, so it
    /// returns an error on anything malformed and never panics.
    fn restore(bytes: &[u8]) -> Result<Self::State, ObjectError>;
}
