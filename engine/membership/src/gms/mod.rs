//! The membership service (GMS): members register, heartbeat, join and leave groups; the
//! leader replica detects failures (suspicion, then eviction) and batches decisions into raft
//! log entries; every replica applies the committed entries to the same state machine and so
//! computes the same sequence of versioned views; the leader pushes views to members, which
//! install them in order.
//!
//! Everything here is sans-IO and deterministic given its inputs, so the simulator can run
//! replicas and members under seeded faults, and the runtime can move the messages over
//! sockets.

mod client;
mod joined;
mod msg;
mod replica;
mod state;
mod view;

pub use client::{ClientConfig, ClientStatus, GmsClient};
pub use joined::{GroupSets, JoinedGroups};
pub use msg::{GmsDecodeError, GmsMsg, Refusals, StatusReport, GMS_WIRE_VERSION, MAX_GMS_MESSAGE};
pub use replica::{
    registration_problem, Gms, GmsConfig, GmsError, GmsStats, Grant, Peer, Persist, Restored, GRANT_HOLD,
    MAX_GROUPS_PER_MEMBER, MAX_INCARNATION, MAX_MEMBER_SHARDS, MAX_NODE_ID,
};
pub use state::{ApplyStats, Command, GmsState, RemoveReason, MAX_KEY_EPOCHS, VIEW_HISTORY, WRAPPED_KEY_LEN};
pub use view::{AddressStats, KeyEpoch, Member, RegionInfo, View};
