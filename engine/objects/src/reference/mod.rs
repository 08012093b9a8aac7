//! Live object references: the small document that fully describes one object.
//!
//! Having a [`Reference`] is enough to join its object: it names the object (a 128-bit
//! [`ObjectId`] and a version), its class, the driver that carries its updates and the
//! driver's settings, the class's parameters, the references of the objects it is made of
//! (its parts), and where its description can be fetched from.
//!
//! A reference is written as a TOML or JSON document, or — when it has no parts — as an
//! `argent://` URI:
//!
//! ```text
//! argent://0123456789abcdef0123456789abcdef?v=1&class=chat&driver=qsm&driver.group=g1&name=Lobby
//! ```
//!
//! The URI grammar (query values and keys are percent-decoded; `+` is a literal plus):
//!
//! ```text
//! uri   = "argent://" id [ "?" pair *( "&" pair ) ]
//! id    = 32 HEXDIG
//! pair  = key "=" value
//! key   = "v" / "class" / "driver" / "driver." setting / "param." parameter
//!       / "name" / "description"
//! ```
//!
//! `v`, `class` and `driver` are required and every key appears at most once. Writers
//! percent-encode everything but RFC 3986 unreserved characters and emit the keys in the
//! order above, so every form round-trips exactly. Decoders of outside input never panic:
//! they return a [`ReferenceError`] naming the field at fault.
//!
//! ```
//! use argent_objects::reference::{ObjectId, Reference};
//!
//! let chat = Reference::new(ObjectId(0x0123456789abcdef0123456789abcdef), "chat", "qsm")
//!     .with_setting("group", "g1")
//!     .with_name("Lobby");
//! let uri = chat.to_uri()?;
//! assert_eq!(
//!     uri,
//!     "argent://0123456789abcdef0123456789abcdef?v=1&class=chat&driver=qsm&driver.group=g1&name=Lobby"
//! );
//! assert_eq!(Reference::parse(&uri)?, chat);
//! assert_eq!(Reference::parse(&chat.to_toml()?)?, chat);
//! assert_eq!(Reference::parse(&chat.to_json()?)?, chat);
//! # Ok::<(), argent_objects::reference::ReferenceError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Deepest nesting of parts: a part of a part of … at most this many levels below the root.
pub const MAX_DEPTH: usize = 8;
/// Most entries in one map (driver settings, parameters, parts of one reference).
pub const MAX_ENTRIES: usize = 64;
/// Longest class, driver name, key or part name, in bytes.
pub const MAX_WORD_BYTES: usize = 128;
/// Longest value, name or description, in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Largest text the parsers accept, in bytes.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

const _: () = assert!(MAX_WORD_BYTES <= MAX_TEXT_BYTES);
const _: () = assert!(MAX_TEXT_BYTES < MAX_INPUT_BYTES);
const _: () = assert!(MAX_DEPTH >= 1 && MAX_ENTRIES >= 1);

/// Longest piece of offending input quoted in an error message, in characters.
const MAX_SHOWN_CHARS: usize = 64;

/// Keys of a reference document.
const DOCUMENT_KEYS: &str = "id, version, class, driver, parameters, parts, description, name";
/// Keys of a document's driver table.
const DRIVER_KEYS: &str = "name, settings";
/// Keys of a reference URI's query.
const URI_KEYS: &str = "v, class, driver, driver.*, param.*, name, description";

/// Characters of a class or driver name.
const CLASS_CHARS: &str = "a-z, 0-9, '-', '.'";
/// Characters of a driver setting or parameter key.
const KEY_CHARS: &str = "a-z, 0-9, '_', '-', '.'";
/// Characters of a part name.
const PART_CHARS: &str = "a-z, 0-9, '_', '-'";

/// The Internet-wide unique identity of an object: 128 bits, written as 32 lowercase
/// hexadecimal digits. Callers create ids from any 128-bit value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u128);

impl ObjectId {
    /// Parses exactly 32 hexadecimal digits (either case; written back in lowercase).
    pub fn from_hex(text: &str) -> Result<Self, ReferenceError> {
        let invalid = || ReferenceError::new("id", Problem::NotObjectId { value: shown(text) });
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        u128::from_str_radix(text, 16).map(ObjectId).map_err(|_| invalid())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl FromStr for ObjectId {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

/// Hexadecimal text in human-readable formats, a `u128` in binary ones.
impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u128(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            ObjectId::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            u128::deserialize(deserializer).map(ObjectId)
        }
    }
}

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

    /// Parses a reference in any form: an `argent://` URI, a JSON document (starts with
    /// `{`), or otherwise a TOML document.
    /// A leading byte-order mark is ignored.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let start = text.trim_start();
        if looks_like_uri(start) {
            Self::from_uri(text)
        } else if start.starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ReferenceError> {
        check_input_size("toml", text)?;
        let value: Value = toml::from_str(text).map_err(|e| toml_syntax_error(text, &e))?;
        Self::from_value(&value)
    }

    /// Parses and validates a JSON document.
    pub fn from_json(text: &str) -> Result<Self, ReferenceError> {
        check_input_size("json", text)?;
        let value: Value = serde_json::from_str(text).map_err(|e| json_syntax_error(&e))?;
        Self::from_value(&value)
    }

    /// Parses and validates an `argent://` URI (see the module documentation).
    pub fn from_uri(text: &str) -> Result<Self, ReferenceError> {
        check_input_size("uri", text)?;
        let reference = uri::parse(text.trim())?;
        reference.validate()?;
        Ok(reference)
    }

    /// Writes the TOML document form.
    pub fn to_toml(&self) -> Result<String, ReferenceError> {
        self.validate()?;
        toml::to_string(self).map_err(|e| ReferenceError::new("toml", Problem::Write(e.to_string())))
    }

    /// Writes the JSON document form (pretty-printed).
    pub fn to_json(&self) -> Result<String, ReferenceError> {
        self.validate()?;
        serde_json::to_string_pretty(self)
            .map_err(|e| ReferenceError::new("json", Problem::Write(e.to_string())))
    }

    /// Writes the URI form; a reference with parts has none (use a document instead).
    pub fn to_uri(&self) -> Result<String, ReferenceError> {
        self.validate()?;
        uri::write(self)
    }

    /// Checks every field, recursively through the parts, and names the first one at fault.
    pub fn validate(&self) -> Result<(), ReferenceError> {
        self.validate_at("", 0)
    }

    fn validate_at(&self, path: &str, depth: usize) -> Result<(), ReferenceError> {
        if self.version == 0 {
            return Err(ReferenceError::new(join(path, "version"), Problem::VersionZero));
        }
        check_word(&self.class, &join(path, "class"), CLASS_CHARS, is_class_char)?;
        check_word(&self.driver.name, &join(path, "driver.name"), CLASS_CHARS, is_class_char)?;
        check_map(&self.driver.settings, &join(path, "driver.settings"))?;
        check_map(&self.parameters, &join(path, "parameters"))?;
        if let Some(name) = &self.name {
            check_text(name, &join(path, "name"), false)?;
        }
        if let Some(description) = &self.description {
            check_text(description, &join(path, "description"), false)?;
        }
        let parts_field = join(path, "parts");
        check_count(self.parts.len(), &parts_field)?;
        for (name, part) in &self.parts {
            check_key(name, &parts_field, PART_CHARS, is_part_char)?;
            let field = format!("{parts_field}.{name}");
            if depth >= MAX_DEPTH {
                return Err(ReferenceError::new(field, Problem::TooDeep { max: MAX_DEPTH }));
            }
            part.validate_at(&field, depth + 1)?;
        }
        Ok(())
    }

