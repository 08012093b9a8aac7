//! Limits on the size of a reference and of the text it is read from.

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
