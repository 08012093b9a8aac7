//! A directory of references: a replicated map of names to reference documents.

use super::error::DirectoryError;
use super::options::OpenOptions;
use super::proxy::Live;
use crate::node::Node;
use argent_objects::object::ReplicatedMap;
use argent_objects::reference::Reference;
use argent_objects::types::TypeRequirement;

/// A directory of references: a naming service that is itself a live object (a replicated
/// map from names to reference documents, JSON), so every process that opens it sees the
/// same names. Its reference is a `replicated-map` with `role = "directory"`.
#[derive(Debug)]
pub struct Directory {
    map: Live<ReplicatedMap<String, String>>,
}

/// The reference parameter that marks a directory.
pub const DIRECTORY_ROLE: (&str, &str) = ("role", "directory");

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