    /// Reads a parsed document (before validation of the values) and validates it.
    fn from_value(value: &Value) -> Result<Self, ReferenceError> {
        let reference = document::read(value, "", 0)?;
        reference.validate()?;
        Ok(reference)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    /// Same as [`Reference::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Reference::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// A reference that could not be read, written or validated: the field at fault (a dotted
/// path such as `parts.chat.version`, or `toml`/`json`/`uri` for the text as a whole) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ReferenceError {
    field: String,
    problem: Problem,
}

impl ReferenceError {
    fn new(field: impl Into<String>, problem: Problem) -> Self {
        ReferenceError { field: field.into(), problem }
    }

    /// The field at fault, as a dotted path (`parts.chat.version`), or the form of the
    /// text as a whole (`toml`, `json`, `uri`, or `reference` for the document's top level).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with the field.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// What is wrong with a field of a reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is absent.
    #[error("missing")]
    Missing,
    /// The id is not 32 hexadecimal digits.
    #[error("{value:?} is not 32 hexadecimal digits")]
    NotObjectId {
        /// The offending text (shortened).
        value: String,
    },
    /// The version is not a whole number that fits 32 bits.
    #[error("{value} is not a whole number from 1 to 4294967295")]
    NotVersion {
        /// The offending text (shortened).
        value: String,
    },
    /// The version is 0.
    #[error("must be at least 1")]
    VersionZero,
    /// A field that must have content is empty.
    #[error("must not be empty")]
    Empty,
    /// A class or driver name has characters outside its set.
    #[error("{value:?} must be one or more of {allowed}")]
    BadChars {
        /// The offending text (shortened).
        value: String,
        /// The characters allowed.
        allowed: &'static str,
    },
    /// A map key or part name has characters outside its set.
    #[error("key {key:?} must be one or more of {allowed}")]
    BadKey {
        /// The offending key (shortened).
        key: String,
        /// The characters allowed.
        allowed: &'static str,
    },
    /// A text is longer than its limit.
    #[error("is {len} bytes long, more than the limit of {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A map has more entries than [`MAX_ENTRIES`].
    #[error("has more than {max} entries")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// Parts are nested deeper than [`MAX_DEPTH`].
    #[error("parts are nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("the text is {len} bytes long, more than the limit of {max}")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A document value has the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the field must be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A document table or URI query has a key that is not part of the format.
    #[error("unknown key {key:?} (expected {expected})")]
    UnknownKey {
        /// The offending key (shortened).
        key: String,
        /// The keys allowed there.
        expected: &'static str,
    },
    /// A URI query repeats a key.
    #[error("duplicate key {key:?}")]
    DuplicateKey {
        /// The repeated key (shortened).
        key: String,
    },
    /// A URI query has an empty parameter (`&&`, or a leading or trailing `&`).
    #[error("empty query parameter (two '&' in a row, or a '&' at either end)")]
    EmptyParameter,
    /// A URI query parameter has no `=`.
    #[error("parameter {key:?} has no value (write {key}=VALUE)")]
    NoValue {
        /// The parameter (shortened).
        key: String,
    },
    /// A URI does not start with `argent://`.
    #[error("{value:?} does not start with \"argent://\"")]
    NotArgentUri {
        /// The beginning of the text (shortened).
        value: String,
    },
    /// A URI has a `#fragment`.
    #[error("a reference URI has no fragment (a '#' in a value must be written %23)")]
    Fragment,
    /// A `%` in a URI is not followed by two hexadecimal digits.
    #[error("invalid percent-encoding in {value:?} ('%' must be followed by two hexadecimal digits)")]
    BadPercent {
        /// The offending text (shortened).
        value: String,
    },
    /// Percent-decoded URI text is not UTF-8.
    #[error("{value:?} does not decode to UTF-8 text")]
    NotUtf8 {
        /// The offending text (shortened).
        value: String,
    },
    /// The reference has parts, which a URI cannot carry.
    #[error("a reference with parts ({names}) has no URI form; write it as a TOML or JSON document")]
    PartsInUri {
        /// The part names, comma-separated.
        names: String,
    },
    /// A TOML or JSON syntax error, where the parser reported it.
    #[error("{message} at line {line}, column {column}")]
    Syntax {
        /// The parser's message.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A serializer failed (not expected for a valid reference).
    #[error("cannot write: {0}")]
    Write(String),
}

/// Reading the document form from a parsed TOML or JSON tree.
mod document {
    use super::*;

    /// Reads the reference at `path` (empty for the root), `depth` levels below the root.
    pub(super) fn read(value: &Value, path: &str, depth: usize) -> Result<Reference, ReferenceError> {
        let table = as_table(value, &table_label(path))?;
        for key in table.keys() {
            if !DOCUMENT_KEYS.split(", ").any(|k| k == key) {
                let problem = Problem::UnknownKey { key: shown(key), expected: DOCUMENT_KEYS };
                return Err(ReferenceError::new(table_label(path), problem));
            }
        }
        let id_field = join(path, "id");
        let id = ObjectId::from_hex(required_str(table, "id", &id_field)?)
            .map_err(|e| ReferenceError::new(id_field, e.problem))?;
        Ok(Reference {
            id,
            version: read_version(table.get("version"), &join(path, "version"))?,
            class: required_str(table, "class", &join(path, "class"))?.to_owned(),
            name: optional_str(table, "name", &join(path, "name"))?,
            description: optional_str(table, "description", &join(path, "description"))?,
            driver: read_driver(table.get("driver"), &join(path, "driver"))?,
            parameters: read_strings(table.get("parameters"), &join(path, "parameters"))?,
            parts: read_parts(table.get("parts"), path, depth)?,
        })
    }

    fn read_version(value: Option<&Value>, field: &str) -> Result<u32, ReferenceError> {
        let value = value.ok_or_else(|| ReferenceError::new(field, Problem::Missing))?;
        let Value::Number(number) = value else {
            let problem = Problem::WrongType { expected: "an integer", found: kind(value) };
            return Err(ReferenceError::new(field, problem));
        };
        number.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
            let value = shown(&number.to_string());
            ReferenceError::new(field, Problem::NotVersion { value })
        })
    }

    fn read_driver(value: Option<&Value>, field: &str) -> Result<DriverSpec, ReferenceError> {
        let Some(value) = value else {
            return Err(ReferenceError::new(format!("{field}.name"), Problem::Missing));
        };
        let table = as_table(value, field)?;
        if let Some(key) = table.keys().find(|k| !DRIVER_KEYS.split(", ").any(|d| d == *k)) {
            let problem = Problem::UnknownKey { key: shown(key), expected: DRIVER_KEYS };
            return Err(ReferenceError::new(field, problem));
        }
        Ok(DriverSpec {
            name: required_str(table, "name", &format!("{field}.name"))?.to_owned(),
            settings: read_strings(table.get("settings"), &format!("{field}.settings"))?,
        })
    }

