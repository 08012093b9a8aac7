//! Versioned views: what the GMS decides and every member applies.

use crate::groups::GroupId;
use crate::regions::Addressing;
use argent_core::{NodeId, RegionId, ViewId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;

/// A process registered with the GMS, in one incarnation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Identity, stable across restarts.
    pub node: NodeId,
    /// Chosen by the process at start; a restart registers a higher one and replaces the old.
    pub incarnation: u64,
    /// Unicast address of its first shard (shard i listens on port + i).
    pub addr: SocketAddr,
    /// Shards (threads) it runs.
    pub shards: u16,
    /// Version of its group set the GMS has applied (see [`crate::gms::GmsClient::set_groups`]).
    pub groups_version: u64,
}

/// One region of a view: members with identical group sets, its address and ring order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionInfo {
    /// Identity, stable for as long as the region has members.
    pub id: RegionId,
    /// The group set every member has (ascending).
    pub groups: Vec<GroupId>,
    /// Members in ring order: the first is the region leader; joiners are appended, so the
    /// order of the others (and the leader) does not change when someone joins or leaves.
    pub members: Vec<NodeId>,
    /// How its traffic reaches its members.
    pub addressing: Addressing,
    /// The view in which it last changed: its members, or the groups one of its members
    /// has in it (a join or leave of one of its groups). Senders mark it in their streams,
    /// and a datagram sent in it is delivered once the receiver installed it.
    pub since: ViewId,
    /// The view in which its member list (or a member's incarnation) last changed: the
    /// version its token ring runs in (`ring <= since`).
    pub ring: ViewId,
}

/// Counters of the address pool, part of every view: what the pool could not cover is
/// counted, never hidden.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressStats {
    /// Regions with their own multicast address.
    pub own_address: u32,
    /// Regions sharing an address with another region (members filter by region id).
    pub shared_address: u32,
    /// Regions served by unicast fan-out.
    pub unicast: u32,
}

/// The GMS's decision at one point: every member installs the same sequence of these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Version: consecutive, starting at 1.
    pub id: ViewId,
    /// Registered processes, by node id.
    pub members: Vec<Member>,
    /// Regions, by id.
    pub regions: Vec<RegionInfo>,
    /// Address pool use.
    pub addresses: AddressStats,
    /// Cluster key epochs handed out through the GMS, ascending (at most 8): members add
    /// each to the keys they open datagrams with, and seal under the newest a while after.
    pub keys: Vec<KeyEpoch>,
}

/// A cluster key epoch handed out through the GMS: the new key encrypted under an older one
/// (`argent_auth::ClusterKey::wrap`), so only holders of that key can open it. The GMS
/// stores and passes it on without opening it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEpoch {
    /// The new key's epoch, above every epoch handed out before.
    pub epoch: u16,
    /// The epoch of the key it is encrypted under.
    pub under: u16,
    /// `argent_auth::WRAPPED_LEN` bytes.
    pub wrapped: Vec<u8>,
}

impl View {
    /// The empty view 0, before anything was decided.
    pub fn empty() -> View {
        View {
            id: ViewId(0),
            members: Vec::new(),
            regions: Vec::new(),
            addresses: AddressStats::default(),
            keys: Vec::new(),
        }
    }

    /// The key epochs of this view that `ring` does not hold yet, opened with the keys it
    /// holds (ascending, so an epoch wrapped under one learnt just before opens too) and
    /// added to it. An epoch that does not open (wrapped under a key this process lacks, or
    /// changed) is skipped and logged.
    pub fn learn_keys(&self, ring: &mut argent_auth::KeyRing) -> Vec<argent_auth::ClusterKey> {
        let mut learnt = Vec::new();
        for k in &self.keys {
            if ring.get(k.epoch).is_some() {
                continue;
            }
            let opened = ring.get(k.under).map(|under| under.unwrap(k.epoch, &k.wrapped));
            match opened {
                Some(Ok(key)) => {
                    ring.add(key.clone());
                    learnt.push(key);
                }
                Some(Err(e)) => tracing::warn!(view = self.id.0, error = %e, "a key epoch from the GMS does not open"),
                None => tracing::warn!(
                    view = self.id.0,
                    epoch = k.epoch,
                    under = k.under,
                    "a key epoch from the GMS is wrapped under an epoch this process does not hold: add it to the key file"
                ),
            }
        }
        learnt
    }

    /// A member by node id.
    pub fn member(&self, node: NodeId) -> Option<&Member> {
        self.members.binary_search_by_key(&node, |m| m.node).ok().map(|i| &self.members[i])
    }

    /// A region by id.
    pub fn region(&self, id: RegionId) -> Option<&RegionInfo> {
        self.regions.binary_search_by_key(&id, |r| r.id).ok().map(|i| &self.regions[i])
    }

    /// The first region `node` belongs to (nodes without groups belong to none).
    pub fn region_of_node(&self, node: NodeId) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.members.contains(&node))
    }

    /// Every region `node` belongs to (one per region carrying one of its groups).
    pub fn regions_of_node(&self, node: NodeId) -> impl Iterator<Item = &RegionInfo> {
        self.regions.iter().filter(move |r| r.members.contains(&node))
    }

    /// The region that carries `group`, if the group exists.
    pub fn region_of_group(&self, group: GroupId) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.groups.contains(&group))
    }

    /// Group → the regions its messages go to (once each), built in one pass.
    pub fn group_index(&self) -> HashMap<GroupId, Vec<RegionId>> {
        let mut index: HashMap<GroupId, Vec<RegionId>> = HashMap::new();
        for r in &self.regions {
            for g in &r.groups {
                index.entry(*g).or_default().push(r.id);
            }
        }
        index
    }
}
