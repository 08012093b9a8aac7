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

pub mod config;

pub use argent_qsm::{Delivery, PublishError};
pub use argent_runtime::{Backend, Closed, NodeId, NodeStats, PubClaim, Publisher, RegionId, Subscription};
pub use config::{ClusterConfig, ConfigError};

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
        Ok(Node { runtime, cluster, id })
    }
}

/// A running argent node.
#[derive(Debug)]
pub struct Node {
    runtime: argent_runtime::Runtime,
    cluster: ClusterConfig,
    id: u32,
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

    fn region(&self, group: &str) -> Result<RegionId, Error> {
        self.cluster.group(group).map(|g| RegionId(g.id)).ok_or_else(|| Error::UnknownGroup(group.into()))
    }

    /// A publisher to `group` (this node must be a member).
    pub fn publisher(&self, group: &str) -> Result<Publisher, Error> {
        Ok(self.runtime.publisher(self.region(group)?)?)
    }

    /// A subscription to `group`.
    pub fn subscribe(&self, group: &str) -> Result<Subscription, Error> {
        Ok(self.runtime.subscribe(self.region(group)?)?)
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
