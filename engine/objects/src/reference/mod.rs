//! Live object references: the small document that fully describes one object.
//!
//! Having a [`Reference`] is enough to join its object: it names the object (a 128-bit
//! [`ObjectId`] and a version), its class, the driver that carries its updates and the
//! driver's settings, the class's parameters, the references of the objects it is made of
//! (its parts), and where its description can be fetched from.
//!
//! A reference is written as a TOML or JSON document, or — when it has no parts — as an
//! `argent://` URI:
//!
//! ```text
//! argent://0123456789abcdef0123456789abcdef?v=1&class=chat&driver=qsm&driver.group=g1&name=Lobby
//! ```
//!
//! The URI grammar (query values and keys are percent-decoded; `+` is a literal plus):
//!
//! ```text
//! uri   = "argent://" id [ "?" pair *( "&" pair ) ]
//! id    = 32 HEXDIG
//! pair  = key "=" value
//! key   = "v" / "class" / "driver" / "driver." setting / "param." parameter
//!       / "name" / "description"
//! ```
//!
//! `v`, `class` and `driver` are required and every key appears at most once. Writers
//! percent-encode everything but RFC 3986 unreserved characters and emit the keys in the
//! order above, so every form round-trips exactly. Decoders of outside input never panic:
//! they return a [`ReferenceError`] naming the field at fault.
//!
//! ```
//! use argent_objects::reference::{ObjectId, Reference};
//!
//! let chat = Reference::new(ObjectId(0x0123456789abcdef0123456789abcdef), "chat", "qsm")
//!     .with_setting("group", "g1")
//!     .with_name("Lobby");
//! let uri = chat.to_uri()?;
//! assert_eq!(
//!     uri,
//!     "argent://0123456789abcdef0123456789abcdef?v=1&class=chat&driver=qsm&driver.group=g1&name=Lobby"
//! );
//! assert_eq!(Reference::parse(&uri)?, chat);
//! assert_eq!(Reference::parse(&chat.to_toml()?)?, chat);
//! assert_eq!(Reference::parse(&chat.to_json()?)?, chat);
//! # Ok::<(), argent_objects::reference::ReferenceError>(())
//! ```

mod document;
mod error;
mod forms;
mod id;
mod limits;
mod model;
mod uri;
mod validate;

#[cfg(test)]
mod tests;

pub use error::{Problem, ReferenceError};
pub use id::ObjectId;
pub use limits::{MAX_DEPTH, MAX_ENTRIES, MAX_INPUT_BYTES, MAX_TEXT_BYTES, MAX_WORD_BYTES};
pub use model::{DriverSpec, Reference};
