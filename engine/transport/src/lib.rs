//! argent transports: batched UDP unicast and IPv4 multicast for the runtime's duty cycle.
//!
//! One [`Transport`] owns one unicast socket (tokens, acknowledgements, repairs; also the
//! sending socket for multicast) and one socket per joined multicast group. Two backends:
//!
//! - [`Backend::Std`]: non-blocking sockets, `recvmmsg`/`sendmmsg` in batches, UDP GSO for
//!   runs of equal-sized datagrams, `epoll` readiness waits. Received datagrams are slices
//!   of a large shared arena (no allocation per datagram).
//! - [`Backend::Uring`]: `io_uring` with one multishot `RecvMsg` per socket over a provided
//!   buffer ring; received datagrams are zero-copy [`Bytes`] whose drop returns the buffer
//!   to the ring. Sends are batched `SendMsg` entries submitted once per call.
//!
//! [`open`] with no backend probes io_uring and falls back to the portable backend.

#[allow(unsafe_code)]
mod arena;
mod error;
mod plan;
mod socket;
mod std_backend;
#[allow(unsafe_code)]
mod sys;
#[allow(unsafe_code)]
mod uring;
mod waker;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

pub use error::TransportError;
pub use socket::{interface_multicast, path_datagram};
pub use waker::Waker;

/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Largest number of datagrams per `recvmmsg`/`sendmmsg` call (the kernel's `UIO_MAXIOV`).
pub const MAX_BATCH: usize = 1024;
/// How long `send` waits in total for a full socket to drain before counting datagrams unsent.
pub const SEND_WAIT_BUDGET: Duration = Duration::from_millis(100);

/// Which socket backend a transport uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Portable: `recvmmsg`/`sendmmsg`/GSO with `epoll`.
    Std,
    /// `io_uring`: multishot receive into a provided buffer ring, batched submissions.
    Uring,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Std => "std",
            Backend::Uring => "uring",
        })
    }
}

impl FromStr for Backend {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "std" => Ok(Backend::Std),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            _ => Err(TransportError::UnknownBackend(s.to_owned())),
        }
    }
}

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
}

impl SocketSpec {
    /// A spec on loopback: unicast on 127.0.0.1 (any port), multicast through 127.0.0.1.
    pub fn loopback(groups: Vec<SocketAddrV4>) -> Self {
        SocketSpec { groups, ..SocketSpec::default() }
    }

    fn validate(&self) -> Result<(), TransportError> {
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
        }
    }
}

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

/// A datagram the kernel refused for a reason of its own (not back-pressure).
#[derive(Debug)]
pub struct Rejection {
    /// Its destination.
    pub to: SocketAddrV4,
    /// Its length.
    pub len: usize,
    /// What the kernel said.
    pub error: io::Error,
}

/// What became of one `send` call's datagrams: `sent + unsent + rejected` is the batch length.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Their payload bytes.
    pub bytes: usize,
    /// Datagrams not sent because the socket stayed full for the whole wait budget.
    pub unsent: usize,
    /// Datagrams refused for a reason of their own (too large, no route, permission...).
    pub rejected: usize,
    /// Back-pressure waits (EAGAIN/ENOBUFS) before retrying.
    pub retries: usize,
    /// The first refusal, to say why.
    pub first_rejection: Option<Rejection>,
}

impl SendReport {
    /// Whether every datagram of the batch was accepted.
    pub fn all_sent(&self) -> bool {
        self.unsent == 0 && self.rejected == 0
    }

    fn reject(&mut self, to: SocketAddrV4, len: usize, count: usize, error: io::Error) {
        self.rejected += count;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(Rejection { to, len, error });
        }
    }
}

