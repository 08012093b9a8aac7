//! What the kinds that need total order share: a change names the update that made it, so
//! the process that submitted an operation learns what became of it once it is applied.
//!
//! On a total-order driver every replica applies the same updates in the same order, so a
//! decision made at apply time from the state (is the count at least 5? is the lock free?)
//! is the same decision at every replica: nobody decides alone when submitting. The
//! submitter waits for its own update to come back and reads the decision in its change
//! (`argent::Live::submit_wait`).

use super::stamp::Stamp;

/// A change that names the update that made it (its stamp: origin and Lamport time,
/// unique per update).
pub trait Stamped {
    /// The stamp of the update this change comes from.
    fn stamp(&self) -> Stamp;
}
