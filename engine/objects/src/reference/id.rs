//! Object ids: 128 bits written as 32 hexadecimal digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{shown, Problem, ReferenceError};

/// The Internet-wide unique identity of an object: 128 bits, written as 32 lowercase
/// hexadecimal digits. Callers create ids from any 128-bit value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u128);

impl ObjectId {
    /// Parses exactly 32 hexadecimal digits (either case; written back in lowercase).
    pub fn from_hex(text: &str) -> Result<Self, ReferenceError> {
        let invalid = || ReferenceError::new("id", Problem::NotObjectId { value: shown(text) });
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        u128::from_str_radix(text, 16).map(ObjectId).map_err(|_| invalid())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl FromStr for ObjectId {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

/// Hexadecimal text in human-readable formats, a `u128` in binary ones.
impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u128(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            ObjectId::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            u128::deserialize(deserializer).map(ObjectId)
        }
    }
}
