//! What the leader knows of each member's liveness.

use argent_core::{Instant, ViewId};

/// Liveness of a member, kept by the leader only (soft state, rebuilt after a failover).
#[derive(Clone, Debug)]
pub(super) struct Liveness {
    pub(super) incarnation: u64,
    pub(super) last_heard: Instant,
    /// Last view the member said it installed; `None` until it says.
    pub(super) acked: Option<ViewId>,
    pub(super) last_push: Option<Instant>,
    pub(super) suspected: bool,
}

impl Liveness {
    /// A member heard from at `now`, not suspected, to whom nothing has been pushed yet.
    pub(super) fn new(incarnation: u64, now: Instant, acked: Option<ViewId>) -> Self {
        Liveness { incarnation, last_heard: now, acked, last_push: None, suspected: false }
    }
}
