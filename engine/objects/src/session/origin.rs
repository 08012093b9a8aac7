//! Proxy origins carry their node: an update is accepted only from the node its origin names.

use crate::object::{ObjectError, Update};
use serde::de::DeserializeOwned;

/// A proxy origin for `node`: its top 24 bits are the node id's low 24 ([`sent_by`]), the
/// rest `unique` (the caller makes it unique among the node's proxies, ever).
pub fn origin_for(node: u32, unique: u64) -> u64 {
    (u64::from(node) & 0xFF_FFFF) << 40 | (unique & ((1 << 40) - 1))
}

/// Whether `origin` is one of `node`'s ([`origin_for`]): an update that names another
/// node's origin than the node that sent it is refused, so a member cannot stamp as another.
pub fn sent_by(origin: u64, node: u32) -> bool {
    origin >> 40 == u64::from(node) & 0xFF_FFFF
}

/// Decodes an update delivered from `node`, refusing one whose origin is another node's.
pub(crate) fn update_from<Op: DeserializeOwned>(body: &[u8], node: u32) -> Result<Update<Op>, ObjectError> {
    let update = Update::<Op>::decode(body)?;
    if !sent_by(update.stamp.origin, node) {
        let reason = format!("origin {:#x} is not one of node {node}'s", update.stamp.origin);
        return Err(ObjectError::Malformed { what: "update", reason });
    }
    Ok(update)
}
