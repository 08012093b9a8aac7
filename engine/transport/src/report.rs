//! What became of the datagrams of one `send` call.

use std::io;
use std::net::SocketAddrV4;

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

    pub(crate) fn reject(&mut self, to: SocketAddrV4, len: usize, count: usize, error: io::Error) {
        self.rejected += count;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(Rejection { to, len, error });
        }
    }
}