    fn read_strings(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, ReferenceError> {
        let mut map = BTreeMap::new();
        let Some(table) = optional_table(value, field)? else {
            return Ok(map);
        };
        check_count(table.len(), field)?;
        for (key, value) in table {
            let Value::String(text) = value else {
                let problem = Problem::WrongType { expected: "a string", found: kind(value) };
                return Err(ReferenceError::new(format!("{field}.{key}"), problem));
            };
            map.insert(key.clone(), text.clone());
        }
        Ok(map)
    }

    fn read_parts(
        value: Option<&Value>,
        path: &str,
        depth: usize,
    ) -> Result<BTreeMap<String, Reference>, ReferenceError> {
        let field = join(path, "parts");
        let mut parts = BTreeMap::new();
        let Some(table) = optional_table(value, &field)? else {
            return Ok(parts);
        };
        check_count(table.len(), &field)?;
        for (name, value) in table {
            let part_path = format!("{field}.{name}");
            if depth >= MAX_DEPTH {
                let problem = Problem::TooDeep { max: MAX_DEPTH };
                return Err(ReferenceError::new(part_path, problem));
            }
            parts.insert(name.clone(), read(value, &part_path, depth + 1)?);
        }
        Ok(parts)
    }

    fn as_table<'v>(value: &'v Value, field: &str) -> Result<&'v Map<String, Value>, ReferenceError> {
        match value {
            Value::Object(table) => Ok(table),
            other => {
                let problem = Problem::WrongType { expected: "a table", found: kind(other) };
                Err(ReferenceError::new(field, problem))
            }
        }
    }

    /// An optional table; `null` (JSON) counts as absent.
    fn optional_table<'v>(
        value: Option<&'v Value>,
        field: &str,
    ) -> Result<Option<&'v Map<String, Value>>, ReferenceError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => as_table(value, field).map(Some),
        }
    }

    fn required_str<'v>(
        table: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<&'v str, ReferenceError> {
        match table.get(key) {
            None => Err(ReferenceError::new(field, Problem::Missing)),
            Some(Value::String(text)) => Ok(text),
            Some(other) => {
                let problem = Problem::WrongType { expected: "a string", found: kind(other) };
                Err(ReferenceError::new(field, problem))
            }
        }
    }

    /// An optional string; `null` (JSON) counts as absent.
    fn optional_str(
        table: &Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, ReferenceError> {
        match table.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => required_str(table, key, field).map(|s| Some(s.to_owned())),
        }
    }

    fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "a table",
        }
    }

    /// The field naming a whole table: its path, or `reference` for the root.
    fn table_label(path: &str) -> String {
        if path.is_empty() {
            "reference".to_owned()
        } else {
            path.to_owned()
        }
    }
}

/// The `argent://` URI form and its percent-encoding.
mod uri {
    use super::*;

    const SCHEME: &str = "argent://";

    /// Parses a URI (already trimmed) into an unvalidated reference.
    pub(super) fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let rest = strip_scheme(text)
            .ok_or_else(|| ReferenceError::new("uri", Problem::NotArgentUri { value: shown(text) }))?;
        if rest.contains('#') {
            return Err(ReferenceError::new("uri", Problem::Fragment));
        }
        let (id_text, query) = match rest.split_once('?') {
            Some((id, query)) => (id, Some(query)),
            None => (rest, None),
        };
        let id = ObjectId::from_hex(id_text)?;
        let mut fields = Fields::default();
        if let Some(query) = query {
            for pair in query.split('&') {
                fields.add(pair)?;
            }
        }
        fields.finish(id)
    }

    /// The text after a case-insensitive `argent://`.
    fn strip_scheme(text: &str) -> Option<&str> {
        let head = text.get(..SCHEME.len())?;
        head.eq_ignore_ascii_case(SCHEME).then(|| text.get(SCHEME.len()..)).flatten()
    }

    /// The query's fields as they are read.
    #[derive(Default)]
    struct Fields {
        version: Option<u32>,
        class: Option<String>,
        driver: Option<String>,
        settings: BTreeMap<String, String>,
        parameters: BTreeMap<String, String>,
        name: Option<String>,
        description: Option<String>,
    }

    impl Fields {
        fn add(&mut self, pair: &str) -> Result<(), ReferenceError> {
            if pair.is_empty() {
                return Err(ReferenceError::new("uri", Problem::EmptyParameter));
            }
            let Some((raw_key, raw_value)) = pair.split_once('=') else {
                let key = shown(&decode(pair)?);
                return Err(ReferenceError::new("uri", Problem::NoValue { key }));
            };
            let key = decode(raw_key)?;
            let value = decode(raw_value)?;
            let duplicate = match key.as_str() {
                "v" => self.version.replace(read_version(&value)?).is_some(),
                "class" => self.class.replace(value).is_some(),
                "driver" => self.driver.replace(value).is_some(),
                "name" => self.name.replace(value).is_some(),
                "description" => self.description.replace(value).is_some(),
                _ => {
                    if let Some(setting) = key.strip_prefix("driver.") {
                        insert(&mut self.settings, setting, value, "driver.settings")?
                    } else if let Some(parameter) = key.strip_prefix("param.") {
                        insert(&mut self.parameters, parameter, value, "parameters")?
                    } else {
                        let problem = Problem::UnknownKey { key: shown(&key), expected: URI_KEYS };
                        return Err(ReferenceError::new("uri", problem));
                    }
                }
            };
            if duplicate {
                let problem = Problem::DuplicateKey { key: shown(&key) };
                return Err(ReferenceError::new("uri", problem));
            }
            Ok(())
        }

        fn finish(self, id: ObjectId) -> Result<Reference, ReferenceError> {
            let missing = |field: &str| ReferenceError::new(field, Problem::Missing);
            Ok(Reference {
                id,
                version: self.version.ok_or_else(|| missing("version"))?,
                class: self.class.ok_or_else(|| missing("class"))?,
                name: self.name,
                description: self.description,
                driver: DriverSpec {
                    name: self.driver.ok_or_else(|| missing("driver.name"))?,
                    settings: self.settings,
                },
                parameters: self.parameters,
                parts: BTreeMap::new(),
            })
        }
    }

    /// Inserts a setting or parameter; true when the key was already there.
    fn insert(
        map: &mut BTreeMap<String, String>,
        key: &str,
        value: String,
        field: &str,
    ) -> Result<bool, ReferenceError> {
        if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
            let problem = Problem::TooMany { max: MAX_ENTRIES };
            return Err(ReferenceError::new(field, problem));
        }
        Ok(map.insert(key.to_owned(), value).is_some())
    }

    /// A version: decimal digits only (no sign), fitting 32 bits.
    fn read_version(text: &str) -> Result<u32, ReferenceError> {
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| text.parse::<u32>().ok()).flatten().ok_or_else(|| {
            let value = format!("{:?}", shown(text));
            ReferenceError::new("version", Problem::NotVersion { value })
        })
    }

    /// Writes a validated reference; fails when it has parts.
    pub(super) fn write(reference: &Reference) -> Result<String, ReferenceError> {
        if !reference.parts.is_empty() {
            let names = reference.parts.keys().map(String::as_str).collect::<Vec<_>>();
            let problem = Problem::PartsInUri { names: names.join(", ") };
            return Err(ReferenceError::new("uri", problem));
        }
        let mut out = format!("{SCHEME}{}?v={}", reference.id, reference.version);
        push_pair(&mut out, "class", &reference.class);
        push_pair(&mut out, "driver", &reference.driver.name);
        for (key, value) in &reference.driver.settings {
            push_pair(&mut out, &format!("driver.{key}"), value);
        }
        for (key, value) in &reference.parameters {
            push_pair(&mut out, &format!("param.{key}"), value);
        }
        if let Some(name) = &reference.name {
            push_pair(&mut out, "name", name);
        }
        if let Some(description) = &reference.description {
            push_pair(&mut out, "description", description);
        }
        Ok(out)
    }

    fn push_pair(out: &mut String, key: &str, value: &str) {
        out.push('&');
        encode_into(out, key);
        out.push('=');
        encode_into(out, value);
    }

    /// Percent-encodes every byte but RFC 3986 unreserved characters
    /// (`A-Z a-z 0-9 - . _ ~`).
    pub(super) fn encode_into(out: &mut String, text: &str) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }

    /// Decodes `%XX` escapes (either case); other characters stand for themselves.
    pub(super) fn decode(text: &str) -> Result<String, ReferenceError> {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&byte) = bytes.get(i) {
            if byte != b'%' {
                out.push(byte);
                i += 1;
                continue;
            }
            let escaped = match bytes.get(i + 1..i + 3) {
                Some(&[high, low]) => hex_value(high).zip(hex_value(low)),
                _ => None,
            };
            let Some((high, low)) = escaped else {
                let problem = Problem::BadPercent { value: shown(text) };
                return Err(ReferenceError::new("uri", problem));
            };
            out.push(high << 4 | low);
            i += 3;
        }
        String::from_utf8(out).map_err(|_| {
            let problem = Problem::NotUtf8 { value: shown(text) };
            ReferenceError::new("uri", problem)
        })
    }

    fn hex_value(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
}

