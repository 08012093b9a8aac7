//! Live objects on a node: a proxy of an object ([`argent_objects`]) bound to the node group
//! its reference names (`driver.settings.group`), joined with state transfer.
//!
//! ```no_run
//! use argent::objects::object::ReplicatedVar;
//! use argent::objects::reference::Reference;
//! use argent::objects::types::{Category, TypeRequirement};
//! # let node = argent::Node::builder().config_file("cluster.toml").id(1).start()?;
//! let reference: Reference = std::fs::read_to_string("balance.toml")?.parse()?;
//! let balance = node.open::<ReplicatedVar<i64>>(&reference, &TypeRequirement::whole(Category::ReplicatedVar))?;
//! balance.set(42)?;                 // sent into the group; applied when delivered back
//! let changes = balance.watch();    // every change, as every proxy applies it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every object message on the group is a frame `tag | object id (16 bytes, LE) | body`:
//! an update (the proxy's encoded [`argent_objects::object::Update`]), a checkpoint request
//! (the joiner's origin and a nonce) or a checkpoint (for an origin and nonce: the
//! [`Position`] it includes, then the checkpoint bytes; in parts when it does not fit in one
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
//! module only moves its frames between the session and the node (a publisher, a
//! subscription with fences, the region's members), runs the proxy's delivery thread and
//! reads the clock. Joining: the proxy subscribes first, then the session asks the group for
//! a checkpoint and the group's region for fences ([`Node::request_fences`]), buffering the
//! updates delivered meanwhile; it restores the first answer once every member's fence is
//! in, asks again with a new nonce every 300 ms until then, and starts from the initial
//! state when nobody answers three requests.

mod bytes;
mod directory;
mod error;
mod kinds;
mod proxy;

pub use argent_objects::key::ObjectKey;
pub use bytes::ByteStream;
pub use directory::{Directory, DirectoryError, DIRECTORY_ROLE};
pub use error::LiveError;
pub use proxy::Live;

use crate::{GroupId, GroupMembers, Node, PublishError, Publisher};
use argent_objects::object::{LiveObject, ProxyStats};
use argent_objects::reference::{ObjectId, Reference};
use argent_objects::types::{check, ObjectType, TypeRequirement};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long publishing waits for room in the publisher's ring before it gives up.
const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// How a proxy is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The longest a join may take before [`LiveError::JoinTimeout`].
    pub join_timeout: Duration,
    /// The object's key, for an authenticated object (`auth = "key"` in its reference).
    pub key: Option<ObjectKey>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { join_timeout: Duration::from_secs(10), key: None }
    }
}

pub use argent_objects::key::new_object_id;

/// Counters of one proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// The object layer's counters (updates sent, applied, duplicates skipped).
    pub proxy: ProxyStats,
    /// Frames of this object that failed its key, or updates that did not decode or apply.
    pub rejected: u64,
    /// Checkpoints sent to joiners.
    pub checkpoints_sent: u64,
    /// Changes dropped for watchers that did not keep up (their queue was full).
    pub watch_lagged: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh origin for a proxy on `node`: the node in the top bits
/// ([`argent_objects::session::origin_for`]), then the time and a per-process counter (two
/// proxies opened in one process always differ).
fn new_origin(node: u32) -> u64 {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    argent_objects::session::origin_for(node, nanos.wrapping_add(n << 20))
}

/// Publishes `msg` into the group, waiting for room up to [`PUBLISH_WAIT`].
fn publish(p: &mut Publisher, id: ObjectId, group: GroupId, msg: &[u8]) -> Result<(), LiveError> {
    p.publish_within(group, msg, PUBLISH_WAIT).map_err(|e| match e {
        PublishError::WouldBlock => LiveError::Stalled { id },
        PublishError::TooLarge { len, max } => LiveError::TooLarge { id, len, max },
        source => LiveError::Publish { id, source },
    })
}

