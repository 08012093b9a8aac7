//! The reference's fields and the builders that set them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::{Problem, ReferenceError};
use super::id::ObjectId;

/// The driver that carries an object's updates, and its settings (e.g. `group = "g1"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverSpec {
    /// The driver's name, e.g. `qsm`.
    pub name: String,
    /// Driver settings, by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// A live object reference: everything needed to join one object.
///
/// Build one with [`Reference::new`] and the `with_*` methods, or parse one with
/// [`Reference::parse`]; [`Reference::validate`] checks a reference built in code. The
/// writers ([`to_toml`](Reference::to_toml), [`to_json`](Reference::to_json),
/// [`to_uri`](Reference::to_uri)) validate first, so what they write parses back equal.
///
/// `Serialize` writes the document form; `Deserialize` reads it with the same checks as
/// [`Reference::from_json`] (it needs a self-describing format such as TOML or JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The object's identity.
    pub id: ObjectId,
    /// The object's version, at least 1.
    pub version: u32,
    /// The object's kind, e.g. `event-stream`, `replicated-var`, `chat`, `composite`.
    pub class: String,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the object's description can be fetched from, e.g. a directory URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The driver carrying the object's updates.
    pub driver: DriverSpec,
    /// The class's parameters, e.g. `value_type = "i64"`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// The references of the objects this one is composed of, by part name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parts: BTreeMap<String, Reference>,
}

impl Reference {
    /// A version-1 reference with no settings, parameters, parts, name or description.
    pub fn new(id: ObjectId, class: impl Into<String>, driver: impl Into<String>) -> Self {
        Reference {
            id,
            version: 1,
            class: class.into(),
            name: None,
            description: None,
            driver: DriverSpec { name: driver.into(), settings: BTreeMap::new() },
            parameters: BTreeMap::new(),
            parts: BTreeMap::new(),
        }
    }

    /// Sets the version.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Sets a driver setting.
    pub fn with_setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.driver.settings.insert(key.into(), value.into());
        self
    }

    /// Sets a parameter.
    pub fn with_parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.insert(key.into(), value.into());
        self
    }

    /// Adds (or replaces) a part.
    pub fn with_part(mut self, name: impl Into<String>, part: Reference) -> Self {
        self.parts.insert(name.into(), part);
        self
    }

    /// Sets the human-readable name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets where the description can be fetched from.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Where [`Reference::description`] says the full reference is kept, if it names a
    /// directory entry: `<the directory's reference as an argent:// URI>#<entry name>`.
    /// `None` for any other description (or none); an error naming `description` (and the
    /// field within the directory's URI) if it has that form but does not parse.
    pub fn directory_entry(&self) -> Option<Result<(Reference, String), ReferenceError>> {
        let description = self.description.as_deref()?;
        let (uri, name) = description.starts_with("argent://").then(|| description.rsplit_once('#'))??;
        if name.is_empty() {
            return Some(Err(ReferenceError::new("description", Problem::Empty)));
        }
        Some(
            uri.parse::<Reference>()
                .map(|r| (r, name.to_string()))
                .map_err(|e| ReferenceError::new(format!("description.{}", e.field()), e.problem().clone())),
        )
    }
}
