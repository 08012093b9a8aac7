//! Data frames: application messages aggregated into one datagram.

use crate::codec::{Reader, Writer};
use crate::constants::{DATA_PREFIX_LEN, HEADER_LEN, MESSAGE_OVERHEAD};
use crate::error::DecodeError;
use crate::header::{FrameKind, Header};
use bytes::{Bytes, BytesMut};

/// A decoded data frame (first transmission, retransmission or forward), borrowing its
/// messages from the datagram.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct DataFrame<'a> {
    /// Original sender of the stream.
    pub sender: u32,
    /// Per-(sender, region) sequence number of this datagram, from 1.
    pub seq: u64,
    /// The region view the sender had installed when it opened this datagram: the view its
    /// messages were sent in (see [`view_of`]).
    pub view: u64,
    /// Number of messages.
    pub count: u16,
    msgs: &'a [u8],
    body: &'a [u8],
}

impl<'a> DataFrame<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        const F: &str = "data";
        let body = r.rest();
        let body_start = r.position();
        let sender = r.u32_in(F)?;
        let seq = r.u64_in(F)?;
        if seq == 0 {
            return Err(DecodeError::ZeroSequence);
        }
        let view = r.u64_in(F)?;
        let count = r.u16(F)?;
        if count == 0 {
            return Err(DecodeError::EmptyData);
        }
        const BODY_PREFIX: usize = 4 + 8 + 8 + 2;
        for _ in 0..count {
            let len = usize::from(r.u16(F)?);
            r.take(F, len)?;
        }
        let consumed = r.position() - body_start;
        let body = body.get(..consumed).unwrap_or(&[]);
        let msgs = body.get(BODY_PREFIX..).unwrap_or(&[]);
        Ok(DataFrame { sender, seq, view, count, msgs, body })
    }

    /// The messages, in the order the sender wrote them. Validated at decode time.
    pub fn messages(&self) -> Messages<'a> {
        Messages { r: Reader::new(self.msgs), left: self.count }
    }

    /// The body (sender, sequence, messages) as on the wire, to re-frame it for a forward
    /// or a retransmission with [`crate::encode_data_copy`].
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// The messages of a data datagram that was already decoded successfully (for example one
/// kept after [`crate::decode`]), without validating it again. On a datagram that is not a
/// valid data frame it yields fewer messages; it never panics.
pub fn messages_of(datagram: &[u8]) -> Messages<'_> {
    let count = message_count(datagram);
    Messages { r: Reader::new(datagram.get(DATA_PREFIX_LEN..).unwrap_or(&[])), left: count }
}

/// The view a data datagram was sent in ([`DataFrame::view`]; 0 if it is too short to be
/// one), read without decoding it again.
pub fn view_of(datagram: &[u8]) -> u64 {
    const AT: usize = DATA_PREFIX_LEN - 2 - 8;
    datagram.get(AT..AT + 8).map_or(0, |v| u64::from_le_bytes(v.try_into().expect("8 bytes")))
}

/// The message count of a data datagram (0 if it is too short to be one).
pub fn message_count(datagram: &[u8]) -> u16 {
    datagram.get(DATA_PREFIX_LEN - 2..DATA_PREFIX_LEN).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]))
}

/// Iterator over the messages of a [`DataFrame`].
#[derive(Debug)]
pub struct Messages<'a> {
    r: Reader<'a>,
    left: u16,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reader({} bytes left)", self.rest().len())
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let len = usize::from(self.r.u16("data").ok()?);
        self.r.take("data", len).ok()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

/// Builds one data datagram in place: messages are appended (or claimed and written in
/// place) until the configured datagram size is reached.
#[derive(Debug)]
pub struct DataBuilder {
    buf: BytesMut,
    count: u16,
    limit: usize,
}

impl DataBuilder {
    /// Start datagram `seq` of `sender` in `region`, at most `limit` bytes long, sent in
    /// view 0 (see [`DataBuilder::in_view`]).
    pub fn new(region: u32, sender: u32, seq: u64, limit: usize) -> Self {
        Self::in_view(region, sender, seq, 0, limit)
    }

    /// Start datagram `seq` of `sender` in `region`, sent in region view `view`, at most
    /// `limit` bytes long.
    pub fn in_view(region: u32, sender: u32, seq: u64, view: u64, limit: usize) -> Self {
        Self::in_buffer(BytesMut::with_capacity(limit), region, sender, seq, view, limit)
    }

