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
//! Joining: the proxy subscribes first, then asks the group for a checkpoint and the
//! group's region for fences ([`Node::request_fences`]), buffering the updates delivered
//! meanwhile ([`Joining`]). Every member's proxy promises an answer at once
//! ([`argent_objects::frame::TAG_PENDING`]) and answers once it has delivered the fence of
//! every member of the region; the joiner restores the first answer once it has delivered
//! them too, then applies the buffered updates after the answer's position, each exactly
//! once ([`Fences`] says why nothing is missed). Requests and fences travel again, with a new
//! nonce, every 300 ms until then. When nobody holds the object (no answer or promise to
//! three requests), the joiner starts from the initial state, provided what it buffered
//! starts at every sender's first update.

use crate::{GroupId, GroupMembers, Node, PublishError, Publisher, Subscription};
use argent_objects::object::{
    Chat, ChatOp, EventStream, Fences, Joining, LiveObject, MapOp, ObjectError, Position, Post, Proxy,
    ProxyStats, ReplicatedMap, ReplicatedVar, Update, VarOp, JOIN_BACKLOG_BYTES,
};
use argent_objects::reference::{ObjectId, Reference};
use argent_objects::types::{check, ObjectType, TypeError, TypeRequirement};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

use argent_objects::frame::{
    checkpoint_frames, parse_checkpoint, parse_request, request, Assembler, HEADER as FRAME_HEADER,
    TAG_BYTES, TAG_CHECKPOINT, TAG_CHECKPOINT_PART, TAG_PENDING, TAG_REFUSED, TAG_REQUEST, TAG_UPDATE,
};
/// Bytes of the MAC that ends every frame of an authenticated object.
const MAC_LEN: usize = 16;
/// How long a joiner waits for a checkpoint before asking again.
const ASK_EVERY: Duration = Duration::from_millis(300);
/// Requests without any answer after which a joiner concludes it is the first member.
const UNANSWERED_MEANS_FIRST: u32 = 3;
/// Changes a watcher may have unread before further ones are dropped for it (and counted in
/// [`LiveStats::watch_lagged`]): the delivery thread never waits for a watcher, and memory
/// stays bounded; the state itself is never affected.
const WATCH_QUEUE: usize = 65_536;
/// How long publishing waits for room in the publisher's ring before it gives up.
const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// Why an object could not be opened or updated.
#[derive(Debug, Error)]
pub enum LiveError {
    /// The opener's type does not match the object's, or the driver lacks a property.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// The reference does not say which group carries the object.
    #[error("object {id}: driver.settings.group is missing: name the node group that carries the object")]
    NoGroup {
        /// The object.
        id: ObjectId,
    },
    /// A driver this node does not run.
    #[error("object {id}: driver {driver:?} is not one this node runs (it runs \"qsm\")")]
    Driver {
        /// The object.
        id: ObjectId,
        /// The reference's driver.
        driver: String,
    },
    /// The node refused (unknown group, shut down).
    #[error(transparent)]
    Node(#[from] crate::Error),
    /// The object layer refused (an update that does not encode, a malformed checkpoint).
    #[error("object {id}: {source}")]
    Object {
        /// The object.
        id: ObjectId,
        /// What went wrong.
        source: ObjectError,
    },
    /// No usable checkpoint arrived in time: none at all, one that did not cover what the
    /// joiner missed, or some member's fence never came.
    #[error(
        "object {id}: joining took longer than {waited:?} ({requests} checkpoint requests, {answers} answers \
         or promises of one, {buffered} updates buffered meanwhile): no member answered, or not every \
         member of the group's region fenced the request (a member that cannot publish?)"
    )]
    JoinTimeout {
        /// The object.
        id: ObjectId,
        /// How long the join waited.
        waited: Duration,
        /// Requests sent.
        requests: u32,
        /// Checkpoints and promises of one received for this joiner.
        answers: u32,
        /// Updates buffered while joining.
        buffered: usize,
    },
    /// Publishing into the group failed.
    #[error("object {id}: publishing: {source}")]
    Publish {
        /// The object.
        id: ObjectId,
        /// The publisher's error.
        source: PublishError,
    },
    /// The members' checkpoint does not restore as the kind this process opened.
    #[error(
        "object {id}: the members' checkpoint does not restore as the kind opened here ({source}): \
         do they hold it as another class or value type?"
    )]
    Incompatible {
        /// The object.
        id: ObjectId,
        /// Why the checkpoint was refused.
        source: ObjectError,
    },
    /// The reference's description names a directory entry that could not be read.
    #[error("object {id}: dereferencing its description in a directory: {source}")]
    Dereference {
        /// The object.
        id: ObjectId,
        /// Why the directory did not give its reference.
        source: Box<DirectoryError>,
    },
    /// The directory entry the reference's description names is another object's.
    #[error("object {id}: directory entry {name:?} names object {found}, not this one")]
    OtherObject {
        /// The object.
        id: ObjectId,
        /// The entry.
        name: String,
        /// The object the entry names.
        found: ObjectId,
    },
    /// The ring stayed full.
    #[error(
        "object {id}: the group accepted nothing for {0:?}: the node is overloaded or shutting down",
        PUBLISH_WAIT
    )]
    Stalled {
        /// The object.
        id: ObjectId,
    },
    /// The object is authenticated and no key was given.
    #[error("object {id} is authenticated (auth = \"key\"): open it with its key (OpenOptions::key; `argent obj --key-file`)")]
    KeyRequired {
        /// The object.
        id: ObjectId,
    },
    /// A key was given for an object that does not use one.
    #[error("object {id} does not use a key (its reference has no auth = \"key\"): open it without one")]
    KeyNotUsed {
        /// The object.
        id: ObjectId,
    },
    /// The members refused this proxy's key.
    #[error("object {id}: the members refused this process's key: it is not the object's key")]
    Refused {
        /// The object.
        id: ObjectId,
    },
    /// The proxy's delivery thread could not start.
    #[error("starting the object's delivery thread: {0}")]
    Thread(std::io::Error),
    /// An update or a checkpoint does not fit one message.
    #[error("object {id}: a frame of {len} bytes does not fit one message (at most {max}): large values and checkpoints are not split yet")]
    TooLarge {
        /// The object.
        id: ObjectId,
        /// Its size with the frame.
        len: usize,
        /// The largest message.
        max: usize,
    },
}

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

