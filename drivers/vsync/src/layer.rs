//! The layer over a [`QsmNode`]: one region in one view (view changes and their flush are
//! not wired yet: decision 014).
//!
//! Every message of the region is a frame ([`crate::frame`]). The application's messages go
//! out as `DATA` frames; the view's sequencer (its lowest node) notes every datagram that
//! holds one as QSM delivers it, its own included, and publishes the order as `ORDER` frames.
//! A datagram without `DATA` (the sequencer's order records alone) is not ordered: ordering
//! it would call for another record, and so on without end.

use crate::frame::{self, Frame};
use crate::order::{DatagramId, OrderError, Ordered, Orderer, Sequencer};
use argent_qsm::{node_of, Delivery, Instant, NodeId, PublishError, QsmNode, RegionId};
use std::collections::VecDeque;

/// What the layer refused or dropped, by cause.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerStats {
    /// Deliveries of another region.
    pub other_region: u64,
    /// Messages of the region that are no frame (not published through this layer).
    pub bad_frames: u64,
    /// Order records or datagrams refused as inconsistent ([`OrderError`]).
    pub refused: u64,
    /// Order frames published.
    pub order_frames: u64,
}

/// Total order over one QSM region: hand it the region's deliveries, take datagrams back in
/// total order ([`TotalOrder::poll`]), and let it publish (application messages with
/// [`TotalOrder::publish`]; the sequencer's records with [`TotalOrder::flush`]).
#[derive(Debug)]
pub struct TotalOrder {
    region: RegionId,
    sequencer_node: NodeId,
    sequencer: Option<Sequencer>,
    orderer: Orderer<Delivery>,
    outbox: VecDeque<Vec<u8>>,
    stats: LayerStats,
}

impl TotalOrder {
    /// Node `me`'s layer for `region`, whose view has `members` (the lowest is the sequencer).
    pub fn new(region: RegionId, members: &[NodeId], me: NodeId) -> Self {
        let sequencer_node = members.iter().copied().min().unwrap_or(me);
        TotalOrder {
            region,
            sequencer_node,
            sequencer: (sequencer_node == me).then(Sequencer::new),
            orderer: Orderer::new(),
            outbox: VecDeque::new(),
            stats: LayerStats::default(),
        }
    }

    /// The view's sequencer.
    pub fn sequencer(&self) -> NodeId {
        self.sequencer_node
    }

    pub fn stats(&self) -> LayerStats {
        self.stats
    }

    /// The longest application message, for QSM's `max_message`.
    pub fn max_message_len(qsm_max: usize) -> usize {
        qsm_max.saturating_sub(frame::DATA_OVERHEAD)
    }

    /// Publish an application message of `len` bytes, written in place by `write`.
    pub fn publish_with(
        &mut self,
        qsm: &mut QsmNode,
        now: Instant,
        len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), PublishError> {
        let mut claim = qsm.claim(now, self.region, len + frame::DATA_OVERHEAD)?;
        let (kind, body) = claim.split_at_mut(frame::DATA_OVERHEAD);
        kind[0] = frame::DATA_KIND;
        write(body);
        claim.commit();
        Ok(())
    }

    /// Take one QSM delivery of the region.
    pub fn deliver(&mut self, d: Delivery) {
        if d.region != self.region {
            self.stats.other_region += 1;
            return;
        }
        let from_sequencer = node_of(d.sender) == self.sequencer_node;
        let mut has_data = false;
        for msg in d.messages() {
            match Frame::decode(msg) {
                Ok(Frame::Data(_)) => has_data = true,
                Ok(Frame::Order(runs)) if from_sequencer => {
                    if self.orderer.order(&runs).is_err() {
                        self.stats.refused += 1;
                    }
                }
                Ok(_) | Err(_) => self.stats.bad_frames += 1,
            }
        }
        let id = DatagramId { stream: d.sender.0, seq: d.seq };
        let held = if has_data {
            if let Some(s) = &mut self.sequencer {
                s.note(id.stream, id.seq);
            }
            self.orderer.hold(id, d)
        } else {
            self.orderer.skip(id)
        };
        if let Err(OrderError::NotNextHeld { .. }) = held {
            self.stats.refused += 1;
        }
    }

    /// The next datagram in total order; its `DATA` frames are the application's messages
    /// ([`frame::data`]).
    pub fn poll(&mut self) -> Option<Ordered<Delivery>> {
        self.orderer.poll()
    }

    /// Datagrams held, waiting for the order.
    pub fn held(&self) -> usize {
        self.orderer.held()
    }

    /// Publish the sequencer's records (and anything queued before) until QSM pushes back.
    pub fn flush(&mut self, qsm: &mut QsmNode, now: Instant) {
        if let Some(s) = &mut self.sequencer {
            let per_frame = frame::runs_that_fit(qsm.config().max_message_len());
            while s.pending() > 0 {
                let mut f = Vec::new();
                frame::encode_order(&s.take(per_frame), &mut f);
                self.outbox.push_back(f);
            }
        }
        while let Some(f) = self.outbox.front() {
            match qsm.publish(now, self.region, f) {
                Ok(()) => {
                    self.outbox.pop_front();
                    self.stats.order_frames += 1;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => {
                    // Sized to fit above; a region gone drops the records with it.
                    debug_assert!(matches!(e, PublishError::UnknownRegion(_) | PublishError::Closed), "{e}");
                    self.outbox.pop_front();
                }
            }
        }
    }

    /// Frames waiting for room in QSM's send buffer.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }
}
