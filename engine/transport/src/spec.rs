//! What sockets a transport opens and how they are sized, and the limits a spec must keep.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::TransportError;

/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Largest number of datagrams per `recvmmsg`/`sendmmsg` call (the kernel's `UIO_MAXIOV`).
pub const MAX_BATCH: usize = 1024;

/// What sockets to open and how to size them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// Bind address for the unicast socket (port 0 = any free port).
    pub unicast: SocketAddrV4,
    /// IPv4 multicast group:port to join, one socket each, bound to group:port with
    /// `SO_REUSEADDR`/`SO_REUSEPORT` so several processes on one host can join.
    pub groups: Vec<SocketAddrV4>,
    /// `IP_MULTICAST_IF` and join interface (127.0.0.1 on loopback).
    pub interface: Ipv4Addr,
    /// `SO_RCVBUF` request per socket (`SO_RCVBUFFORCE` when permitted).
    pub recv_buffer: usize,
    /// `SO_SNDBUF` request (`SO_SNDBUFFORCE` when permitted).
    pub send_buffer: usize,
    /// `IP_MULTICAST_TTL`.
    pub ttl: u32,
    /// Largest datagram to receive; larger ones are dropped and counted (`recv_truncated`).
    pub max_datagram: usize,
    /// Datagrams per `recvmmsg`/`sendmmsg` call.
    pub batch: usize,
    /// Ask for UDP GRO on receive sockets (a sender's GSO run arrives as one buffer, split
    /// by the transport), when `max_datagram` holds the largest payload. On by default;
    /// off for a baseline of plain per-datagram receives (or with `ARGENT_TRANSPORT_GRO=0`).
    pub gro: bool,
}

impl SocketSpec {
    /// A spec on loopback: unicast on 127.0.0.1 (any port), multicast through 127.0.0.1.
    pub fn loopback(groups: Vec<SocketAddrV4>) -> Self {
        SocketSpec { groups, ..SocketSpec::default() }
    }

    pub(crate) fn validate(&self) -> Result<(), TransportError> {
        let bad = |why: String| Err(TransportError::InvalidSpec(why));
        if self.batch == 0 || self.batch > MAX_BATCH {
            return bad(format!("batch is {}, expected 1..={MAX_BATCH}", self.batch));
        }
        if self.max_datagram == 0 || self.max_datagram > MAX_UDP_PAYLOAD {
            return bad(format!("max_datagram is {}, expected 1..={MAX_UDP_PAYLOAD}", self.max_datagram));
        }
        for g in &self.groups {
            if !g.ip().is_multicast() {
                return bad(format!("group {g} is not an IPv4 multicast address (224.0.0.0/4)"));
            }
            if g.port() == 0 {
                return bad(format!("group {g} needs a port"));
            }
        }
        if self.ttl > 255 {
            return bad(format!("ttl is {}, expected 0..=255", self.ttl));
        }
        Ok(())
    }
}

impl Default for SocketSpec {
    fn default() -> Self {
        SocketSpec {
            unicast: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            groups: Vec::new(),
            interface: Ipv4Addr::LOCALHOST,
            recv_buffer: 4 << 20,
            send_buffer: 4 << 20,
            ttl: 1,
            max_datagram: MAX_UDP_PAYLOAD,
            batch: 32,
            gro: true,
        }
    }
}
