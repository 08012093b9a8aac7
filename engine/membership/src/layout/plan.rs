//! Laying groups onto regions under a ring budget and an address budget.

use crate::groups::{GroupId, Subscriptions};
use crate::regions::{AddressPool, Addressing, Overflow, Region};
use argent_core::{NodeId, RegionId};
use std::collections::{BTreeMap, HashMap};

/// What a layout may spend.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The multicast addresses regions may use.
    pub pool: AddressPool,
    /// The most regions (recovery rings) one node may take part in; at least 1.
    pub rings_per_node: usize,
    /// Multi-member regions beyond the pool: [`Overflow::Share`] takes the cheaper of
    /// sharing an address and unicast fan-out for each, [`Overflow::Unicast`] always unicast.
    pub overflow: Overflow,
}

/// Regions for a set of groups: every group is carried by exactly one region, which holds
/// all of its members.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    regions: Vec<Region>,
    by_group: HashMap<GroupId, RegionId>,
    merges: usize,
}

impl Plan {
    /// All regions: those with their own address first (most traffic saved first), then
    /// the rest.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region that carries `group`.
    pub fn region_of(&self, group: GroupId) -> Option<&Region> {
        let id = self.by_group.get(&group)?;
        self.regions.get((id.0 as usize).checked_sub(1)?)
    }

    /// Merges the ring budget forced.
    pub fn merges(&self) -> usize {
        self.merges
    }
}

/// A region being planned.
struct Draft {
    members: Vec<NodeId>,
    groups: Vec<GroupId>,
    traffic: f64,
    merged_into: Option<usize>,
}

/// Lay the groups of `subs` onto regions within `budget`; `traffic` weighs each group's
/// messages (what a copy more or a datagram more costs). Deterministic: the same input
/// gives the same plan.
///
/// 1. Groups with the same members share a region; so a node's groups with no other member
///    share one region of that node alone.
/// 2. While a node takes part in more regions than the budget allows, two of its regions
///    merge: the pair whose merge sends the fewest unwanted copies (each region's traffic
///    times the members it gains).
/// 3. Regions of one member need no address (one unicast datagram). The others get the
///    pool's addresses in order of the datagrams multicast saves (traffic times members
///    beyond the first); those left over share the address that costs fewest unwanted
///    copies, or are reached by unicast if that costs fewer extra datagrams.
pub fn plan(subs: &Subscriptions, budget: Budget, traffic: impl Fn(GroupId) -> f64) -> Plan {
    let mut members_of: BTreeMap<GroupId, Vec<NodeId>> = BTreeMap::new();
    for (node, groups) in subs.iter() {
        for g in groups {
            members_of.entry(*g).or_default().push(node);
        }
    }
    let mut drafts: Vec<Draft> = Vec::new();
    let mut by_members: HashMap<Vec<NodeId>, usize> = HashMap::new();
    for (g, mut members) in members_of {
        members.sort_unstable();
        members.dedup();
        let i = *by_members.entry(members).or_insert_with_key(|m| {
            drafts.push(Draft { members: m.clone(), groups: Vec::new(), traffic: 0.0, merged_into: None });
            drafts.len() - 1
        });
        drafts[i].groups.push(g);
        drafts[i].traffic += traffic(g).max(0.0);
    }
    let merges = fit_rings(&mut drafts, budget.rings_per_node.max(1));
    let mut live: Vec<Draft> = drafts.into_iter().filter(|d| d.merged_into.is_none()).collect();
    let saved = |d: &Draft| d.traffic * (d.members.len() as f64 - 1.0);
    live.sort_by(|a, b| {
        saved(b)
            .total_cmp(&saved(a))
            .then_with(|| a.members.cmp(&b.members))
            .then_with(|| a.groups.cmp(&b.groups))
    });
    let addressing = address(&live, budget);
    let mut plan = Plan { merges, ..Plan::default() };
    for (i, (d, addressing)) in live.into_iter().zip(addressing).enumerate() {
        let id = RegionId(i as u32 + 1);
        for g in &d.groups {
            plan.by_group.insert(*g, id);
        }
        let mut groups = d.groups;
        groups.sort_unstable();
        plan.regions.push(Region { id, members: d.members, groups, addressing });
    }
    plan
}

