//! How sender streams are named: a node's id and the incarnation of the process sending.

use argent_core::NodeId;

/// The sender-stream incarnation (16 bits, never 0) of a membership incarnation (64 bits,
/// increasing across restarts): the one formula the runtime and the simulator use.
pub fn stream_incarnation(membership_incarnation: u64) -> u16 {
    (membership_incarnation % 65_535) as u16 + 1
}

/// The id of node `me`'s sender stream in its `incarnation`.
pub fn stream_id(me: NodeId, incarnation: u16) -> NodeId {
    if incarnation == 0 {
        me
    } else {
        NodeId(me.0 | u32::from(incarnation) << 16)
    }
}

/// The node a sender stream belongs to (where its acknowledgements and NAKs go).
pub fn node_of(stream: NodeId) -> NodeId {
    if stream.0 >> 16 == 0 {
        stream
    } else {
        NodeId(stream.0 & 0xFFFF)
    }
}
