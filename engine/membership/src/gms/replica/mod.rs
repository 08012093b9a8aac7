//! One GMS replica: raft-rs drives agreement on membership commands; the leader also runs
//! failure detection and pushes views to members. Sans-IO: time and messages come in, messages
//! to send come out, and the owner (runtime or simulator) moves them.

mod config;
mod consensus;
mod liveness;
mod members;
mod server;
mod stats;
mod storage;

pub use config::{GmsConfig, GmsError};
pub use members::{
    registration_problem, Grant, GRANT_HOLD, MAX_GROUPS_PER_MEMBER, MAX_INCARNATION, MAX_MEMBER_SHARDS,
    MAX_NODE_ID,
};
pub use server::{Gms, Peer};
pub use stats::GmsStats;
pub use storage::{Persist, Restored};
