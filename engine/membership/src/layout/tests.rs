use super::*;
use crate::groups::{GroupId, Subscriptions};
use crate::regions::{AddressPool, Addressing, Overflow, RegionMap};
use crate::zipf::zipf_subscriptions;
use argent_core::NodeId;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::net::Ipv4Addr;

fn pool(count: u32) -> AddressPool {
    AddressPool { base: Ipv4Addr::new(239, 255, 0, 1), count, port: 7000 }
}

fn budget(addresses: u32, rings: usize) -> Budget {
    Budget { pool: pool(addresses), rings_per_node: rings, overflow: Overflow::Share }
}

fn subs(rows: &[(u32, &[u32])]) -> Subscriptions {
    let mut s = Subscriptions::new();
    for (n, gs) in rows {
        s.set(NodeId(*n), gs.iter().map(|g| GroupId(*g)).collect());
    }
    s
}

fn even(_: GroupId) -> f64 {
    1.0
}

/// Every group is carried by one region that holds all of its members.
fn assert_covers(s: &Subscriptions, p: &Plan) {
    for (node, groups) in s.iter() {
        for g in groups {
            let r = p.region_of(*g).unwrap_or_else(|| panic!("group {g:?} has no region"));
            assert!(r.members.contains(&node), "{node:?} of {g:?} is not in its region {:?}", r.id);
            assert!(r.groups.contains(g));
        }
    }
    let carried: usize = p.regions().iter().map(|r| r.groups.len()).sum();
    let groups: std::collections::BTreeSet<_> = s.iter().flat_map(|(_, g)| g.to_vec()).collect();
    assert_eq!(carried, groups.len(), "every group is carried exactly once");
}

#[test]
fn groups_with_the_same_members_share_a_region_and_nothing_is_unwanted() {
    let s = subs(&[(1, &[1, 2, 3]), (2, &[1, 2]), (3, &[1, 4]), (4, &[5])]);
    let p = plan(&s, budget(8, 16), even);
    assert_covers(&s, &p);
    assert_eq!(p.region_of(GroupId(1)).unwrap().members, vec![NodeId(1), NodeId(2), NodeId(3)]);
    assert_eq!(p.region_of(GroupId(2)).unwrap().groups, vec![GroupId(2)]);
    // Groups 3 and 5 have one member each: no address, one unicast datagram.
    assert_eq!(p.region_of(GroupId(3)).unwrap().addressing, Addressing::Unicast);
    let c = Cost::of(&s, p.regions(), even);
    assert_eq!((c.sends_per_message, c.unwanted_per_message), (1.0, 0.0));
    assert_eq!(c.addresses_used, 2);
    assert_eq!(c.rings_per_node_max, 3); // node 1: {1,2,3}, {1,2}, {1} (group 3)
    assert_eq!(p.merges(), 0);
}

#[test]
fn the_ring_budget_merges_the_cheapest_regions_and_counts_what_it_costs() {
    // Node 0 is in five groups, each with a different partner; group 1 is busy.
    let s = subs(&[(0, &[1, 2, 3, 4, 5]), (1, &[1]), (2, &[2]), (3, &[3]), (4, &[4]), (5, &[5])]);
    let busy = |g: GroupId| if g == GroupId(1) { 100.0 } else { 1.0 };
    let p = plan(&s, budget(8, 2), busy);
    assert_covers(&s, &p);
    let c = Cost::of(&s, p.regions(), busy);
    assert!(c.rings_per_node_max <= 2, "{c:?}");
    assert_eq!(p.merges(), 3);
    // The busy group keeps its own region: its messages reach nobody else.
    assert_eq!(p.region_of(GroupId(1)).unwrap().members, vec![NodeId(0), NodeId(1)]);
    assert!(c.unwanted_per_message > 0.0, "merges are paid for in unwanted copies: {c:?}");
    assert!(c.unwanted_per_message < 1.0, "and only by the quiet groups: {c:?}");
}

