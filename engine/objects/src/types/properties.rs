//! What a driver guarantees: delivery (reliability) and security.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The delivery guarantee of a driver, weakest first: a stronger one satisfies a
/// requirement for a weaker one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reliability {
    /// Messages may be lost, duplicated or reordered.
    #[default]
    BestEffort,
    /// Each sender's messages are delivered exactly once and in the order it sent them.
    ReliableFifo,
    /// Every member delivers all messages in the same order.
    TotalOrder,
    /// Total order, and membership changes are delivered at the same point everywhere.
    VirtualSynchrony,
}

impl Reliability {
    /// The name, e.g. `reliable-fifo`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reliability::BestEffort => "best-effort",
            Reliability::ReliableFifo => "reliable-fifo",
            Reliability::TotalOrder => "total-order",
            Reliability::VirtualSynchrony => "virtual-synchrony",
        }
    }
}

impl fmt::Display for Reliability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a driver guarantees about who sent a message and who can read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Security {
    /// Only holders of the object's key can send messages members accept.
    pub authenticated: bool,
    /// Only holders of the object's key can read messages.
    pub encrypted: bool,
}

impl Security {
    /// Whether these guarantees include all of `required`.
    pub fn satisfies(&self, required: &Security) -> bool {
        (self.authenticated || !required.authenticated) && (self.encrypted || !required.encrypted)
    }
}

/// `authentication without encryption`, etc.
impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.authenticated, self.encrypted) {
            (true, true) => "authentication and encryption",
            (true, false) => "authentication without encryption",
            (false, true) => "encryption without authentication",
            (false, false) => "neither authentication nor encryption",
        })
    }
}

/// The properties a driver provides, or the weakest an opener accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Properties {
    /// The delivery guarantee.
    pub reliability: Reliability,
    /// Authentication and encryption.
    pub security: Security,
}

impl Properties {
    /// Whether these properties are at least as strong as `required` in every aspect.
    pub fn satisfies(&self, required: &Properties) -> bool {
        self.reliability >= required.reliability && self.security.satisfies(&required.security)
    }
}

/// One aspect of [`Security`], as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityAspect {
    /// Authenticated messages.
    Authentication,
    /// Encrypted messages.
    Encryption,
}

impl fmt::Display for SecurityAspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityAspect::Authentication => "authentication",
            SecurityAspect::Encryption => "encryption",
        })
    }
}
