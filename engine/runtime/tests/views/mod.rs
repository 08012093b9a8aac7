//! Membership views as the GMS pushes them, for tests that drive a runtime's `ViewSink`
//! directly (shared with the `argent` package's tests).

use argent_membership::gms::{AddressStats, Member, RegionInfo, View};
use argent_membership::Addressing;
use argent_runtime::{MemberSpec, RegionSpec};
use std::net::SocketAddr;

/// View `id` of `members` (incarnation 1) and `regions`, each with the view its membership
/// dates from, reached at its multicast address.
pub fn view(id: u64, members: &[MemberSpec], regions: &[(RegionSpec, u64)]) -> View {
    View {
        id: argent_core::ViewId(id),
        members: members
            .iter()
            .map(|m| Member {
                node: m.id,
                incarnation: 1,
                addr: SocketAddr::V4(m.addr),
                shards: m.shards as u16,
                groups_version: 0,
            })
            .collect(),
        regions: regions
            .iter()
            .map(|(r, since)| RegionInfo {
                id: r.region,
                groups: r.groups.clone(),
                members: r.members.clone(),
                addressing: Addressing::Multicast(r.address),
                since: argent_core::ViewId(*since),
                ring: argent_core::ViewId(*since),
            })
            .collect(),
        addresses: AddressStats::default(),
        keys: Vec::new(),
    }
}