/// `N` random bytes from the operating system (/dev/urandom).
fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

/// A new object id: 128 random bits from the operating system (ids must be unique among
/// every object anyone creates).
pub fn new_object_id() -> std::io::Result<ObjectId> {
    Ok(ObjectId(u128::from_le_bytes(random_bytes()?)))
}

/// A per-object key: 32 bytes, written as 64 hexadecimal digits. Every process allowed to
/// join an authenticated object holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectKey([u8; 32]);

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectKey(..)") // never in logs
    }
}

impl ObjectKey {
    /// A key from 32 random bytes of the operating system.
    pub fn generate() -> std::io::Result<ObjectKey> {
        Ok(ObjectKey(random_bytes()?))
    }

    /// Parses 64 hexadecimal digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<ObjectKey, String> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("an object key is 64 hexadecimal digits (got {} characters)", t.len()));
        }
        let mut k = [0u8; 32];
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(ObjectKey(k))
    }

    /// The 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self, frame: &[u8]) -> [u8; MAC_LEN] {
        let h = blake3::keyed_hash(&self.0, frame);
        let mut m = [0u8; MAC_LEN];
        m.copy_from_slice(&h.as_bytes()[..MAC_LEN]);
        m
    }
}

/// Counters of one proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// The object layer's counters (updates sent, applied, duplicates skipped).
    pub proxy: ProxyStats,
    /// Frames of this object that did not decode or apply (logged).
    pub rejected: u64,
    /// Checkpoints sent to joiners.
    pub checkpoints_sent: u64,
    /// Changes dropped for watchers that did not keep up (their queue was full).
    pub watch_lagged: u64,
}

struct Shared<O: LiveObject> {
    id: ObjectId,
    key: Option<ObjectKey>,
    group: GroupId,
    proxy: Mutex<Proxy<O>>,
    publisher: Mutex<Publisher>,
    watchers: Mutex<Vec<SyncSender<O::Change>>>,
    watch_lagged: AtomicU64,
    stop: AtomicBool,
    rejected: AtomicU64,
    checkpoints_sent: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An open proxy of a live object on a node.
pub struct Live<O: LiveObject> {
    shared: Arc<Shared<O>>,
    thread: Option<JoinHandle<()>>,
}

impl<O: LiveObject> std::fmt::Debug for Live<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("id", &self.shared.id).field("group", &self.shared.group).finish()
    }
}

