//! A transport's counters.

use crate::report::SendReport;

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
    /// Receives that carried several datagrams at once (UDP GRO), split by the transport.
    pub gro_buffers: u64,
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