/// Whether text (with leading whitespace removed) is meant as a URI: it starts with
/// `argent:`, or its first line starts with `scheme://`.
fn looks_like_uri(text: &str) -> bool {
    let argent = text.get(.."argent:".len()).is_some_and(|head| head.eq_ignore_ascii_case("argent:"));
    let first_line = text.lines().next().unwrap_or_default();
    let scheme = first_line.find("://").map(|end| &first_line[..end]);
    let is_scheme = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    argent || scheme.is_some_and(is_scheme)
}

fn check_input_size(form: &str, text: &str) -> Result<(), ReferenceError> {
    if text.len() > MAX_INPUT_BYTES {
        let problem = Problem::TooLarge { len: text.len(), max: MAX_INPUT_BYTES };
        return Err(ReferenceError::new(form, problem));
    }
    Ok(())
}

fn toml_syntax_error(text: &str, error: &toml::de::Error) -> ReferenceError {
    let (line, column) = error
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        })
        .unwrap_or((1, 1));
    let problem = Problem::Syntax { message: one_line(error.message()), line, column };
    ReferenceError::new("toml", problem)
}

/// A multi-line parser message on one line: `first; second`.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.join("; ")
}

fn json_syntax_error(error: &serde_json::Error) -> ReferenceError {
    // serde_json's Display is "{message} at line {l} column {c}"; keep the message.
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    let problem = Problem::Syntax { message, line: error.line(), column: error.column() };
    ReferenceError::new("json", problem)
}

/// `prefix.name`, or `name` at the root.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Offending input as quoted in messages: at most [`MAX_SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn is_class_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')
}

fn is_part_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')
}

/// A class or driver name: non-empty, short, from `allowed`.
fn check_word(
    word: &str,
    field: &str,
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), ReferenceError> {
    if word.is_empty() {
        return Err(ReferenceError::new(field, Problem::Empty));
    }
    check_len(word, field, MAX_WORD_BYTES)?;
    if !word.chars().all(ok) {
        let problem = Problem::BadChars { value: shown(word), allowed };
        return Err(ReferenceError::new(field, problem));
    }
    Ok(())
}

/// A map key or part name (the error names the map): non-empty, short, from `allowed`.
fn check_key(
    key: &str,
    field: &str,
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), ReferenceError> {
    if key.is_empty() || key.len() > MAX_WORD_BYTES || !key.chars().all(ok) {
        let problem = Problem::BadKey { key: shown(key), allowed };
        return Err(ReferenceError::new(field, problem));
    }
    Ok(())
}

/// Settings or parameters: a bounded number of valid keys with bounded values.
fn check_map(map: &BTreeMap<String, String>, field: &str) -> Result<(), ReferenceError> {
    check_count(map.len(), field)?;
    for (key, value) in map {
        check_key(key, field, KEY_CHARS, is_key_char)?;
        check_text(value, &format!("{field}.{key}"), true)?;
    }
    Ok(())
}

/// A free text of bounded length; empty only where `may_be_empty`.
fn check_text(text: &str, field: &str, may_be_empty: bool) -> Result<(), ReferenceError> {
    if text.is_empty() && !may_be_empty {
        return Err(ReferenceError::new(field, Problem::Empty));
    }
    check_len(text, field, MAX_TEXT_BYTES)
}

fn check_len(text: &str, field: &str, max: usize) -> Result<(), ReferenceError> {
    if text.len() > max {
        let problem = Problem::TooLong { len: text.len(), max };
        return Err(ReferenceError::new(field, problem));
    }
    Ok(())
}