/// A proxy's identity among all proxies of all objects: the node id in the high bits, then
/// the time and a per-process counter (two proxies opened in one process always differ).
/// Whether a proxy's `origin` is one of `node`'s: its top 24 bits are the node id's low 24
/// ([`new_origin`]). An update that names another node's origin than the node that sent it
/// is refused, so a member cannot stamp as another.
fn sent_by(origin: u64, node: crate::NodeId) -> bool {
    origin >> 40 == u64::from(node.0) & 0xFF_FFFF
}

/// Decodes an update delivered from `sender`, refusing one whose origin is another node's.
fn update_from<Op: DeserializeOwned>(body: &[u8], sender: crate::NodeId) -> Result<Update<Op>, ObjectError> {
    let update = Update::<Op>::decode(body)?;
    if !sent_by(update.stamp.origin, sender) {
        let reason = format!("origin {:#x} is not one of node {sender}'s", update.stamp.origin);
        return Err(ObjectError::Malformed { what: "update", reason });
    }
    Ok(update)
}

fn new_origin(node: u32) -> u64 {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    (u64::from(node) << 40) | ((nanos.wrapping_add(n << 20)) & ((1 << 40) - 1))
}

/// A frame, ending with its MAC under `key` (refusals never carry one).
fn frame(tag: u8, id: ObjectId, key: Option<&ObjectKey>, body: &[&[u8]]) -> Vec<u8> {
    sign(argent_objects::frame::encode(tag, id.0, body), key)
}

/// Appends the MAC under `key` (not to refusals).
fn sign(mut f: Vec<u8>, key: Option<&ObjectKey>) -> Vec<u8> {
    if let (Some(k), false) = (key, f.first() == Some(&TAG_REFUSED)) {
        let mac = k.mac(&f);
        f.extend_from_slice(&mac);
    }
    f
}

/// A frame of this object, checked against its key.
enum Parsed<'a> {
    /// Authentic (or the object has no key).
    Ok(u8, &'a [u8]),
    /// Of this object, but its MAC is wrong or missing.
    Forged(u8, &'a [u8]),
}

/// A frame of this object; `None` for another object's, or garbage.
fn parse<'a>(id: ObjectId, key: Option<&ObjectKey>, m: &'a [u8]) -> Option<Parsed<'a>> {
    let (tag, object, all) = argent_objects::frame::split(m)?;
    if object != id.0 {
        return None;
    }
    let Some(key) = key.filter(|_| tag != TAG_REFUSED) else { return Some(Parsed::Ok(tag, all)) };
    let Some(signed) = m.len().checked_sub(MAC_LEN).filter(|&n| n >= FRAME_HEADER) else {
        return Some(Parsed::Forged(tag, &m[FRAME_HEADER..]));
    };
    let body = &m[FRAME_HEADER..signed];
    // Constant-time comparison of the MAC.
    let expected = key.mac(&m[..signed]);
    let diff = expected.iter().zip(&m[signed..]).fold(0u8, |d, (a, b)| d | (a ^ b));
    Some(if diff == 0 { Parsed::Ok(tag, body) } else { Parsed::Forged(tag, body) })
}

/// Publishes `msg` into the group, waiting for room up to [`PUBLISH_WAIT`].
fn publish(p: &mut Publisher, id: ObjectId, group: GroupId, msg: &[u8]) -> Result<(), LiveError> {
    p.publish_within(group, msg, PUBLISH_WAIT).map_err(|e| match e {
        PublishError::WouldBlock => LiveError::Stalled { id },
        PublishError::TooLarge { len, max } => LiveError::TooLarge { id, len, max },
        source => LiveError::Publish { id, source },
    })
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
    fn admit<'r>(
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
    fn open_exact<O>(
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
        let id = reference.id;
        let (group, group_name) = self.admit(reference, require, options.key.as_ref())?;
        let key = options.key;
        // Subscribe before asking: every update from here on is buffered while joining.
        let mut sub = self.subscribe_groups(&[group])?.with_fences();
        let mut publisher = self.publisher(group_name)?;
        let members = self.group_members(group).ok_or(not_member(group))?;
        let origin = new_origin(self.id().0);
        let spec = JoinSpec { id, key: key.as_ref(), group, origin, timeout: options.join_timeout };
        let proxy = join::<O>(self, &mut sub, &mut publisher, spec)?;
        let shared = Arc::new(Shared {
            id,
            key,
            group,
            proxy: Mutex::new(proxy),
            publisher: Mutex::new(publisher),
            watchers: Mutex::new(Vec::new()),
            watch_lagged: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            checkpoints_sent: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("argent-live-{id}"))
            .spawn(move || serve(&s, sub, &members))
            .map_err(LiveError::Thread)?;
        Ok(Live { shared, thread: Some(thread) })
    }
}

/// This node does not receive `group` (subscribing to it fails first).
fn not_member(group: GroupId) -> LiveError {
    LiveError::Node(crate::Error::Runtime(argent_runtime::RuntimeError::NotInGroup(group)))
}

/// The node ids of `members` (fences are counted per sending node).
fn member_keys(members: &GroupMembers) -> Vec<u64> {
    members.now().iter().map(|n| u64::from(n.0)).collect()
}

/// What a join is for: the object, its key, its group, the joiner's origin, how long it may
/// take.
struct JoinSpec<'a> {
    id: ObjectId,
    key: Option<&'a ObjectKey>,
    group: GroupId,
    origin: u64,
    timeout: Duration,
}

