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

/// Most bytes a datagram may carry after its payload in a [`Tail`].
pub const MAX_TAIL: usize = 48;

/// A few bytes sent after a datagram's payload, from their own buffer (a second iovec), so
/// a shared payload is sent as is: a keyed cluster's trailer (`argent_auth::TRAILER`).
#[derive(Debug, Clone, Copy)]
pub struct Tail {
    len: u8,
    bytes: [u8; MAX_TAIL],
}

impl Tail {
    /// No tail.
    pub const NONE: Tail = Tail { len: 0, bytes: [0; MAX_TAIL] };

    /// These bytes.
    ///
    /// # Panics
    /// If there are more than [`MAX_TAIL`].
    pub fn new(bytes: &[u8]) -> Self {
        assert!(bytes.len() <= MAX_TAIL, "a tail of {} bytes (at most {MAX_TAIL})", bytes.len());
        let mut t = Tail { len: bytes.len() as u8, bytes: [0; MAX_TAIL] };
        t.bytes[..bytes.len()].copy_from_slice(bytes);
        t
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// One datagram to send, to a unicast peer or a multicast group: `data` then `tail`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Destination: a unicast address or a multicast group:port.
    pub to: SocketAddrV4,
    /// The payload.
    pub data: Bytes,
    /// Bytes sent after the payload (usually none).
    pub tail: Tail,
}

impl Outgoing {
    /// A datagram for `to`.
    pub fn new(to: SocketAddrV4, data: Bytes) -> Self {
        Outgoing { to, data, tail: Tail::NONE }
    }

    /// A datagram for `to`: `data`, then `tail`.
    pub fn with_tail(to: SocketAddrV4, data: Bytes, tail: Tail) -> Self {
        Outgoing { to, data, tail }
    }

    /// The datagram's length on the wire (payload and tail).
    pub fn len(&self) -> usize {
        self.data.len() + usize::from(self.tail.len)
    }

    /// Whether the datagram is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
