//! Zero-copy byte streams: event-stream objects whose events are written in place and
//! delivered as slices of the datagram.

use super::binding::lock;
use super::error::LiveError;
use super::options::{OpenOptions, PUBLISH_WAIT};
use crate::membership::GroupLease;
use crate::node::Node;
use argent_objects::frame::{HEADER as FRAME_HEADER, TAG_BYTES};
use argent_objects::key::ObjectKey;
use argent_objects::key::{open, Opened, MAC_LEN};
use argent_objects::reference::{ObjectId, Reference};
use argent_objects::types::TypeRequirement;
use argent_runtime::{GroupId, PublishError, Publisher, Subscription};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An event stream of raw bytes, zero-copy: a publisher writes each event in place in the
/// node's publish ring ([`ByteStream::publish_with`]), and subscribers get each event as a
/// [`bytes::Bytes`] slice of the received datagram — no decoding, no copy. Events carry no
/// stamp or state: each sender's events arrive reliably and in order (the driver's FIFO), from
/// when the subscriber subscribed. Authenticated streams (`auth = "key"`) add a MAC to each
/// event (computed over the event, so `publish_with` writes the payload, then the MAC).
pub struct ByteStream {
    /// The stream's hold on its group (through the GMS).
    _lease: Option<GroupLease>,
    id: ObjectId,
    group: GroupId,
    key: Option<ObjectKey>,
    publisher: Mutex<Publisher>,
    sub: Mutex<Subscription>,
    rejected: AtomicU64,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream").field("id", &self.id).field("group", &self.group).finish()
    }
}

impl Node {
    /// Opens a zero-copy byte stream: the object must be an `event-stream`.
    pub fn open_bytes(&self, reference: &Reference, options: OpenOptions) -> Result<ByteStream, LiveError> {
        let reference = &self.dereference(reference)?;
        let id = reference.id;
        let require = TypeRequirement::whole(argent_objects::types::Category::EventStream);
        let (group, group_name, lease) = self.admit(reference, &require, options.key.as_ref())?;
        let sub = self.subscribe_groups(&[group])?;
        let publisher = self.publisher(&group_name)?;
        Ok(ByteStream {
            _lease: lease,
            id,
            group,
            key: options.key,
            publisher: Mutex::new(publisher),
            sub: Mutex::new(sub),
            rejected: AtomicU64::new(0),
        })
    }
}

impl ByteStream {
    /// Publishes `payload` (one copy, into the publish ring).
    pub fn publish(&self, payload: &[u8]) -> Result<(), LiveError> {
        self.publish_with(payload.len(), |buf| buf.copy_from_slice(payload))
    }

    /// Publishes an event of `len` bytes written in place by `write` (no copy).
    pub fn publish_with(&self, len: usize, write: impl FnOnce(&mut [u8])) -> Result<(), LiveError> {
        let mac = if self.key.is_some() { MAC_LEN } else { 0 };
        let total = FRAME_HEADER + len + mac;
        let mut p = lock(&self.publisher);
        let until = Instant::now() + PUBLISH_WAIT;
        let mut claim = loop {
            match p.claim(total) {
                Ok(c) => break c,
                Err(PublishError::WouldBlock) if Instant::now() < until => {}
                Err(PublishError::WouldBlock) => return Err(LiveError::Stalled { id: self.id }),
                Err(source) => return Err(LiveError::Publish { id: self.id, source }),
            }
            // Not borrowed any more: wait for room.
            p.wait_for_space(total, Duration::from_millis(10));
        };
        let buf = claim.bytes_mut();
        buf[0] = TAG_BYTES;
        buf[1..FRAME_HEADER].copy_from_slice(&self.id.0.to_le_bytes());
        write(&mut buf[FRAME_HEADER..FRAME_HEADER + len]);
        if let Some(k) = &self.key {
            let m = k.mac(&buf[..FRAME_HEADER + len]);
            buf[FRAME_HEADER + len..].copy_from_slice(&m);
        }
        claim.commit();
        Ok(())
    }

    /// The events of the next delivery (waiting up to `timeout`): zero-copy slices, each
    /// sender's in order. Empty after a timeout, or when the delivery held none of this
    /// stream's (another object's on the same group).
    pub fn recv_timeout(&self, timeout: Duration) -> Vec<bytes::Bytes> {
        let Ok(d) = lock(&self.sub).recv_timeout(timeout) else { return Vec::new() };
        let mut out = Vec::new();
        for (_, m) in d.message_bytes() {
            match open(self.id, self.key.as_ref(), &m) {
                Some(Opened::Authentic(TAG_BYTES, body)) => {
                    let start = FRAME_HEADER;
                    out.push(m.slice(start..start + body.len()));
                }
                Some(Opened::Forged(TAG_BYTES, _)) => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        out
    }

    /// Events that failed the stream's key (dropped).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}