/// The join: ask for a checkpoint and for every member's fence, buffer updates, and restore
/// the first answer once every current member's fence is in (see [`Fences`]); with no
/// member of the object at all, start from the initial state.
fn join<O: LiveObject>(
    node: &Node,
    sub: &mut Subscription,
    publisher: &mut Publisher,
    spec: JoinSpec<'_>,
) -> Result<Proxy<O>, LiveError> {
    let JoinSpec { id, key, group, origin, timeout } = spec;
    let started = Instant::now();
    let members = node.group_members(group).ok_or(not_member(group))?;
    let mut joining = Joining::<O>::new(origin);
    let mut fences = Fences::new();
    let mut parts = Assembler::new(JOIN_BACKLOG_BYTES);
    let mut answer: Option<(Vec<u8>, Position)> = None;
    let (mut requests, mut answers, mut nonce) = (0u32, 0u32, 0u64);
    let mut asked = Instant::now() - ASK_EVERY;
    let object = |source| LiveError::Object { id, source };
    loop {
        if asked.elapsed() >= ASK_EVERY {
            if requests >= UNANSWERED_MEANS_FIRST && answers == 0 {
                // Nobody holds the object: the first member, if what arrived starts at the
                // beginning.
                let initial = O::checkpoint(&O::initial()).map_err(object)?;
                match joining.complete(&initial, &Position::new()) {
                    Ok(joined) => return Ok(joined.proxy),
                    Err((j, _gap)) => joining = j, // updates from before we came: members exist
                }
            }
            nonce = nonce.wrapping_add(1);
            answer = None;
            fences.request((origin, nonce), false);
            publish(publisher, id, group, &frame(TAG_REQUEST, id, key, &[&request(origin, nonce)]))?;
            node.request_fences(group, origin, nonce)?;
            requests += 1;
            asked = Instant::now();
        }
        if started.elapsed() > timeout {
            return Err(LiveError::JoinTimeout {
                id,
                waited: timeout,
                requests,
                answers,
                buffered: joining.backlog(),
            });
        }
        let Some(d) = sub.recv_timeout(Duration::from_millis(20)) else { continue };
        let sender = u64::from(d.sender_node().0);
        for (_, m) in d.group_messages() {
            let parsed = parse(id, key, m);
            let whole;
            let parsed = match parsed {
                Some(Parsed::Ok(TAG_CHECKPOINT_PART, body)) => match parts.push(sender, body) {
                    Some(body) => {
                        whole = body;
                        Some(Parsed::Ok(TAG_CHECKPOINT, &whole[..]))
                    }
                    None => continue,
                },
                other => other,
            };
            match parsed {
                Some(Parsed::Ok(TAG_REFUSED, body))
                    if parse_request(body).is_some_and(|(to, _)| to == origin) =>
                {
                    return Err(LiveError::Refused { id });
                }
                Some(Parsed::Ok(TAG_UPDATE, body)) => match update_from::<O::Op>(body, d.sender_node())
                    .and_then(|u| joining.deliver_update(u, body.len()))
                {
                    Ok(()) => {}
                    Err(e @ ObjectError::BacklogFull { .. }) => return Err(object(e)),
                    // A malformed update does not stop the join: it is not applied anywhere.
                    Err(e) => tracing::warn!(object = %id, error = %e, "update not buffered while joining"),
                },
                Some(Parsed::Ok(TAG_PENDING, body)) if parse_request(body) == Some((origin, nonce)) => {
                    answers += 1;
                }
                Some(Parsed::Ok(TAG_CHECKPOINT, body)) => {
                    let Some((to, n, position, checkpoint)) = parse_checkpoint(body) else { continue };
                    if to != origin || n != nonce || answer.is_some() {
                        continue; // another joiner's, an answer to an earlier request, or a second
                    }
                    answers += 1;
                    match Position::decode(position) {
                        Ok(position) => answer = Some((checkpoint.to_vec(), position)),
                        Err(e) => {
                            tracing::warn!(object = %id, error = %e, "a checkpoint with a bad position")
                        }
                    }
                }
                _ => {} // requests of other joiners, forged frames, other objects' frames
            }
        }
        for request in d.fences() {
            fences.fence(request, sender);
        }
        if answer.is_none() || !fences.complete((origin, nonce), &member_keys(&members)) {
            continue;
        }
        let Some((checkpoint, position)) = answer.take() else { continue };
        match joining.complete(&checkpoint, &position) {
            Ok(joined) => return Ok(joined.proxy),
            Err((j, e @ ObjectError::Gap { .. })) => {
                // Not expected once fenced (a view change in between may do it): ask again,
                // at the usual pace.
                tracing::warn!(object = %id, error = %e, "fenced checkpoint does not cover the join; asking again");
                joining = j;
            }
            // A checkpoint that does not decode as this kind will not decode next time
            // either: the members hold the object as another kind or value type.
            Err((_, e)) => return Err(LiveError::Incompatible { id, source: e }),
        }
    }
}