/// This node does not receive `group` (subscribing to it fails first).
fn not_member(group: GroupId) -> LiveError {
    LiveError::Node(crate::Error::Runtime(argent_runtime::RuntimeError::NotInGroup(group)))
}

/// The node ids of `members`: the keys fences are counted under.
fn member_keys(members: &GroupMembers) -> Vec<u64> {
    members.now().iter().map(|n| u64::from(n.0)).collect()
}

impl Node {
    /// Opens a proxy of the object `reference` names, of kind `O`, checking first that the
    /// object's type satisfies `require` (no traffic flows before), then joining it with
    /// state transfer. See [`live`](crate::live).
    pub fn open<O>(&self, reference: &Reference, require: &TypeRequirement) -> Result<Live<O>, LiveError>
    where
        O: LiveObject + 'static,
        O::State: Send,
        O::Op: Send,
        O::Change: Clone + Send,
    {
        self.open_with(reference, require, OpenOptions::default())
    }

    /// [`Node::open`] with options.
    pub fn open_with<O>(
        &self,
        reference: &Reference,
        require: &TypeRequirement,
        options: OpenOptions,
    ) -> Result<Live<O>, LiveError>
    where
        O: LiveObject + 'static,
        O::State: Send,
        O::Op: Send,
        O::Change: Clone + Send,
    {
        let reference = self.dereference(reference)?;
        self.open_exact(&reference, require, options)
    }

    /// The full reference `reference` stands for: if its description names a directory
    /// entry (`<directory URI>#<name>`, see [`Reference::directory_entry`]), the reference
    /// stored there — which must be the same object's — read by joining the directory;
    /// otherwise `reference` itself. [`Node::open`] does this first.
    pub fn dereference(&self, reference: &Reference) -> Result<Reference, LiveError> {
        let id = reference.id;
        let fail = |e: DirectoryError| LiveError::Dereference { id, source: Box::new(e) };
        let Some(entry) = reference.directory_entry() else { return Ok(reference.clone()) };
        let (directory, name) = entry.map_err(|e| fail(DirectoryError::Invalid(e)))?;
        let stored = Directory::open(self, &directory, OpenOptions::default()).and_then(|d| d.get(&name));
        let stored = stored.map_err(fail)?;
        if stored.id != id {
            return Err(LiveError::OtherObject { id, name, found: stored.id });
        }
        Ok(stored)
    }

    /// What every open checks before any traffic: the type against `require`, the key
    /// against the reference's security, the driver; then the group that carries the object
    /// (its id and name).
    pub(super) fn admit<'r>(
        &self,
        reference: &'r Reference,
        require: &TypeRequirement,
        key: Option<&ObjectKey>,
    ) -> Result<(GroupId, &'r str), LiveError> {
        let id = reference.id;
        let offered = ObjectType::for_reference(reference)?;
        check(require, &offered)?;
        match (offered.properties.security.authenticated, key) {
            (true, None) => return Err(LiveError::KeyRequired { id }),
            (false, Some(_)) => return Err(LiveError::KeyNotUsed { id }),
            _ => {}
        }
        if reference.driver.name != "qsm" {
            return Err(LiveError::Driver { id, driver: reference.driver.name.clone() });
        }
        let group_name = reference.driver.settings.get("group").ok_or(LiveError::NoGroup { id })?;
        Ok((self.group_id(group_name)?, group_name))
    }

    /// Opens exactly `reference` (no dereferencing).
    pub(super) fn open_exact<O>(
        &self,
        reference: &Reference,
        require: &TypeRequirement,
        options: OpenOptions,
    ) -> Result<Live<O>, LiveError>
    where
        O: LiveObject + 'static,
        O::State: Send,
        O::Op: Send,
        O::Change: Clone + Send,
    {
        let (group, group_name) = self.admit(reference, require, options.key.as_ref())?;
        proxy::open(self, reference.id, group, group_name, options)
    }
}
