//! What a subscription hands out: one delivered datagram, seen through the subscription's
//! groups — only the messages of its groups, each with its group tag stripped, all borrowed
//! from (or reference-counted slices of) the received buffer.

use crate::groups::{split_tag, Filter, FRAGMENT_GROUP};
use argent_core::{NodeId, RegionId, ViewId};
use argent_membership::GroupId;
use bytes::Bytes;
use std::sync::Arc;

/// One delivered datagram of a region, filtered to the subscription's groups. Dropping it
/// releases the receive buffer (once every other holder has dropped it too).
#[derive(Clone)]
pub struct Delivery {
    inner: argent_qsm::Delivery,
    filter: Arc<Filter>,
    /// Messages larger than a datagram whose last fragment is in this datagram: the
    /// fragment's place among its messages, the group and the whole message.
    assembled: Option<Arc<[Assembled]>>,
    /// A total-order region's datagram: its messages are frames ([`argent_vsync::frame`]).
    framed: bool,
}

/// The tagged message in `m`: `m` itself, or in a total-order region (`framed`) the body
/// of a `DATA` frame (the driver's own frames are nobody's messages).
#[inline]
pub(crate) fn unframe(m: &[u8], framed: bool) -> Option<&[u8]> {
    if framed {
        argent_vsync::frame::data(m)
    } else {
        Some(m)
    }
}

/// A message put back together from fragments, at the place of its last fragment.
pub(crate) type Assembled = (usize, GroupId, Bytes);

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("region", &self.inner.region)
            .field("sender", &self.inner.sender)
            .field("seq", &self.inner.seq)
            .field("count", &self.inner.count)
            .finish()
    }
}

impl Delivery {
    pub(crate) fn new(inner: argent_qsm::Delivery, filter: Arc<Filter>, framed: bool) -> Self {
        Delivery { inner, filter, assembled: None, framed }
    }

    /// Whether its messages are frames (a total-order region).
    pub(crate) fn framed(&self) -> bool {
        self.framed
    }

    /// The tagged messages of the datagram, of every group (frames' bodies in a total-order
    /// region).
    pub(crate) fn tagged(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let framed = self.framed;
        self.inner.messages().filter_map(move |m| unframe(m, framed))
    }

    /// With the messages completed by fragments in this datagram.
    pub(crate) fn with_assembled(mut self, assembled: Vec<Assembled>) -> Self {
        if !assembled.is_empty() {
            self.assembled = Some(assembled.into());
        }
        self
    }

    /// The datagram as the protocol delivered it.
    pub(crate) fn inner(&self) -> &argent_qsm::Delivery {
        &self.inner
    }

    /// Whether at least one message belongs to the subscription's groups (stops at the first).
    pub(crate) fn has_any(&self) -> bool {
        self.group_messages().next().is_some()
    }

    /// The node that sent it.
    pub fn sender_node(&self) -> NodeId {
        self.inner.sender_node()
    }

    /// The sender's stream (node id and incarnation).
    pub fn sender(&self) -> NodeId {
        self.inner.sender
    }

    /// The region it was multicast in.
    pub fn region(&self) -> RegionId {
        self.inner.region
    }

    /// The region view the sender sent the datagram in.
    pub fn view(&self) -> ViewId {
        self.inner.view
    }

    /// Sequence number of the datagram in the sender's stream.
    pub fn seq(&self) -> u64 {
        self.inner.seq
    }

    /// The messages of the subscription's groups, in the order the sender wrote them
    /// (group tags stripped). A message larger than a datagram (sent in fragments) is handed
    /// out whole, in the delivery of its last fragment.
    pub fn messages(&self) -> Messages<'_> {
        Messages(self.group_messages())
    }

    /// The fences in this datagram, as (key, nonce) (see [`crate::Runtime::request_fences`]),
    /// whatever the subscription's groups. A fence's place among the messages does not
    /// matter: whoever delivers it has the whole datagram.
    pub fn fences(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.tagged().filter_map(argent_wire::message::parse_fence)
    }

    /// The messages of the subscription's groups with the group each was published to.
    pub fn group_messages(&self) -> GroupMessages<'_> {
        GroupMessages {
            all: self.inner.messages(),
            filter: &self.filter,
            view: self.inner.view,
            assembled: self.assembled.as_deref().unwrap_or(&[]),
            index: 0,
            framed: self.framed,
        }
    }

    /// The messages of the subscription's groups as reference-counted slices of the datagram
    /// (no copy; a message put together from fragments is its own buffer), e.g. to keep one
    /// beyond the delivery.
    pub fn message_bytes(&self) -> impl Iterator<Item = (GroupId, Bytes)> + '_ {
        let assembled = self.assembled.as_deref().unwrap_or(&[]);
        self.group_messages().map(move |(g, m)| {
            match assembled
                .iter()
                .find(|(_, _, b)| std::ptr::eq(b.as_ptr(), m.as_ptr()) && b.len() == m.len())
            {
                Some((_, _, b)) => (g, b.clone()),
                None => (g, self.inner.datagram.slice_ref(m)),
            }
        })
    }

    /// The whole datagram as received: header, and every message of the region with its tag.
    pub fn datagram(&self) -> &Bytes {
        &self.inner.datagram
    }
}

/// Messages of a [`Delivery`] with their groups.
#[derive(Debug)]
pub struct GroupMessages<'a> {
    all: argent_wire::Messages<'a>,
    filter: &'a Filter,
    /// The region view the datagram was sent in.
    view: ViewId,
    /// Messages completed here from fragments, by the place of their last fragment.
    assembled: &'a [Assembled],
    index: usize,
    framed: bool,
}

impl<'a> Iterator for GroupMessages<'a> {
    type Item = (GroupId, &'a [u8]);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let m = self.all.next()?;
            let at = self.index;
            self.index += 1;
            let Some(m) = unframe(m, self.framed) else { continue };
            // A message too short for a tag is not ours to deliver (no argent sender makes one).
            if let Some((g, payload)) = split_tag(m) {
                if g == FRAGMENT_GROUP {
                    // Only the last fragment of a message counts: as the whole message.
                    if let Some((_, group, bytes)) = self.assembled.iter().find(|(i, _, _)| *i == at) {
                        return Some((*group, &bytes[..]));
                    }
                } else if self.filter.admits(g, self.view) {
                    return Some((g, payload));
                }
            }
        }
    }
}

/// Messages of a [`Delivery`], tags stripped.
#[derive(Debug)]
pub struct Messages<'a>(GroupMessages<'a>);

impl<'a> Iterator for Messages<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.next().map(|(_, m)| m)
    }
}