/// The proxy's delivery loop: apply updates; answer checkpoint requests once every current
/// member's fence for them is in.
fn serve<O: LiveObject>(s: &Shared<O>, mut sub: Subscription, members: &GroupMembers)
where
    O::Change: Clone,
{
    let mut fences = Fences::new();
    while !s.stop.load(Ordering::Acquire) {
        let Some(d) = sub.recv_timeout(Duration::from_millis(50)) else {
            if sub.is_closed() {
                return;
            }
            if fences.waiting() > 0 {
                answer_due(s, &mut fences, members); // members that left are not waited for
            }
            continue;
        };
        for (_, m) in d.group_messages() {
            match parse(s.id, s.key.as_ref(), m) {
                Some(Parsed::Ok(TAG_UPDATE, body)) => {
                    let applied =
                        update_from(body, d.sender_node()).and_then(|u| lock(&s.proxy).deliver_update(u));
                    match applied {
                        Ok(Some(change)) => {
                            lock(&s.watchers).retain(|w| match w.try_send(change.clone()) {
                                Ok(()) => true,
                                Err(TrySendError::Full(_)) => {
                                    s.watch_lagged.fetch_add(1, Ordering::Relaxed);
                                    true
                                }
                                Err(TrySendError::Disconnected(_)) => false,
                            });
                        }
                        Ok(None) => {}
                        Err(e) => {
                            s.rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(object = %s.id, error = %e, "update not applied");
                        }
                    }
                }
                Some(Parsed::Ok(TAG_REQUEST, body)) => {
                    let Some(req) = parse_request(body) else { continue };
                    fences.request(req, true);
                    let pending = frame(TAG_PENDING, s.id, s.key.as_ref(), &[&request(req.0, req.1)]);
                    if let Err(e) = publish(&mut lock(&s.publisher), s.id, s.group, &pending) {
                        tracing::warn!(object = %s.id, error = %e, "could not tell a joiner its answer is coming");
                    }
                }
                Some(Parsed::Forged(tag, body)) => {
                    s.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(object = %s.id, tag, "a frame failed the object's key: dropped");
                    if tag == TAG_REQUEST {
                        if let Some((to, nonce)) = parse_request(body) {
                            let refusal = frame(TAG_REFUSED, s.id, None, &[&request(to, nonce)]);
                            let _ = publish(&mut lock(&s.publisher), s.id, s.group, &refusal);
                        }
                    }
                }
                _ => {}
            }
        }
        let sender = u64::from(d.sender_node().0);
        let mut fenced = false;
        for request in d.fences() {
            fences.fence(request, sender);
            fenced = true;
        }
        if fenced && fences.waiting() > 0 {
            answer_due(s, &mut fences, members);
        }
    }
}

/// Answer the requests every current member has fenced.
fn answer_due<O: LiveObject>(s: &Shared<O>, fences: &mut Fences, members: &GroupMembers) {
    for (to, nonce) in fences.due(&member_keys(members)) {
        if let Err(e) = answer(s, to, nonce) {
            tracing::warn!(object = %s.id, error = %e, "no checkpoint for a joiner");
        }
    }
}

