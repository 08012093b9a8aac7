//! Fixed-size control frame bodies (heartbeat, token and round acknowledgements, join
//! points, fence requests) and their encoders.

use crate::codec::Writer;
use crate::constants::HEADER_LEN;
use crate::header::{FrameKind, Header};

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
