//! What a layout costs per message and per node.

use crate::groups::{GroupId, Subscriptions};
use crate::regions::{Addressing, Region};
use argent_core::NodeId;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddrV4;

/// The cost of a layout, each message weighted by its group's traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Datagrams a publisher emits per message: one per multicast region the group is laid
    /// on, one per member of a region reached by unicast.
    pub sends_per_message: f64,
    /// Copies per message that reach nodes outside the group and are dropped there (by the
    /// group tag, or by the region id on a shared address).
    pub unwanted_per_message: f64,
    /// Regions (recovery rings) a node with at least one group takes part in, on average.
    pub rings_per_node_mean: f64,
    /// The most regions one node takes part in.
    pub rings_per_node_max: usize,
    /// Distinct multicast addresses used.
    pub addresses_used: usize,
    /// Regions.
    pub regions: usize,
    /// Groups with members that no region carries (a broken layout; counted, never hidden).
    pub groups_unreached: usize,
}

impl Cost {
    /// Measure `regions` (a group's messages go to every region whose `groups` holds it)
    /// against the subscriptions they were made from; `traffic` weighs each group's messages.
    pub fn of(subs: &Subscriptions, regions: &[Region], traffic: impl Fn(GroupId) -> f64) -> Cost {
        // Ordered, so that the floating-point sums are the same on every run.
        let mut size: BTreeMap<GroupId, usize> = BTreeMap::new();
        for (_, groups) in subs.iter() {
            for g in groups {
                *size.entry(*g).or_default() += 1;
            }
        }
        let mut joined: HashMap<SocketAddrV4, HashSet<NodeId>> = HashMap::new();
        for r in regions {
            if let Addressing::Multicast(a) | Addressing::Shared(a) = r.addressing {
                joined.entry(a).or_default().extend(r.members.iter().copied());
            }
        }
        // Per group: datagrams sent and copies received for one message.
        let mut per_group: HashMap<GroupId, (f64, f64)> = HashMap::new();
        for r in regions {
            let (sends, copies) = match r.addressing {
                Addressing::Multicast(a) | Addressing::Shared(a) => (1.0, joined[&a].len() as f64),
                Addressing::Unicast => (r.members.len() as f64, r.members.len() as f64),
            };
            for g in &r.groups {
                let e = per_group.entry(*g).or_default();
                e.0 += sends;
                e.1 += copies;
            }
        }
        let (mut weight, mut sends, mut unwanted, mut unreached) = (0.0, 0.0, 0.0, 0);
        for (g, members) in &size {
            let Some((s, c)) = per_group.get(g) else {
                unreached += 1;
                continue;
            };
            let w = traffic(*g);
            weight += w;
            sends += w * s;
            unwanted += w * (c - *members as f64).max(0.0);
        }
        let mut rings: HashMap<NodeId, usize> = HashMap::new();
        for r in regions {
            for m in &r.members {
                *rings.entry(*m).or_default() += 1;
            }
        }
        let nodes = subs.iter().filter(|(_, g)| !g.is_empty()).count();
        let per = |x: f64| if weight > 0.0 { x / weight } else { 0.0 };
        Cost {
            sends_per_message: per(sends),
            unwanted_per_message: per(unwanted),
            rings_per_node_mean: if nodes > 0 {
                rings.values().sum::<usize>() as f64 / nodes as f64
            } else {
                0.0
            },
            rings_per_node_max: rings.values().copied().max().unwrap_or(0),
            addresses_used: joined.len(),
            regions: regions.len(),
            groups_unreached: unreached,
        }
    }
}
