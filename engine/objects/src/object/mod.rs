//! Live objects as replicated state machines, sans-IO.
//!
//! A live object's proxy never applies its own update when it makes it: it stamps and
//! encodes the update ([`Proxy::local`]), the caller sends the bytes into the object's
//! driver, and the proxy applies the update when the driver delivers it back
//! ([`Proxy::deliver`]), exactly like everyone else's. The driver underneath (QSM) delivers
//! each sender's updates reliably and in order, but different senders' updates may
//! interleave differently at different proxies, so the kinds QSM carries are convergent:
//! their final state depends only on the set of updates applied, never on their order. The
//! total-order driver delivers one order everywhere, which the kinds that need it rely on.
//!
//! - [`Stamp`] and [`Clock`]: Lamport stamps, totally ordered, that decide every conflict.
//! - [`LiveObject`]: the one trait a kind implements (initial state, apply an update,
//!   checkpoint, restore).
//! - [`Update`]: the versioned envelope of one update on the wire (stamp, per-origin
//!   sequence number, operation).
//! - [`Proxy`]: the per-process state machine; [`Position`] says which updates a checkpoint
//!   includes, so that a joiner ([`Proxy::join`], or [`Joining`] when deliveries arrive
//!   before the checkpoint) applies every later update exactly once; [`Fences`] decide when
//!   a checkpoint may be taken and restored so that the join is exact.
//! - Built-in kinds: [`ReplicatedVar`] (last-writer-wins register), [`ReplicatedMap`]
//!   (per-key last-writer-wins with tombstones), [`Chat`] (history ordered by stamp) and
//!   [`EventStream`] (stateless events).
//! - Kinds that need total order (their operations do not commute, so they are applied in
//!   delivery order and every replica must deliver the same order; the type check refuses
//!   them on a driver without it): [`ReplicatedLog`] (entries at agreed indices),
//!   [`Counter`] (a conditional decrement decided at apply time) and [`Lock`] (one holder,
//!   optional leases). Their changes are [`Stamped`], so a submitter learns its outcome.

mod chat;
mod codec;
mod counter;
mod error;
mod fence;
mod join;
mod kind;
mod lock;
mod log;
mod map;
mod ordered;
mod position;
mod proxy;
mod stamp;
mod stream;
mod var;

#[cfg(test)]
mod tests;

pub use chat::{Chat, ChatChange, ChatOp, History, Post};
pub use codec::{
    decode_checkpoint, encode_checkpoint, Update, CHECKPOINT_VERSION, POSITION_VERSION, UPDATE_VERSION,
};
pub use counter::{Counter, CounterChange, CounterOp, CounterState};
pub use error::ObjectError;
pub use fence::{Fences, RequestId, FENCED_REQUESTS};
pub use join::{Joined, Joining, JOIN_BACKLOG_BYTES};
pub use kind::LiveObject;
pub use lock::{Holder, Lock, LockChange, LockOp, LockState, MAX_OWNER_BYTES};
pub use log::{LogChange, LogEntry, LogOp, LogState, ReplicatedLog};
pub use map::{MapChange, MapEntry, MapOp, MapState, ReplicatedMap};
pub use ordered::Stamped;
pub(crate) use position::Admission;
pub use position::{Mark, Position};
pub use proxy::{Proxy, ProxyStats, MAX_LAMPORT_LEAP};
pub use stamp::{Clock, Stamp};
pub use stream::{Event, EventStream};
pub use var::{Register, ReplicatedVar, VarChange, VarOp};