/// Sends a checkpoint and its position to the joiner `to`.
fn answer<O: LiveObject>(s: &Shared<O>, to: u64, nonce: u64) -> Result<(), LiveError> {
    let object = |source| LiveError::Object { id: s.id, source };
    let (position, checkpoint) = {
        let p = lock(&s.proxy);
        (p.position().encode().map_err(object)?, p.checkpoint().map_err(object)?)
    };
    let mut publisher = lock(&s.publisher);
    let max = publisher.max_message();
    let mac = if s.key.is_some() { MAC_LEN } else { 0 };
    let frames = checkpoint_frames(s.id.0, to, nonce, &position, &checkpoint, max.saturating_sub(mac))
        .ok_or(LiveError::TooLarge { id: s.id, len: checkpoint.len(), max })?;
    // In order, under the publisher's lock: the joiner reassembles this node's parts in turn.
    for f in frames {
        publish(&mut publisher, s.id, s.group, &sign(f, s.key.as_ref()))?;
    }
    s.checkpoints_sent.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

impl<O: LiveObject> Live<O> {
    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.shared.id
    }

    /// This proxy's origin (its identity in stamps and positions).
    pub fn origin(&self) -> u64 {
        lock(&self.shared.proxy).origin()
    }

    /// Sends `op` into the object's group; it is applied (here too) when delivered back.
    pub fn submit(&self, op: O::Op) -> Result<(), LiveError> {
        let s = &self.shared;
        // The publisher's lock orders the proxy's sequence numbers as they are published.
        let mut publisher = lock(&s.publisher);
        // Refuse what cannot be sent before the proxy numbers it: a number never sent would
        // be a gap at every receiver. The envelope (version, stamp, sequence number) adds at
        // most ENVELOPE bytes to the encoded operation.
        const ENVELOPE: usize = 32;
        let op_len = postcard::experimental::serialized_size(&op).unwrap_or(usize::MAX);
        let max = publisher.max_message();
        let len = op_len.saturating_add(ENVELOPE + FRAME_HEADER + MAC_LEN);
        if len > max {
            return Err(LiveError::TooLarge { id: s.id, len, max });
        }
        let update = lock(&s.proxy).local(op).map_err(|source| LiveError::Object { id: s.id, source })?;
        publish(&mut publisher, s.id, s.group, &frame(TAG_UPDATE, s.id, s.key.as_ref(), &[&update]))
    }

    /// Reads the replicated state.
    pub fn read<R>(&self, f: impl FnOnce(&O::State) -> R) -> R {
        f(lock(&self.shared.proxy).state())
    }

    /// The state's checkpoint bytes (equal at proxies that applied the same updates).
    pub fn checkpoint(&self) -> Result<Vec<u8>, LiveError> {
        lock(&self.shared.proxy)
            .checkpoint()
            .map_err(|source| LiveError::Object { id: self.shared.id, source })
    }

    /// Which updates the state includes.
    pub fn position(&self) -> Position {
        lock(&self.shared.proxy).position().clone()
    }

    /// Every change applied from now on, in the order this proxy applies them (a watcher
    /// that falls 65 536 changes behind misses the next ones, counted in
    /// [`LiveStats::watch_lagged`]; read the state for the truth).
    pub fn watch(&self) -> Receiver<O::Change> {
        let (tx, rx) = sync_channel(WATCH_QUEUE);
        lock(&self.shared.watchers).push(tx);
        rx
    }

    /// Counters.
    pub fn stats(&self) -> LiveStats {
        LiveStats {
            proxy: lock(&self.shared.proxy).stats(),
            rejected: self.shared.rejected.load(Ordering::Relaxed),
            checkpoints_sent: self.shared.checkpoints_sent.load(Ordering::Relaxed),
            watch_lagged: self.shared.watch_lagged.load(Ordering::Relaxed),
        }
    }
}

impl<O: LiveObject> Drop for Live<O> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<T: Serialize + DeserializeOwned + Clone + PartialEq> Live<ReplicatedVar<T>> {
    /// The value every proxy converges to (the latest write delivered so far).
    pub fn get(&self) -> Option<T> {
        self.read(|r| r.get().cloned())
    }

    /// Writes `value`; the latest write (by Lamport stamp) wins everywhere.
    pub fn set(&self, value: T) -> Result<(), LiveError> {
        self.submit(VarOp::Set(value))
    }
}

