//! Datagrams as the transport hands them out and takes them in.

use std::net::SocketAddrV4;

use bytes::Bytes;

/// Which socket a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The unicast socket.
    Unicast,
    /// The socket of `SocketSpec::groups[i]`.
    Group(usize),
}

/// One received datagram.
#[derive(Debug, Clone)]
pub struct Received {
    /// The payload (a slice of a shared receive buffer).
    pub data: Bytes,
    /// The sender's address.
    pub from: SocketAddrV4,
    /// The socket it arrived on.
    pub via: Via,
}

/// One datagram to send, to a unicast peer or a multicast group.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Destination: a unicast address or a multicast group:port.
    pub to: SocketAddrV4,
    /// The payload.
    pub data: Bytes,
}

impl Outgoing {
    /// A datagram for `to`.
    pub fn new(to: SocketAddrV4, data: Bytes) -> Self {
        Outgoing { to, data }
    }
}
