//! Groups → regions → multicast addresses.

use crate::groups::{GroupId, Subscriptions};
use argent_core::{NodeId, RegionId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Multicast addresses regions may use: `base`, `base + 1`, … (`count` of them), one port.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    /// First address (in 224.0.0.0/4).
    pub base: Ipv4Addr,
    /// Number of addresses.
    pub count: u32,
    /// UDP port of every group address.
    pub port: u16,
}

impl AddressPool {
    pub(crate) fn address(&self, i: u32) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(u32::from(self.base).wrapping_add(i)), self.port)
    }
}

/// What to do with regions beyond the address pool.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// Share the addresses of the largest regions: members receive some traffic of regions
    /// they are not in and drop it by the region id in every datagram header.
    Share,
    /// Send to the members of the region one by one (unicast fan-out).
    Unicast,
}

/// How a region's traffic reaches its members.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Addressing {
    /// Its own multicast address.
    Multicast(SocketAddrV4),
    /// A multicast address shared with other regions (receivers filter by region id).
    Shared(SocketAddrV4),
    /// Unicast to each member.
    Unicast,
}

/// A set of nodes subscribed to exactly the same groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Identity (assigned in order of decreasing size, then by group set).
    pub id: RegionId,
    /// Members, ascending.
    pub members: Vec<NodeId>,
    /// The groups all of them (and no one else in the region) subscribe to, ascending.
    pub groups: Vec<GroupId>,
    /// How traffic reaches them.
    pub addressing: Addressing,
}

/// Counters of a region computation: what the pool could not cover is counted, never hidden.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionStats {
    /// Regions.
    pub regions: usize,
    /// Groups with at least one member.
    pub groups: usize,
    /// Distinct multicast addresses used.
    pub addresses_used: usize,
    /// Regions that share an address with a larger one.
    pub shared_regions: usize,
    /// Regions served by unicast fan-out.
    pub unicast_regions: usize,
    /// Most regions a single group spans (a message to it is sent once per region).
    pub max_regions_per_group: usize,
}

/// The mapping of groups to regions and of regions to addresses.
#[derive(Clone, Debug, Default)]
pub struct RegionMap {
    regions: Vec<Region>,
    by_group: HashMap<GroupId, Vec<RegionId>>,
    stats: RegionStats,
}

impl RegionMap {
    /// Compute regions from subscriptions and give them addresses from `pool`: the largest
    /// regions get their own address; the rest follow `overflow`. Deterministic: the same
    /// subscriptions give the same map.
    pub fn compute(subs: &Subscriptions, pool: AddressPool, overflow: Overflow) -> RegionMap {
        let mut sets: HashMap<&[GroupId], Vec<NodeId>> = HashMap::new();
        for (node, groups) in subs.iter() {
            if !groups.is_empty() {
                sets.entry(groups).or_default().push(node);
            }
        }
        let mut regions: Vec<(Vec<GroupId>, Vec<NodeId>)> = sets
            .into_iter()
            .map(|(groups, mut members)| {
                members.sort_unstable();
                (groups.to_vec(), members)
            })
            .collect();
        // Largest first (they gain most from multicast), ties by group set: deterministic.
        regions.sort_unstable_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        let own = (pool.count as usize).min(regions.len());
        let mut map = RegionMap::default();
        for (i, (groups, members)) in regions.into_iter().enumerate() {
            let addressing = match (i < own, overflow) {
                (true, _) => Addressing::Multicast(pool.address(i as u32)),
                (false, Overflow::Unicast) => Addressing::Unicast,
                (false, Overflow::Share) if pool.count > 0 => {
                    Addressing::Shared(pool.address((i % pool.count as usize) as u32))
                }
                (false, Overflow::Share) => Addressing::Unicast,
            };
            let id = RegionId(i as u32 + 1);
            for g in &groups {
                map.by_group.entry(*g).or_default().push(id);
            }
            map.regions.push(Region { id, members, groups, addressing });
        }
        map.stats = map.count(own);
        map
    }

    fn count(&self, own: usize) -> RegionStats {
        let shared = self.regions.iter().filter(|r| matches!(r.addressing, Addressing::Shared(_))).count();
        let unicast = self.regions.iter().filter(|r| r.addressing == Addressing::Unicast).count();
        RegionStats {
            regions: self.regions.len(),
            groups: self.by_group.len(),
            addresses_used: own,
            shared_regions: shared,
            unicast_regions: unicast,
            max_regions_per_group: self.by_group.values().map(Vec::len).max().unwrap_or(0),
        }
    }

    /// The regions a group's messages go to (once each).
    pub fn regions_of(&self, group: GroupId) -> &[RegionId] {
        self.by_group.get(&group).map_or(&[], Vec::as_slice)
    }

    /// A region by id.
    pub fn region(&self, id: RegionId) -> Option<&Region> {
        self.regions.get((id.0 as usize).checked_sub(1)?)
    }

    /// All regions, largest first.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Counters.
    pub fn stats(&self) -> &RegionStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(count: u32) -> AddressPool {
        AddressPool { base: Ipv4Addr::new(239, 255, 0, 1), count, port: 7000 }
    }

    fn subs(rows: &[(u32, &[u32])]) -> Subscriptions {
        let mut s = Subscriptions::new();
        for (n, gs) in rows {
            s.set(NodeId(*n), gs.iter().map(|g| GroupId(*g)).collect());
        }
        s
    }

    #[test]
    fn nodes_with_identical_group_sets_share_a_region() {
        let s = subs(&[(1, &[1, 2]), (2, &[2, 1, 1]), (3, &[1]), (4, &[])]);
        let m = RegionMap::compute(&s, pool(8), Overflow::Share);
        assert_eq!(m.stats().regions, 2);
        let big = &m.regions()[0];
        assert_eq!(big.members, vec![NodeId(1), NodeId(2)]);
        assert_eq!(big.groups, vec![GroupId(1), GroupId(2)]);
        assert_eq!(m.regions_of(GroupId(1)).len(), 2);
        assert_eq!(m.regions_of(GroupId(2)), &[big.id]);
        assert!(m.regions_of(GroupId(9)).is_empty());
        assert_eq!(m.region(big.id), Some(big));
    }

    #[test]
    fn the_pool_running_out_is_counted_never_hidden() {
        let s = subs(&[(1, &[1]), (2, &[1]), (3, &[2]), (4, &[3])]);
        let shared = RegionMap::compute(&s, pool(2), Overflow::Share);
        assert_eq!(shared.stats().addresses_used, 2);
        assert_eq!(shared.stats().shared_regions, 1);
        assert!(matches!(shared.regions()[0].addressing, Addressing::Multicast(_)));
        assert!(matches!(shared.regions()[2].addressing, Addressing::Shared(_)));
        let unicast = RegionMap::compute(&s, pool(2), Overflow::Unicast);
        assert_eq!(unicast.stats().unicast_regions, 1);
        assert_eq!(unicast.regions()[2].addressing, Addressing::Unicast);
        let none = RegionMap::compute(&s, pool(0), Overflow::Share);
        assert_eq!(none.stats().unicast_regions, 3, "no address at all: unicast, counted");
    }
}
