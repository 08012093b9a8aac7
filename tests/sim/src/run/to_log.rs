//! What a node delivered in total order (`--driver total-order`), per incarnation: the
//! checkers of `total_order` line these up at the end.

/// What one incarnation of a node delivered in total order.
#[derive(Debug, Default)]
pub(super) struct ToLog {
    /// The view its layer started in.
    pub(super) first_view: u64,
    /// (sender, index) of every message, in the order delivered.
    pub(super) msgs: Vec<(u32, u64)>,
    /// Every view it began after the first, with how many messages it delivered before.
    pub(super) views: Vec<(u64, usize)>,
    /// The incarnation left the membership (crashed, left, evicted): not held to the order,
    /// which is not uniform (a sequencer may deliver its own order just before it goes, and
    /// the survivors' flush decide another; decision 014).
    pub(super) removed: bool,
}
