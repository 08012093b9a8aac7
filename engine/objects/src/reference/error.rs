//! What is wrong with a reference: the field at fault and the problem with it.

/// Longest piece of offending input quoted in an error message, in characters.
const MAX_SHOWN_CHARS: usize = 64;

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
    /// The error of `field`, which has `problem`.
    pub(super) fn new(field: impl Into<String>, problem: Problem) -> Self {
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
    /// A map has more entries than [`MAX_ENTRIES`](super::MAX_ENTRIES).
    #[error("has more than {max} entries")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// Parts are nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("parts are nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The input is larger than [`MAX_INPUT_BYTES`](super::MAX_INPUT_BYTES).
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

/// Offending input as quoted in messages: at most [`MAX_SHOWN_CHARS`] characters.
pub(super) fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
