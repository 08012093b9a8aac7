//! The argent wire format.
//!
//! Every datagram starts with a 12-byte versioned [`Header`] followed by one frame body.
//! All integers are little-endian. Decoding borrows from the datagram: message payloads,
//! range lists and token entries are views into the input, never copies. Every malformed,
//! truncated or hostile input yields a [`DecodeError`]; decoding never panics.
//!
//! ```text
//! header   magic "AG" (2) | version (1) | kind (1) | region u32 | from u32
//! data     sender u32 | seq u64 | count u16 | count × (len u16 | payload)
//! hb       sender u32 | highest u64
//! token    view u64 | round u64 | hop u32 | flags u8 | entries u16 | entries × entry
//! tokenack view u64 | round u64 | hop u32
//! ack      view u64 | round u64 | sender u32 | stable u64 | max_seen u64 | rate min/avg/max u32
//! pull,nak sender u32 | count u16 | count × (start u64 | len u32)
//! alive    (header only)
//! startreq view u64 | sender u32
//! start    view u64 | sender u32 | base u64 | flags u8
//! ```

mod codec;
mod data;
mod error;
pub mod message;
mod token;

pub use data::{message_count, messages_of, DataBuilder, DataFrame, Messages};
pub use error::DecodeError;
pub use token::{
    Token, TokenEntries, TokenEntry, TokenEntryRef, TokenFrame, TokenRanges, TOKEN_ENTRY_MAX_LEN,
    TOKEN_HEADER_LEN,
};

use codec::{Reader, Writer};

/// First two bytes of every argent datagram.
pub const MAGIC: [u8; 2] = *b"AG";
/// Wire format version this crate speaks.
pub const VERSION: u8 = 1;
/// Bytes of the common header.
pub const HEADER_LEN: usize = 12;
/// Bytes of a data frame before its first message (header included).
pub const DATA_PREFIX_LEN: usize = HEADER_LEN + 4 + 8 + 2;
/// Bytes each aggregated message costs on top of its payload (its length prefix).
pub const MESSAGE_OVERHEAD: usize = 2;
/// Largest datagram argent produces or accepts (the UDP payload limit over IPv4).
pub const MAX_DATAGRAM: usize = 65_507;
/// Most ranges a token carries in one missing-range list (QSM: at most 20).
pub const MAX_TOKEN_RANGES: usize = 20;
/// Most ranges one pull or NAK carries.
pub const MAX_REQUEST_RANGES: usize = 256;

/// What a datagram carries.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// Aggregated application messages, first transmission, multicast by the sender.
    Data = 1,
    /// The same, re-multicast by the sender after a NAK.
    Retransmit = 2,
    /// The same, unicast by a peer that holds a copy (repair).
    Forward = 3,
    /// The sender's highest sequence number, so receivers detect tail loss.
    Heartbeat = 4,
    /// The recovery token going round a region's ring.
    Token = 5,
    /// Hop-by-hop acknowledgement of a token pass.
    TokenAck = 6,
    /// Per-round acknowledgement from the region leader to a sender.
    Ack = 7,
    /// A member asking a peer for copies it lacks.
    Pull = 8,
    /// A partition asking the sender for what none of its members holds.
    Nak = 9,
    /// "I am alive": a member's periodic presence (for failure detection), header only.
    Alive = 10,
    /// A member asking a sender where its stream starts for the member's join view.
    StartRequest = 11,
    /// A sender's join point: the answer to a [`FrameKind::StartRequest`], or announced.
    StreamStart = 12,
    /// A member asking every member of a region to mark its stream (see [`FenceRequest`]).
    FenceRequest = 13,
}

impl FrameKind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => FrameKind::Data,
            2 => FrameKind::Retransmit,
            3 => FrameKind::Forward,
            4 => FrameKind::Heartbeat,
            5 => FrameKind::Token,
            6 => FrameKind::TokenAck,
            7 => FrameKind::Ack,
            8 => FrameKind::Pull,
            9 => FrameKind::Nak,
            10 => FrameKind::Alive,
            11 => FrameKind::StartRequest,
            12 => FrameKind::StreamStart,
            13 => FrameKind::FenceRequest,
            _ => return None,
        })
    }

    /// Whether the body is a data frame (data, retransmission or forward).
    pub fn is_data(self) -> bool {
        matches!(self, FrameKind::Data | FrameKind::Retransmit | FrameKind::Forward)
    }
}

/// The common header of every datagram.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// What follows.
    pub kind: FrameKind,
    /// Region the datagram belongs to.
    pub region: u32,
    /// Node that transmitted this datagram (not necessarily the data's original sender).
    pub from: u32,
}

