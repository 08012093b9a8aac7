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

#![forbid(unsafe_code)]

mod builder;
pub mod config;
mod error;
mod join;
pub mod live;
mod membership;
mod node;

/// The object layer (references, types, object kinds, typed references), re-exported for
/// applications and documented here, in place.
#[doc(inline)]
pub use argent_objects as objects;
pub use live::{
    Directory, DirectoryError, Live, LiveError, LiveStats, ObjectKey, OpenOptions, StateSource,
    DIRECTORY_ROLE,
};

pub use argent_core::ViewId;
pub use argent_runtime::{
    auth, AnyPublisher, AuthConfig, AuthStats, Backend, Closed, Delivery, Driver, GroupId, GroupMembers,
    GroupMessages, Messages, NodeId, NodeStats, PubClaim, PublishError, Publisher, RecvTimeoutError,
    RegionId, RegionSpec, Subscription, FENCE_GROUP, GROUP_TAG_LEN, MAX_MESSAGE,
};
pub use builder::NodeBuilder;
pub use config::{ClusterConfig, ConfigError};
pub use error::Error;
pub use join::GroupChange;
pub use membership::GROUP_CHANGE_TIMEOUT;
pub use node::Node;
