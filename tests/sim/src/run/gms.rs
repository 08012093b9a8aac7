//! The membership service inside a simulation: raft replicas and one GMS client per node,
//! exchanging messages over the simulated network (latency, loss, partitions), plus the
//! membership faults (churn, GMS leader crash, partitions) and their checkers (view
//! agreement, joiners' deliveries from their join point).

use super::sim::{Ev, Sim, Who};
use crate::rng::SimRng;
use crate::scenario::Sabotage;
use argent_core::{Instant, NodeId, ViewId};
use argent_membership::gms::{
    ClientConfig, ClientStatus, Gms, GmsClient, GmsConfig, GmsMsg, Member, Peer, View,
};
use argent_membership::{AddressPool, GroupId};
use argent_qsm::{QsmNode, RegionView};
use argent_verify::Checker;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The group every simulated node is in (one region).
const GROUP: GroupId = GroupId(1);

impl Sim<'_> {
    /// Start the replicas and every node's client, and plan the faults.
    pub(super) fn start_gms(&mut self, seed: u64) {
        let g = self.sc.gms.clone().expect("membership run");
        let ids: Vec<u64> = (1..=u64::from(g.replicas)).collect();
        for id in &ids {
            let mut c =
                GmsConfig::new(AddressPool { base: Ipv4Addr::new(239, 7, 0, 1), count: 64, port: 7000 });
            c.id = *id;
            c.replicas = ids.clone();
            c.tick = g.tick;
            c.suspect_after = g.suspect_after;
            c.evict_after = g.evict_after;
            c.push_retry = g.heartbeat;
            c.proposal_retry = g.heartbeat * 5;
            self.replicas.push(Some(Gms::new(c, Instant::ZERO).expect("scenario validated")));
            self.replica_timer_at.push(None);
        }
        for r in 0..g.replicas {
            self.gms_flush(Who::Replica(r), Instant::ZERO);
        }
        for n in 0..self.sc.nodes {
            let client = self.new_client(n, 1);
            self.nodes[n as usize].client = Some(client);
            self.gms_flush(Who::Node(n), Instant::ZERO);
        }
        self.fault_seed = Some(seed);
    }

    fn new_client(&self, n: u32, incarnation: u64) -> GmsClient {
        let g = self.sc.gms.as_ref().expect("membership run");
        let member = Member {
            node: NodeId(n),
            incarnation,
            addr: SocketAddr::from(([127, 0, 0, 1], 10_000 + n as u16)),
            shards: 1,
            groups_version: 0,
        };
        let cfg =
            ClientConfig { heartbeat: g.heartbeat, retry: g.heartbeat, failover_after: g.heartbeat * 4 };
        let groups = match &self.groups {
            Some(groups) => groups.initial(n),
            None => vec![GROUP],
        };
        GmsClient::new(member, groups, (1..=u64::from(g.replicas)).collect(), cfg, Instant::ZERO)
    }

    /// Faults are placed relative to `start`, when the first sender begins publishing.
    fn plan_membership_faults(&mut self, seed: u64, start: Instant) {
        let mut plan = SimRng::new(seed, 2);
        let f = self.sc.faults;
        let g = self.sc.gms.clone().expect("membership run");
        let est = self.sc.estimated_traffic();
        let mid = |plan: &mut SimRng| start + plan.between(est / 10, est * 6 / 10);
        let mut pool: Vec<u32> = (0..self.first_sender).collect();
        let mut pick = |plan: &mut SimRng| -> Option<u32> {
            (!pool.is_empty()).then(|| pool.swap_remove(plan.below(pool.len() as u64) as usize))
        };
        if f.crash {
            if let Some(c) = pick(&mut plan) {
                let at = mid(&mut plan);
                self.nodes[c as usize].doomed = true;
                self.push(at, Ev::Crash { node: c });
                self.faults_end = self.faults_end.max(at + g.evict_after);
            }
        }
        if f.churn {
            for _ in 0..2 {
                let Some(c) = pick(&mut plan) else { break };
                let at = mid(&mut plan);
                let back = at + plan.between(Duration::from_millis(1), est.max(Duration::from_millis(2)));
                self.push(at, Ev::Leave { node: c });
                self.push(back, Ev::Rejoin { node: c });
                self.faults_end = self.faults_end.max(back);
            }
        }
        if f.group_churn {
            self.plan_group_churn(&mut plan, start);
        }
        if f.gms_crash {
            let at = mid(&mut plan);
            self.push(at, Ev::CrashGmsLeader);
            self.faults_end = self.faults_end.max(at + g.tick * 30);
        }
        if f.partition {
            let count = 1 + plan.below(2) as u32;
            let nodes: Vec<u32> = (0..count).filter_map(|_| pick(&mut plan)).collect();
            let replica = plan.chance(0.5).then(|| plan.below(u64::from(g.replicas)) as u32);
            let at = mid(&mut plan);
            let until = at + plan.between(Duration::from_millis(20), Duration::from_millis(200));
            if !nodes.is_empty() {
                self.push(at, Ev::Cut { nodes, replica, until });
                self.faults_end = self.faults_end.max(until + g.evict_after);
            }
        }
        if f.pause {
            if let Some(p) = pick(&mut plan) {
                let at = mid(&mut plan);
                let until = at + plan.between(Duration::from_millis(20), Duration::from_millis(200));
                self.faults_end = self.faults_end.max(until);
                self.push(at, Ev::Pause { node: p, until });
            }
        }
        if f.slow {
            if let Some(s) = pick(&mut plan) {
                self.nodes[s as usize].slow = 4 + plan.below(13) as u32;
            }
        }
    }

    /// Whether `a` and `b` are on different sides of the current cut.
    pub(super) fn separated(&self, a: Who, b: Who) -> bool {
        let Some((nodes, replica)) = &self.cut else { return false };
        let side = |w: Who| match w {
            Who::Node(n) => nodes.contains(&n),
            Who::Replica(r) => *replica == Some(r),
        };
        side(a) != side(b)
    }

    fn gms_send(&mut self, from: Who, to: Who, msg: GmsMsg, now: Instant) {
        if self.separated(from, to) || self.gms_net.chance(self.sc.loss) {
            return;
        }
        let at = now + self.sc.latency + self.gms_net.between(Duration::ZERO, Duration::from_micros(50));
        self.push(at, Ev::GmsArrive { to, from, msg });
    }

    fn alive(&self, w: Who) -> bool {
        match w {
            Who::Replica(r) => self.replicas[r as usize].is_some(),
            Who::Node(n) => !self.nodes[n as usize].crashed,
        }
    }

    pub(super) fn gms_arrive(&mut self, to: Who, from: Who, msg: GmsMsg, now: Instant) {
        if !self.alive(to) {
            return;
        }
        match (to, from) {
            (Who::Replica(r), from) => {
                let peer = match from {
                    Who::Replica(x) => Peer::Replica(u64::from(x) + 1),
                    Who::Node(n) => Peer::Member(NodeId(n)),
                };
                let gms = self.replicas[r as usize].as_mut().expect("alive");
                gms.handle_message(now, peer, msg);
            }
            (Who::Node(n), Who::Replica(r)) => {
                let node = &mut self.nodes[n as usize];
                let now = now.max(node.paused_until);
                if let Some(c) = node.client.as_mut() {
                    c.handle_message(now, u64::from(r) + 1, msg);
                }
            }
            (Who::Node(_), Who::Node(_)) => return,
        }
        self.gms_flush(to, now);
    }

    pub(super) fn gms_timer(&mut self, who: Who, now: Instant) {
        if !self.alive(who) {
            return;
        }
        match who {
            Who::Replica(r) => {
                if self.replica_timer_at[r as usize] != Some(now) {
                    return;
                }
                self.replica_timer_at[r as usize] = None;
                self.replicas[r as usize].as_mut().expect("alive").handle_timeout(now);
            }
            Who::Node(n) => {
                let node = &mut self.nodes[n as usize];
                if node.client_timer_at != Some(now) {
                    return;
                }
                node.client_timer_at = None;
                if node.paused_until > now {
                    // A paused process sends no heartbeats either.
                    let at = node.paused_until;
                    node.client_timer_at = Some(at);
                    self.push(at, Ev::GmsTimer { who });
                    return;
                }
                if let Some(c) = node.client.as_mut() {
                    c.handle_timeout(now);
                }
            }
        }
        self.gms_flush(who, now);
    }

    /// Send what a replica or client has to send, install views, follow status changes, and
    /// re-arm its timer.
    pub(super) fn gms_flush(&mut self, who: Who, now: Instant) {
        match who {
            Who::Replica(r) => {
                while let Some((peer, msg)) =
                    self.replicas[r as usize].as_mut().and_then(|g| g.poll_transmit())
                {
                    let to = match peer {
                        Peer::Replica(id) => Who::Replica(id as u32 - 1),
                        Peer::Member(node) => Who::Node(node.0),
                    };
                    self.gms_send(who, to, msg, now);
                }
                let Some(g) = self.replicas[r as usize].as_ref() else { return };
                let next = g.poll_timeout().max(now);
                if self.replica_timer_at[r as usize] != Some(next) {
                    self.replica_timer_at[r as usize] = Some(next);
                    self.push(next, Ev::GmsTimer { who });
                }
            }
            Who::Node(n) => {
                loop {
                    let Some(c) = self.nodes[n as usize].client.as_mut() else { return };
                    if let Some((r, msg)) = c.poll_transmit() {
                        self.gms_send(who, Who::Replica(r as u32 - 1), msg, now);
                    } else if let Some(v) = c.poll_view() {
                        self.install_gms_view(n, v.clone(), now);
                        if self.sc.objects {
                            self.objects_view(n, &v, now);
                        }
                    } else {
                        break;
                    }
                }
                self.follow_status(n, now);
                let node = &mut self.nodes[n as usize];
                let next = node.client.as_ref().and_then(|c| c.poll_timeout()).map(|t| t.max(now));
                if let Some(at) = next.filter(|_| next != node.client_timer_at) {
                    node.client_timer_at = next;
                    self.push(at, Ev::GmsTimer { who });
                }
            }
        }
    }

    /// A node installs a view: the agreement checker sees it, the protocol gets the node's
    /// region if its membership changed, and senders start once everyone is in.
    fn install_gms_view(&mut self, n: u32, v: Arc<View>, now: Instant) {
        if self.sc.sabotage == (Sabotage::SkipView { node: n, view: v.id.0 }) {
            return;
        }
        match self.views_seen.get(&v.id) {
            Some(seen) if **seen != *v => {
                self.out.view_disagreements += 1;
                self.violation(format!("node {n}: view {:?} differs from another member's", v.id));
            }
            Some(_) => {}
            None => {
                self.views_seen.insert(v.id, v.clone());
            }
        }
        self.out.views = self.out.views.max(v.id.0);
        let sc = self.sc;
        let first_sender = self.first_sender;
        let node = &mut self.nodes[n as usize];
        if let Some(last) = node.last_view {
            if v.id.0 != last.0 + 1 {
                self.out.view_disagreements += 1;
                let inc = node.incarnation;
                self.violation(format!("node {n} (incarnation {inc}) skipped from {last:?} to {:?}", v.id));
            }
        }
        let node = &mut self.nodes[n as usize];
        node.last_view = Some(v.id);
        node.join_view.get_or_insert(v.id);
        if n >= first_sender {
            // Mid-message (fragmented runs), a joiner's first whole message may be the next one.
            let next = node.app.as_ref().map_or(0, |a| a.next + u64::from(a.frag_sent));
            self.sender_installs[(n - first_sender) as usize].push((v.id, next));
        }
        if self.groups.is_some() {
            self.install_group_view(n, &v, now);
            self.start_senders(n, v.id, v.members.len() == sc.nodes as usize);
            return;
        }
        let Some(region) = v.region_of_node(NodeId(n)) else { return };
        let node = &mut self.nodes[n as usize];
        if node.region.as_ref().is_none_or(|(id, m)| *id != region.id || *m != region.members) {
            let was_member = node.region.is_some();
            node.region = Some((region.id, region.members.clone()));
            node.busy_until = node.busy_until.max(now);
            let rv = RegionView { region: region.id, id: v.id, members: region.members.clone() };
            let installed = match node.to.as_mut() {
                // Total order: a member's layer installs the view in QSM and starts its flush.
                Some(to) if was_member => to.install_view(&mut node.proto, node.busy_until, rv),
                _ => {
                    let installed = node.proto.install_view(node.busy_until, rv.clone());
                    if installed.is_ok() && sc.driver == crate::scenario::Driver::TotalOrder {
                        self.ordered_start(n, rv);
                    }
                    installed
                }
            };
            if let Err(e) = installed {
                self.violation(format!("node {n}: view refused: {e}"));
            }
            if sc.driver == crate::scenario::Driver::TotalOrder {
                let node = &mut self.nodes[n as usize];
                node.to_flushing = node.to.as_ref().is_some_and(argent_vsync::TotalOrder::flush_waiting);
                // Departed incarnations' streams are retired, as the runtime does.
                self.retire_departed(n, &v);
            }
            if sc.objects {
                self.objects_region(n);
            }
        }
        self.start_senders(n, v.id, region.members.len() == sc.nodes as usize);
    }

    /// The first sender starts once everyone is in (`all_in`: view `view` has every node);
    /// the others once they have installed its view (faults planned at its start may already
    /// have removed someone).
    fn start_senders(&mut self, n: u32, view: ViewId, all_in: bool) {
        let everyone = match self.start_view {
            None => all_in,
            Some(first) => view >= first,
        };
        let node = &mut self.nodes[n as usize];
        let start = node.app.as_mut().is_some_and(|a| {
            let go = everyone && !a.started;
            a.started |= go;
            go
        });
        if start {
            let t = node.busy_until;
            self.start_view.get_or_insert(view);
            if let Some(seed) = self.fault_seed.take() {
                self.plan_membership_faults(seed, t);
            }
            self.pump(n, t);
        }
        self.flush(n);
    }

    /// Objects runs, after a node installed a membership view: retire departed streams as
    /// the engine's runtime does, and let a joiner that now has its region ask for
    /// checkpoints.
    fn objects_view(&mut self, n: u32, v: &View, now: Instant) {
        if self.nodes[n as usize].crashed
            || self.sc.sabotage == (Sabotage::SkipView { node: n, view: v.id.0 })
        {
            return;
        }
        self.retire_departed(n, v);
        let node = &mut self.nodes[n as usize];
        node.busy_until = node.busy_until.max(now);
        // Members that left are no longer waited for.
        self.objects_members(n);
        self.flush(n);
    }

    /// Left or evicted: the process restarts its protocol as a new incarnation (at once
    /// after an eviction; at its scheduled return after leaving).
    fn follow_status(&mut self, n: u32, now: Instant) {
        let Some(status) = self.nodes[n as usize].client.as_ref().map(|c| c.status()) else { return };
        match status {
            ClientStatus::Evicted => {
                if n >= self.first_sender {
                    self.violation(format!("sender {n} was evicted"));
                }
                self.out.evictions += 1;
                self.restart(n, now);
                let inc = self.nodes[n as usize].incarnation;
                self.nodes[n as usize].client.as_mut().expect("exists").rejoin(now, inc);
                self.out.rejoins += 1;
            }
            ClientStatus::Left if self.nodes[n as usize].region.is_some() => self.restart(n, now),
            _ => {}
        }
    }

    /// Fresh protocol state for node `n` as its next incarnation.
    fn restart(&mut self, n: u32, now: Instant) {
        let sc = self.sc;
        let node = &mut self.nodes[n as usize];
        node.doomed = true; // no longer a member that stayed in the view throughout
        node.incarnation += 1;
        let mut cfg = sc.qsm.clone();
        if sc.objects || sc.driver == crate::scenario::Driver::TotalOrder {
            // Its streams carry control messages: a new incarnation needs a new stream id.
            cfg.incarnation = argent_qsm::stream_incarnation(node.incarnation);
        }
        let old = std::mem::replace(&mut node.proto, QsmNode::new(NodeId(n), cfg).expect("validated"));
        self.restarted_stats.merge(old.stats());
        let node = &mut self.nodes[n as usize];
        node.unicast.clear();
        node.multicast.clear();
        node.timer_at = None;
        node.region = None;
        node.join_view = None;
        node.last_view = None;
        node.first_index = vec![None; sc.senders as usize];
        node.streams = super::sim::streams(sc);
        node.reassembly = super::sim::reassembly();
        node.guard = super::sim::guard(sc, self.out.seed, n, node.incarnation);
        if let Some(app) = node.app.as_mut() {
            // A message cut short by the old stream starts again, whole, in the new one.
            app.frags.clear();
            app.frag_sent = false;
        }
        node.busy_until = node.busy_until.max(now);
        node.known.clear();
        // Total order: the new incarnation's layer starts at its first view.
        node.to = None;
        node.to_log = Default::default();
        if sc.objects {
            self.objects_restart(n);
        }
        if self.groups.is_some() {
            self.groups_restart(n);
        }
    }

    pub(super) fn leave(&mut self, n: u32, now: Instant) {
        let node = &mut self.nodes[n as usize];
        if node.crashed {
            return;
        }
        node.doomed = true;
        node.to_log.removed = true;
        if let Some(c) = node.client.as_mut() {
            c.leave(now);
        }
        self.gms_flush(Who::Node(n), now);
    }

    pub(super) fn rejoin(&mut self, n: u32, now: Instant) {
        let node = &self.nodes[n as usize];
        if node.crashed {
            return;
        }
        let status = node.client.as_ref().map(|c| c.status());
        if status != Some(ClientStatus::Left) {
            // Still leaving (its goodbye not yet in a view): try again shortly.
            let later = now + Duration::from_millis(1);
            self.push(later, Ev::Rejoin { node: n });
            return;
        }
        let own_streams = self.sc.objects || self.sc.driver == crate::scenario::Driver::TotalOrder;
        if own_streams && node.client.as_ref().is_some_and(|c| c.member().incarnation == node.incarnation) {
            // It left before installing any view, so it never restarted: it must come back
            // as a new incarnation all the same, since its stream was retired.
            self.restart(n, now);
        }
        let inc = self.nodes[n as usize].incarnation;
        self.nodes[n as usize].client.as_mut().expect("exists").rejoin(now, inc);
        self.out.rejoins += 1;
        self.gms_flush(Who::Node(n), now);
    }

    pub(super) fn crash_gms_leader(&mut self) {
        let leader = self.replicas.iter().position(|g| g.as_ref().is_some_and(|g| g.is_leader()));
        let victim = leader.or_else(|| self.replicas.iter().position(Option::is_some));
        if let Some(r) = victim {
            self.replicas[r] = None;
        }
    }

    /// The GMS's latest view (highest over live replicas).
    fn latest_view(&self) -> Option<ViewId> {
        self.replicas.iter().flatten().map(|g| g.view().id).max()
    }

    /// Membership runs are complete when the membership has settled (every live member has
    /// the latest view) and every member has everything from its join point on.
    pub(super) fn members_complete(&self, now: Instant) -> bool {
        if now < self.faults_end {
            return false;
        }
        let Some(latest) = self.latest_view() else { return false };
        for (n, node) in self.nodes.iter().enumerate() {
            if node.crashed {
                continue;
            }
            let Some(c) = &node.client else { continue };
            match c.status() {
                ClientStatus::Member => {}
                ClientStatus::Left => continue,
                _ => return false,
            }
            if node.last_view != Some(latest) {
                return false;
            }
            if self.groups.is_some() {
                continue; // checked per group below
            }
            for slot in 0..self.sc.senders as usize {
                if node.streams[slot].next() == self.sc.messages {
                    continue;
                }
                // A joiner with nothing to receive from this sender is complete too.
                let nothing = node.first_index[slot].is_none()
                    && self.bound(slot, node.join_view) == Some(self.sc.messages);
                if !nothing {
                    let _ = n;
                    return false;
                }
            }
        }
        self.groups.is_none() || self.groups_complete()
    }

    /// What sender `slot` had published when it installed view `v` (or the first view after
    /// `v` it installed, if it joined later); `None` while it has installed neither.
    fn bound(&self, slot: usize, v: Option<ViewId>) -> Option<u64> {
        let v = v?;
        self.sender_installs[slot].iter().find(|(id, _)| *id >= v).map(|(_, next)| *next)
    }

    /// End-of-run checks of a membership run. Every member at the end must have every
    /// message from its join point on: all of them if it was in the view when traffic began,
    /// else everything each sender published after installing the member's join view (a
    /// first message at or before that point, then no gap). Members that stayed throughout
    /// and saw traffic begin are counted in `delivered`/`expected`.
    pub(super) fn finish_membership(&mut self) {
        if self.groups.is_some() {
            return self.finish_groups();
        }
        let sc = self.sc;
        let mut found = Vec::new();
        let mut stable = 0;
        let mut delivered = 0;
        for n in 0..self.nodes.len() {
            let node = &self.nodes[n];
            if node.crashed || !node.client.as_ref().is_some_and(|c| c.status() == ClientStatus::Member) {
                continue;
            }
            let bounds: Vec<Option<u64>> =
                (0..sc.senders as usize).map(|s| self.bound(s, node.join_view)).collect();
            let from_start = bounds.iter().all(|b| *b == Some(0));
            if from_start && !node.doomed {
                stable += 1;
                delivered += node.streams.iter().map(Checker::next).sum::<u64>();
            } else {
                self.out.joiners_checked += 1;
            }
            for (slot, bound) in bounds.into_iter().enumerate() {
                let s = self.first_sender as usize + slot;
                let Some(bound) = bound else {
                    found.push(format!(
                        "node {n}: sender {s} never installed the join view {:?}",
                        node.join_view
                    ));
                    continue;
                };
                match node.first_index[slot] {
                    Some(first) if first > bound => found.push(format!(
                        "node {n} (incarnation {}): joined at {:?} when sender {s} had published {bound}, \
                         but its first message from it was {first}",
                        node.incarnation, node.join_view
                    )),
                    None if bound < sc.messages => found.push(format!(
                        "node {n} (incarnation {}): nothing from sender {s} after joining at {:?} \
                         (should get messages {bound}..{})",
                        node.incarnation, node.join_view, sc.messages
                    )),
                    _ => {}
                }
                if bound < sc.messages && node.streams[slot].next() != sc.messages {
                    found.push(format!(
                        "node {n} (joined at {:?}): got messages up to {} of {} from sender {s}",
                        node.join_view,
                        node.streams[slot].next(),
                        sc.messages
                    ));
                }
            }
        }
        self.out.expected = stable * u64::from(sc.senders) * sc.messages;
        self.out.delivered = delivered;
        for f in found {
            self.violation(f);
        }
    }
}
