//! Synthetic subscriptions with Zipf group popularity, for region experiments.

use crate::groups::{GroupId, Subscriptions};
use argent_core::NodeId;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// `nodes` nodes and `groups` groups; the group of popularity rank r (from 1) has
/// max(1, round(nodes / r^exponent)) members, chosen from a fixed random order of the nodes
/// rotated by a random offset per group — popular groups overlap heavily, as in the QSM
/// experiments, while unpopular ones land anywhere. Deterministic per seed.
pub fn zipf_subscriptions(nodes: u32, groups: u32, exponent: f64, seed: u64) -> Subscriptions {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut order: Vec<u32> = (0..nodes).collect();
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut member_of: Vec<Vec<GroupId>> = vec![Vec::new(); nodes as usize];
    for rank in 1..=groups {
        let size = (f64::from(nodes) / f64::from(rank).powf(exponent)).round().max(1.0) as u32;
        let size = size.min(nodes);
        let offset = if size == nodes { 0 } else { (rng.next_u64() % u64::from(nodes.max(1))) as u32 };
        for k in 0..size {
            let node = order[((offset + k) % nodes) as usize];
            member_of[node as usize].push(GroupId(rank));
        }
    }
    let mut subs = Subscriptions::new();
    for (n, gs) in member_of.into_iter().enumerate() {
        subs.set(NodeId(n as u32), gs);
    }
    subs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popularity_follows_the_exponent_and_seeds_replay() {
        let s = zipf_subscriptions(1000, 100, 1.5, 7);
        assert_eq!(s.len(), 1000);
        let members = |g: u32| s.iter().filter(|(_, gs)| gs.contains(&GroupId(g))).count();
        assert_eq!(members(1), 1000);
        assert_eq!(members(2), 354); // 1000 / 2^1.5 = 353.6
        assert_eq!(members(100), 1);
        let again = zipf_subscriptions(1000, 100, 1.5, 7);
        assert!(s.iter().zip(again.iter()).all(|(a, b)| a == b));
    }
}
