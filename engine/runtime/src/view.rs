//! Membership as the shards installed it: GMS views applied to running shards
//! ([`ViewSink`]), the members of each region ([`GroupMembers`]), and sender-stream
//! incarnations.

use crate::config::RegionSpec;
use crate::groups::RouteTable;
use crate::shard::{Command, RegionMembers, ShardView};
use crate::signal::ShardWake;
use crate::topology::Topology;
use argent_core::{NodeId, RegionId};
use argent_membership::Addressing;
use argent_qsm::stream_incarnation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Applies GMS views to a running [`Runtime`](crate::Runtime) ([`Runtime::view_sink`](crate::Runtime::view_sink)).
pub struct ViewSink {
    shards: Vec<(crossbeam_channel::Sender<Command>, ShardWake)>,
    topology: Arc<Mutex<Topology>>,
    routes: Arc<RouteTable>,
    /// Members of the last view and their incarnations (`None`: from the start configuration).
    known: HashMap<NodeId, Option<u64>>,
    /// Regions the runtime cannot serve (unicast fan-out), reported once each.
    refused: std::collections::HashSet<RegionId>,
    /// Keyed clusters: the keys held, to learn the epochs views hand out.
    ring: Option<argent_auth::KeyRing>,
}

impl std::fmt::Debug for ViewSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewSink").field("shards", &self.shards.len()).finish_non_exhaustive()
    }
}

impl ViewSink {
    /// A sink for `shards`, which own the regions of `topology`; `known`: the members of the
    /// start configuration.
    pub(crate) fn new(
        shards: Vec<(crossbeam_channel::Sender<Command>, ShardWake)>,
        topology: Arc<Mutex<Topology>>,
        routes: Arc<RouteTable>,
        known: HashMap<NodeId, Option<u64>>,
        ring: Option<argent_auth::KeyRing>,
    ) -> Self {
        ViewSink { shards, topology, routes, known, refused: std::collections::HashSet::new(), ring }
    }

