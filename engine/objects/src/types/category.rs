//! The kinds of objects, and the interface each built-in kind has.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::interface::{Endpoint, Interface};
use super::properties::Reliability;

/// The kind of an object; its name is the class of built-in objects in references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Events sent and received in order: endpoint `events` carrying `event`.
    EventStream,
    /// A single value with get/set: endpoint `updates` carrying `set`.
    ReplicatedVar,
    /// A key-value map: endpoint `updates` carrying `put` and `remove`.
    ReplicatedMap,
    /// Posted messages and their history: endpoint `messages` carrying `post`.
    Chat,
    /// An object made of parts, with no endpoints of its own.
    Composite,
    /// Entries appended in one order at every replica (a state machine's log): endpoint
    /// `entries` carrying `append`. Needs total order.
    ReplicatedLog,
    /// A non-negative count: endpoint `updates` carrying `increment` and
    /// `decrement-if-at-least` (refused when the count would go below 0). Needs total order.
    Counter,
    /// Mutual exclusion with optional leases: endpoint `requests` carrying `acquire` and
    /// `release`; at most one holder. Needs total order.
    Lock,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 8] = [
        Category::EventStream,
        Category::ReplicatedVar,
        Category::ReplicatedMap,
        Category::Chat,
        Category::Composite,
        Category::ReplicatedLog,
        Category::Counter,
        Category::Lock,
    ];

    /// The category's name, which is also the built-in class name (e.g. `replicated-var`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::EventStream => "event-stream",
            Category::ReplicatedVar => "replicated-var",
            Category::ReplicatedMap => "replicated-map",
            Category::Chat => "chat",
            Category::Composite => "composite",
            Category::ReplicatedLog => "replicated-log",
            Category::Counter => "counter",
            Category::Lock => "lock",
        }
    }

    /// The category of a built-in class.
    pub fn from_class(class: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == class)
    }

    /// The interface every object of this built-in category has.
    pub fn interface(self) -> Interface {
        let endpoints = match self {
            Category::EventStream => vec![Endpoint::new("events", &["event"])],
            Category::ReplicatedVar => vec![Endpoint::new("updates", &["set"])],
            Category::ReplicatedMap => vec![Endpoint::new("updates", &["put", "remove"])],
            Category::Chat => vec![Endpoint::new("messages", &["post"])],
            Category::Composite => Vec::new(),
            Category::ReplicatedLog => vec![Endpoint::new("entries", &["append"])],
            Category::Counter => vec![Endpoint::new("updates", &["increment", "decrement-if-at-least"])],
            Category::Lock => vec![Endpoint::new("requests", &["acquire", "release"])],
        };
        Interface { endpoints }
    }

    /// The weakest delivery the category's own operations need, whatever an opener
    /// requires: the convergent kinds need none, while the kinds whose operations do not
    /// commute (a log's positions, a conditional decrement, a lock's grants) must apply them
    /// in one order at every replica.
    pub fn needs(self) -> Reliability {
        match self {
            Category::ReplicatedLog | Category::Counter | Category::Lock => Reliability::TotalOrder,
            _ => Reliability::BestEffort,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
