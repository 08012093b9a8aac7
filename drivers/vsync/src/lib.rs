//! Total order and virtual synchrony over QSM's reliable streams, sans-IO.
//!
//! QSM delivers each sender's datagrams exactly once and in order (per-sender FIFO). This
//! crate orders them across senders, the same way at every member of a region view, and
//! closes every view with a flush, so that members that move together from one view to the
//! next delivered the same messages in it (virtual synchrony). It owns no socket, clock or
//! thread: a layer above QSM hands it what QSM delivers and publishes what it asks for.
//!
//! - **Frames** ([`frame`]). Every QSM message of such a region is a frame: application data,
//!   the sequencer's order records, or a member's flush report.
//! - **Sequencer** ([`Sequencer`]). The lowest node of the view notes every datagram of the
//!   view as QSM delivers it to it (its own included) and publishes the order as runs of
//!   consecutive datagrams of one stream ([`Run`]).
//! - **Members** ([`Orderer`]). Hold datagrams per stream and the sequencer's runs, in the
//!   order its stream carries them, and deliver a datagram when the next run names it.
//! - **Flush** ([`flush`], [`agree`]). At a view change each surviving member reports where
//!   its own stream ended in the old view and how far it holds every other stream. A
//!   coordinator computes the ends from the reports and publishes them; the survivors agree
//!   on them even when survivors, the coordinator included, leave during the flush (a Paxos
//!   whose quorum is every survivor still a member). Once a member holds everything up to
//!   the ends (relayed by a survivor where some are missing), it delivers the rest of the old
//!   view in one deterministic order ([`Orderer::finish_view`]): the sequencer's runs as far
//!   as every datagram they name is within the ends, then what is left, by stream and
//!   sequence number.
//!
//! Decision 014 (`docs/decisions/`) records the design and its measured cost.

pub mod agree;
pub mod flush;
pub mod frame;
mod layer;
mod order;

pub use agree::{Absent, Agreement};
pub use flush::{stream_ends, Decision, RelayPlan, Report, State};
pub use frame::{Before, Frame, FrameError, Relay, Run};
pub use layer::{LayerStats, Output, TotalOrder};
pub use order::{DatagramId, OrderError, Ordered, Orderer, Sequencer, ViewEnd};

#[cfg(test)]
mod tests;
