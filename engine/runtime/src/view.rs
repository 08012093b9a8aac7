//! Membership as the shards installed it: GMS views applied to running shards
//! ([`ViewSink`]), the members of each region ([`GroupMembers`]), and sender-stream
//! incarnations.

use crate::shard::{Command, RegionMembers, ShardView};
use crate::signal::ShardWake;
use argent_core::{NodeId, RegionId};
use argent_qsm::stream_incarnation;
use std::collections::HashMap;

/// Applies GMS views to a running [`Runtime`](crate::Runtime) ([`Runtime::view_sink`](crate::Runtime::view_sink)).
pub struct ViewSink {
    shards: Vec<(crossbeam_channel::Sender<Command>, ShardWake)>,
    region_shard: HashMap<RegionId, usize>,
    /// Members of the last view and their incarnations (`None`: from the start configuration).
    known: HashMap<NodeId, Option<u64>>,
    unknown_regions: std::collections::HashSet<RegionId>,
}

impl std::fmt::Debug for ViewSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewSink").field("shards", &self.shards.len()).finish_non_exhaustive()
    }
}

impl ViewSink {
    /// A sink for `shards`, which own the regions of `region_shard`; `known`: the members of
    /// the start configuration.
    pub(crate) fn new(
        shards: Vec<(crossbeam_channel::Sender<Command>, ShardWake)>,
        region_shard: HashMap<RegionId, usize>,
        known: HashMap<NodeId, Option<u64>>,
    ) -> Self {
        ViewSink { shards, region_shard, known, unknown_regions: std::collections::HashSet::new() }
    }

    /// Install `view`: every region this node runs gets its new members (departed members cut
    /// out of the ring, joiners added), departed nodes' streams are retired, and restarted
    /// nodes' old streams too. Regions created after the start are reported once and left
    /// alone (a node takes part in regions that exist when it starts).
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
        let present: std::collections::HashSet<RegionId> = view.regions.iter().map(|r| r.id).collect();
        let mut gone: Vec<Vec<RegionId>> = vec![Vec::new(); self.shards.len()];
        self.region_shard.retain(|r, shard| {
            let keep = present.contains(r);
            if !keep {
                tracing::warn!(region = %r, view = view.id.0, "region gone from the view (its last member left): dropped");
                gone[*shard].push(*r);
            }
            keep
        });
        self.known = view.members.iter().map(|m| (m.node, Some(m.incarnation))).collect();
        let mut per_shard: Vec<Vec<argent_qsm::RegionView>> = vec![Vec::new(); self.shards.len()];
        for r in &view.regions {
            match self.region_shard.get(&r.id) {
                Some(shard) => per_shard[*shard].push(argent_qsm::RegionView {
                    region: r.id,
                    id: argent_core::ViewId(r.since.0.max(1)),
                    members: r.members.clone(),
                }),
                None => {
                    if self.unknown_regions.insert(r.id) {
                        tracing::warn!(region = %r.id, view = view.id.0, "a region created after this node started: not joined (restart the node to take part)");
                    }
                }
            }
        }
        if !departed.is_empty() {
            tracing::warn!(view = view.id.0, departed = ?departed, "members left the view");
        }
        for (((cmds, wake), regions), gone) in self.shards.iter().zip(per_shard).zip(gone) {
            let v = ShardView {
                members: members.clone(),
                regions,
                gone,
                departed: departed.clone(),
                superseded: superseded.clone(),
            };
            let _ = cmds.send(Command::View(v));
            wake.waker.wake();
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
