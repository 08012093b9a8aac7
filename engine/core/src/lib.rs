//! Core types shared by every argent layer: identifiers, time passed in from outside,
//! and the sans-IO [`Protocol`] trait that drivers implement.
//!
//! Nothing here touches sockets, clocks or threads: the runtime (or the simulator) owns
//! those and drives protocols by calling in with the current [`Instant`].

mod time;

pub use time::Instant;

use bytes::Bytes;
use std::fmt;

/// Identity of a node (a process taking part in argent), unique within a membership.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeId(pub u32);

/// Identity of a region: the set of nodes subscribed to exactly the same groups.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RegionId(pub u32);

/// Version of a membership view; views are totally ordered by this number.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ViewId(pub u64);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
impl fmt::Debug for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}
impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}
impl fmt::Debug for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}
impl fmt::Display for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Where a datagram produced by a protocol goes, within its region. Logical: the runtime
/// maps a node to its endpoint for the region (the socket of the shard that owns the
/// region) and a region to its IP multicast address.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Destination {
    /// One node, by unicast.
    Node(NodeId),
    /// Every member of the region, by IP multicast (the sender does not receive its own copy).
    Region,
}

/// One datagram a protocol wants sent: everything the runtime needs to send it, so the
/// runtime never parses wire bytes.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// The region the datagram belongs to.
    pub region: RegionId,
    /// Where it goes in that region.
    pub dest: Destination,
    /// The encoded datagram, shared (the sender may keep the same bytes for retransmission).
    pub payload: Bytes,
}

/// A sans-IO protocol state machine (the quinn-proto shape).
///
/// Inputs carry the time; outputs are polled. Implementations are deterministic: the same
/// inputs at the same instants produce the same outputs.
pub trait Protocol {
    /// What the protocol hands to the application (deliveries, notifications).
    type Event;

    /// A datagram arrived. Its sender is what the datagram says (and, once traffic is
    /// authenticated, what its tag proves); the socket address it came from is not an
    /// identity.
    fn handle_datagram(&mut self, now: Instant, datagram: Bytes);
    /// The deadline returned by [`Protocol::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant);
    /// Next datagram to send, if any is ready at `now`.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    /// Next event for the application, if any.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The earliest instant at which [`Protocol::handle_timeout`] must be called.
    fn poll_timeout(&self) -> Option<Instant>;
}