    /// [`DataBuilder::in_view`] written into `buf`, an empty buffer (grown to `limit` if it
    /// holds less): a sender carves its datagrams out of large blocks this way, one
    /// allocation per block instead of one per datagram ([`DataBuilder::finish_rest`]).
    pub fn in_buffer(mut buf: BytesMut, region: u32, sender: u32, seq: u64, view: u64, limit: usize) -> Self {
        assert!(seq > 0, "sequence numbers start at 1");
        assert!(limit > DATA_PREFIX_LEN + MESSAGE_OVERHEAD, "datagram limit too small");
        buf.clear();
        buf.reserve(limit);
        let mut w = Writer::new(&mut buf);
        Header { kind: FrameKind::Data, region, from: sender }.write(&mut w);
        w.u32(sender);
        w.u64(seq);
        w.u64(view);
        w.u16(0);
        DataBuilder { buf, count: 0, limit }
    }

    /// Largest single message a datagram of `limit` bytes can carry.
    pub fn max_message_len(limit: usize) -> usize {
        limit.saturating_sub(DATA_PREFIX_LEN + MESSAGE_OVERHEAD).min(usize::from(u16::MAX))
    }

    /// Whether a message of `len` bytes still fits.
    pub fn fits(&self, len: usize) -> bool {
        self.count < u16::MAX
            && len <= usize::from(u16::MAX)
            && self.buf.len() + MESSAGE_OVERHEAD + len <= self.limit
    }

    /// Reserve `len` bytes for a message and return them to be written in place, or `None`
    /// if the message does not fit.
    pub fn claim(&mut self, len: usize) -> Option<&mut [u8]> {
        if !self.fits(len) {
            return None;
        }
        self.buf.extend_from_slice(&(len as u16).to_le_bytes()); // len <= u16::MAX, checked by fits
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        self.count += 1;
        Some(&mut self.buf[start..])
    }

    /// The last `len` bytes written (the message just claimed), to fill in place.
    pub fn tail_mut(&mut self, len: usize) -> &mut [u8] {
        let start = self.buf.len().saturating_sub(len).max(DATA_PREFIX_LEN);
        &mut self.buf[start..]
    }

    /// The last `len` bytes written.
    pub fn tail(&self, len: usize) -> &[u8] {
        let start = self.buf.len().saturating_sub(len).max(DATA_PREFIX_LEN);
        &self.buf[start..]
    }

    /// Undo the last [`DataBuilder::claim`] of `len` bytes.
    pub fn unclaim(&mut self, len: usize) {
        assert!(self.count > 0, "unclaim without claim");
        self.count -= 1;
        let new_len = self.buf.len() - len - MESSAGE_OVERHEAD;
        self.buf.truncate(new_len);
    }

    /// Append a message by copy. Returns false if it does not fit. (Appended as it is, not
    /// claimed and then overwritten: no zero-fill first.)
    pub fn push(&mut self, msg: &[u8]) -> bool {
        if !self.fits(msg.len()) {
            return false;
        }
        self.buf.extend_from_slice(&(msg.len() as u16).to_le_bytes()); // <= u16::MAX, checked by fits
        self.buf.extend_from_slice(msg);
        self.count += 1;
        true
    }

    /// Messages so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Whether no message was added yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Seal the datagram.
    pub fn finish(self) -> Bytes {
        self.finish_rest().0
    }

    /// Seal the datagram; also returns the rest of its buffer's capacity, empty, for the next
    /// datagram (sharing the allocation: it is freed once every datagram carved from it is).
    pub fn finish_rest(mut self) -> (Bytes, BytesMut) {
        assert!(self.count > 0, "a data datagram carries at least one message");
        let at = DATA_PREFIX_LEN - 2;
        self.buf[at..at + 2].copy_from_slice(&self.count.to_le_bytes());
        let rest = self.buf.split_off(self.buf.len());
        (self.buf.freeze(), rest)
    }

    /// Give up the datagram; returns its buffer, empty, for reuse.
    pub fn abandon(mut self) -> BytesMut {
        self.buf.clear();
        self.buf
    }
}

/// Build a datagram header in front of an existing data body (used to forward or
/// retransmit a cached datagram under a different kind and transmitter).
pub fn encode_data_copy(kind: FrameKind, region: u32, from: u32, body: &[u8]) -> Vec<u8> {
    debug_assert!(kind.is_data());
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    let mut w = Writer::new(&mut out);
    Header { kind, region, from }.write(&mut w);
    w.bytes(body);
    out
}
