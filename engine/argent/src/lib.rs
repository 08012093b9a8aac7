//! argent: live distributed objects over a scalable reliable multicast engine.
//!
//! This facade starts a node from a static membership file (or a [`ClusterConfig`] built in
//! code), and gives applications publishers and subscriptions by group name:
//!
//! ```no_run
//! let node = argent::Node::builder().config_file("cluster.toml").id(1).start()?;
//! let mut publisher = node.publisher("quotes")?;
//! let mut claim = publisher.claim(5)?;          // write in place ...
//! claim.bytes_mut().copy_from_slice(b"hello");
//! claim.commit();                                // ... then commit
//! publisher.publish(b"world")?;                  // or copy; WouldBlock when the ring is full
//! let mut sub = node.subscribe("quotes")?;
//! let batch = sub.recv()?;                       // blocking; try_recv / recv_async too
//! for msg in batch.messages() {                  // borrowed slices of the received datagram
//!     println!("{} bytes from {}", msg.len(), batch.sender_node());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Many groups share a region (the nodes listed in exactly the same groups), so one publisher
//! and one subscription serve any number of groups:
//!
//! ```no_run
//! # let node = argent::Node::builder().config_file("cluster.toml").id(1).start()?;
//! let (quotes, trades) = (node.group_id("quotes")?, node.group_id("trades")?);
//! let mut publisher = node.publisher_any()?;     // one ring per shard, whatever the groups
//! publisher.publish_to(trades, b"42 @ 7.5")?;    // claim_to(group, len) writes in place
//! let mut sub = node.subscribe_groups(&[quotes, trades])?;
//! let batch = sub.recv()?;
//! for (group, msg) in batch.group_messages() {   // only the subscribed groups' messages
//!     println!("{} bytes in group {}", msg.len(), group.0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;

pub use argent_runtime::{
    Backend, Closed, Delivery, GroupId, GroupMessages, Messages, NodeId, NodeStats, PubClaim, PublishError,
    Publisher, RegionId, RegionSpec, Subscription, GROUP_TAG_LEN,
};
pub use config::{ClusterConfig, ConfigError};

use std::collections::HashMap;
use std::path::PathBuf;
use thiserror::Error;

/// Why a node could not start or serve a request.
#[derive(Debug, Error)]
pub enum Error {
    /// The membership file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Settings that do not fit together.
    #[error("{0}")]
    Invalid(String),
    /// The runtime.
    #[error(transparent)]
    Runtime(#[from] argent_runtime::RuntimeError),
    /// A group that is not in the membership file.
    #[error("no group named {0:?} in the membership file")]
    UnknownGroup(String),
}

/// Builds a [`Node`].
#[derive(Debug, Default)]
pub struct NodeBuilder {
    file: Option<PathBuf>,
    cluster: Option<ClusterConfig>,
    id: Option<u32>,
    transport: Option<Backend>,
    pin: Option<bool>,
}

impl NodeBuilder {
    /// Read membership from a TOML file.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Use membership built in code.
    pub fn cluster(mut self, cluster: ClusterConfig) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Which member this process is (overrides the file's `[node]`).
    pub fn id(mut self, id: u32) -> Self {
        self.id = Some(id);
        self
    }

    /// Force a transport backend (overrides the file).
    pub fn transport(mut self, backend: Backend) -> Self {
        self.transport = Some(backend);
        self
    }

    /// Pin shard threads to cores (default on).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = Some(pin);
        self
    }

    /// Open sockets and start the shards.
    pub fn start(self) -> Result<Node, Error> {
        let cluster = match (self.cluster, self.file) {
            (Some(c), _) => {
                c.check().map_err(Error::Invalid)?;
                c
            }
            (None, Some(path)) => ClusterConfig::load(&path)?,
            (None, None) => {
                return Err(Error::Invalid("no membership: use config_file() or cluster()".into()))
            }
        };
        let id = self.id.or(cluster.node.as_ref().map(|n| n.id)).ok_or_else(|| {
            Error::Invalid("which member is this? set [node] id in the file or pass --id".into())
        })?;
        let mut rc = cluster.runtime(id).map_err(Error::Invalid)?;
        if self.transport.is_some() {
            rc.transport = self.transport;
        }
        if let Some(pin) = self.pin {
            rc.pin = pin;
        }
        let runtime = argent_runtime::Runtime::start(rc)?;
        let names = cluster.groups.iter().map(|g| (g.name.clone(), GroupId(g.id))).collect();
        Ok(Node { runtime, cluster, id, names })
    }
}

/// A running argent node.
#[derive(Debug)]
pub struct Node {
    runtime: argent_runtime::Runtime,
    cluster: ClusterConfig,
    id: u32,
    names: HashMap<String, GroupId>,
}

impl Node {
    /// Start building a node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// This node's member id.
    pub fn id(&self) -> NodeId {
        NodeId(self.id)
    }

    /// The membership it runs with.
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// The transport backend in use.
    pub fn backend(&self) -> Backend {
        self.runtime.backend()
    }

    /// The id of the group named `name`.
    pub fn group_id(&self, name: &str) -> Result<GroupId, Error> {
        self.names.get(name).copied().ok_or_else(|| Error::UnknownGroup(name.into()))
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

    /// A publisher to any group: [`Publisher::claim_to`] and [`Publisher::publish_to`].
    pub fn publisher_any(&self) -> Result<Publisher, Error> {
        Ok(self.runtime.publisher_any()?)
    }

    /// A subscription to `group` (this node must be one of its members).
    pub fn subscribe(&self, group: &str) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe(self.group_id(group)?)?)
    }

    /// One subscription to several groups; [`Delivery::group_messages`] says which group each
    /// message went to.
    pub fn subscribe_groups(&self, groups: &[GroupId]) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe_groups(groups)?)
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        self.runtime.stats()
    }

    /// Stop the shards.
    pub fn shutdown(self) {
        self.runtime.shutdown();
    }
}