impl Header {
    fn write(&self, w: &mut Writer<'_>) {
        w.bytes(&MAGIC);
        w.u8(VERSION);
        w.u8(self.kind as u8);
        w.u32(self.region);
        w.u32(self.from);
    }
}

/// An inclusive range of sequence numbers, `start..=end`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct SeqRange {
    /// First sequence number.
    pub start: u64,
    /// Last sequence number (inclusive, `>= start`).
    pub end: u64,
}

impl SeqRange {
    /// Number of sequence numbers in the range.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }
    /// Ranges are never empty; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Whether `seq` lies in the range.
    pub fn contains(&self, seq: u64) -> bool {
        self.start <= seq && seq <= self.end
    }
}

/// Heartbeat body: the sender's highest sequence number so far.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Heartbeat {
    /// Original sender of the data stream.
    pub sender: u32,
    /// Highest sequence number it has sent.
    pub highest: u64,
}

/// Token pass acknowledgement body.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct TokenAck {
    /// View the token belongs to.
    pub view: u64,
    /// Round number.
    pub round: u64,
    /// Hop index that was received.
    pub hop: u32,
}

/// Per-round acknowledgement from the region leader to one sender.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Ack {
    /// View the round ran in.
    pub view: u64,
    /// Round that produced this acknowledgement.
    pub round: u64,
    /// Sender acknowledged.
    pub sender: u32,
    /// Every member holds every datagram up to and including this sequence number.
    pub stable: u64,
    /// Highest sequence number any member has seen.
    pub max_seen: u64,
    /// Slowest member's receive rate, KiB/s.
    pub rate_min: u32,
    /// Average receive rate, KiB/s.
    pub rate_avg: u32,
    /// Fastest member's receive rate, KiB/s.
    pub rate_max: u32,
}

/// A member's request for the join point of a sender's stream: the last sequence number the
/// sender assigned before it installed view `view` of the region (the first view the member
/// installed as a member). Unicast to the sender's node; `from` is the requesting node.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct StartRequest {
    /// The requester's join view.
    pub view: u64,
    /// Stream asked about.
    pub sender: u32,
}

/// [`StreamStart::flags`] bit: the stream does not exist (any more) at the sender's node — an
/// earlier incarnation, or a stream that node never sent in this region. The requester
/// retires it.
pub const STREAM_GONE: u8 = 1;

/// [`StreamStart::flags`] bit: the stream begins here (announced by multicast when the sender
/// starts it): `base` is the join point for every join view up to `view`, not only `view`.
pub const STREAM_BEGINS: u8 = 2;

/// A sender's join point: a member that joined in view `view` delivers the stream's
/// datagrams after `base`, and only those. Unicast as the answer to a [`StartRequest`], or
/// multicast by the sender when its stream begins ([`STREAM_BEGINS`]) and when it installs
/// a view, so members need not ask.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct StreamStart {
    /// The join view asked about (echoed).
    pub view: u64,
    /// Stream answered for (echoed).
    pub sender: u32,
    /// Last sequence number the sender assigned before it installed `view` (0: none).
    pub base: u64,
    /// [`STREAM_GONE`], [`STREAM_BEGINS`]; other bits are reserved (carried, ignored).
    pub flags: u8,
}

/// A member asks every member of the region to put a *fence* in its own stream: an
/// application message, after everything it sent so far, that names this request. Whoever
/// delivers a member's fence has everything that member sent before it; a joiner that
/// delivers a fence knows it lies after its join point. Multicast to the region, unreliably:
/// the requester asks again (with a new nonce) if fences do not come. The meaning of `key`
/// and `nonce` is the application's.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct FenceRequest {
    /// What the request is about (for live objects: the joiner's origin).
    pub key: u64,
    /// Which request of that key.
    pub nonce: u64,
}

/// A borrowed list of ranges in a pull or NAK.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct RangeList<'a> {
    raw: &'a [u8],
}

impl<'a> RangeList<'a> {
    const ENTRY: usize = 12;

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.raw.len() / Self::ENTRY
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// The ranges, in wire order. Validated at decode time.
    pub fn iter(&self) -> impl Iterator<Item = SeqRange> + 'a {
        self.raw.chunks_exact(Self::ENTRY).map(|c| {
            let mut r = Reader::new(c);
            let start = r.u64().unwrap_or(0);
            let len = r.u32().unwrap_or(1).max(1);
            SeqRange { start, end: start.saturating_add(u64::from(len) - 1) }
        })
    }
}

