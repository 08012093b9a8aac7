//! Why the runtime or one of its handles refused something.

use crate::config::MAX_SHARDS;
use crate::groups::{FENCE_GROUP, FRAGMENT_GROUP, GROUP_TAG_LEN};
use argent_core::{NodeId, RegionId};
use argent_membership::GroupId;
use thiserror::Error;

/// Why the runtime could not start or serve a request.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// This node is not in the member list.
    #[error("node {0} is not listed among the members")]
    NotAMember(NodeId),
    /// A region lists a member that does not exist.
    #[error("region {region} lists member {node}, which is not in the member list")]
    UnknownMember {
        /// Region.
        region: RegionId,
        /// Member.
        node: NodeId,
    },
    /// A member with zero shards, or more than [`MAX_SHARDS`].
    #[error("member {node} has {shards} shards; use 1 to {MAX_SHARDS}")]
    BadShards {
        /// Member.
        node: NodeId,
        /// Shards it asks for.
        shards: usize,
    },
    /// The protocol refused a region's view (e.g. no members).
    #[error("region {region}: {reason}")]
    BadRegion {
        /// Region.
        region: RegionId,
        /// Why.
        reason: String,
    },
    /// Two regions with the same id.
    #[error("region {0} is listed twice")]
    DuplicateRegion(RegionId),
    /// A node would receive a group's messages twice.
    #[error("node {node} is a member of regions {first} and {second}, which both carry group {}: a node receives each group in one region", group.0)]
    GroupInTwoRegions {
        /// Node.
        node: NodeId,
        /// Group.
        group: GroupId,
        /// One region.
        first: RegionId,
        /// The other.
        second: RegionId,
    },
    /// Bad protocol settings.
    #[error("protocol settings: {0}")]
    Config(#[from] argent_qsm::ConfigError),
    /// Sockets could not be set up.
    #[error("transport: {0}")]
    Transport(#[from] argent_transport::TransportError),
    /// A group no region carries (to publish to).
    #[error("no region carries group {}: it is unknown", .0.0)]
    UnknownGroup(GroupId),
    /// A group this node does not receive (to subscribe).
    #[error("this node is not a member of group {} (or the group is unknown); only members receive", .0.0)]
    NotInGroup(GroupId),
    /// A subscription to no group at all.
    #[error("subscribe to at least one group")]
    NoGroups,
    /// A configuration uses the group id reserved for fences.
    #[error("region {region} carries group {} or {}, which are reserved (fences, fragments): use another id", FENCE_GROUP.0, FRAGMENT_GROUP.0)]
    ReservedGroup {
        /// The region.
        region: RegionId,
    },
    /// The shard is gone.
    #[error("the runtime has shut down")]
    Closed,
}

/// Why a message was not accepted for publishing.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The publisher's ring is full; wait for space ([`Publisher::wait_for_space`](crate::Publisher::wait_for_space)).
    #[error("publish ring full: wait for the shard to take messages (wait_for_space)")]
    WouldBlock,
    /// The message does not fit in one datagram (or in the ring).
    #[error("message of {len} bytes exceeds {max} bytes: a non-blocking publish or a claim takes at most what fits in a datagram (after the {GROUP_TAG_LEN}-byte group tag); the blocking, deadline and async publishes carry larger messages, up to 256 MiB, in fragments")]
    TooLarge {
        /// Requested length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// No region carries the group (an unknown group id).
    #[error("no region carries group {}: the group is unknown", .0.0)]
    NoRoute(GroupId),
    /// The node behind this handle has shut down.
    #[error("the node has shut down")]
    Closed,
}

/// The node behind a handle has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the node has shut down")]
pub struct Closed;

/// Why [`crate::Subscription::recv_timeout`] returned no delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing was delivered within the timeout.
    #[error("no delivery within the timeout")]
    Timeout,
    /// The node shut down.
    #[error("the node shut down")]
    Closed,
}
