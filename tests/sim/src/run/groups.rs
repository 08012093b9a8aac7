//! Many groups (`--groups G`): every node joins a seeded set of groups through the GMS, which
//! maps them onto regions; senders publish each message to a group drawn by popularity;
//! with the `group-churn` fault nodes join and leave groups while traffic flows.
//!
//! A node receives what the shipped pieces give it: QSM delivers each datagram once the node
//! has installed the region view it was sent in, and `JoinedGroups` (the runtime's filter)
//! admits a group's messages sent in the view of its join or later. The checker holds it to
//! the contract, per node, group and sender, from what the senders did:
//! - the first message of an interval is exactly the sender's first to the group after it
//!   installed the joiner's view (nothing from before, nothing skipped);
//! - then every message of the sender to the group, once and in order;
//! - a node still in the group at the end has all of them; a node that left stops.

use super::group_state::{close, Groups, MAX_PER_NODE, TAG};
use super::sim::{Ev, Sim};
use crate::rng::SimRng;
use argent_core::{Instant, NodeId, RegionId, ViewId};
use argent_membership::gms::{ClientStatus, View};
use argent_membership::GroupId;
use argent_qsm::{Delivery, PublishError, RegionView};
use argent_verify::{Header, Message};
use std::collections::BTreeSet;
use std::time::Duration;

