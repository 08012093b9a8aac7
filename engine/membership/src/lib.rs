//! argent's membership layer.
//!
//! This first part maps groups to **regions** — the sets of nodes subscribed to exactly the
//! same groups — and gives each region an IP multicast address from a pool, with explicit,
//! counted fallbacks when the pool runs out. The replicated membership service (views,
//! failure detection, consensus) builds on it.

mod regions;
mod zipf;

pub use regions::{
    AddressPool, Addressing, GroupId, Overflow, Region, RegionMap, RegionStats, Subscriptions,
};
pub use zipf::zipf_subscriptions;
