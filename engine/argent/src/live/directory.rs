//! A directory of references: a replicated map of names to reference documents.

use super::{Live, LiveError, OpenOptions};
use crate::Node;
use argent_objects::object::ReplicatedMap;
use argent_objects::reference::{ObjectId, Reference};
use argent_objects::types::TypeRequirement;
use thiserror::Error;

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
