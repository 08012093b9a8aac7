//! Reading the document form from a parsed TOML or JSON tree.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{shown, Problem, ReferenceError};
use super::id::ObjectId;
use super::limits::MAX_DEPTH;
use super::model::{DriverSpec, Reference};
use super::validate::{check_count, join};

/// Keys of a reference document.
const DOCUMENT_KEYS: &str = "id, version, class, driver, parameters, parts, description, name";
/// Keys of a document's driver table.
const DRIVER_KEYS: &str = "name, settings";

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
        .map_err(|e| ReferenceError::new(id_field, e.problem().clone()))?;
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
