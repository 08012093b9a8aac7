//! What every handler needs: the time, the settings and who we are ([`Cx`]); where its
//! outputs go ([`Io`]); and how sender streams are named.

use crate::config::Config;
use crate::events::{Delivery, Event, Stats};
use argent_core::{Destination, Instant, NodeId, RegionId, Transmit};
use argent_wire::FrameKind;
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};

/// Outputs collected while handling inputs. The owner drains both queues once per duty
/// cycle (`poll_transmit`, `poll_event`), after at most one receive batch (the runtime's
/// `batch`, 32 by default; the simulator drains after every input) and one drain of the
/// publish rings (sealed datagrams, at most a window per region), so each holds at most
/// that many inputs' worth of what one input makes, which the protocol bounds:
/// - `out`: per input, at most one token pass or acknowledgement per region, a pull or NAK
///   per stream of a visited region, `repair_budget` forwarded copies per stream and visit
///   or per pull, one join-point request per unanchored stream (at most
///   `MAX_STREAMS_PER_REGION` per region), and Alive frames (one per region);
/// - `events`: per input, the datagrams one arrival makes deliverable (at most
///   `window_datagrams` per stream: the held window), one `Writable` per region, fences
///   (one per fence request received) and evictions (one per region and silent member).
#[derive(Debug, Default)]
pub(crate) struct Io {
    pub(crate) out: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
}

impl Io {
    pub(crate) fn fence(&mut self, region: RegionId, key: u64, nonce: u64) {
        self.stats.fences_asked += 1;
        self.events.push_back(Event::Fence { region, key, nonce });
    }

    pub(crate) fn unicast(&mut self, region: RegionId, to: NodeId, payload: Vec<u8>) {
        self.out.push_back(Transmit { region, dest: Destination::Node(to), payload: Bytes::from(payload) });
    }

    /// Hand a data datagram's messages to the application.
    pub(crate) fn deliver(&mut self, region: RegionId, sender: NodeId, seq: u64, datagram: &Bytes) {
        let count = argent_wire::message_count(datagram);
        self.stats.delivered_messages += u64::from(count);
        let view = argent_core::ViewId(argent_wire::view_of(datagram));
        let datagram = datagram.clone();
        self.events.push_back(Event::Deliver(Delivery { region, sender, seq, view, count, datagram }));
    }
}

/// What every handler needs: the time, the settings, and who we are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a Config,
    pub(crate) me: NodeId,
    /// This node's own sender stream id (see [`crate::stream::stream_id`]).
    pub(crate) stream: NodeId,
    /// Nodes that left the system (see [`QsmNode::remove_node`]).
    pub(crate) departed: &'a BTreeSet<NodeId>,
}

/// Send a peer a copy of a datagram this node holds.
pub(crate) fn forward(region: RegionId, me: NodeId, to: NodeId, copy: &Bytes, io: &mut Io) {
    let body = &copy[argent_wire::HEADER_LEN..];
    io.unicast(region, to, argent_wire::encode_data_copy(FrameKind::Forward, region.0, me.0, body));
    io.stats.peer_repairs += 1;
}
