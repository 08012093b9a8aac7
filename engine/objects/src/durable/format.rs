//! The bytes of a replica on disk: the base checkpoint file and the log's records.

use crate::object::{ObjectError, Position};

/// The first bytes of a base file.
pub const BASE_MAGIC: &[u8; 8] = b"ARGENTCK";
/// Format version of a base file.
pub const BASE_VERSION: u8 = 1;
/// A record's header: the body's length (4, LE) and its checksum (8).
pub const RECORD_HEADER: usize = 12;
/// The longest log record body (an update fits one message, far smaller).
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// The largest base file read (a checkpoint a joiner could assemble is at most 64 MiB).
pub const MAX_BASE_BYTES: usize = 1 << 30;

/// The checksum of a record or base: BLAKE3's first 8 bytes.
fn check(parts: &[&[u8]]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

/// One log record: `len (4, LE) | checksum (8) | body`.
pub fn encode_record(body: &[u8]) -> Result<Vec<u8>, ObjectError> {
    let len =
        u32::try_from(body.len()).ok().filter(|&l| l as usize <= MAX_RECORD_BYTES).ok_or_else(|| {
            ObjectError::Encode {
                what: "log record",
                reason: format!("{} bytes (at most {MAX_RECORD_BYTES})", body.len()),
            }
        })?;
    let mut r = Vec::with_capacity(RECORD_HEADER + body.len());
    r.extend_from_slice(&len.to_le_bytes());
    r.extend_from_slice(&check(&[&len.to_le_bytes(), body]));
    r.extend_from_slice(body);
    Ok(r)
}

/// The records read from a log: the whole ones, in order, and where they end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records<'a> {
    /// The bodies, in the order written.
    pub bodies: Vec<&'a [u8]>,
    /// The length of the log's whole records: what follows is torn or corrupt (a crash
    /// mid-write) and is ignored.
    pub clean: usize,
}

/// The whole records of `log`, stopping at the first torn or corrupt one; never panics.
pub fn decode_records(log: &[u8]) -> Records<'_> {
    let mut bodies = Vec::new();
    let mut at = 0;
    while let Some(head) = log.get(at..at + RECORD_HEADER) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_RECORD_BYTES {
            break;
        }
        let Some(body) = log.get(at + RECORD_HEADER..at + RECORD_HEADER + len) else { break };
        if check(&[&head[..4], body])[..] != head[4..RECORD_HEADER] {
            break;
        }
        bodies.push(body);
        at += RECORD_HEADER + len;
    }
    Records { bodies, clean: at }
}

/// A replica's base: the object it is of, the state's position and checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The object's id.
    pub object: u128,
    /// The checkpoint's [`Position`], decoded.
    pub position: Position,
    /// The kind's checkpoint bytes.
    pub checkpoint: Vec<u8>,
}

/// A base file: `magic (8) | version (1) | object (16, LE) | position length (4, LE) |
/// position | checkpoint length (8, LE) | checkpoint | checksum of all before (8)`.
pub fn encode_base(object: u128, position: &[u8], checkpoint: &[u8]) -> Result<Vec<u8>, ObjectError> {
    let too_large = |what: &str, len: usize| ObjectError::Encode {
        what: "base checkpoint",
        reason: format!("{what} of {len} bytes (at most {MAX_BASE_BYTES} in all)"),
    };
    let pos_len = u32::try_from(position.len()).map_err(|_| too_large("a position", position.len()))?;
    let total = 8 + 1 + 16 + 4 + position.len() + 8 + checkpoint.len() + 8;
    if total > MAX_BASE_BYTES {
        return Err(too_large("a checkpoint", checkpoint.len()));
    }
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(BASE_MAGIC);
    b.push(BASE_VERSION);
    b.extend_from_slice(&object.to_le_bytes());
    b.extend_from_slice(&pos_len.to_le_bytes());
    b.extend_from_slice(position);
    b.extend_from_slice(&(checkpoint.len() as u64).to_le_bytes());
    b.extend_from_slice(checkpoint);
    let sum = check(&[&b]);
    b.extend_from_slice(&sum);
    Ok(b)
}

/// Reads a base file; never panics. A torn or corrupt file is an error, not a state.
pub fn decode_base(bytes: &[u8]) -> Result<Base, ObjectError> {
    let bad = |reason: String| ObjectError::Malformed { what: "base checkpoint", reason };
    if bytes.len() > MAX_BASE_BYTES {
        return Err(bad(format!("{} bytes (at most {MAX_BASE_BYTES})", bytes.len())));
    }
    let (body, sum) =
        bytes.split_at_checked(bytes.len().saturating_sub(8)).ok_or_else(|| bad("empty".into()))?;
    if sum.len() != 8 || check(&[body]) != sum {
        return Err(bad("checksum mismatch (torn or corrupt)".into()));
    }
    let (magic, rest) = body.split_at_checked(8).ok_or_else(|| bad("shorter than its header".into()))?;
    if magic != BASE_MAGIC {
        return Err(bad("not a base checkpoint (magic)".into()));
    }
    let (&version, rest) = rest.split_first().ok_or_else(|| bad("no version".into()))?;
    if version != BASE_VERSION {
        return Err(ObjectError::Version { what: "base checkpoint", found: version, expected: BASE_VERSION });
    }
    let (object, rest) = rest.split_at_checked(16).ok_or_else(|| bad("no object id".into()))?;
    let object = u128::from_le_bytes(object.try_into().map_err(|_| bad("object id".into()))?);
    let (len, rest) = rest.split_at_checked(4).ok_or_else(|| bad("no position length".into()))?;
    let len = u32::from_le_bytes(len.try_into().map_err(|_| bad("position length".into()))?) as usize;
    let (position, rest) = rest.split_at_checked(len).ok_or_else(|| bad("position past the end".into()))?;
    let (len, checkpoint) = rest.split_at_checked(8).ok_or_else(|| bad("no checkpoint length".into()))?;
    let len = u64::from_le_bytes(len.try_into().map_err(|_| bad("checkpoint length".into()))?);
    if len != checkpoint.len() as u64 {
        return Err(bad(format!("checkpoint of {} bytes where {len} are said", checkpoint.len())));
    }
    Ok(Base { object, position: Position::decode(position)?, checkpoint: checkpoint.to_vec() })
}