impl Sim<'_> {
    fn groups_mut(&mut self) -> &mut Groups {
        self.groups.as_mut().expect("groups run")
    }

    /// Groups runs: node `n` installs membership view `v`. Subscriptions first learn what
    /// they receive (as the runtime's view thread does), then the protocol installs every
    /// region whose view changed and forgets regions gone.
    pub(super) fn install_group_view(&mut self, n: u32, v: &View, now: Instant) {
        let me = NodeId(n);
        let first_sender = self.first_sender;
        let ran = self.nodes[n as usize].region.is_some(); // installed a view before in this incarnation
        let next_index = self.nodes[n as usize].app.as_ref().map_or(0, |a| a.next);
        let mut leaves = 0;
        let mut violations = Vec::new();
        {
            let ng = &mut self.groups.as_mut().expect("groups run").nodes[n as usize];
            let before: BTreeSet<GroupId> = ng.sets.received().iter().map(|(g, _)| g).collect();
            ng.sets.install(v, me);
            let after: BTreeSet<GroupId> = ng.sets.received().iter().map(|(g, _)| g).collect();
            for g in before.difference(&after) {
                leaves += close(ng, *g);
            }
            for g in after.difference(&before) {
                match v.region_of_group(*g) {
                    Some(r) => {
                        ng.joins.insert(*g, (r.id, ran));
                    }
                    None => violations
                        .push(format!("node {n}: receives group {} with no region in {:?}", g.0, v.id)),
                }
            }
            ng.route = v.regions.iter().flat_map(|r| r.groups.iter().map(move |g| (*g, r.id))).collect();
        }
        self.out.group_leaves += leaves;
        for f in violations {
            self.violation(f);
        }
        let node = &mut self.nodes[n as usize];
        node.busy_until = node.busy_until.max(now);
        let at = node.busy_until;
        let present: BTreeSet<RegionId> = v.regions.iter().map(|r| r.id).collect();
        let gone: Vec<RegionId> = {
            let ng = &self.groups_mut().nodes[n as usize];
            ng.installed.keys().filter(|r| !present.contains(r)).copied().collect()
        };
        for r in gone {
            self.nodes[n as usize].proto.forget_region(r);
            self.groups_mut().nodes[n as usize].installed.remove(&r);
        }
        for r in &v.regions {
            // The ring's view (installed when the ring changed), then the newest as a cut (a
            // member joined or left one of the region's groups), as the runtime's shards do.
            let (ring, cut) = (ViewId(r.ring.0.max(1)), ViewId(r.since.0.max(1)));
            let ng = &self.groups.as_ref().expect("groups run").nodes[n as usize];
            let same_ring = ng.installed.get(&r.id).is_some_and(|(had, m)| *had == ring && *m == r.members);
            if !same_ring {
                let rv = RegionView { region: r.id, id: ring, members: r.members.clone() };
                if let Err(e) = self.nodes[n as usize].proto.install_view(at, rv) {
                    self.violation(format!("node {n}: view of {} refused: {e}", r.id));
                    continue;
                }
                if n >= first_sender {
                    self.groups_mut().installs[(n - first_sender) as usize].push((r.id, ring, next_index));
                }
                self.groups_mut().nodes[n as usize].installed.insert(r.id, (ring, r.members.clone()));
            }
            if self.nodes[n as usize].proto.installed_view(r.id).is_some_and(|v| cut > v) {
                if let Err(e) = self.nodes[n as usize].proto.install_cut(r.id, cut) {
                    self.violation(format!("node {n}: cut {cut:?} of {} refused: {e}", r.id));
                    continue;
                }
                if n >= first_sender {
                    self.groups_mut().installs[(n - first_sender) as usize].push((r.id, cut, next_index));
                }
            }
        }
        // Marks "installed a view in this incarnation" (the single-group runs' field).
        self.nodes[n as usize].region = Some((RegionId(u32::MAX), Vec::new()));
    }

    /// Groups runs: the application at a sender publishes each message to a group drawn by
    /// popularity, in that group's region; a group without a region (nobody is in it) is
    /// counted as unrouted and skipped.
    pub(super) fn pump_groups(&mut self, n: u32, at: Instant) {
        let sc = self.sc;
        let slot = n - self.first_sender;
        let mut t = at;
        loop {
            let Some(app) = self.nodes[n as usize].app.as_ref() else { return };
            let i = app.next;
            if i >= sc.messages {
                break;
            }
            let g = {
                let groups = self.groups.as_mut().expect("groups run");
                if groups.sent[slot as usize].len() as u64 == i {
                    let g = Groups::draw(&groups.cdf, &mut groups.draws[slot as usize]);
                    let region = groups.nodes[n as usize].route.get(&g).copied();
                    groups.sent[slot as usize].push(region.map(|r| (g, r)));
                    if region.is_none() {
                        self.out.unrouted += 1;
                    }
                }
                groups.sent[slot as usize][i as usize]
            };
            let node = &mut self.nodes[n as usize];
            let Some((group, region)) = g else {
                node.app.as_mut().expect("sender").next += 1;
                continue;
            };
            match node.proto.claim(t, region, sc.size) {
                Ok(mut claim) => {
                    claim[..TAG].copy_from_slice(&group.0.to_le_bytes());
                    argent_verify::write(
                        &mut claim[TAG..],
                        Header { index: i, sender: n, ..Header::default() },
                        &[],
                    );
                    claim.commit();
                    node.app.as_mut().expect("sender").next += 1;
                    t += sc.cpu_per_message * node.slow;
                    let groups = self.groups.as_mut().expect("groups run");
                    groups.positions.entry((slot, group, region)).or_default().push(i);
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => panic!("scenario validated, yet publish failed: {e}"),
            }
        }
        let node = &mut self.nodes[n as usize];
        node.busy_until = node.busy_until.max(t);
        let Some(app) = node.app.as_mut() else { return };
        if app.next == sc.messages && !app.done {
            app.done = true;
            self.apps_pending -= 1;
            self.apps_done_at = self.apps_done_at.max(t);
        }
    }

    /// Groups runs: a delivered datagram, through the node's filter, to the checker.
    pub(super) fn check_group_delivery(&mut self, n: u32, d: &Delivery) {
        let sc = self.sc;
        let mut found = Vec::new();
        for msg in d.messages() {
            self.out.deliveries += 1;
            let node = &mut self.nodes[n as usize];
            node.busy_until += sc.cpu_per_message * node.slow;
            let parsed =
                argent_wire::message::split_tag(msg).and_then(|(g, rest)| match argent_verify::read(rest) {
                    Ok(Message::Data(m)) if msg.len() == sc.size && m.fill_ok() => {
                        Some((GroupId(g), m.header))
                    }
                    _ => None,
                });
            let Some((g, h)) = parsed else {
                found.push(format!("node {n}: corrupt message of {} bytes from {}", msg.len(), d.sender));
                continue;
            };
            let from = argent_qsm::node_of(d.sender).0;
            let slot =
                h.sender.checked_sub(self.first_sender).filter(|s| *s < sc.senders && from == h.sender);
            let Some(slot) = slot else {
                found
                    .push(format!("node {n}: message claims sender {} but came from {}", h.sender, d.sender));
                continue;
            };
            let groups = self.groups.as_mut().expect("groups run");
            let ng = &mut groups.nodes[n as usize];
            let admitted = match sc.sabotage {
                crate::scenario::Sabotage::NoGroupJoinPoint => ng.sets.received().since(g).is_some(),
                _ => ng.sets.received().admits(g, d.view),
            };
            if !admitted {
                continue; // not received here (the runtime's filter drops it)
            }
            let Some(&(region, _)) = ng.joins.get(&g) else {
                found.push(format!("node {n}: receives group {} without a join", g.0));
                continue;
            };
            if region != d.region {
                found.push(format!(
                    "node {n}: group {} delivered in {} but joined in {region}",
                    g.0, d.region
                ));
                continue;
            }
            let since = ng.sets.received().since(g).expect("admitted groups are received");
            let list = groups.positions.get(&(slot, g, region)).map_or(&[][..], Vec::as_slice);
            let pos = match ng.next.get(&(slot, g)) {
                Some(p) => *p,
                None => {
                    match groups.installs[slot as usize].iter().find(|(r, v, _)| *r == region && *v >= since)
                    {
                        // The interval's first message: the sender's first to the group after it
                        // installed the joiner's view.
                        Some((_, _, bound)) => list.partition_point(|i| i < bound),
                        None => {
                            found.push(format!(
                            "node {n}: message {} of sender {} to group {} was sent before the sender installed \
                             the join view {since:?}",
                            h.index, h.sender, g.0
                        ));
                            continue;
                        }
                    }
                }
            };
            if list.get(pos) != Some(&h.index) {
                let expected = list.get(pos).map_or("nothing more".to_string(), |i| format!("message {i}"));
                let first =
                    if ng.next.contains_key(&(slot, g)) { "" } else { " (its first after joining at " };
                found.push(format!(
                    "node {n}: got message {} of sender {} to group {}, expected {expected}{first}{}",
                    h.index,
                    h.sender,
                    g.0,
                    if first.is_empty() { String::new() } else { format!("{since:?})") }
                ));
                continue;
            }
            ng.next.insert((slot, g), pos + 1);
            self.out.group_deliveries += 1;
        }
        for f in found {
            self.violation(f);
        }
    }

    /// The `group-churn` fault: a node joins a group (drawn by popularity) or leaves one.
    pub(super) fn group_change(&mut self, n: u32, now: Instant) {
        let alive = !self.nodes[n as usize].crashed
            && self.nodes[n as usize].client.as_ref().is_some_and(|c| c.status() == ClientStatus::Member);
        if !alive {
            return;
        }
        let groups = self.groups.as_mut().expect("groups run");
        let held = groups.nodes[n as usize].sets.requested().len();
        let join = held <= 1 || (held < MAX_PER_NODE && groups.churn.chance(0.5));
        let group = if join {
            let mut g = Groups::draw(&groups.cdf, &mut groups.churn);
            for _ in 0..8 {
                if !groups.nodes[n as usize].sets.requested().contains(&g) {
                    break;
                }
                g = Groups::draw(&groups.cdf, &mut groups.churn);
            }
            g
        } else {
            let ng = &groups.nodes[n as usize];
            let k = groups.churn.below(held as u64) as usize;
            *ng.sets.requested().iter().nth(k).expect("k < held")
        };
        let ng = &mut groups.nodes[n as usize];
        let was_received = ng.sets.received().since(group).is_some();
        let Some(version) = ng.sets.request(group, join) else { return };
        let mut leaves = 0;
        if !join && was_received {
            leaves += close(ng, group); // the runtime stops delivering a group left at once
        }
        let set: Vec<GroupId> = ng.sets.requested().iter().copied().collect();
        let client = self.nodes[n as usize].client.as_mut().expect("alive");
        client.set_groups(now, set);
        if client.member().groups_version != version {
            let got = client.member().groups_version;
            self.violation(format!("node {n}: group set version {version} here, {got} at the GMS client"));
        }
        self.out.group_changes += 1;
        self.out.group_leaves += leaves;
        self.gms_flush(super::sim::Who::Node(n), now);
    }

    /// Plan the group churn: about two changes per node, spread over the traffic.
    pub(super) fn plan_group_churn(&mut self, plan: &mut SimRng, start: Instant) {
        let est = self.sc.estimated_traffic();
        for _ in 0..2 * self.sc.nodes {
            let n = plan.below(u64::from(self.sc.nodes)) as u32;
            let at = start + plan.between(est / 20, est * 8 / 10);
            self.push(at, Ev::GroupChange { node: n });
            self.faults_end = self.faults_end.max(at + Duration::from_millis(1));
        }
    }

    /// A restarted node (a new incarnation) registers with its current groups: what it
    /// received before is forgotten.
    pub(super) fn groups_restart(&mut self, n: u32) {
        let ng = &mut self.groups_mut().nodes[n as usize];
        ng.installed.clear();
        ng.route.clear();
        ng.sets.restart();
        ng.joins.clear();
        ng.next.clear();
    }

    /// Groups runs are complete when every member has, for every group it receives, every
    /// message each sender published to it from the join point on.
    pub(super) fn groups_complete(&self) -> bool {
        self.open_intervals().iter().all(|i| i.bound.is_some() && i.got == i.expected)
    }

    /// Every live member's intervals still open (groups it receives), per sender: where the
    /// sender's part starts and how much of it arrived.
    fn open_intervals(&self) -> Vec<Interval> {
        let groups = self.groups.as_ref().expect("groups run");
        let mut out = Vec::new();
        for (n, node) in self.nodes.iter().enumerate() {
            let member = node.client.as_ref().is_some_and(|c| c.status() == ClientStatus::Member);
            if node.crashed || !member {
                continue;
            }
            let ng = &groups.nodes[n];
            for (group, since) in ng.sets.received().iter() {
                let Some(&(region, at_run_time)) = ng.joins.get(&group) else { continue };
                for slot in 0..self.sc.senders {
                    let bound = groups.bound(slot, region, since);
                    let (from, expected) =
                        bound.map_or((0, 0), |b| groups.expected_from(slot, group, region, b));
                    let got = ng.next.get(&(slot, group)).map_or(0, |p| p - from);
                    let sender = self.first_sender + slot;
                    out.push(Interval {
                        node: n,
                        group,
                        region,
                        since,
                        at_run_time,
                        sender,
                        bound,
                        expected,
                        got,
                    });
                }
            }
        }
        out
    }

    /// End of a groups run: every member at the end has every message of its groups from
    /// its join points on; the joins checked and the deliveries expected are counted.
    pub(super) fn finish_groups(&mut self) {
        let intervals = self.open_intervals();
        let mut found = Vec::new();
        for i in &intervals {
            let Interval { node: n, group: g, region, since, sender: s, .. } = *i;
            match i.bound {
                None => found.push(format!(
                    "node {n}: sender {s} never installed {region} {since:?}, where it joined group {}",
                    g.0
                )),
                Some(bound) if i.got != i.expected => found.push(format!(
                    "node {n}: got {} of the {} messages sender {s} published to group {} after installing \
                     {since:?} of {region} (at its message {bound})",
                    i.got, i.expected, g.0
                )),
                Some(_) => {}
            }
        }
        self.out.expected = intervals.iter().map(|i| i.expected as u64).sum();
        self.out.delivered = intervals.iter().map(|i| i.got as u64).sum();
        // One per node and group joined at run time (not per sender).
        self.out.group_joins_checked +=
            intervals.iter().filter(|i| i.at_run_time && i.sender == self.first_sender).count() as u64;
        for f in found {
            self.violation(f);
        }
    }
}

/// A group a node receives at the end, seen from one sender.
#[derive(Clone, Copy)]
struct Interval {
    node: usize,
    group: GroupId,
    region: RegionId,
    since: ViewId,
    at_run_time: bool,
    sender: u32,
    /// What the sender had published when it installed the join view (`None`: it did not).
    bound: Option<u64>,
    /// Messages of the sender to the group from there on, and how many arrived.
    expected: usize,
    got: usize,
}
