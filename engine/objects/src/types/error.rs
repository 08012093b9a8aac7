//! Why an object cannot be opened as required, naming both sides.

use crate::reference::ObjectId;

use super::category::Category;
use super::driver::KNOWN_DRIVERS;
use super::interface::Interface;
use super::properties::{Reliability, Security, SecurityAspect};

/// An object cannot be opened as required; the message names both sides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The class is not a built-in one.
    #[error(
        "unknown class {class:?} (built-in classes: event-stream, replicated-var, \
         replicated-map, chat, composite, replicated-log, counter, lock)"
    )]
    UnknownClass {
        /// The class as written.
        class: String,
    },
    /// The driver is not a known one.
    #[error("unknown driver {driver:?} (known drivers: {})", KNOWN_DRIVERS.join(", "))]
    UnknownDriver {
        /// The driver as written.
        driver: String,
    },
    /// A parameter the class does not know (a misspelling, most often).
    #[error("unknown parameter {key:?} for class {class:?}{} (known: {})", of_object(.object), .known.join(", "))]
    UnknownParameter {
        /// The key as written.
        key: String,
        /// The object's class.
        class: String,
        /// The parameters the class knows.
        known: &'static [&'static str],
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// A parameter with a value the class does not accept.
    #[error("parameter {key} = {value:?}{} is not one of: {}", of_object(.object), .expected.join(", "))]
    BadParameter {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// The values accepted.
        expected: &'static [&'static str],
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// A driver setting the driver does not know.
    #[error("unknown setting {key:?} for driver {driver:?}{} (known: {})", of_object(.object), .known.join(", "))]
    UnknownSetting {
        /// The key as written.
        key: String,
        /// The driver.
        driver: String,
        /// The settings the driver knows.
        known: &'static [&'static str],
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// The object is of another category.
    #[error(
        "type mismatch: the opener requires category {required}, but class {class:?}{} \
         is category {offered}",
        of_object(.object)
    )]
    Category {
        /// What the opener requires.
        required: Category,
        /// What the object is.
        offered: Category,
        /// The object's class.
        class: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// The object lacks an endpoint, or an event on an endpoint, the opener uses.
    #[error(
        "type mismatch: the opener uses endpoint {endpoint:?}{}, but class {class:?}{} \
         has {offered}",
        event_phrase(.event),
        of_object(.object)
    )]
    Interface {
        /// The endpoint the opener uses.
        endpoint: String,
        /// The event missing on it (`None` when the endpoint is missing and the opener
        /// named no events on it).
        event: Option<String>,
        /// The object's class.
        class: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
        /// The object's interface (boxed: it is the largest field).
        offered: Box<Interface>,
    },
    /// The driver's delivery guarantee is weaker than required.
    #[error(
        "type mismatch: the opener requires reliability {required}, but driver {driver:?}{} \
         provides {offered}",
        of_object(.object)
    )]
    Reliability {
        /// What the opener requires.
        required: Reliability,
        /// What the driver provides.
        offered: Reliability,
        /// The object's driver.
        driver: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// The class's operations need a delivery guarantee its driver lacks (its operations do
    /// not commute, so replicas that apply them in different orders would diverge).
    #[error(
        "type mismatch: class {class:?}{} needs reliability {needs} (its operations do not commute), but \
         driver {driver:?} provides {offered}: use a reference with driver = \"total-order\" (`argent obj \
         new --driver total-order`) on nodes started with [protocol] driver = \"total-order\"",
        of_object(.object)
    )]
    ClassNeeds {
        /// The object's class.
        class: String,
        /// What the class needs.
        needs: Reliability,
        /// The object's driver.
        driver: String,
        /// What the driver provides.
        offered: Reliability,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// The driver lacks a security aspect the opener requires.
    #[error(
        "type mismatch: the opener requires {required}, but driver {driver:?}{} provides \
         {offered}",
        of_object(.object)
    )]
    Security {
        /// The aspect the opener requires and the driver lacks.
        required: SecurityAspect,
        /// What the driver provides.
        offered: Security,
        /// The object's driver.
        driver: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
}

/// ` of object ID`, or nothing when the id is unknown.
fn of_object(object: &Option<ObjectId>) -> String {
    object.map(|id| format!(" of object {id}")).unwrap_or_default()
}

/// ` event "NAME"`, or nothing.
fn event_phrase(event: &Option<String>) -> String {
    event.as_ref().map(|e| format!(" event {e:?}")).unwrap_or_default()
}
