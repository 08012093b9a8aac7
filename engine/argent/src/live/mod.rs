//! Live objects on a node: a proxy of an object ([`argent_objects`]) bound to the node group
//! its reference names (`driver.settings.group`), joined with state transfer.
//!
//! ```no_run
//! use argent::objects::object::ReplicatedVar;
//! use argent::objects::reference::{ObjectId, Reference};
//! # let node = argent::Node::builder().config_file("cluster.toml").id(1).start()?;
//! // A reference read from a file (`argent obj new` writes one), or made in code:
//! let reference: Reference = std::fs::read_to_string("balance.toml")?.parse()?;
//! let _same_kind = Reference::of::<ReplicatedVar<i64>>(ObjectId(7)).in_group("objects");
//! let balance = node.open_as::<ReplicatedVar<i64>>(&reference)?; // fails before any traffic if it is another kind
//! balance.set(42)?;                 // sent into the group; applied when delivered back
//! let changes = balance.watch();    // every change, as every proxy applies it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every object message on the group is a frame `tag | object id (16 bytes, LE) | body`:
//! an update (the proxy's encoded [`argent_objects::object::Update`]), a checkpoint request
//! (the joiner's origin and a nonce) or a checkpoint (for an origin and nonce: the
//! [`Position`](argent_objects::object::Position) it includes, then the checkpoint bytes; in parts when it does not fit in one
//! message). Several objects may share a group;
//! each proxy keeps the frames of its own object.
//!
//! An object whose reference says `auth = "key"` is authenticated: every frame ends with a
//! 16-byte keyed BLAKE3 MAC under the object's key ([`ObjectKey`], given in
//! [`OpenOptions::key`]); frames that fail it are dropped and counted, and a member answers a
//! checkpoint request that fails it with a refusal, so a joiner with the wrong key gets
//! [`LiveError::Refused`] instead of the state. (A refusal itself is not authenticated: a
//! forger on the LAN can stop a join, not get in.)
//!
//! Every protocol decision — the join (requests, promises, fences, buffering, restore,
//! retry), the serving side (answers, checkpoint parts, refusals), keys and origin checks —
//! is the sans-IO [`Session`](argent_objects::session::Session) of `argent_objects`, which the simulator drives too; this
//! module only moves its frames between the session and the node and reads the clock. One
//! thread per node, the object driver, serves every open proxy (an open object costs no
//! thread and about 2 KB of heap): a subscription with fences per region that carries open
//! objects, the sessions each input is for (the shipped
//! [`Demux`](argent_objects::session::Demux)), the region's members, the joiners' timers,
//! and one publisher for all objects. Joining: the driver subscribes first, then the session asks the group for
//! a checkpoint and the group's region for fences ([`crate::Node::request_fences`]), buffering the
//! updates delivered meanwhile; it restores the first answer once every member's fence is
//! in, asks again with a new nonce every 300 ms until then, and starts from the initial
//! state when three requests that every member of the region fenced got no answer or promise.

mod binding;
mod bytes;
mod directory;
pub(crate) mod driver;
mod durable;
mod error;
mod kinds;
mod kinds_ordered;
mod open;
mod options;
mod proxy;
mod watch;

pub use argent_objects::key::{new_object_id, ObjectKey};
pub use bytes::ByteStream;
pub use directory::{Directory, DIRECTORY_ROLE};
pub use durable::{data_dir, DurableStats, DATA_DIR_ENV};
pub use error::{DirectoryError, LiveError};
pub use kinds_ordered::ORDERED_WAIT;
pub use open::object_group;
pub use options::{LiveStats, OpenOptions};
pub use proxy::{Live, StateSource};
pub use watch::{AsyncWatch, NextChange};
