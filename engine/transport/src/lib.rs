//! argent transports: batched UDP unicast and IPv4 multicast for the runtime's duty cycle.
//!
//! One [`Transport`] owns one unicast socket (tokens, acknowledgements, repairs; also the
//! sending socket for multicast) and one socket per joined multicast group. Two backends:
//!
//! - [`Backend::Std`]: non-blocking sockets, `recvmmsg`/`sendmmsg` in batches, UDP GSO for
//!   runs of equal-sized datagrams, `epoll` readiness waits. Received datagrams are slices
//!   of a large shared arena (no allocation per datagram).
//! - [`Backend::Uring`]: `io_uring` with one multishot `RecvMsg` per socket over a provided
//!   buffer ring; received datagrams are zero-copy [`Bytes`](bytes::Bytes) whose drop returns the buffer
//!   to the ring. Sends are batched `SendMsg` entries submitted once per call.
//!
//! [`open`] with no backend probes io_uring and falls back to the portable backend.

mod api;
#[allow(unsafe_code)]
mod arena;
mod backend;
mod datagram;
mod error;
mod plan;
mod report;
mod setup;
mod socket;
mod spec;
mod stats;
mod std_backend;
#[allow(unsafe_code)]
mod sys;
mod timers;
#[allow(unsafe_code)]
mod uring;
mod waker;

pub use api::{Transport, SEND_WAIT_BUDGET};
pub use arena::WriteArena;
pub use backend::Backend;
pub use datagram::{Outgoing, Received, Tail, Via, MAX_TAIL};
pub use error::TransportError;
pub use report::{Rejection, SendReport};
pub use setup::{open, probe_uring};
pub use socket::{interface_multicast, path_datagram, INTERFACE_WARNED};
pub use spec::{SocketSpec, MAX_BATCH, MAX_UDP_PAYLOAD};
pub use stats::TransportStats;
pub use timers::precise_timers;
pub use waker::Waker;
