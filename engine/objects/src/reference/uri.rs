//! The `argent://` URI form and its percent-encoding.

use std::borrow::Cow;
use std::collections::BTreeMap;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::error::{shown, Problem, ReferenceError};
use super::id::ObjectId;
use super::limits::MAX_ENTRIES;
use super::model::{DriverSpec, Reference};

/// Keys of a reference URI's query.
const URI_KEYS: &str = "v, class, driver, driver.*, param.*, name, description";

const SCHEME: &str = "argent://";

/// What writers percent-encode: every byte but RFC 3986 unreserved characters.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

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
    out.extend(utf8_percent_encode(text, ENCODED));
}

/// Decodes `%XX` escapes (either case); other characters stand for themselves.
pub(super) fn decode(text: &str) -> Result<String, ReferenceError> {
    if !escapes_are_valid(text) {
        let problem = Problem::BadPercent { value: shown(text) };
        return Err(ReferenceError::new("uri", problem));
    }
    percent_decode_str(text).decode_utf8().map(Cow::into_owned).map_err(|_| {
        let problem = Problem::NotUtf8 { value: shown(text) };
        ReferenceError::new("uri", problem)
    })
}

/// Whether every `%` is followed by two hexadecimal digits: the decoder passes any other
/// `%` through unchanged, where a reference must be refused.
fn escapes_are_valid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'%')
        .all(|(i, _)| bytes.get(i + 1..i + 3).is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit)))
}
