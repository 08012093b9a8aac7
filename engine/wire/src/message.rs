//! Messages inside a QSM datagram, as the runtime frames them: every message starts with a
//! 4-byte little-endian group tag, and the reserved group [`FENCE_GROUP`] carries *fences*
//! (`key | nonce`, 8 + 8 bytes little-endian), which live objects join with. Defined once for
//! the runtime and the simulator. Parsing never panics.

/// Bytes of the group tag in front of every message (little-endian group id).
pub const GROUP_TAG_LEN: usize = 4;

/// The reserved group of fences; configurations may not use it.
pub const FENCE_GROUP: u32 = u32::MAX;

/// Bytes of a fence message: tag, key, nonce.
pub const FENCE_LEN: usize = GROUP_TAG_LEN + 16;

/// The group tag and the application's bytes of a message; `None` if it is shorter than a
/// tag.
#[inline]
pub fn split_tag(m: &[u8]) -> Option<(u32, &[u8])> {
    let (tag, rest) = m.split_first_chunk::<GROUP_TAG_LEN>()?;
    Some((u32::from_le_bytes(*tag), rest))
}

/// The fence message for request `(key, nonce)`.
pub fn fence_message(key: u64, nonce: u64) -> [u8; FENCE_LEN] {
    let mut m = [0u8; FENCE_LEN];
    m[..GROUP_TAG_LEN].copy_from_slice(&FENCE_GROUP.to_le_bytes());
    m[GROUP_TAG_LEN..GROUP_TAG_LEN + 8].copy_from_slice(&key.to_le_bytes());
    m[GROUP_TAG_LEN + 8..].copy_from_slice(&nonce.to_le_bytes());
    m
}

/// The `(key, nonce)` of a fence message; `None` for any other message.
#[inline]
pub fn parse_fence(m: &[u8]) -> Option<(u64, u64)> {
    let (group, body) = split_tag(m)?;
    let body: &[u8; 16] = body.try_into().ok().filter(|_| group == FENCE_GROUP)?;
    let (key, nonce) = body.split_at(8);
    Some((u64::from_le_bytes(key.try_into().ok()?), u64::from_le_bytes(nonce.try_into().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_round_trip_and_nothing_else_parses_as_one() {
        let f = fence_message(7, u64::MAX);
        assert_eq!(parse_fence(&f), Some((7, u64::MAX)));
        assert_eq!(split_tag(&f).map(|(g, b)| (g, b.len())), Some((FENCE_GROUP, 16)));
        assert_eq!(parse_fence(&f[..FENCE_LEN - 1]), None, "short");
        let mut other = f;
        other[0] = 1;
        assert_eq!(parse_fence(&other), None, "another group");
        assert_eq!(parse_fence(&[f.as_slice(), &[0]].concat()), None, "long");
        assert_eq!(split_tag(&[1, 2, 3]), None);
    }
}
