//! The operations every transport backend provides.

use std::io;
use std::net::SocketAddrV4;
use std::time::Duration;

use crate::backend::Backend;
use crate::datagram::{Outgoing, Received};
use crate::error::TransportError;
use crate::report::SendReport;
use crate::stats::TransportStats;
use crate::waker::Waker;

/// How long `send` waits in total for a full socket to drain before counting datagrams unsent.
pub const SEND_WAIT_BUDGET: Duration = Duration::from_millis(100);

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

    /// Join multicast `group` while running: a socket of its own, set up as at open (bound
    /// to the group, own multicasts filtered out). Joining a group already joined does nothing.
    fn join(&mut self, group: SocketAddrV4) -> Result<(), TransportError>;

    /// Leave `group` and close its socket; datagrams already received stay. Returns false if
    /// the group was not joined. Every descriptor and buffer of the group is released.
    fn leave(&mut self, group: SocketAddrV4) -> Result<bool, TransportError>;

    /// The groups joined now.
    fn groups(&self) -> Vec<SocketAddrV4>;
}
