//! Publishing: a byte ring per shard the publisher reaches; messages are written in place
//! (`group tag | message`) and the shard multicasts them in every region of the group it
//! owns. The types say which calls need a group: a [`Publisher`] is bound to one group and
//! its calls take none; an [`AnyPublisher`] reaches every group and every call names one.
//! A call that would need the other kind does not compile:
//!
//! ```compile_fail
//! fn wrong(p: &mut argent_runtime::Publisher, g: argent_runtime::GroupId) {
//!     let _ = p.publish_to(g, b"to another group"); // a bound publisher names no group
//! }
//! ```
//!
//! ```compile_fail
//! fn wrong(p: &mut argent_runtime::AnyPublisher) {
//!     let _ = p.publish(b"to which group?"); // every call of an any-publisher names one
//! }
//! ```

mod any;
mod bound;
mod claim;
mod future;
mod lane;
mod lanes;

pub use any::AnyPublisher;
pub use bound::Publisher;
pub use claim::PubClaim;
pub use future::PublishFuture;
pub(crate) use lane::{shards_in, PubLane};
pub(crate) use lanes::Lanes;
