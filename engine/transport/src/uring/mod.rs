//! The io_uring backend: one multishot `RecvMsg` per socket over a shared provided buffer
//! ring (zero-copy delivery), batched `SendMsg` submissions, eventfd waker via `PollAdd`.
//!
//! Memory the kernel pins or maps: the buffer ring (16 bytes per entry, at most 8192 entries:
//! 128 KiB), the submission queue (256 entries: 16 KiB) and the completion queue (at most
//! 32768 entries: 512 KiB) — under 1 MiB in all. The receive buffers themselves
//! (`buffers * (max_datagram + 56)` bytes, rounded to 64) are ordinary memory, not
//! registered, so the 8 MiB memlock limit is never approached.

mod pool;
mod send;
mod transport;

pub(crate) use transport::{probe, UringTransport};