    /// Install `view`: every region this node runs gets its new members (departed members cut
    /// out of the ring, joiners added), regions new to this node are installed on their
    /// shards (joined if this node is a member, else sent to), regions gone from the view are
    /// dropped, departed nodes' streams are retired, and restarted nodes' old streams too.
    /// Publishers route by the new regions once their shards have them.
    pub fn apply(&mut self, view: &argent_membership::gms::View) {
        let mut members = HashMap::new();
        for m in &view.members {
            match m.addr {
                std::net::SocketAddr::V4(a) => {
                    members.insert(m.node, (a, usize::from(m.shards).max(1)));
                }
                std::net::SocketAddr::V6(a) => {
                    tracing::warn!(node = %m.node, addr = %a, "IPv6 member addresses are not supported; ignoring")
                }
            }
        }
        let mut departed = Vec::new();
        let mut superseded = Vec::new();
        for (node, inc) in &self.known {
            match view.member(*node) {
                None => {
                    departed.push(*node);
                    // Its exact stream too, so late traffic cannot bring it back.
                    if let Some(old) = inc {
                        superseded.push(argent_qsm::stream_id(*node, stream_incarnation(*old)));
                    }
                }
                Some(m) => {
                    if let Some(old) = inc.filter(|i| *i != m.incarnation) {
                        superseded.push(argent_qsm::stream_id(*node, stream_incarnation(old)));
                    }
                }
            }
        }
        self.known = view.members.iter().map(|m| (m.node, Some(m.incarnation))).collect();
        let n = self.shards.len();
        let mut gone: Vec<Vec<RegionId>> = vec![Vec::new(); n];
        let mut per_shard: Vec<Vec<(argent_qsm::RegionView, argent_core::ViewId)>> = vec![Vec::new(); n];
        let mut added: Vec<Vec<(RegionSpec, argent_core::ViewId, argent_core::ViewId)>> = vec![Vec::new(); n];
        let mut regrouped: Vec<Vec<(RegionId, Vec<argent_membership::GroupId>)>> = vec![Vec::new(); n];
        let mut topology = self.topology.lock().unwrap_or_else(|e| e.into_inner());
        let present: std::collections::HashSet<RegionId> = view.regions.iter().map(|r| r.id).collect();
        for r in topology.ids() {
            if !present.contains(&r) {
                tracing::info!(region = %r, view = view.id.0, "region gone from the view (its last member left): dropped");
                gone[topology.shard_for(r)].push(r);
                topology.remove(r);
            }
        }
        for r in &view.regions {
            let shard = topology.shard_for(r.id);
            // The ring's view, and the newest (a member joined or left one of its groups).
            let id = argent_core::ViewId(r.ring.0.max(1));
            let cut = argent_core::ViewId(r.since.0.max(1));
            if topology.contains(r.id) {
                if topology.update(r.id, &r.members, &r.groups) {
                    regrouped[shard].push((r.id, r.groups.clone()));
                }
                per_shard[shard]
                    .push((argent_qsm::RegionView { region: r.id, id, members: r.members.clone() }, cut));
                continue;
            }
            let address = match r.addressing {
                Addressing::Multicast(a) | Addressing::Shared(a) => a,
                Addressing::Unicast => {
                    if self.refused.insert(r.id) {
                        tracing::error!(region = %r.id, view = view.id.0, "a region served by unicast fan-out, which the runtime does not support yet: not installed (give the GMS a larger multicast pool)");
                    }
                    continue;
                }
            };
            tracing::info!(region = %r.id, view = view.id.0, members = r.members.len(), groups = r.groups.len(), "a region new to this node: installing");
            let spec =
                RegionSpec { region: r.id, address, members: r.members.clone(), groups: r.groups.clone() };
            topology.insert(spec.clone());
            added[shard].push((spec, id, cut));
        }
        // Only a region added or dropped, or a group created in one, moves a route.
        let routes_move = gone.iter().any(|g| !g.is_empty())
            || added.iter().any(|a| !a.is_empty())
            || regrouped.iter().any(|r| !r.is_empty());
        let routes = routes_move.then(|| topology.routes());
        drop(topology);
        if !departed.is_empty() {
            tracing::info!(view = view.id.0, departed = ?departed, "members left the view");
        }
        let keys = self.ring.as_mut().map(|r| view.learn_keys(r)).unwrap_or_default();
        if !keys.is_empty() {
            tracing::info!(view = view.id.0, epochs = ?keys.iter().map(|k| k.epoch).collect::<Vec<_>>(), "new cluster key epochs: sealing under the newest in {:?}", argent_auth::ACTIVATION);
        }
        let each = per_shard.into_iter().zip(gone).zip(added).zip(regrouped);
        for ((cmds, wake), (((regions, gone), added), regrouped)) in self.shards.iter().zip(each) {
            let v = ShardView {
                members: members.clone(),
                regions,
                added,
                regrouped,
                gone,
                departed: departed.clone(),
                superseded: superseded.clone(),
                keys: keys.clone(),
            };
            let _ = cmds.send(Command::View(v));
            wake.waker.wake();
        }
        // After the shards were told: a message routed to a new region finds it there (a
        // shard takes its queued commands before a message it cannot route yet).
        if let Some(routes) = routes {
            self.routes.set(routes);
        }
    }
}

/// The members of one region as this node's shard has installed them
/// ([`Runtime::group_members`](crate::Runtime::group_members)); cheap to clone, readable from any thread.
#[derive(Clone)]
pub struct GroupMembers {
    region: RegionId,
    members: RegionMembers,
}

impl GroupMembers {
    pub(crate) fn new(region: RegionId, members: RegionMembers) -> Self {
        GroupMembers { region, members }
    }

    /// The members now.
    pub fn now(&self) -> Vec<NodeId> {
        self.members.read().unwrap_or_else(|e| e.into_inner()).get(&self.region).cloned().unwrap_or_default()
    }
}

impl std::fmt::Debug for GroupMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMembers").field("region", &self.region).field("members", &self.now()).finish()
    }
}

/// A fresh sender-stream incarnation (from the clock, never 0): a restarted process gets a
/// new one, so its streams are new streams rather than duplicates of the old ones.
pub fn fresh_incarnation() -> u16 {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    ((ms / 10) % 65_535) as u16 + 1
}
