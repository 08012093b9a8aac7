//! What an opener requires of the object it opens.

use serde::{Deserialize, Serialize};

use super::category::Category;
use super::interface::Endpoint;
use super::properties::{Properties, Reliability};

/// What an opener requires: the category, the endpoints and events it will use, and the
/// weakest properties it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRequirement {
    /// The category the opener is written for.
    pub category: Category,
    /// The endpoints it uses, each with the events it uses (an endpoint may list none).
    pub uses: Vec<Endpoint>,
    /// The weakest properties it accepts.
    pub minimum: Properties,
}

impl TypeRequirement {
    /// Requires `category` only: no endpoints, best-effort, no security.
    pub fn new(category: Category) -> Self {
        TypeRequirement { category, uses: Vec::new(), minimum: Properties::default() }
    }

    /// Requires `category` and its whole built-in interface.
    pub fn whole(category: Category) -> Self {
        TypeRequirement { uses: category.interface().endpoints, ..Self::new(category) }
    }

    /// Adds the use of `events` on `endpoint`.
    pub fn uses(mut self, endpoint: &str, events: &[&str]) -> Self {
        let events = events.iter().map(|&e| e.to_owned());
        match self.uses.iter_mut().find(|e| e.name == endpoint) {
            Some(existing) => existing.events.extend(events),
            None => self.uses.push(Endpoint { name: endpoint.to_owned(), events: events.collect() }),
        }
        self
    }

    /// Requires at least `reliability`.
    pub fn reliability(mut self, reliability: Reliability) -> Self {
        self.minimum.reliability = reliability;
        self
    }

    /// Requires authenticated messages.
    pub fn authenticated(mut self) -> Self {
        self.minimum.security.authenticated = true;
        self
    }

    /// Requires encrypted messages.
    pub fn encrypted(mut self) -> Self {
        self.minimum.security.encrypted = true;
        self
    }
}
