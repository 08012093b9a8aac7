//! argent's runtime: one shard per core, each a pinned thread running a duty cycle —
//! receive a batch, run the protocol, flush a send batch, fire timers — over a batched
//! transport. Every region is owned by exactly one shard together with its sockets, buffers,
//! ring and flow control. Application threads talk to shards through bounded
//! single-producer rings: a byte ring per publisher and shard (messages written in place) and
//! a ring of delivered datagrams per subscription and shard (messages read in place, released
//! on drop).
//!
//! Many groups share a region: every message carries its group id in a 4-byte tag
//! ([`GROUP_TAG_LEN`]) inside the QSM datagram, written by the publisher handle in front of
//! the application's bytes and stripped again by the subscription, which delivers only its
//! groups' messages. A message to a group is multicast once in each of the group's regions.
//! Nothing is kept per group but entries of lookup tables: no ring, thread or socket.
//!
//! Regions come and go while traffic flows: a membership view that names a region this
//! node did not know installs it on its shard (the group socket joined if this node is a
//! member, the protocol's region with its join points), and publishers route to it from
//! their next call.

mod config;
mod delivery;
mod error;
mod groups;
mod guard;
mod publisher;
/// The publish ring's entry format; public (hidden) for its criterion benchmark only.
#[doc(hidden)]
pub mod pubring;
mod runtime;
mod shard;
mod signal;
mod stats;
mod subscription;
mod topology;
mod view;

pub use argent_auth as auth;
pub use argent_core::{NodeId, RegionId};
pub use argent_membership::GroupId;
pub use argent_qsm::stream_incarnation;
pub use argent_transport::Backend;
pub use config::{Driver, MemberSpec, RegionSpec, RuntimeConfig, MAX_SHARDS};
pub use delivery::{Delivery, GroupMessages, Messages};
pub use error::{Closed, PublishError, RecvTimeoutError, RuntimeError};
pub use groups::{FENCE_GROUP, FRAGMENT_GROUP, GROUP_TAG_LEN};
pub use guard::{AuthConfig, AuthStats};
/// The largest message a publisher takes (blocking, with a deadline or async): larger than a
/// datagram, it travels in fragments ([`argent_wire::fragment`]).
pub const MAX_MESSAGE: usize = argent_wire::fragment::MAX_FRAGMENTED;
pub use publisher::{AnyPublisher, PubClaim, PublishFuture, Publisher};
pub use runtime::{Fencer, GroupsHandle, Runtime, MIN_DELIVERY_RING, MIN_PUBLISH_RING};
pub use signal::SharedWait;
pub use stats::NodeStats;
pub use subscription::{RecvFuture, Subscription};
pub use view::{fresh_incarnation, GroupMembers, ViewSink};
