//! Distributed types: what an object offers, what an opener requires, and the check that
//! an incompatible open fails before any traffic flows.
//!
//! A type is a tuple of aspects: the [`Interface`] (endpoints, each carrying named events),
//! the [`Category`] (event stream, replicated variable, ...), and the [`Properties`] the
//! driver must provide ([`Reliability`] and [`Security`]). An object offers an
//! [`ObjectType`] — its class's interface and its driver's properties; an opener states a
//! [`TypeRequirement`] — the category, the endpoints and events it will use (a subset is
//! fine) and the weakest properties it accepts. [`check`] compares the two.
//!
//! ```
//! use argent_objects::types::{check, Category, ObjectType, Reliability, TypeRequirement};
//!
//! let balance = ObjectType::for_class("replicated-var", "qsm")?;
//! let reader = TypeRequirement::new(Category::ReplicatedVar).uses("updates", &["set"]);
//! assert!(check(&reader, &balance).is_ok());
//!
//! // QSM orders each sender's updates, not all of them: a total-order opener is refused.
//! let ledger = reader.reliability(Reliability::TotalOrder);
//! let error = check(&ledger, &balance).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "type mismatch: the opener requires reliability total-order, \
//!      but driver \"qsm\" provides reliable-fifo"
//! );
//! # Ok::<(), argent_objects::types::TypeError>(())
//! ```

mod category;
mod compat;
mod driver;
mod error;
mod interface;
mod object_type;
mod properties;
mod requirement;

#[cfg(test)]
mod tests;

pub use category::Category;
pub use compat::check;
pub use driver::{driver_properties, DriverInfo, KNOWN_DRIVERS};
pub use error::TypeError;
pub use interface::{Endpoint, Interface};
pub use object_type::{
    known_parameters, ObjectType, AUTH_KEY, AUTH_PARAMETER, DURABLE_PARAMETER, DURABLE_VALUES, VALUE_TYPES,
    VALUE_TYPE_PARAMETER,
};
pub use properties::{Properties, Reliability, Security, SecurityAspect};
pub use requirement::TypeRequirement;