impl<K, V> Live<ReplicatedMap<K, V>>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.read(|m| m.get(key).cloned())
    }

    /// Every live entry, in key order.
    pub fn entries(&self) -> Vec<(K, V)> {
        self.read(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Sets `key` to `value` (per key, the latest write wins).
    pub fn put(&self, key: K, value: V) -> Result<(), LiveError> {
        self.submit(MapOp::Put(key, value))
    }

    /// Removes `key` (it wins over older puts, loses to newer ones).
    pub fn remove(&self, key: K) -> Result<(), LiveError> {
        self.submit(MapOp::Remove(key))
    }
}

impl Live<Chat> {
    /// Posts `text` as `author`.
    pub fn post(&self, author: impl Into<String>, text: impl Into<String>) -> Result<(), LiveError> {
        self.submit(ChatOp::Post { author: author.into(), text: text.into() })
    }

    /// The history, ordered by stamp: the same at every proxy once all posts are delivered.
    pub fn history(&self) -> Vec<Post> {
        self.read(|h| h.posts().to_vec())
    }
}

impl<T: Serialize + DeserializeOwned> Live<EventStream<T>> {
    /// Publishes one event; subscribers get it from [`Live::watch`].
    pub fn publish(&self, event: T) -> Result<(), LiveError> {
        self.submit(event)
    }
}

/// A directory of references: a naming service that is itself a live object (a replicated
/// map from names to reference documents, JSON), so every process that opens it sees the
/// same names. Its reference is a `replicated-map` with `role = "directory"`.
#[derive(Debug)]
pub struct Directory {
    map: Live<ReplicatedMap<String, String>>,
}

/// The reference parameter that marks a directory.
pub const DIRECTORY_ROLE: (&str, &str) = ("role", "directory");

/// Why a directory operation failed.
#[derive(Debug, Error)]
pub enum DirectoryError {
    /// Opening or updating the directory object.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The reference given is not a directory's.
    #[error("object {id} is not a directory (its reference needs class = \"replicated-map\" and parameters.role = \"directory\")")]
    NotADirectory {
        /// The object.
        id: ObjectId,
    },
    /// No entry of that name.
    #[error("the directory has no entry {name:?} (it has {count}: see `argent obj dir list`)")]
    NotFound {
        /// The name asked for.
        name: String,
        /// How many entries there are.
        count: usize,
    },
    /// An entry that does not parse (written by something else than `put`).
    #[error("directory entry {name:?}: {source}")]
    BadEntry {
        /// The entry.
        name: String,
        /// Why it does not parse.
        source: argent_objects::reference::ReferenceError,
    },
    /// A reference that cannot be stored (it fails validation).
    #[error("not stored: {0}")]
    Invalid(argent_objects::reference::ReferenceError),
    /// Names are non-empty and have no control characters.
    #[error("directory name {0:?}: use 1 to 256 printable characters")]
    BadName(String),
}

impl Directory {
    /// Opens the directory `reference` names on `node` (joining it like any object).
    pub fn open(
        node: &Node,
        reference: &Reference,
        options: OpenOptions,
    ) -> Result<Directory, DirectoryError> {
        let (k, v) = DIRECTORY_ROLE;
        if reference.class != "replicated-map" || reference.parameters.get(k).map(String::as_str) != Some(v) {
            return Err(DirectoryError::NotADirectory { id: reference.id });
        }
        let require = TypeRequirement::whole(argent_objects::types::Category::ReplicatedMap);
        // Exactly this reference: a directory's own description is not followed.
        Ok(Directory { map: node.open_exact(reference, &require, options)? })
    }

    /// Stores `reference` under `name` (replacing what was there, everywhere).
    pub fn put(&self, name: &str, reference: &Reference) -> Result<(), DirectoryError> {
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(DirectoryError::BadName(name.to_string()));
        }
        let text = reference.to_json().map_err(DirectoryError::Invalid)?;
        Ok(self.map.put(name.to_string(), text)?)
    }

    /// Removes `name`.
    pub fn remove(&self, name: &str) -> Result<(), DirectoryError> {
        Ok(self.map.remove(name.to_string())?)
    }

    /// The reference stored under `name`.
    pub fn get(&self, name: &str) -> Result<Reference, DirectoryError> {
        let text = self.map.get(&name.to_string()).ok_or_else(|| DirectoryError::NotFound {
            name: name.to_string(),
            count: self.map.read(|m| m.len()),
        })?;
        Reference::from_json(&text)
            .map_err(|source| DirectoryError::BadEntry { name: name.to_string(), source })
    }

    /// Every name, in order.
    pub fn names(&self) -> Vec<String> {
        self.map.read(|m| m.iter().map(|(k, _)| k.clone()).collect())
    }

    /// The underlying object (to watch it, or wait for updates).
    pub fn object(&self) -> &Live<ReplicatedMap<String, String>> {
        &self.map
    }
}