/// Pull or NAK body: ranges of one sender's stream that the requester lacks.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct RangeRequest<'a> {
    /// Original sender of the stream.
    pub sender: u32,
    /// Missing ranges.
    pub ranges: RangeList<'a>,
}

/// A decoded frame body.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Frame<'a> {
    /// Data, retransmission or forward ([`Header::kind`] tells which).
    Data(DataFrame<'a>),
    /// Sender heartbeat.
    Heartbeat(Heartbeat),
    /// Recovery token.
    Token(TokenFrame<'a>),
    /// Token pass acknowledgement.
    TokenAck(TokenAck),
    /// Round acknowledgement.
    Ack(Ack),
    /// Peer pull.
    Pull(RangeRequest<'a>),
    /// NAK to the sender.
    Nak(RangeRequest<'a>),
    /// A member's presence.
    Alive,
    /// Join-point request.
    StartRequest(StartRequest),
    /// Join-point answer.
    StreamStart(StreamStart),
    /// A request for fences.
    FenceRequest(FenceRequest),
}

/// Decode one datagram. Borrows from `buf`; never panics.
pub fn decode(buf: &[u8]) -> Result<(Header, Frame<'_>), DecodeError> {
    let mut r = Reader::new(buf);
    let magic = r.array::<2>("header")?;
    if magic != MAGIC {
        return Err(DecodeError::BadMagic(magic));
    }
    let version = r.u8("header")?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind_byte = r.u8("header")?;
    let kind = FrameKind::from_u8(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
    let region = r.u32_in("header")?;
    let from = r.u32_in("header")?;
    let header = Header { kind, region, from };
    let frame = match kind {
        FrameKind::Data | FrameKind::Retransmit | FrameKind::Forward => {
            Frame::Data(DataFrame::decode(&mut r)?)
        }
        FrameKind::Heartbeat => {
            Frame::Heartbeat(Heartbeat { sender: r.u32_in("heartbeat")?, highest: r.u64_in("heartbeat")? })
        }
        FrameKind::Token => Frame::Token(TokenFrame::decode(&mut r)?),
        FrameKind::TokenAck => Frame::TokenAck(TokenAck {
            view: r.u64_in("token ack")?,
            round: r.u64_in("token ack")?,
            hop: r.u32_in("token ack")?,
        }),
        FrameKind::Ack => Frame::Ack(decode_ack(&mut r)?),
        FrameKind::Pull => Frame::Pull(decode_request(&mut r, "pull")?),
        FrameKind::Nak => Frame::Nak(decode_request(&mut r, "nak")?),
        FrameKind::Alive => Frame::Alive,
        FrameKind::StartRequest => Frame::StartRequest(StartRequest {
            view: r.u64_in("start request")?,
            sender: r.u32_in("start request")?,
        }),
        FrameKind::StreamStart => Frame::StreamStart(StreamStart {
            view: r.u64_in("stream start")?,
            sender: r.u32_in("stream start")?,
            base: r.u64_in("stream start")?,
            flags: r.u8("stream start")?,
        }),
        FrameKind::FenceRequest => Frame::FenceRequest(FenceRequest {
            key: r.u64_in("fence request")?,
            nonce: r.u64_in("fence request")?,
        }),
    };
    r.finish(frame_name(kind))?;
    Ok((header, frame))
}

fn frame_name(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Data => "data",
        FrameKind::Retransmit => "retransmit",
        FrameKind::Forward => "forward",
        FrameKind::Heartbeat => "heartbeat",
        FrameKind::Token => "token",
        FrameKind::TokenAck => "token ack",
        FrameKind::Ack => "ack",
        FrameKind::Pull => "pull",
        FrameKind::Nak => "nak",
        FrameKind::Alive => "alive",
        FrameKind::StartRequest => "start request",
        FrameKind::StreamStart => "stream start",
        FrameKind::FenceRequest => "fence request",
    }
}

fn decode_ack(r: &mut Reader<'_>) -> Result<Ack, DecodeError> {
    const F: &str = "ack";
    Ok(Ack {
        view: r.u64_in(F)?,
        round: r.u64_in(F)?,
        sender: r.u32_in(F)?,
        stable: r.u64_in(F)?,
        max_seen: r.u64_in(F)?,
        rate_min: r.u32_in(F)?,
        rate_avg: r.u32_in(F)?,
        rate_max: r.u32_in(F)?,
    })
}

fn decode_request<'a>(r: &mut Reader<'a>, frame: &'static str) -> Result<RangeRequest<'a>, DecodeError> {
    let sender = r.u32_in(frame)?;
    let count = usize::from(r.u16(frame)?);
    if count > MAX_REQUEST_RANGES {
        return Err(DecodeError::TooManyRanges { frame, count, max: MAX_REQUEST_RANGES });
    }
    let raw = r.take(frame, count * RangeList::ENTRY)?;
    for chunk in raw.chunks_exact(RangeList::ENTRY) {
        let mut c = Reader::new(chunk);
        let start = c.u64_in(frame)?;
        let len = c.u32_in(frame)?;
        check_range(frame, start, len)?;
    }
    Ok(RangeRequest { sender, ranges: RangeList { raw } })
}

fn check_range(frame: &'static str, start: u64, len: u32) -> Result<(), DecodeError> {
    if start == 0 || len == 0 || start.checked_add(u64::from(len) - 1).is_none() {
        return Err(DecodeError::BadRange { frame, start, len: u64::from(len) });
    }
    Ok(())
}

/// Encode a heartbeat datagram.
pub fn encode_heartbeat(region: u32, from: u32, hb: &Heartbeat) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 12);
    let mut w = Writer::new(&mut out);
    Header { kind: FrameKind::Heartbeat, region, from }.write(&mut w);
    w.u32(hb.sender);
    w.u64(hb.highest);
    out
}

/// Encode an "alive" datagram: `from` is present in `region`.
pub fn encode_alive(region: u32, from: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    Header { kind: FrameKind::Alive, region, from }.write(&mut Writer::new(&mut out));
    out
}

/// Encode a join-point request datagram.
pub fn encode_start_request(region: u32, from: u32, req: &StartRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 12);
    let mut w = Writer::new(&mut out);
    Header { kind: FrameKind::StartRequest, region, from }.write(&mut w);
    w.u64(req.view);
    w.u32(req.sender);
    out
}

