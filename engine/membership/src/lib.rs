//! argent's membership layer.
//!
//! - [`RegionMap`] maps groups to **regions** — the sets of nodes subscribed to exactly the
//!   same groups — and gives each region an IP multicast address from a pool, with explicit,
//!   counted fallbacks when the pool runs out (a one-shot computation, used by static
//!   configurations and the `argent regions` report).
//! - [`layout`] lays groups onto regions under a ring budget and an address budget, and
//!   measures any layout by datagrams sent and unwanted copies per message (decision 008).
//! - [`gms`] is the membership service: replicated with raft, failure detection, versioned
//!   views pushed to members, regions maintained incrementally with stable identities.
//! - [`service`] runs GMS replicas and members' links to them on UDP sockets and threads.

pub mod gms;
mod groups;
pub mod layout;
mod regions;
pub mod service;
mod zipf;

pub use groups::{GroupId, Subscriptions};
pub use regions::{AddressPool, Addressing, Overflow, Region, RegionMap, RegionStats};
pub use zipf::zipf_subscriptions;
