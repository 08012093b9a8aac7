//! The drivers objects know, and the properties each provides.

use super::properties::{Properties, Reliability, Security};

/// Names of the drivers [`DriverInfo::lookup`] knows.
pub const KNOWN_DRIVERS: &[&str] = &["qsm", "total-order"];

/// What a driver provides to the objects it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DriverInfo {
    /// The driver's name as written in references.
    pub name: &'static str,
    /// The properties it provides.
    pub properties: Properties,
    /// The settings a reference may give it (`[driver.settings]`).
    pub settings: &'static [&'static str],
}

impl DriverInfo {
    /// QuickSilver Scalable Multicast: each sender's messages reliably and in order, no
    /// order across senders. Not authenticated (yet: updates are not signed with the
    /// object's key), not encrypted.
    pub fn qsm() -> Self {
        DriverInfo {
            name: "qsm",
            properties: Properties {
                reliability: Reliability::ReliableFifo,
                security: Security { authenticated: false, encrypted: false },
            },
            // The group that carries the object (else, with the GMS, one of its own).
            settings: &["group"],
        }
    }

    /// QSM's streams in one order (`argent_vsync`, decision 014): every member delivers
    /// the same sequence of messages from all senders, with a flush at every view change
    /// (virtual synchrony, which includes total order and QSM's reliable FIFO). It carries
    /// objects only on nodes that run it (`[protocol] driver = "total-order"`).
    pub fn total_order() -> Self {
        DriverInfo {
            name: "total-order",
            properties: Properties {
                reliability: Reliability::VirtualSynchrony,
                security: Security { authenticated: false, encrypted: false },
            },
            settings: &["group"],
        }
    }

    /// The known driver called `name`.
    pub fn lookup(name: &str) -> Option<Self> {
        match name {
            "qsm" => Some(Self::qsm()),
            "total-order" => Some(Self::total_order()),
            _ => None,
        }
    }
}

/// The properties of the known driver called `name`.
pub fn driver_properties(name: &str) -> Option<Properties> {
    DriverInfo::lookup(name).map(|d| d.properties)
}
