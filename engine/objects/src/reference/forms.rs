//! Reading a reference from, and writing it to, its forms: TOML, JSON and the `argent://` URI.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::document;
use super::error::{Problem, ReferenceError};
use super::limits::MAX_INPUT_BYTES;
use super::model::Reference;
use super::uri;

impl Reference {
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