/// Counters since the transport was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// System calls made to receive (`recvmmsg`; `io_uring_enter` for uring).
    pub recv_syscalls: u64,
    /// System calls made to send (`sendmmsg`; `io_uring_enter` for uring).
    pub send_syscalls: u64,
    /// System calls made to wait (`epoll_wait`, `poll`; waiting `io_uring_enter` for uring).
    pub wait_syscalls: u64,
    /// Datagrams handed to the caller.
    pub datagrams_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Datagrams the kernel accepted for sending.
    pub datagrams_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Sends sent as one GSO (`UDP_SEGMENT`) message carrying several datagrams.
    pub gso_messages: u64,
    /// Back-pressure waits before retrying a send.
    pub send_retries: u64,
    /// Datagrams not sent after the wait budget.
    pub send_unsent: u64,
    /// Datagrams the kernel refused (see `SendReport::first_rejection`).
    pub send_rejected: u64,
    /// Datagrams the kernel dropped because a receive socket buffer was full (`SO_RXQ_OVFL`).
    pub recv_drops: u64,
    /// Received datagrams larger than `max_datagram`, dropped.
    pub recv_truncated: u64,
    /// Times the receive buffers ran out (std: a new arena; uring: the buffer ring was empty).
    pub recv_buffer_exhausted: u64,
    /// Datagrams copied out of the uring buffer pool because readers held half of it.
    pub recv_copied: u64,
    /// Times the waker interrupted a receive.
    pub wakeups: u64,
    /// Times the io_uring completion queue overflowed (completions were kept by the kernel
    /// and flushed; none lost on kernels with `IORING_FEAT_NODROP`).
    pub cq_overflows: u64,
    /// Smallest receive buffer the kernel granted over all sockets (bytes, as `SO_RCVBUF` reads).
    pub recv_buffer_granted: usize,
    /// Send buffer the kernel granted to the unicast socket.
    pub send_buffer_granted: usize,
}

impl TransportStats {
    /// Count what one `send` call did.
    pub(crate) fn account_send(&mut self, report: &SendReport) {
        self.datagrams_sent += report.sent as u64;
        self.bytes_sent += report.bytes as u64;
        self.send_retries += report.retries as u64;
        self.send_unsent += report.unsent as u64;
        self.send_rejected += report.rejected as u64;
    }
}

/// A batched datagram socket set: one unicast socket and one socket per joined group.
pub trait Transport: Send {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// The bound unicast address (after port 0 resolution).
    fn local_addr(&self) -> SocketAddrV4;

    /// Wait until at least one datagram is available, the waker fires, or `timeout` passes
    /// (None = no timeout, Some(ZERO) = don't block), then append up to `max` datagrams to `out`.
    /// Returns how many were appended: 0 after a timeout or a wake-up (the uring backend also
    /// wakes itself when receive buffers held by readers come back after it ran out).
    fn recv(&mut self, timeout: Option<Duration>, max: usize, out: &mut Vec<Received>) -> io::Result<usize>;

    /// Send every datagram (unicast peers or multicast groups, the latter from the unicast
    /// socket) in as few system calls as possible; drains `batch`. Back-pressure is waited out
    /// for at most [`SEND_WAIT_BUDGET`]; what is still not sent is counted in the report.
    fn send(&mut self, batch: &mut Vec<Outgoing>) -> io::Result<SendReport>;

    /// A handle that makes a blocked (or the next) `recv` return early.
    fn waker(&self) -> Waker;

    /// Counters since the transport was opened.
    fn stats(&self) -> TransportStats;
}

/// Opens a transport. `None` probes: io_uring if it works here, else the portable backend.
pub fn open(backend: Option<Backend>, spec: &SocketSpec) -> Result<Box<dyn Transport>, TransportError> {
    spec.validate()?;
    let backend = match backend {
        Some(b) => b,
        None => match probe_uring() {
            Ok(()) => {
                tracing::info!(backend = "uring", "transport backend: io_uring works here");
                Backend::Uring
            }
            Err(why) => {
                tracing::info!(backend = "std", reason = %why, "transport backend: io_uring unavailable");
                Backend::Std
            }
        },
    };
    match backend {
        Backend::Std => Ok(Box::new(std_backend::StdTransport::open(spec)?)),
        Backend::Uring => Ok(Box::new(uring::UringTransport::open(spec)?)),
    }
}

/// Whether UDP GSO may be used: on unless the environment sets `ARGENT_TRANSPORT_GSO=0`
/// (for measuring with and without it).
fn gso_allowed() -> bool {
    std::env::var("ARGENT_TRANSPORT_GSO").map_or(true, |v| v != "0")
}

/// Make the calling thread's timed waits precise (timer slack 1 ns instead of 50 µs): for
/// threads that wait for protocol deadlines, such as shards. Best effort.
pub fn precise_timers() {
    if let Err(e) = sys::lower_timer_slack() {
        tracing::debug!(error = %e, "could not lower the timer slack");
    }
}

/// Checks that io_uring works here with everything the uring backend needs (ring setup,
/// the opcodes, timed waits, a provided buffer ring, multishot receive). Says why not.
pub fn probe_uring() -> Result<(), String> {
    uring::probe()
}
