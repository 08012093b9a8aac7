//! Why an object could not be opened or updated.

use super::options::PUBLISH_WAIT;
use argent_objects::object::ObjectError;
use argent_objects::reference::ObjectId;
use argent_objects::session::{JoinError, SubmitError};
use argent_objects::types::TypeError;
use argent_runtime::PublishError;
use std::time::Duration;
use thiserror::Error;

/// Why an object could not be opened or updated.
#[derive(Debug, Error)]
pub enum LiveError {
    /// The opener's type does not match the object's, or the driver lacks a property.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// The reference does not say which group carries the object.
    #[error(
        "object {id}: driver.settings.group is missing: name the node group that carries the object \
         (through the membership service, --gms, an object without one gets a group of its own)"
    )]
    NoGroup {
        /// The object.
        id: ObjectId,
    },
    /// A driver this node does not run.
    #[error(
        "object {id}: its reference names driver {driver:?}, but this node runs the {node:?} driver: \
         start the node with [protocol] driver = \"total-order\" in its cluster file (every member of \
         the cluster runs the same driver; `argent obj new --driver qsm` makes references any node opens, \
         for the classes that do not need total order)"
    )]
    Driver {
        /// The object.
        id: ObjectId,
        /// The reference's driver.
        driver: String,
        /// The driver this node runs.
        node: &'static str,
    },
    /// The node refused (unknown group, shut down).
    #[error(transparent)]
    Node(#[from] crate::error::Error),
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
    /// The node's object driver thread could not start.
    #[error("starting the node's object driver thread: {0}")]
    Thread(std::io::Error),
    /// The object's code panicked in this proxy's session: the proxy no longer follows
    /// the object (open it again).
    #[error("object {id}: the object's code panicked in this proxy's session; the proxy no longer follows the object (open it again)")]
    Broken {
        /// The object.
        id: ObjectId,
    },
    /// The node's object driver stopped (the node shut down) before the join ended.
    #[error(
        "object {id}: the node's object driver stopped before the join ended (is the node shutting down?)"
    )]
    DriverStopped {
        /// The object.
        id: ObjectId,
    },
    /// The proxy is not joined (its join failed).
    #[error("object {id}: the proxy has not joined the object")]
    NotJoined {
        /// The object.
        id: ObjectId,
    },
    /// A durable object's replica directory could not be made, locked or read.
    #[error(
        "object {id} is durable: its replica at {path} could not be opened ({source}); choose a writable \
         data directory (OpenOptions::data_dir, `--data-dir`, or ARGENT_DATA_DIR)"
    )]
    Durable {
        /// The object.
        id: ObjectId,
        /// The file or directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// An update was sent but this proxy did not apply it in time (its outcome is unknown
    /// here: it may still be applied everywhere later).
    #[error(
        "object {id}: the update was sent but not applied here within {waited:?}: its outcome is unknown \
         (the group may be slow or partitioned; read the state later)"
    )]
    Unconfirmed {
        /// The object.
        id: ObjectId,
        /// How long the submitter waited.
        waited: Duration,
    },
    /// An update or a checkpoint does not fit one message.
    #[error("object {id}: a frame of {len} bytes does not fit one message (at most {max}): an update must fit one message (checkpoints travel in parts)")]
    TooLarge {
        /// The object.
        id: ObjectId,
        /// Its size with the frame.
        len: usize,
        /// The largest message.
        max: usize,
    },
}

impl LiveError {
    /// The session's join failure, for object `id`.
    pub(super) fn join(id: ObjectId, e: JoinError) -> LiveError {
        match e {
            JoinError::Refused => LiveError::Refused { id },
            JoinError::Incompatible(source) => LiveError::Incompatible { id, source },
            JoinError::BacklogFull(source) => LiveError::Object { id, source },
            JoinError::Timeout { waited, requests, answers, buffered } => {
                LiveError::JoinTimeout { id, waited, requests, answers, buffered }
            }
        }
    }

    /// The session's refusal of an update, for object `id`.
    pub(super) fn submit(id: ObjectId, e: SubmitError) -> LiveError {
        match e {
            SubmitError::TooLarge { len, max } => LiveError::TooLarge { id, len, max },
            SubmitError::Object(source) => LiveError::Object { id, source },
            SubmitError::NotJoined => LiveError::NotJoined { id },
        }
    }
}

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
