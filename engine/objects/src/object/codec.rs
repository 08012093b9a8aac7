//! Versioned postcard encodings of updates, checkpoints and positions.
//!
//! Each encoding is one format version byte followed by the postcard body, with nothing
//! after it. Decoders take untrusted bytes and return typed errors; they never panic.

use super::error::ObjectError;
use super::stamp::Stamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Format version of an encoded [`Update`].
pub const UPDATE_VERSION: u8 = 1;
/// Format version of an encoded checkpoint (see [`encode_checkpoint`]).
pub const CHECKPOINT_VERSION: u8 = 1;
/// Format version of an encoded [`super::Position`].
pub const POSITION_VERSION: u8 = 1;

/// One update as it travels through the driver: who stamped it when, its place in its
/// sender's stream, and the operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update<Op> {
    /// Decides conflicts; `stamp.origin` is the sender.
    pub stamp: Stamp,
    /// Position in the sender's stream, from 1, with no gaps; makes delivery idempotent and
    /// a joiner's overlap with its checkpoint exact.
    pub seq: u64,
    /// What the sender's application asked for.
    pub op: Op,
}

impl<Op: Serialize> Update<Op> {
    /// Encode with the [`UPDATE_VERSION`] prefix.
    pub fn encode(&self) -> Result<Vec<u8>, ObjectError> {
        encode_versioned("update", UPDATE_VERSION, self)
    }
}

impl<Op: DeserializeOwned> Update<Op> {
    /// Decode untrusted bytes; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, ObjectError> {
        let update: Self = decode_versioned("update", UPDATE_VERSION, bytes)?;
        if update.seq == 0 || update.stamp.lamport == 0 {
            return Err(ObjectError::Malformed {
                what: "update",
                reason: "sequence numbers and Lamport times start at 1".into(),
            });
        }
        Ok(update)
    }
}

/// Encode a kind's state as a checkpoint: the [`CHECKPOINT_VERSION`] byte and postcard.
/// For implementations of [`super::LiveObject::checkpoint`].
pub fn encode_checkpoint<S: Serialize>(state: &S) -> Result<Vec<u8>, ObjectError> {
    encode_versioned("checkpoint", CHECKPOINT_VERSION, state)
}

/// Decode a checkpoint written by [`encode_checkpoint`]; never panics. For implementations
/// of [`super::LiveObject::restore`], which then check the state's own invariants.
pub fn decode_checkpoint<S: DeserializeOwned>(bytes: &[u8]) -> Result<S, ObjectError> {
    decode_versioned("checkpoint", CHECKPOINT_VERSION, bytes)
}

/// Encode `value` after a `version` byte.
pub(crate) fn encode_versioned<T: Serialize + ?Sized>(
    what: &'static str,
    version: u8,
    value: &T,
) -> Result<Vec<u8>, ObjectError> {
    postcard::to_extend(value, vec![version]).map_err(|e| ObjectError::Encode { what, reason: e.to_string() })
}

/// Decode a `version` byte and exactly one postcard value.
pub(crate) fn decode_versioned<T: DeserializeOwned>(
    what: &'static str,
    version: u8,
    bytes: &[u8],
) -> Result<T, ObjectError> {
    let (&found, body) = bytes.split_first().ok_or(ObjectError::Empty { what })?;
    if found != version {
        return Err(ObjectError::Version { what, found, expected: version });
    }
    let (value, rest) = postcard::take_from_bytes(body)
        .map_err(|e| ObjectError::Malformed { what, reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(ObjectError::Malformed {
            what,
            reason: format!("{} trailing bytes after the value", rest.len()),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> Update<String> {
        Update { stamp: Stamp { lamport: 3, origin: 42 }, seq: 2, op: "hello".into() }
    }

    #[test]
    fn update_round_trips() {
        let bytes = update().encode().unwrap();
        assert_eq!(bytes[0], UPDATE_VERSION);
        assert_eq!(Update::<String>::decode(&bytes), Ok(update()));
    }

    #[test]
    fn update_decoding_rejects_bad_input() {
        let good = update().encode().unwrap();
        assert_eq!(Update::<String>::decode(&[]), Err(ObjectError::Empty { what: "update" }));
        let mut other = good.clone();
        other[0] = 9;
        assert!(matches!(Update::<String>::decode(&other), Err(ObjectError::Version { found: 9, .. })));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(Update::<String>::decode(&trailing), Err(ObjectError::Malformed { .. })));
        assert!(matches!(
            Update::<String>::decode(&good[..good.len() - 1]),
            Err(ObjectError::Malformed { .. })
        ));
        let zero = Update { seq: 0, ..update() }.encode().unwrap();
        assert!(matches!(Update::<String>::decode(&zero), Err(ObjectError::Malformed { .. })));
    }

    #[test]
    fn checkpoint_round_trips() {
        let state = vec![(1u32, "a".to_string())];
        let bytes = encode_checkpoint(&state).unwrap();
        assert_eq!(decode_checkpoint::<Vec<(u32, String)>>(&bytes), Ok(state));
    }
}