fn check_count(count: usize, field: &str) -> Result<(), ReferenceError> {
    if count > MAX_ENTRIES {
        let problem = Problem::TooMany { max: MAX_ENTRIES };
        return Err(ReferenceError::new(field, problem));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: ObjectId = ObjectId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    const ID_HEX: &str = "0123456789abcdef0123456789abcdef";

    fn chat() -> Reference {
        Reference::new(ObjectId(7), "chat", "qsm").with_setting("group", "g1").with_name("Lobby chat")
    }

    fn room() -> Reference {
        let positions = Reference::new(ObjectId(9), "replicated-map", "qsm")
            .with_parameter("key_type", "string")
            .with_parameter("value_type", "position");
        Reference::new(ID, "composite", "qsm")
            .with_version(3)
            .with_name("Lobby")
            .with_description("argent-dir://127.0.0.1:7500/rooms/lobby")
            .with_part("chat", chat())
            .with_part("positions", positions)
    }

    /// The message of parsing `text` in any form, which must fail.
    fn error(text: &str) -> String {
        match Reference::parse(text) {
            Ok(r) => panic!("{text:?} parsed as {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn uri_error(query: &str) -> String {
        error(&format!("argent://{ID_HEX}?{query}"))
    }

    // --- object ids ---

    #[test]
    fn object_ids_are_32_lowercase_hex_digits() {
        assert_eq!(ID.to_string(), ID_HEX);
        assert_eq!(ObjectId(1).to_string(), format!("{:0>32}", 1));
        assert_eq!(ObjectId::from_hex(ID_HEX), Ok(ID));
        assert_eq!(ObjectId::from_hex(&ID_HEX.to_uppercase()), Ok(ID));
        assert_eq!(ObjectId(u128::MAX).to_string().parse::<ObjectId>(), Ok(ObjectId(u128::MAX)));
        assert_eq!(format!("{ID:?}"), format!("ObjectId({ID_HEX})"));
    }

    #[test]
    fn malformed_object_ids_are_rejected() {
        let plus = format!("+{}", &ID_HEX[1..]);
        for bad in ["12x", "", &ID_HEX[1..], &format!("{ID_HEX}0"), &plus, "g".repeat(32).as_str()] {
            let e = ObjectId::from_hex(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("id: {bad:?} is not 32 hexadecimal digits"));
            assert_eq!(e.field(), "id");
        }
    }

    #[test]
    fn object_ids_are_text_in_documents_and_u128_in_binary() {
        assert_eq!(serde_json::to_string(&ID).unwrap(), format!("\"{ID_HEX}\""));
        let bytes = postcard::to_allocvec(&ID).unwrap();
        assert!(bytes.len() <= 19, "{} bytes", bytes.len());
        assert_eq!(postcard::from_bytes::<ObjectId>(&bytes).unwrap(), ID);
        let bad = serde_json::from_str::<ObjectId>("\"12x\"").unwrap_err();
        assert!(bad.to_string().contains("is not 32 hexadecimal digits"), "{bad}");
    }

    // --- round trips ---

    #[test]
    fn documents_round_trip_exactly() {
        for reference in [chat(), room(), Reference::new(ObjectId(0), "event-stream", "qsm")] {
            let toml = reference.to_toml().unwrap();
            assert_eq!(Reference::from_toml(&toml).unwrap(), reference, "{toml}");
            assert_eq!(Reference::parse(&toml).unwrap(), reference, "{toml}");
            let json = reference.to_json().unwrap();
            assert_eq!(Reference::from_json(&json).unwrap(), reference, "{json}");
            assert_eq!(json.parse::<Reference>().unwrap(), reference, "{json}");
        }
    }

    #[test]
    fn the_toml_form_reads_naturally() {
        let toml = room().to_toml().unwrap();
        let expected = format!(
            r#"id = "{ID_HEX}"
version = 3
class = "composite"
name = "Lobby"
description = "argent-dir://127.0.0.1:7500/rooms/lobby"

[driver]
name = "qsm"

[parts.chat]
id = "00000000000000000000000000000007"
version = 1
class = "chat"
name = "Lobby chat"

[parts.chat.driver]
name = "qsm"

[parts.chat.driver.settings]
group = "g1"

[parts.positions]
id = "00000000000000000000000000000009"
version = 1
class = "replicated-map"

[parts.positions.driver]
name = "qsm"

[parts.positions.parameters]
key_type = "string"
value_type = "position"
"#
        );
        assert_eq!(toml, expected);
    }

    #[test]
    fn hand_written_documents_parse() {
        let toml = format!(
            "# the lobby\n\nid = \"{ID_HEX}\"\nversion = 3\nclass = \"composite\"\n\
             name = \"Lobby\"\ndescription = \"argent-dir://127.0.0.1:7500/rooms/lobby\"\n\
             driver = {{ name = \"qsm\" }}\n\
             parts.chat = {{ id = \"00000000000000000000000000000007\", version = 1, \
             class = \"chat\", name = \"Lobby chat\", \
             driver = {{ name = \"qsm\", settings = {{ group = \"g1\" }} }} }}\n\
             [parts.positions]\nid = \"00000000000000000000000000000009\"\nversion = 1\n\
             class = \"replicated-map\"\ndriver.name = \"qsm\"\n\
             parameters = {{ key_type = \"string\", value_type = \"position\" }}\n"
        );
        assert_eq!(Reference::parse(&toml).unwrap(), room());
        let json = format!(
            r#"  {{"id": "{ID_HEX}", "version": 1, "class": "chat", "name": null,
                 "driver": {{"name": "qsm", "settings": null}}, "parts": {{}}}}"#
        );
        assert_eq!(Reference::parse(&json).unwrap(), Reference::new(ID, "chat", "qsm"));
        let toml = room().to_toml().unwrap();
        assert_eq!(Reference::parse(&format!("\u{feff}{toml}")).unwrap(), room());
        assert_eq!(Reference::parse(&format!("\u{feff}{json}")).unwrap(), Reference::new(ID, "chat", "qsm"));
    }

    #[test]
    fn references_embed_in_other_documents_through_serde() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Bookmark {
            title: String,
            target: Reference,
        }
        let bookmark = Bookmark { title: "lobby".into(), target: room() };
        let text = toml::to_string(&bookmark).unwrap();
        assert_eq!(toml::from_str::<Bookmark>(&text).unwrap(), bookmark);
        let bad = text.replace("version = 3", "version = 0");
        let e = toml::from_str::<Bookmark>(&bad).unwrap_err();
        assert!(e.message().contains("version: must be at least 1"), "{e}");
    }

    #[test]
    fn the_uri_form_round_trips_exactly() {
        let uri = chat().to_uri().unwrap();
        assert_eq!(
            uri,
            "argent://00000000000000000000000000000007?v=1&class=chat&driver=qsm\
             &driver.group=g1&name=Lobby%20chat"
        );
        assert_eq!(Reference::from_uri(&uri).unwrap(), chat());
        assert_eq!(Reference::parse(&format!("\n  {uri}\n")).unwrap(), chat());

        let full = Reference::new(ID, "replicated-var", "qsm")
            .with_version(u32::MAX)
            .with_setting("group", "g 1&x=y")
            .with_setting("a.b", "")
            .with_parameter("value_type", "i64")
            .with_parameter("initial", "100% + ½ #€ ~-._")
            .with_name("Balance?")
            .with_description("argent-dir://127.0.0.1:7500/bank/balance");
        let uri = full.to_uri().unwrap();
        assert_eq!(
            uri,
            format!(
                "argent://{ID_HEX}?v=4294967295&class=replicated-var&driver=qsm\
                 &driver.a.b=&driver.group=g%201%26x%3Dy\
                 &param.initial=100%25%20%2B%20%C2%BD%20%23%E2%82%AC%20~-._\
                 &param.value_type=i64&name=Balance%3F\
                 &description=argent-dir%3A%2F%2F127.0.0.1%3A7500%2Fbank%2Fbalance"
            )
        );
        assert_eq!(Reference::parse(&uri).unwrap(), full);
    }

    #[test]
    fn uri_readers_are_lenient_where_it_is_unambiguous() {
        // Keys in any order, lowercase escapes, raw non-ASCII, '+' and '=' inside values.
        let uri =
            format!("ARGENT://{}?name=caf%c3%a9 ü+1=2&driver=qsm&class=chat&v=2", ID_HEX.to_uppercase());
        let expected = Reference::new(ID, "chat", "qsm").with_version(2).with_name("café ü+1=2");
        assert_eq!(Reference::parse(&uri).unwrap(), expected);
    }

    #[test]
    fn percent_encoding_passes_only_unreserved_characters() {
        let mut out = String::new();
        uri::encode_into(&mut out, "AZaz09-._~ /?#[]@!$&'()*+,;=%\u{0}é");
        assert_eq!(out, "AZaz09-._~%20%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%00%C3%A9");
        assert_eq!(uri::decode(&out).unwrap(), "AZaz09-._~ /?#[]@!$&'()*+,;=%\u{0}é");
        assert_eq!(uri::decode("%4a%4A+").unwrap(), "JJ+");
    }

    #[test]
    fn parts_have_no_uri_form() {
        let e = room().to_uri().unwrap_err();
        assert_eq!(
            e.to_string(),
            "uri: a reference with parts (chat, positions) has no URI form; \
             write it as a TOML or JSON document"
        );
    }

    // --- errors: documents ---

    fn toml_with(replace: &str, with: &str) -> String {
        let toml = room().to_toml().unwrap();
        assert!(toml.contains(replace), "{replace:?} not in {toml}");
        toml.replacen(replace, with, 1)
    }

    #[test]
    fn document_value_errors_name_the_field() {
        let cases = [
            (
                format!("id = \"{ID_HEX}\""),
                "id = \"12x\"".to_owned(),
                r#"id: "12x" is not 32 hexadecimal digits"#,
            ),
            ("version = 3".into(), "version = 0".into(), "version: must be at least 1"),
            (
                "version = 3".into(),
                "version = -1".into(),
                "version: -1 is not a whole number from 1 to 4294967295",
            ),
            (
                "version = 3".into(),
                "version = 4294967296".into(),
                "version: 4294967296 is not a whole number from 1 to 4294967295",
            ),
            (
                "version = 3".into(),
                "version = 1.0".into(),
                "version: 1.0 is not a whole number from 1 to 4294967295",
            ),
            ("version = 3".into(), "version = \"3\"".into(), "version: expected an integer, found a string"),
            ("class = \"composite\"".into(), "class = \"\"".into(), "class: must not be empty"),
            (
                "class = \"composite\"".into(),
                "class = \"Chat room\"".into(),
                r#"class: "Chat room" must be one or more of a-z, 0-9, '-', '.'"#,
            ),
            ("class = \"composite\"".into(), "class = 5".into(), "class: expected a string, found a number"),
            ("name = \"Lobby\"".into(), "name = \"\"".into(), "name: must not be empty"),
            ("name = \"Lobby\"".into(), "name = true".into(), "name: expected a string, found a boolean"),
            (
                "description = \"argent-dir://127.0.0.1:7500/rooms/lobby\"".into(),
                "description = \"\"".into(),
                "description: must not be empty",
            ),
            (
                "description = \"argent-dir://127.0.0.1:7500/rooms/lobby\"".into(),
                "description = [\"x\"]".into(),
                "description: expected a string, found an array",
            ),
            (
                "name = \"qsm\"".into(),
                "name = \"QSM\"".into(),
                r#"driver.name: "QSM" must be one or more of a-z, 0-9, '-', '.'"#,
            ),
            (
                "[driver]\nname = \"qsm\"".into(),
                "[driver]\nnam = \"qsm\"".into(),
                r#"driver: unknown key "nam" (expected name, settings)"#,
            ),
            ("[driver]\nname = \"qsm\"".into(), "[driver]".into(), "driver.name: missing"),
            ("version = 3\n".into(), "".into(), "version: missing"),
            (
                "class = \"composite\"\n".into(),
                "clas = \"composite\"\n".into(),
                r#"reference: unknown key "clas" (expected id, version, class, driver, parameters, parts, description, name)"#,
            ),
            (
                "[parts.chat]\nid".into(),
                "[parts.chat]\nversion = 0\nid".into(),
                "toml: duplicate key `version` in table `parts.chat` at line 13, column 1",
            ),
            (
                "[parts.chat]\nid = \"00000000000000000000000000000007\"\nversion = 1".into(),
                "[parts.chat]\nid = \"00000000000000000000000000000007\"\nversion = 0".into(),
                "parts.chat.version: must be at least 1",
            ),
            (
                "[parts.chat]\nid = \"00000000000000000000000000000007\"".into(),
                "[parts.chat]\nid = \"7\"".into(),
                r#"parts.chat.id: "7" is not 32 hexadecimal digits"#,
            ),
            (
                "class = \"chat\"".into(),
                "clas = \"chat\"".into(),
                r#"parts.chat: unknown key "clas" (expected id, version, class, driver, parameters, parts, description, name)"#,
            ),
            ("[parts.chat.driver]\nname = \"qsm\"\n".into(), "".into(), "parts.chat.driver.name: missing"),
            (
                "group = \"g1\"".into(),
                "Group = \"g1\"".into(),
                r#"parts.chat.driver.settings: key "Group" must be one or more of a-z, 0-9, '_', '-', '.'"#,
            ),
            (
                "group = \"g1\"".into(),
                "group = 1".into(),
                "parts.chat.driver.settings.group: expected a string, found a number",
            ),
            (
                "value_type = \"position\"".into(),
                "value_type = { a = 1 }".into(),
                "parts.positions.parameters.value_type: expected a string, found a table",
            ),
            (
                "[parts.positions.parameters]\n".into(),
                "[parts.positions.parameters.\"bad key\"]\n".into(),
                "parts.positions.parameters.bad key: expected a string, found a table",
            ),
        ];
        for (replace, with, expected) in cases {
            let text = toml_with(&replace, &with);
            assert_eq!(error(&text), expected, "{text}");
        }
        let renamed = room().to_toml().unwrap().replace("parts.chat", "parts.Chat");
        assert_eq!(error(&renamed), r#"parts: key "Chat" must be one or more of a-z, 0-9, '_', '-'"#);
    }

    #[test]
    fn document_structure_errors_name_the_field() {
        let base = format!("id = \"{ID_HEX}\"\nversion = 1\nclass = \"chat\"\n");
        let cases = [
            (format!("{base}driver = \"qsm\""), "driver: expected a table, found a string"),
            (
                format!("{base}driver.name = \"qsm\"\nparameters = 1"),
                "parameters: expected a table, found a number",
            ),
            (format!("{base}driver.name = \"qsm\"\nparts = []"), "parts: expected a table, found an array"),
            (
                format!("{base}driver.name = \"qsm\"\nparts.chat = \"x\""),
                "parts.chat: expected a table, found a string",
            ),
            (
                format!("{base}driver.name = \"qsm\"\ndriver.settings = \"x\""),
                "driver.settings: expected a table, found a string",
            ),
            (format!("{base}driver.name = \"\""), "driver.name: must not be empty"),
            ("version = 1\nclass = \"chat\"\ndriver.name = \"qsm\"".to_owned(), "id: missing"),
            (format!("id = \"{ID_HEX}\"\nversion = 1\ndriver.name = \"qsm\""), "class: missing"),
            (
                format!("{base}driver.name = \"qsm\"\nwhen = 1979-05-27"),
                r#"reference: unknown key "when" (expected id, version, class, driver, parameters, parts, description, name)"#,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(&text), expected, "{text}");
        }
        assert_eq!(error("[1, 2]"), "toml: invalid table header; expected `.`, `]` at line 1, column 3");
        assert_eq!(
            Reference::from_json("[1, 2]").unwrap_err().to_string(),
            "reference: expected a table, found an array"
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        assert_eq!(
            error("id = \"x\"\nversion = = 1\n"),
            "toml: invalid string; expected `\"`, `'` at line 2, column 11"
        );
        assert_eq!(error("id = \"x"), "toml: invalid basic string at line 1, column 8");
        assert_eq!(
            error("{\n  \"id\": \"x\",\n  \"version\" 1\n}"),
            "json: expected `:` at line 3, column 13"
        );
        assert_eq!(error("{\"id\": "), "json: EOF while parsing a value at line 1, column 7");
        let deep = format!("{}{}", "{\"a\":".repeat(200), "}".repeat(200));
        assert!(error(&deep).starts_with("json: recursion limit exceeded"), "{}", error(&deep));
        let deep = format!("a = {}{}", "[".repeat(200), "]".repeat(200));
        assert!(error(&deep).starts_with("toml: "), "{}", error(&deep));
    }

    #[test]
    fn limits_are_enforced() {
        let mut deep = Reference::new(ObjectId(0), "chat", "qsm");
        for level in 0..=MAX_DEPTH {
            deep = Reference::new(ObjectId(level as u128 + 1), "composite", "qsm").with_part("p", deep);
        }
        let path = ["parts.p"; MAX_DEPTH + 1].join(".");
        let expected = format!("{path}: parts are nested deeper than 8 levels");
        assert_eq!(deep.validate().unwrap_err().to_string(), expected);
        // The same document, written by hand, fails the same way when read.
        let json = serde_json::to_string(&deep).unwrap();
        assert_eq!(error(&json), expected);
        let ok = deep.parts["p"].clone();
        assert_eq!(Reference::parse(&ok.to_json().unwrap()).unwrap(), ok);

        let mut many = chat();
        for i in 0..=MAX_ENTRIES {
            many = many.with_parameter(format!("p{i}"), "x");
        }
        assert_eq!(many.validate().unwrap_err().to_string(), "parameters: has more than 64 entries");
        let mut many_parts = room();
        for i in 0..=MAX_ENTRIES {
            many_parts = many_parts.with_part(format!("p{i}"), chat());
        }
        assert_eq!(error(&serde_json::to_string(&many_parts).unwrap()), "parts: has more than 64 entries");
        let query: String = (0..=MAX_ENTRIES).map(|i| format!("&param.p{i}=x")).collect();
        assert_eq!(
            uri_error(&format!("v=1&class=chat&driver=qsm{query}")),
            "parameters: has more than 64 entries"
        );

        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            chat().with_name(&long).to_toml().unwrap_err().to_string(),
            "name: is 4097 bytes long, more than the limit of 4096"
        );
        assert_eq!(
            chat().with_setting("group", &long).to_json().unwrap_err().to_string(),
            "driver.settings.group: is 4097 bytes long, more than the limit of 4096"
        );
        let long_class = "c".repeat(MAX_WORD_BYTES + 1);
        assert_eq!(
            Reference::new(ID, long_class, "qsm").validate().unwrap_err().to_string(),
            "class: is 129 bytes long, more than the limit of 128"
        );

        let huge = format!("# {}", " ".repeat(MAX_INPUT_BYTES));
        assert_eq!(
            error(&huge),
            format!("toml: the text is {} bytes long, more than the limit of 1048576", huge.len())
        );
    }

    #[test]
    fn writers_refuse_invalid_references() {
        let zero = chat().with_version(0);
        for result in [zero.to_toml(), zero.to_json(), zero.to_uri()] {
            assert_eq!(result.unwrap_err().to_string(), "version: must be at least 1");
        }
        let bad_part = room().with_part("bad name", chat());
        assert_eq!(
            bad_part.to_toml().unwrap_err().to_string(),
            r#"parts: key "bad name" must be one or more of a-z, 0-9, '_', '-'"#
        );
        let bad_key = chat().with_parameter("", "x");
        assert_eq!(
            bad_key.validate().unwrap_err().problem(),
            &Problem::BadKey { key: String::new(), allowed: KEY_CHARS }
        );
    }

    // --- errors: URIs ---

    #[test]
    fn uri_errors_name_the_field() {
        let cases = [
            (
                "v=1&clas=chat&driver=qsm",
                r#"uri: unknown key "clas" (expected v, class, driver, driver.*, param.*, name, description)"#,
            ),
            ("v=1&class=chat", "driver.name: missing"),
            ("v=1&driver=qsm", "class: missing"),
            ("class=chat&driver=qsm", "version: missing"),
            ("v=0&class=chat&driver=qsm", "version: must be at least 1"),
            ("v=abc&class=chat&driver=qsm", r#"version: "abc" is not a whole number from 1 to 4294967295"#),
            ("v=%2B1&class=chat&driver=qsm", r#"version: "+1" is not a whole number from 1 to 4294967295"#),
            (
                "v=4294967296&class=chat&driver=qsm",
                r#"version: "4294967296" is not a whole number from 1 to 4294967295"#,
            ),
            ("v=&class=chat&driver=qsm", r#"version: "" is not a whole number from 1 to 4294967295"#),
            ("v=1&class=&driver=qsm", "class: must not be empty"),
            ("v=1&class=chat&driver=", "driver.name: must not be empty"),
            ("v=1&class=chat&driver=qsm&name=", "name: must not be empty"),
            ("v=1&class=chat&driver=qsm&description=", "description: must not be empty"),
            ("v=1&class=Chat&driver=qsm", r#"class: "Chat" must be one or more of a-z, 0-9, '-', '.'"#),
            (
                "v=1&class=chat&driver=qsm&param.Bad=1",
                r#"parameters: key "Bad" must be one or more of a-z, 0-9, '_', '-', '.'"#,
            ),
            (
                "v=1&class=chat&driver=qsm&driver.=1",
                r#"driver.settings: key "" must be one or more of a-z, 0-9, '_', '-', '.'"#,
            ),
            ("v=1&class=chat&class=chat&driver=qsm", r#"uri: duplicate key "class""#),
            ("v=1&class=chat&driver=qsm&param.a=1&param.a=2", r#"uri: duplicate key "param.a""#),
            (
                "v=1&&class=chat&driver=qsm",
                "uri: empty query parameter (two '&' in a row, or a '&' at either end)",
            ),
            (
                "v=1&class=chat&driver=qsm&",
                "uri: empty query parameter (two '&' in a row, or a '&' at either end)",
            ),
            ("v=1&class&driver=qsm", r#"uri: parameter "class" has no value (write class=VALUE)"#),
            (
                "v=1&class=chat&driver=qsm&name=100%",
                r#"uri: invalid percent-encoding in "100%" ('%' must be followed by two hexadecimal digits)"#,
            ),
            (
                "v=1&class=chat&driver=qsm&name=%zz",
                r#"uri: invalid percent-encoding in "%zz" ('%' must be followed by two hexadecimal digits)"#,
            ),
            ("v=1&class=chat&driver=qsm&name=%C3", r#"uri: "%C3" does not decode to UTF-8 text"#),
            (
                "v=1&class=chat&driver=qsm&parts.x=1",
                r#"uri: unknown key "parts.x" (expected v, class, driver, driver.*, param.*, name, description)"#,
            ),
            (
                "v=1&class=chat&driver=qsm#top",
                "uri: a reference URI has no fragment (a '#' in a value must be written %23)",
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(uri_error(query), expected, "{query}");
        }
    }

    #[test]
    fn uri_shape_errors() {
        assert_eq!(error("argent://12x?v=1"), r#"id: "12x" is not 32 hexadecimal digits"#);
        assert_eq!(error(&format!("argent://{ID_HEX}")), "version: missing");
        assert_eq!(
            error(&format!("argent://{ID_HEX}?")),
            "uri: empty query parameter (two '&' in a row, or a '&' at either end)"
        );
        assert_eq!(
            error("argent://dir.local/markets/ACME"),
            r#"id: "dir.local/markets/ACME" is not 32 hexadecimal digits"#
        );
        assert_eq!(
            error("http://example.com/x"),
            r#"uri: "http://example.com/x" does not start with "argent://""#
        );
        assert_eq!(error("argent:x"), r#"uri: "argent:x" does not start with "argent://""#);
        assert_eq!(Reference::from_uri(&room().to_toml().unwrap()).unwrap_err().field(), "uri");
        let long = format!("argent://{}", "z".repeat(100));
        assert_eq!(error(&long), format!("id: \"{}…\" is not 32 hexadecimal digits", "z".repeat(64)));
    }

    // --- never panics ---

    fn text() -> impl Strategy<Value = String> {
        "(?s).{0,12}"
    }

    fn leaf() -> impl Strategy<Value = Reference> {
        let maps = || proptest::collection::btree_map("[a-z0-9_.-]{1,6}", text(), 0..3);
        (
            any::<u128>(),
            1..=u32::MAX,
            "[a-z0-9.-]{1,10}",
            "[a-z0-9.-]{1,6}",
            (maps(), maps()),
            proptest::option::of("(?s).{1,12}"),
            proptest::option::of("(?s).{1,12}"),
        )
            .prop_map(|(id, version, class, driver, (settings, parameters), name, description)| {
                Reference {
                    id: ObjectId(id),
                    version,
                    class,
                    name,
                    description,
                    driver: DriverSpec { name: driver, settings },
                    parameters,
                    parts: BTreeMap::new(),
                }
            })
    }

    fn reference() -> impl Strategy<Value = Reference> {
        leaf().prop_recursive(3, 12, 3, |inner| {
            (leaf(), proptest::collection::btree_map("[a-z0-9_-]{1,6}", inner, 0..3)).prop_map(
                |(mut reference, parts)| {
                    reference.parts = parts;
                    reference
                },
            )
        })
    }

    /// One edit of a text: delete, insert, replace, or cut at a position.
    #[derive(Debug, Clone)]
    enum Edit {
        Delete(usize),
        Insert(usize, String),
        Replace(usize, char),
        Cut(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let token = prop_oneof![
            Just("%".to_owned()),
            Just("%zz".to_owned()),
            Just("%C3".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just("#".to_owned()),
            Just("?".to_owned()),
            Just("\n".to_owned()),
            Just("\"".to_owned()),
            Just("[".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("\\u".to_owned()),
            Just("[parts.x]\n".to_owned()),
            Just("&driver.k=%FF".to_owned()),
            any::<char>().prop_map(String::from),
        ];
        prop_oneof![
            any::<usize>().prop_map(Edit::Delete),
            (any::<usize>(), token).prop_map(|(at, t)| Edit::Insert(at, t)),
            (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
            any::<usize>().prop_map(Edit::Cut),
        ]
    }

    fn apply(text: &str, edits: &[Edit]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for edit in edits {
            let len = chars.len();
            match edit {
                Edit::Delete(at) if len > 0 => {
                    chars.remove(at % len);
                }
                Edit::Insert(at, token) => {
                    let at = at % (len + 1);
                    chars.splice(at..at, token.chars());
                }
                Edit::Replace(at, c) if len > 0 => chars[at % len] = *c,
                Edit::Cut(at) => chars.truncate(at % (len + 1)),
                _ => {}
            }
        }
        chars.into_iter().collect()
    }

    proptest! {
        #[test]
        fn every_form_round_trips(reference in reference()) {
            let toml = reference.to_toml().unwrap();
            prop_assert_eq!(&Reference::parse(&toml).unwrap(), &reference, "{}", toml);
            let json = reference.to_json().unwrap();
            prop_assert_eq!(&Reference::parse(&json).unwrap(), &reference, "{}", json);
            if reference.parts.is_empty() {
                let uri = reference.to_uri().unwrap();
                prop_assert_eq!(&Reference::parse(&uri).unwrap(), &reference, "{}", uri);
            } else {
                prop_assert!(reference.to_uri().is_err());
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,200}", prefix in prop_oneof![
            Just(""), Just("argent://"), Just("{"), Just("id = "), Just("[parts.a]\n"),
        ]) {
            let text = format!("{prefix}{text}");
            let _ = Reference::parse(&text);
            let _ = Reference::from_toml(&text);
            let _ = Reference::from_json(&text);
            let _ = Reference::from_uri(&text);
        }

        #[test]
        fn mutated_references_never_panic(
            reference in reference(),
            form in 0..3usize,
            edits in proptest::collection::vec(edit(), 1..6),
        ) {
            let leaf = Reference { parts: BTreeMap::new(), ..reference.clone() };
            let text = match form {
                0 => reference.to_toml().unwrap(),
                1 => reference.to_json().unwrap(),
                _ => leaf.to_uri().unwrap(),
            };
            let mutated = apply(&text, &edits);
            if let Ok(parsed) = Reference::parse(&mutated) {
                // Whatever parses is valid and writes back.
                prop_assert!(parsed.validate().is_ok());
                prop_assert!(parsed.to_json().is_ok());
            }
        }
    }

    #[test]
    fn a_description_may_name_a_directory_entry() {
        let dir = Reference::new(ObjectId(0xD1), "replicated-map", "qsm")
            .with_setting("group", "objects")
            .with_parameter("role", "directory");
        let stub = |d: &str| Reference::new(ObjectId(7), "replicated-var", "qsm").with_description(d);
        let uri = dir.to_uri().unwrap();
        let (found, name) = stub(&format!("{uri}#counter")).directory_entry().unwrap().unwrap();
        assert_eq!((found, name.as_str()), (dir, "counter"));
        assert!(stub("https://example.org/counter").directory_entry().is_none());
        assert!(stub(&uri).directory_entry().is_none(), "a URI without an entry name");
        let e = stub(&format!("{uri}#")).directory_entry().unwrap().unwrap_err();
        assert_eq!(e.field(), "description");
        let e = stub("argent://nothex?class=x&driver=qsm#n").directory_entry().unwrap().unwrap_err();
        assert!(e.field().starts_with("description."), "{e}");
    }
}
