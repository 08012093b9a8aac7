//! The checks every field of a reference passes, whatever form it was read from.

use std::collections::BTreeMap;

use super::error::{shown, Problem, ReferenceError};
use super::limits::{MAX_DEPTH, MAX_ENTRIES, MAX_TEXT_BYTES, MAX_WORD_BYTES};
use super::model::Reference;

/// Characters of a class or driver name.
const CLASS_CHARS: &str = "a-z, 0-9, '-', '.'";
/// Characters of a driver setting or parameter key.
pub(super) const KEY_CHARS: &str = "a-z, 0-9, '_', '-', '.'";
/// Characters of a part name.
const PART_CHARS: &str = "a-z, 0-9, '_', '-'";

impl Reference {
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
}

/// `prefix.name`, or `name` at the root.
pub(super) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
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

/// A map's number of entries: at most [`MAX_ENTRIES`].
pub(super) fn check_count(count: usize, field: &str) -> Result<(), ReferenceError> {
    if count > MAX_ENTRIES {
        let problem = Problem::TooMany { max: MAX_ENTRIES };
        return Err(ReferenceError::new(field, problem));
    }
    Ok(())
}