/// Encode a join-point answer datagram.
pub fn encode_stream_start(region: u32, from: u32, start: &StreamStart) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 21);
    let mut w = Writer::new(&mut out);
    Header { kind: FrameKind::StreamStart, region, from }.write(&mut w);
    w.u64(start.view);
    w.u32(start.sender);
    w.u64(start.base);
    w.u8(start.flags);
    out
}

/// Encode a fence request datagram.
pub fn encode_fence_request(region: u32, from: u32, req: &FenceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 16);
    let mut w = Writer::new(&mut out);
    Header { kind: FrameKind::FenceRequest, region, from }.write(&mut w);
    w.u64(req.key);
    w.u64(req.nonce);
    out
}

/// Encode a token acknowledgement datagram.
pub fn encode_token_ack(region: u32, from: u32, ack: &TokenAck) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 20);
    let mut w = Writer::new(&mut out);
    Header { kind: FrameKind::TokenAck, region, from }.write(&mut w);
    w.u64(ack.view);
    w.u64(ack.round);
    w.u32(ack.hop);
    out
}

/// Encode a round acknowledgement datagram.
pub fn encode_ack(region: u32, from: u32, ack: &Ack) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 48);
    let mut w = Writer::new(&mut out);
    Header { kind: FrameKind::Ack, region, from }.write(&mut w);
    w.u64(ack.view);
    w.u64(ack.round);
    w.u32(ack.sender);
    w.u64(ack.stable);
    w.u64(ack.max_seen);
    w.u32(ack.rate_min);
    w.u32(ack.rate_avg);
    w.u32(ack.rate_max);
    out
}

/// Encode a pull (`nak == false`) or NAK (`nak == true`). Ranges past
/// [`MAX_REQUEST_RANGES`] are left out (the requester asks again next round); ranges longer
/// than `u32::MAX` are truncated.
pub fn encode_request(region: u32, from: u32, nak: bool, sender: u32, ranges: &[SeqRange]) -> Vec<u8> {
    let ranges: Vec<&SeqRange> =
        ranges.iter().filter(|r| r.start > 0 && r.end >= r.start).take(MAX_REQUEST_RANGES).collect();
    let kind = if nak { FrameKind::Nak } else { FrameKind::Pull };
    let mut out = Vec::with_capacity(HEADER_LEN + 6 + ranges.len() * RangeList::ENTRY);
    let mut w = Writer::new(&mut out);
    Header { kind, region, from }.write(&mut w);
    w.u32(sender);
    w.u16(ranges.len() as u16); // bounded by MAX_REQUEST_RANGES above
    for range in ranges {
        w.u64(range.start);
        w.u32(u32::try_from(range.len()).unwrap_or(u32::MAX));
    }
    out
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
