//! Messages between GMS replicas and members, and their encoding.

use super::state::Command;
use super::view::{KeyEpoch, Member, View};
use crate::groups::GroupId;
use argent_core::{NodeId, ViewId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;

/// Format version carried in the first byte of every encoded message.
pub const GMS_WIRE_VERSION: u8 = 3;

/// Largest encoded message accepted (views of 1 000 nodes in 10 000 groups are well below).
pub const MAX_GMS_MESSAGE: usize = 16 << 20;

/// A GMS message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GmsMsg {
    /// Replica to replica: a raft message (protobuf, as raft-rs encodes it).
    Raft(Vec<u8>),
    /// Member to GMS: register this incarnation with its groups.
    Register {
        /// Who, where, which incarnation.
        member: Member,
        /// Its groups.
        groups: Vec<GroupId>,
    },
    /// Member to GMS: alive, and the last view it installed.
    Heartbeat {
        /// Node.
        node: NodeId,
        /// Incarnation.
        incarnation: u64,
        /// Last view installed (0 before the first).
        view: ViewId,
    },
    /// Member to GMS: its new group set (joins and leaves in one).
    SetGroups {
        /// Node.
        node: NodeId,
        /// Incarnation.
        incarnation: u64,
        /// Version of the set (increasing per member).
        version: u64,
        /// The whole set.
        groups: Vec<GroupId>,
    },
    /// Member to GMS: goodbye.
    Leave {
        /// Node.
        node: NodeId,
        /// Incarnation.
        incarnation: u64,
    },
    /// GMS to member: views to install, in order. `first` marks a sequence that does not
    /// continue the member's last view (its first view, or it fell too far behind).
    Views {
        /// Oldest first.
        views: Vec<Arc<View>>,
        /// Whether the member installs them without checking continuity.
        first: bool,
    },
    /// GMS replica to member: not the leader; try this replica (raft id), if known.
    NotLeader {
        /// Leader's replica id, if this replica knows it.
        leader: Option<u64>,
    },
    /// GMS to member: this incarnation is not in the view (evicted, superseded, never
    /// registered). The process must register again (as a new incarnation) to take part.
    Unknown {
        /// Node.
        node: NodeId,
        /// Incarnation that is unknown.
        incarnation: u64,
    },
    /// GMS to member: you are suspected (silent for a while); answer with a heartbeat.
    Ping,
    /// Leader to member: heartbeat received (so the member keeps talking to this replica);
    /// carries the current view id.
    Ack {
        /// The leader's current view.
        view: ViewId,
    },
    /// A key holder to the GMS: hand out this new cluster key epoch (`argent key rotate`).
    AddKey(KeyEpoch),
    /// Anyone to a replica: report your state (`argent status`).
    StatusRequest,
    /// Replica to whoever asked: its state.
    Status(Box<StatusReport>),
    /// A process with no id asks the leader for one (then registers with it at once).
    AskId {
        /// Echoed in the answer.
        nonce: u64,
    },
    /// The leader to whoever asked: an id no member holds, reserved for it for a while
    /// ([`crate::gms::GRANT_HOLD`]); `None` when every id is taken.
    IdGranted {
        /// The request's nonce.
        nonce: u64,
        /// The id.
        node: Option<NodeId>,
    },
}

/// A replica's answer to [`GmsMsg::StatusRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The replica's raft id.
    pub replica: u64,
    /// The leader's raft id, if known.
    pub leader: Option<u64>,
    /// The latest view this replica applied.
    pub view: Arc<View>,
    /// Members the leader suspects (empty at followers).
    pub suspects: Vec<NodeId>,
    /// What this replica refused, by kind.
    pub refusals: Refusals,
}

/// Datagrams and requests a replica refused, by kind (`argent status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusals {
    /// Keyed: datagrams without a seal, or sealed in the other mode.
    pub unsealed: u64,
    /// Keyed: datagrams whose tag did not hold (another key, or changed).
    pub forged: u64,
    /// Keyed: replays, and datagrams older than the replay window.
    pub replayed: u64,
    /// Keyed: datagrams sealed under a key epoch this replica does not hold.
    pub unknown_epoch: u64,
    /// Keyed: messages whose sealer may not send them (a member speaking for another).
    pub wrong_sender: u64,
    /// Registrations out of bounds (address, incarnation, shards, groups).
    pub registrations: u64,
    /// Messages that did not decode.
    pub malformed: u64,
}

/// A GMS message that could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GmsDecodeError {
    /// Nothing to decode.
    #[error("empty GMS message")]
    Empty,
    /// Written by another format version.
    #[error("GMS message version {0}, this build speaks {GMS_WIRE_VERSION}")]
    Version(u8),
    /// Larger than [`MAX_GMS_MESSAGE`].
    #[error("GMS message of {0} bytes exceeds the {MAX_GMS_MESSAGE}-byte limit")]
    TooLarge(usize),
    /// Malformed body.
    #[error("malformed GMS message: {0}")]
    Body(String),
}

impl GmsMsg {
    /// The member a member-to-GMS message comes from.
    pub fn sender_node(&self) -> Option<NodeId> {
        match self {
            GmsMsg::Register { member, .. } => Some(member.node),
            GmsMsg::Heartbeat { node, .. } | GmsMsg::SetGroups { node, .. } | GmsMsg::Leave { node, .. } => {
                Some(*node)
            }
            _ => None,
        }
    }

    /// Encode with the version prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![GMS_WIRE_VERSION];
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Decode untrusted bytes; never panics.
    pub fn decode(bytes: &[u8]) -> Result<GmsMsg, GmsDecodeError> {
        let (&version, body) = bytes.split_first().ok_or(GmsDecodeError::Empty)?;
        if version != GMS_WIRE_VERSION {
            return Err(GmsDecodeError::Version(version));
        }
        if bytes.len() > MAX_GMS_MESSAGE {
            return Err(GmsDecodeError::TooLarge(bytes.len()));
        }
        postcard::from_bytes(body).map_err(|e| GmsDecodeError::Body(e.to_string()))
    }
}

/// Encode a batch of commands as one raft log entry.
pub(crate) fn encode_batch(batch: &[Command]) -> Vec<u8> {
    postcard::to_stdvec(batch).expect("commands serialise")
}

/// Decode a committed raft log entry.
pub(crate) fn decode_batch(bytes: &[u8]) -> Result<Vec<Command>, postcard::Error> {
    postcard::from_bytes(bytes)
}
