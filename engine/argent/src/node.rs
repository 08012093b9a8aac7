//! A running node: its groups, publishers and subscriptions, fences and counters.

use crate::config::ClusterConfig;
use crate::error::Error;
use crate::membership::Membership;
use argent_membership::gms::ClientStatus;
use argent_membership::service::MemberLink;
use argent_runtime::{
    AnyPublisher, Backend, GroupId, GroupMembers, NodeId, NodeStats, Publisher, RegionSpec, Subscription,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The membership link of a node that joined through the GMS, and the thread applying views.
#[derive(Debug)]
pub(crate) struct GmsParts {
    pub(crate) link: MemberLink,
    pub(crate) follower: Option<std::thread::JoinHandle<()>>,
    pub(crate) status: Arc<std::sync::Mutex<(ClientStatus, u64)>>,
    /// The group set this node asks for, shared with the view thread and object leases.
    pub(crate) membership: Arc<Membership>,
}

/// A running argent node.
#[derive(Debug)]
pub struct Node {
    /// The object driver (first: it stops before the runtime when the node is dropped).
    pub(crate) objects: crate::live::driver::Objects,
    pub(crate) runtime: argent_runtime::Runtime,
    cluster: ClusterConfig,
    id: u32,
    names: HashMap<String, GroupId>,
    pub(crate) gms: Option<GmsParts>,
}

impl Node {
    pub(crate) fn new(
        runtime: argent_runtime::Runtime,
        cluster: ClusterConfig,
        id: u32,
        names: HashMap<String, GroupId>,
        gms: Option<GmsParts>,
    ) -> Self {
        Node { objects: crate::live::driver::Objects::default(), runtime, cluster, id, names, gms }
    }

    /// This node's member id.
    pub fn id(&self) -> NodeId {
        NodeId(self.id)
    }

    /// The membership it runs with.
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// How this node's regions deliver (`[protocol] driver` of its cluster file): QSM's
    /// per-sender order, or one total order with virtual synchrony (decision 014). Objects
    /// whose reference names the total-order driver open only on a node that runs it.
    pub fn driver(&self) -> argent_runtime::Driver {
        self.runtime.config().driver
    }

    /// The transport backend in use.
    pub fn backend(&self) -> Backend {
        self.runtime.backend()
    }

    /// The id of the group named `name`: the id the membership file gives it, or, with the
    /// GMS, the id every process derives from the name ([`GroupId::named`]; groups are
    /// created at run time by their first [`Node::join`]).
    pub fn group_id(&self, name: &str) -> Result<GroupId, Error> {
        match self.names.get(name) {
            Some(id) => Ok(*id),
            None if self.gms.is_some() => Ok(GroupId::named(name)),
            None => Err(Error::UnknownGroup(name.into())),
        }
    }

    /// The groups this node receives (it is listed among their members), ascending.
    pub fn member_groups(&self) -> Vec<GroupId> {
        self.runtime.member_groups()
    }

    /// The regions the node runs with (computed from the membership file's groups).
    pub fn regions(&self) -> &[RegionSpec] {
        &self.runtime.config().regions
    }

    /// A publisher to `group` (any member of the cluster may publish; it need not receive).
    pub fn publisher(&self, group: &str) -> Result<Publisher, Error> {
        Ok(self.runtime.publisher(self.group_id(group)?)?)
    }

    /// A publisher to any group: [`AnyPublisher::claim_to`] and [`AnyPublisher::publish_to`].
    pub fn publisher_any(&self) -> Result<AnyPublisher, Error> {
        Ok(self.runtime.publisher_any()?)
    }

    /// A subscription to `group` (this node must be one of its members).
    pub fn subscribe(&self, group: &str) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe(self.group_id(group)?)?)
    }

    /// One subscription to several groups; [`Delivery::group_messages`](argent_runtime::Delivery::group_messages) says which group each
    /// message went to.
    pub fn subscribe_groups(&self, groups: &[GroupId]) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe_groups(groups)?)
    }

    /// The current members of the region in which this node receives `group`.
    pub fn group_members(&self, group: GroupId) -> Option<GroupMembers> {
        self.runtime.group_members(group)
    }

    /// Ask every node of `group`'s region for a fence (see
    /// [`argent_runtime::Runtime::request_fences`]); live objects join with it.
    pub fn request_fences(&self, group: GroupId, key: u64, nonce: u64) -> Result<(), Error> {
        Ok(self.runtime.request_fences(group, key, nonce)?)
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        self.runtime.stats()
    }

    /// With the GMS: this member's standing and the last view id it installed.
    pub fn membership(&self) -> Option<(ClientStatus, u64)> {
        self.gms.as_ref().map(|g| *g.status.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stop the shards; with the GMS, leave the membership first so the others install a
    /// view without this node at once instead of waiting for the eviction timeout.
    pub fn shutdown(self) {
        self.objects.stop();
        if let Some(mut g) = self.gms {
            g.link.leave();
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while std::time::Instant::now() < deadline
                && g.status.lock().unwrap_or_else(|e| e.into_inner()).0 != ClientStatus::Left
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            g.link.shutdown();
            if let Some(t) = g.follower.take() {
                let _ = t.join();
            }
        }
        self.runtime.shutdown();
    }
}