/// Merge regions until no node takes part in more than `budget`; returns the merges made.
fn fit_rings(drafts: &mut [Draft], budget: usize) -> usize {
    let mut of_node: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
    for (i, d) in drafts.iter().enumerate() {
        for m in &d.members {
            of_node.entry(*m).or_default().push(i);
        }
    }
    let over: Vec<NodeId> = of_node.iter().filter(|(_, r)| r.len() > budget).map(|(n, _)| *n).collect();
    let mut merges = 0;
    for node in over {
        while of_node[&node].len() > budget {
            let (a, b) = cheapest_pair(drafts, &of_node[&node]);
            merge(drafts, &mut of_node, a, b);
            merges += 1;
        }
    }
    merges
}

/// The pair of regions whose merge costs the fewest unwanted copies. With many regions,
/// only pairs that include one of the 16 with the least traffic are weighed (bounded work;
/// merging quiet regions is what is cheap).
fn cheapest_pair(drafts: &[Draft], regions: &[usize]) -> (usize, usize) {
    let mut by_traffic = regions.to_vec();
    by_traffic.sort_by(|a, b| drafts[*a].traffic.total_cmp(&drafts[*b].traffic).then(a.cmp(b)));
    let mut best = (f64::INFINITY, by_traffic[0], by_traffic[1]);
    for (k, &a) in by_traffic.iter().enumerate().take(16) {
        for &b in &by_traffic[k + 1..] {
            let (da, db) = (&drafts[a], &drafts[b]);
            let cost = da.traffic * outside(&db.members, &da.members) as f64
                + db.traffic * outside(&da.members, &db.members) as f64;
            if cost < best.0 {
                best = (cost, a, b);
            }
        }
    }
    (best.1, best.2)
}

/// How many of `these` (ascending) are not in `of` (ascending).
fn outside(these: &[NodeId], of: &[NodeId]) -> usize {
    let (mut i, mut n) = (0, 0);
    for x in these {
        while i < of.len() && of[i] < *x {
            i += 1;
        }
        if i == of.len() || of[i] != *x {
            n += 1;
        }
    }
    n
}

/// Merge region `b` into `a`.
fn merge(drafts: &mut [Draft], of_node: &mut BTreeMap<NodeId, Vec<usize>>, a: usize, b: usize) {
    let gone = std::mem::take(&mut drafts[b].members);
    let groups = std::mem::take(&mut drafts[b].groups);
    let traffic = std::mem::take(&mut drafts[b].traffic);
    drafts[b].merged_into = Some(a);
    for m in &gone {
        let regions = of_node.get_mut(m).expect("every member is indexed");
        regions.retain(|r| *r != b);
        if !regions.contains(&a) {
            regions.push(a);
        }
    }
    let d = &mut drafts[a];
    d.members.extend(gone);
    d.members.sort_unstable();
    d.members.dedup();
    d.groups.extend(groups);
    d.traffic += traffic;
}

/// How each region (in order of the datagrams multicast saves) is reached.
fn address(regions: &[Draft], budget: Budget) -> Vec<Addressing> {
    let pool = budget.pool;
    let mut out = Vec::with_capacity(regions.len());
    // Per own address: who joined it and the traffic it carries.
    let mut owners: Vec<(Vec<NodeId>, f64)> = Vec::new();
    for d in regions {
        if d.members.len() == 1 {
            out.push(Addressing::Unicast);
            continue;
        }
        if (owners.len() as u64) < u64::from(pool.count) {
            out.push(Addressing::Multicast(pool.address(owners.len() as u32)));
            owners.push((d.members.clone(), d.traffic));
            continue;
        }
        let unicast = d.traffic * (d.members.len() as f64 - 1.0);
        let share = match budget.overflow {
            Overflow::Unicast => None,
            // The addresses with the least traffic (the last ones given) are the candidates.
            Overflow::Share => (owners.len().saturating_sub(64)..owners.len())
                .map(|i| {
                    let (joined, t) = &owners[i];
                    let cost = d.traffic * outside(joined, &d.members) as f64
                        + t * outside(&d.members, joined) as f64;
                    (cost, i)
                })
                .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1))),
        };
        match share {
            Some((cost, i)) if cost < unicast => {
                out.push(Addressing::Shared(pool.address(i as u32)));
                let (joined, t) = &mut owners[i];
                joined.extend(&d.members);
                joined.sort_unstable();
                joined.dedup();
                *t += d.traffic;
            }
            _ => out.push(Addressing::Unicast),
        }
    }
    out
}