/// An event stream of raw bytes, zero-copy: a publisher writes each event in place in the
/// node's publish ring ([`ByteStream::publish_with`]), and subscribers get each event as a
/// [`bytes::Bytes`] slice of the received datagram — no decoding, no copy. Events carry no
/// stamp or state: each sender's events arrive reliably and in order (the driver's FIFO), from
/// when the subscriber subscribed. Authenticated streams (`auth = "key"`) add a MAC to each
/// event (computed over the event, so `publish_with` writes the payload, then the MAC).
pub struct ByteStream {
    id: ObjectId,
    group: GroupId,
    key: Option<ObjectKey>,
    publisher: Mutex<Publisher>,
    sub: Mutex<Subscription>,
    rejected: AtomicU64,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream").field("id", &self.id).field("group", &self.group).finish()
    }
}

impl Node {
    /// Opens a zero-copy byte stream: the object must be an `event-stream`.
    pub fn open_bytes(&self, reference: &Reference, options: OpenOptions) -> Result<ByteStream, LiveError> {
        let reference = &self.dereference(reference)?;
        let id = reference.id;
        let require = TypeRequirement::whole(argent_objects::types::Category::EventStream);
        let (group, group_name) = self.admit(reference, &require, options.key.as_ref())?;
        let sub = self.subscribe_groups(&[group])?;
        let publisher = self.publisher(group_name)?;
        Ok(ByteStream {
            id,
            group,
            key: options.key,
            publisher: Mutex::new(publisher),
            sub: Mutex::new(sub),
            rejected: AtomicU64::new(0),
        })
    }
}

impl ByteStream {
    /// Publishes `payload` (one copy, into the publish ring).
    pub fn publish(&self, payload: &[u8]) -> Result<(), LiveError> {
        self.publish_with(payload.len(), |buf| buf.copy_from_slice(payload))
    }

    /// Publishes an event of `len` bytes written in place by `write` (no copy).
    pub fn publish_with(&self, len: usize, write: impl FnOnce(&mut [u8])) -> Result<(), LiveError> {
        let mac = if self.key.is_some() { MAC_LEN } else { 0 };
        let total = FRAME_HEADER + len + mac;
        let mut p = lock(&self.publisher);
        let until = Instant::now() + PUBLISH_WAIT;
        let mut claim = loop {
            match p.claim_to(self.group, total) {
                Ok(c) => break c,
                Err(PublishError::WouldBlock) if Instant::now() < until => {}
                Err(PublishError::WouldBlock) => return Err(LiveError::Stalled { id: self.id }),
                Err(source) => return Err(LiveError::Publish { id: self.id, source }),
            }
            // Not borrowed any more: wait for room.
            p.wait_for_space_to(self.group, total, Duration::from_millis(10));
        };
        let buf = claim.bytes_mut();
        buf[0] = TAG_BYTES;
        buf[1..FRAME_HEADER].copy_from_slice(&self.id.0.to_le_bytes());
        write(&mut buf[FRAME_HEADER..FRAME_HEADER + len]);
        if let Some(k) = &self.key {
            let m = k.mac(&buf[..FRAME_HEADER + len]);
            buf[FRAME_HEADER + len..].copy_from_slice(&m);
        }
        claim.commit();
        Ok(())
    }

    /// The events of the next delivery (waiting up to `timeout`): zero-copy slices, each
    /// sender's in order. Empty after a timeout, or when the delivery held none of this
    /// stream's (another object's on the same group).
    pub fn recv_timeout(&self, timeout: Duration) -> Vec<bytes::Bytes> {
        let Some(d) = lock(&self.sub).recv_timeout(timeout) else { return Vec::new() };
        let mut out = Vec::new();
        for (_, m) in d.message_bytes() {
            match parse(self.id, self.key.as_ref(), &m) {
                Some(Parsed::Ok(TAG_BYTES, body)) => {
                    let start = FRAME_HEADER;
                    out.push(m.slice(start..start + body.len()));
                }
                Some(Parsed::Forged(TAG_BYTES, _)) => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        out
    }

    /// Events that failed the stream's key (dropped).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}
