//! The common datagram header and the kinds of frame it announces.

use crate::codec::Writer;
use crate::constants::{MAGIC, VERSION};

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
    /// A member asking every member of a region to mark its stream (see
    /// [`FenceRequest`](crate::FenceRequest)).
    FenceRequest = 13,
}

impl FrameKind {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
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

/// The header's `from` field (the node that transmitted the datagram), read without
/// decoding the rest: what an authenticated receiver compares with the key that sealed it.
/// `None` if the datagram is too short or not argent's.
pub fn transmitter(d: &[u8]) -> Option<u32> {
    let head = d.get(..crate::constants::HEADER_LEN)?;
    if head[..MAGIC.len()] != MAGIC {
        return None;
    }
    Some(u32::from_le_bytes([head[8], head[9], head[10], head[11]]))
}

impl Header {
    pub(crate) fn write<S: crate::codec::Sink>(&self, w: &mut Writer<'_, S>) {
        w.bytes(&MAGIC);
        w.u8(VERSION);
        w.u8(self.kind as u8);
        w.u32(self.region);
        w.u32(self.from);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transmitter_reads_the_from_field() {
        assert_eq!(super::transmitter(&crate::encode_alive(5, 0xDEAD_BEEF)), Some(0xDEAD_BEEF));
        assert_eq!(super::transmitter(b"AG"), None);
        assert_eq!(super::transmitter(&[0u8; 40]), None);
    }
}
