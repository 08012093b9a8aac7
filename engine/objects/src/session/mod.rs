//! One object's session at one process, sans-IO: the whole protocol a proxy runs over its
//! group, in the quinn-proto shape. The engine binding (`argent::live`) and the simulator
//! drive this same code; neither holds a copy of any decision here.
//!
//! Inputs carry the time: [`Session::handle_message`] (a message of the object's group,
//! with the node that sent it), [`Session::handle_fence`] (a fence the driver delivered),
//! [`Session::handle_members`] (the region's current members, whose fences count) and
//! [`Session::handle_timeout`]. Outputs are polled: [`Session::poll_transmit`] (frames to
//! publish into the group, in order, and fence requests for the driver),
//! [`Session::poll_event`] (changes, the end of the join, problems) and
//! [`Session::poll_timeout`]. No clock, thread, socket or randomness inside.
//!
//! What it decides:
//! - **Joining** ([`Session::join`]): ask the group for a checkpoint and the region for
//!   fences, buffer every update delivered meanwhile, count promises and answers, restore
//!   the first answer once every current member's fence for the request is in, apply the
//!   buffered updates after its position exactly once; ask again with a new nonce every
//!   [`SessionConfig::ask_every`] until then; with no answer or promise to
//!   [`SessionConfig::unanswered_means_first`] requests that every member of the region
//!   fenced, start from the initial state provided what was buffered starts at every
//!   sender's first update. [`Fences`](crate::object::Fences) says why
//!   the join is exact.
//! - **Serving** (a member): apply updates; promise every authentic request an answer at
//!   once ([`crate::frame::TAG_PENDING`]); answer it with a checkpoint and its position, in
//!   parts when it does not fit one message, once every current member's fence for it is
//!   in; refuse a request that fails the object's key.
//! - **Durability** ([`Session::with_durability`], objects whose reference says
//!   `durable = "true"`): every update applied and a base checkpoint at the join and past
//!   the log's bound go out through [`Session::poll_persist`] for the binding to keep on
//!   disk; a joiner that finds nobody holding the object starts from the state the disk
//!   held instead of the initial one ([`crate::durable`]).
//! - **Keys and origins**: with a key, every frame is signed and checked
//!   ([`crate::key`]); an update whose origin is not one of its sending node's
//!   ([`sent_by`]) is refused and counted.

mod config;
mod demux;
mod durable;
mod events;
mod join;
mod joiner;
mod origin;
mod persist;
mod serve;
mod state;

pub use config::SessionConfig;
pub use demux::{Demux, Fence, HELD_FENCES, LEARNED_ORIGINS};
pub use events::{JoinError, Problem, Sabotage, SessionEvent, SessionStats, SubmitError, Transmit};
pub use origin::{origin_for, sent_by};
pub use persist::Persist;
pub use state::Session;

#[cfg(test)]
mod ordered_tests;
#[cfg(test)]
mod tests;
