//! What the protocol hands out: deliveries and other events, refusals, and counters.

use crate::stream::node_of;
use argent_core::{NodeId, RegionId, ViewId};
use bytes::Bytes;
use thiserror::Error;

/// Messages delivered to the application, a datagram at a time: the received datagram
/// itself, whose messages are read in place (zero-copy) with [`Delivery::messages`].
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Region it arrived in.
    pub region: RegionId,
    /// Original sender's stream (node id and incarnation; [`Delivery::sender_node`] gives the node).
    pub sender: NodeId,
    /// Sequence number of the datagram.
    pub seq: u64,
    /// The region view the sender sent it in: this member installed that view before the
    /// datagram was delivered (a group joined in view `v` is received from datagrams sent in
    /// `v` or later).
    pub view: ViewId,
    /// Number of messages in it.
    pub count: u16,
    /// The whole datagram, as received (header included).
    pub datagram: Bytes,
}

impl Delivery {
    /// The node that sent it.
    pub fn sender_node(&self) -> NodeId {
        node_of(self.sender)
    }

    /// The messages, in the order the sender wrote them.
    pub fn messages(&self) -> argent_wire::Messages<'_> {
        argent_wire::messages_of(&self.datagram)
    }

    /// The messages as reference-counted slices of the datagram (no copy), e.g. to keep
    /// one beyond the delivery.
    pub fn message_bytes(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.messages().map(|m| self.datagram.slice_ref(m))
    }
}

/// What the protocol hands to the application.
#[derive(Clone, Debug)]
pub enum Event {
    /// The messages of one datagram, in per-sender order, each exactly once.
    Deliver(Delivery),
    /// A region's send buffer has room again after `WouldBlock`.
    Writable(RegionId),
    /// A member of the region (this node included, see [`crate::QsmNode::request_fences`]) asks
    /// for a fence: publish, now, a message of the application's own format that names
    /// `key` and `nonce`, so that it lies in this node's stream after everything published
    /// so far. A node that cannot (its send buffer is full) may skip it: the requester asks
    /// again.
    Fence {
        /// Region.
        region: RegionId,
        /// The requester's key.
        key: u64,
        /// The requester's nonce.
        nonce: u64,
    },
    /// Without a membership service ([`crate::Config::member_timeout`]): `node` was silent
    /// too long and this node installed view `view` of `region` without it.
    Evicted {
        /// Region.
        region: RegionId,
        /// The silent member.
        node: NodeId,
        /// The view installed without it.
        view: ViewId,
    },
}

/// Why a message was not accepted for sending.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The send buffer is full; wait for [`Event::Writable`].
    #[error("send buffer full: wait for the region to acknowledge (Event::Writable)")]
    WouldBlock,
    /// The message does not fit in one datagram.
    #[error("message of {len} bytes exceeds the largest that fits in a datagram ({max} bytes); raise datagram_size or split it")]
    TooLarge {
        /// Requested length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// No view has been installed for the region.
    #[error("no view installed for region {0}: install_view() first")]
    UnknownRegion(RegionId),
    /// The node behind this handle has shut down.
    #[error("the node has shut down")]
    Closed,
}

/// Why a view was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ViewError {
    /// A view with no members.
    #[error("view {view:?} of region {region} has no members")]
    Empty {
        /// Region.
        region: RegionId,
        /// View.
        view: ViewId,
    },
    /// A member listed twice.
    #[error("view {view:?} of region {region} lists member {node} twice")]
    Duplicate {
        /// Region.
        region: RegionId,
        /// View.
        view: ViewId,
        /// Member.
        node: NodeId,
    },
    /// A cut of a region this node has not installed a view of.
    #[error("view {view:?} of region {region}: the region has no view installed here to cut")]
    UnknownRegion {
        /// Region.
        region: RegionId,
        /// View.
        view: ViewId,
    },
    /// Not newer than the installed view.
    #[error("view {new:?} of region {region} is not newer than the installed view {current:?}")]
    Stale {
        /// Region.
        region: RegionId,
        /// Installed.
        current: ViewId,
        /// Offered.
        new: ViewId,
    },
}

