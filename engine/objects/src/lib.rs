//! argent live objects, sans-IO: what a live object is independently of the engine that
//! carries its updates.
//!
//! - [`mod@reference`]: the reference that fully describes an object (id, version, class, driver
//!   and settings, parameters, parts, where its description is), as a TOML or JSON document
//!   or an `argent://` URI.
//! - [`types`]: distributed types (interface, category, required properties) and the check
//!   that opening an object with an incompatible type fails before any traffic.
//! - [`frame`]: how object messages travel in a group (updates, checkpoint requests,
//!   checkpoints, refusals, raw events), defined once for the engine and the simulator.
//! - [`durable`]: what a durable object's proxies keep on disk (a base checkpoint and a log
//!   of updates, checksummed, compacted past a bound) and how a state is rebuilt from it.
//! - [`key`]: per-object keys and the MAC every frame of an authenticated object carries.
//! - [`session`]: one object's protocol at one process, sans-IO — the join (requests,
//!   fences, buffering, restore, retry) and the serving side (answers, checkpoint parts,
//!   refusals), key and origin checks — driven by the engine binding and the simulator alike.
//! - [`typed`]: references and requirements from the kind itself
//!   (`Reference::of::<ReplicatedVar<i64>>(id)`, `TypeRequirement::of::<Chat>()`), so no
//!   class, driver or parameter is written as a string.
//! - [`object`]: the [`object::LiveObject`] trait (initial state, apply an update, checkpoint,
//!   restore) and the proxy state machine that stamps, encodes and applies updates; the
//!   built-in kinds (event stream, replicated variable, replicated map, chat).

pub mod durable;
pub mod frame;
pub mod key;
pub mod object;
pub mod reference;
pub mod session;
pub mod typed;
pub mod types;
