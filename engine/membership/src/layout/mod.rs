//! Regions under budgets: how groups that overlap irregularly are laid onto regions,
//! multicast addresses and recovery rings so that few datagrams go on the wire and few
//! copies reach nodes that do not want them (decision 008).
//!
//! - [`plan`] lays groups out: one region per distinct member set (groups with the same
//!   members share it, QSM's regions seen from the groups), merged where a node would take
//!   part in more rings than the budget allows (receivers filter by the group tag), with
//!   the pool's addresses going to the regions where multicast saves most; regions beyond
//!   the pool share an address or are reached by unicast, whichever costs less; a region
//!   of one member needs no address (one unicast datagram).
//! - [`Cost`] measures any layout (the planned one, or [`crate::RegionMap`]'s regions of
//!   identical group sets) by the datagrams a publisher emits and the unwanted copies per
//!   message, weighted by each group's traffic, and by the rings each node takes part in.

mod cost;
mod plan;
#[cfg(test)]
mod tests;

pub use cost::Cost;
pub use plan::{plan, Budget, Plan};