/// Counters of protocol activity, for tests, the simulator and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Data datagrams multicast for the first time.
    pub data_sent: u64,
    /// Datagrams re-multicast by this node as a sender after NAKs.
    pub sender_retransmissions: u64,
    /// Copies forwarded by unicast to peers (push and pull repair).
    pub peer_repairs: u64,
    /// Pull requests sent.
    pub pulls_sent: u64,
    /// NAKs sent to senders by whole partitions.
    pub naks_sent: u64,
    /// NAKs sent by a single member whose gap outlasted peer repair.
    pub naks_escalated: u64,
    /// Token passes, retransmissions included.
    pub tokens_sent: u64,
    /// Token pass retransmissions.
    pub token_retransmissions: u64,
    /// Largest token datagram encoded, bytes.
    pub max_token_bytes: u64,
    /// Rounds completed (leader).
    pub rounds_completed: u64,
    /// Rounds regenerated after a lost token (leader).
    pub rounds_regenerated: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Data datagrams received that were already held or delivered.
    pub duplicates: u64,
    /// Data datagrams dropped for being beyond the receive window.
    pub beyond_window: u64,
    /// Datagrams that failed to decode.
    pub decode_errors: u64,
    /// Datagrams for regions, views or ring positions this node does not have.
    pub ignored: u64,
    /// Tokens refused for a round more than `MAX_ROUND_LEAP` past the last one processed.
    pub round_leaps: u64,
    /// Values from the network clamped to what local state allows: a cleanup point past
    /// this member's contiguous point, a cut-off (heartbeat or token) more than a window
    /// past it; and join points refused for naming a view more than 64 past the installed
    /// one.
    pub clamped: u64,
    /// Messages delivered to the application (own messages included).
    pub delivered_messages: u64,
    /// Join-point requests sent to senders (retries included).
    pub start_requests: u64,
    /// Join-point answers sent as a sender.
    pub stream_starts: u64,
    /// Fence requests multicast by this node.
    pub fence_requests: u64,
    /// Fences asked of this node ([`Event::Fence`]), its own requests included.
    pub fences_asked: u64,
    /// Receive streams retired after their sender departed.
    pub streams_retired: u64,
    /// Datagrams of retired streams known to exist (held, missing, or held before the join
    /// point was known) that were never delivered. Each is a loss the application was not
    /// given; a datagram's message count is unknown when it never arrived.
    pub retired_undelivered: u64,
    /// Views installed without a silent member (no membership service; one per region).
    pub evictions: u64,
}

impl Stats {
    /// Add another node's (or shard's) counters to these; maxima stay maxima.
    pub fn merge(&mut self, o: &Stats) {
        self.data_sent += o.data_sent;
        self.sender_retransmissions += o.sender_retransmissions;
        self.peer_repairs += o.peer_repairs;
        self.pulls_sent += o.pulls_sent;
        self.naks_sent += o.naks_sent;
        self.naks_escalated += o.naks_escalated;
        self.tokens_sent += o.tokens_sent;
        self.token_retransmissions += o.token_retransmissions;
        self.max_token_bytes = self.max_token_bytes.max(o.max_token_bytes);
        self.rounds_completed += o.rounds_completed;
        self.rounds_regenerated += o.rounds_regenerated;
        self.heartbeats_sent += o.heartbeats_sent;
        self.duplicates += o.duplicates;
        self.beyond_window += o.beyond_window;
        self.decode_errors += o.decode_errors;
        self.ignored += o.ignored;
        self.round_leaps += o.round_leaps;
        self.clamped += o.clamped;
        self.delivered_messages += o.delivered_messages;
        self.start_requests += o.start_requests;
        self.stream_starts += o.stream_starts;
        self.fence_requests += o.fence_requests;
        self.fences_asked += o.fences_asked;
        self.streams_retired += o.streams_retired;
        self.retired_undelivered += o.retired_undelivered;
        self.evictions += o.evictions;
    }
}
