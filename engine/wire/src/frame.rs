//! Decoding a datagram into its header and frame body.

use crate::codec::Reader;
use crate::constants::{MAGIC, VERSION};
use crate::control::{Ack, FenceRequest, Heartbeat, StartRequest, StreamStart, TokenAck};
use crate::data::DataFrame;
use crate::error::DecodeError;
use crate::header::{FrameKind, Header};
use crate::request::{decode_request, RangeRequest};
use crate::token::TokenFrame;

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
