//! What an object offers to talk through: endpoints, each carrying named events.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A typed event channel of an object: its name and the event types it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The endpoint's name, e.g. `updates`.
    pub name: String,
    /// The names of the event types it carries, e.g. `set`.
    pub events: Vec<String>,
}

impl Endpoint {
    /// An endpoint carrying `events`.
    pub fn new(name: impl Into<String>, events: &[&str]) -> Self {
        Endpoint { name: name.into(), events: events.iter().map(|&e| e.to_owned()).collect() }
    }

    /// Whether the endpoint carries the event type `event`.
    pub fn carries(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// `name(event, event)`, e.g. `updates(put, remove)`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name, self.events.join(", "))
    }
}

/// The endpoints of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interface {
    /// The endpoints, each named once.
    pub endpoints: Vec<Endpoint>,
}

impl Interface {
    /// The endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

/// `endpoints a(x), b(y, z)`, or `no endpoints`.
impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.endpoints.is_empty() {
            return f.write_str("no endpoints");
        }
        f.write_str("endpoints ")?;
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{endpoint}")?;
        }
        Ok(())
    }
}
