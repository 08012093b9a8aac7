//! Opening objects on a node: the type, key and driver checks every open makes before any
//! traffic, dereferencing directory stubs, then the join.

use super::directory::Directory;
use super::error::{DirectoryError, LiveError};
use super::options::OpenOptions;
use super::proxy::{self, Live};
use crate::membership::GroupLease;
use crate::node::Node;
use argent_objects::key::ObjectKey;
use argent_objects::object::LiveObject;
use argent_objects::reference::{ObjectId, Reference};
use argent_objects::types::{check, ObjectType, TypeRequirement};
use argent_runtime::GroupId;

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

    /// Opens `reference` as the built-in kind `O` (`ReplicatedVar<i64>`, `Chat`, ...),
    /// requiring its whole type: [`Node::open`] with [`TypeRequirement::of`]. With
    /// [`Reference::of`] no string literal is needed:
    /// `node.open_as::<ReplicatedVar<i64>>(&Reference::of::<ReplicatedVar<i64>>(id))`.
    pub fn open_as<O>(&self, reference: &Reference) -> Result<Live<O>, LiveError>
    where
        O: argent_objects::typed::BuiltIn + 'static,
        O::State: Send,
        O::Op: Send,
        O::Change: Clone + Send,
    {
        self.open(reference, &TypeRequirement::of::<O>())
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

    /// What every open checks before any traffic: the type against `require` (a class that
    /// needs total order on a driver without it fails here), the key against the
    /// reference's security, the driver against the one this node runs ([`Node::driver`]);
    /// then the group that carries the object
    /// (its id and name) — the one its reference names, or, through the GMS, one of its own
    /// ([`object_group`]) — held for the proxy: the first open on this node joins it.
    pub(super) fn admit(
        &self,
        reference: &Reference,
        require: &TypeRequirement,
        key: Option<&ObjectKey>,
    ) -> Result<(GroupId, String, Option<GroupLease>), LiveError> {
        let id = reference.id;
        let offered = ObjectType::for_reference(reference)?;
        check(require, &offered)?;
        match (offered.properties.security.authenticated, key) {
            (true, None) => return Err(LiveError::KeyRequired { id }),
            (false, Some(_)) => return Err(LiveError::KeyNotUsed { id }),
            _ => {}
        }
        // QSM's guarantees are a subset of the total-order driver's: a qsm reference opens
        // on any node, a total-order one only where the regions deliver in one order.
        let node = self.driver();
        let runs = match reference.driver.name.as_str() {
            "qsm" => true,
            "total-order" => node == argent_runtime::Driver::TotalOrder,
            _ => false,
        };
        if !runs {
            return Err(LiveError::Driver { id, driver: reference.driver.name.clone(), node: node.name() });
        }
        let group_name = match reference.driver.settings.get("group") {
            Some(name) => name.to_string(),
            None if self.gms.is_some() => object_group(id),
            None => return Err(LiveError::NoGroup { id }),
        };
        let group = self.group_id(&group_name)?;
        let lease = self.lease(group)?;
        Ok((group, group_name, lease))
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
        let (group, _, lease) = self.admit(reference, require, options.key.as_ref())?;
        proxy::open(self, reference.id, group, lease, reference.is_durable(), options)
    }
}

/// The group an object whose reference names none rides on, through the GMS: its own,
/// named after its id (created by the first open anywhere, gone when the last proxy closes).
pub fn object_group(id: ObjectId) -> String {
    format!("argent-object-{id}")
}