#[test]
fn regions_beyond_the_pool_share_or_go_unicast_whichever_costs_less() {
    // Two large busy regions and a small quiet one, one address.
    let s = subs(&[(1, &[1, 3]), (2, &[1, 3]), (3, &[1]), (4, &[2]), (5, &[2]), (6, &[2])]);
    let t = |g: GroupId| match g.0 {
        1 => 10.0,
        2 => 5.0,
        _ => 0.1,
    };
    let p = plan(&s, budget(1, 16), t);
    assert_covers(&s, &p);
    assert!(matches!(p.region_of(GroupId(1)).unwrap().addressing, Addressing::Multicast(_)));
    // Group 2 (3 members) pays 2 extra sends by unicast; sharing costs 5*3 + 10*3: unicast.
    assert_eq!(p.region_of(GroupId(2)).unwrap().addressing, Addressing::Unicast);
    // Group 3 (nodes 1 and 2, within group 1's region): sharing costs 10*1, unicast 0.1*1.
    assert_eq!(p.region_of(GroupId(3)).unwrap().addressing, Addressing::Unicast);
    assert_eq!(Cost::of(&s, p.regions(), t).addresses_used, 1);
    // A quiet subset of a busy region shares its address when that is cheaper.
    // Group 1 (quiet, nodes 1-3): unicast costs 0.01*2, sharing group 3's address 0.01*1.
    let s = subs(&[(1, &[1, 3]), (2, &[1, 3]), (3, &[1, 3]), (4, &[3])]);
    let t = |g: GroupId| if g.0 == 1 { 0.01 } else { 5.0 };
    let p = plan(&s, budget(1, 16), t);
    assert_covers(&s, &p);
    assert!(matches!(p.region_of(GroupId(1)).unwrap().addressing, Addressing::Shared(_)));
    let none = plan(&s, budget(0, 16), t);
    assert!(none.regions().iter().all(|r| r.addressing == Addressing::Unicast));
}

#[test]
fn plans_are_deterministic_and_cover_every_group_under_any_budget() {
    for seed in 0..20 {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut s = Subscriptions::new();
        for n in 0..40 {
            let k = rng.next_u64() % 12;
            s.set(NodeId(n), (0..k).map(|_| GroupId((rng.next_u64() % 30) as u32)).collect());
        }
        let rings = 1 + (seed % 5) as usize;
        let b = budget((seed % 7) as u32, rings);
        let t = |g: GroupId| 1.0 / f64::from(g.0 + 1);
        let p = plan(&s, b, t);
        assert_covers(&s, &p);
        let c = Cost::of(&s, p.regions(), t);
        assert!(c.rings_per_node_max <= rings, "seed {seed}: {c:?}");
        assert!(c.addresses_used <= (seed % 7) as usize, "seed {seed}: {c:?}");
        assert_eq!(c.groups_unreached, 0);
        let again = plan(&s, b, t);
        assert_eq!(p.regions(), again.regions(), "seed {seed}");
    }
}

#[test]
fn a_zipf_workload_fits_the_budgets_where_group_set_regions_do_not() {
    let s = zipf_subscriptions(1000, 10_000, 1.5, 1);
    let t = |g: GroupId| f64::from(g.0).powf(-1.5);
    let p = plan(&s, budget(1000, 16), t);
    assert_covers(&s, &p);
    let c = Cost::of(&s, p.regions(), t);
    assert!(c.sends_per_message + c.unwanted_per_message <= 1.25, "{c:?}");
    assert!(c.rings_per_node_max <= 16, "{c:?}");
    // Regions of identical group sets: one node each here, so the most popular group is
    // sent once per node.
    let old = RegionMap::compute(&s, pool(1000), Overflow::Share);
    let c = Cost::of(&s, old.regions(), t);
    assert!(c.sends_per_message > 100.0, "{c:?}");
    assert_eq!(c.rings_per_node_max, 1);
}
