//! How object messages travel in a group, defined once for the engine binding
//! (`argent::live`) and the simulator: a frame is `tag (1) | object id (16, LE) | body`.
//!
//! | tag | body |
//! |---|---|
//! | [`TAG_UPDATE`] | an encoded [`crate::object::Update`] |
//! | [`TAG_REQUEST`] | a joiner's checkpoint request: its origin (8, LE), a nonce (8, LE) |
//! | [`TAG_CHECKPOINT`] | for an origin and nonce (8 + 8, LE): the position's length (4, LE), the [`crate::object::Position`], the checkpoint |
//! | [`TAG_REFUSED`] | a refused request: the joiner's origin and nonce (8 + 8, LE) |
//! | [`TAG_BYTES`] | a raw event of a byte stream |
//! | [`TAG_FENCE`] | a mark in a member's stream for a joiner's request (the simulator's; the engine's fences are the runtime's): the joiner's origin and nonce (8 + 8, LE) |
//! | [`TAG_PENDING`] | a member will answer a request once fenced: the joiner's origin and nonce (8 + 8, LE) |
//!
//! Authenticated objects append a MAC after the body (the engine binding adds and checks it).
//! Parsing never panics: anything malformed is `None`.

/// An update of the object.
pub const TAG_UPDATE: u8 = 1;
/// A joiner asks for a checkpoint.
pub const TAG_REQUEST: u8 = 2;
/// A member's checkpoint for a joiner.
pub const TAG_CHECKPOINT: u8 = 3;
/// A member refused a joiner's request (wrong key).
pub const TAG_REFUSED: u8 = 4;
/// A raw event of a zero-copy byte stream.
pub const TAG_BYTES: u8 = 5;
/// A fence as the simulator carries it: a mark in a member's stream, published when its
/// driver asks (`argent_objects::object::Fences` says what fences are for).
pub const TAG_FENCE: u8 = 6;
/// A member has a joiner's request and will answer it once every member's fence is in.
pub const TAG_PENDING: u8 = 7;
/// The tag and the object id.
pub const HEADER: usize = 17;

/// A frame of `tag` for object `id` with the concatenation of `body` as its body.
pub fn encode(tag: u8, id: u128, body: &[&[u8]]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER + body.iter().map(|b| b.len()).sum::<usize>());
    f.push(tag);
    f.extend_from_slice(&id.to_le_bytes());
    for b in body {
        f.extend_from_slice(b);
    }
    f
}

/// The tag, object id and body of a frame; `None` if it is shorter than a header.
pub fn split(frame: &[u8]) -> Option<(u8, u128, &[u8])> {
    let (head, body) = frame.split_at_checked(HEADER)?;
    Some((head[0], u128::from_le_bytes(head[1..].try_into().ok()?), body))
}

/// The little-endian u64 at `at` of `b`.
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// A request's (or refusal's) body: (origin, nonce).
pub fn request(origin: u64, nonce: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&origin.to_le_bytes());
    b[8..].copy_from_slice(&nonce.to_le_bytes());
    b
}

/// A request's (or refusal's) (origin, nonce).
pub fn parse_request(body: &[u8]) -> Option<(u64, u64)> {
    Some((u64_at(body, 0)?, u64_at(body, 8)?))
}

/// A checkpoint frame for object `id`, for the joiner `to`'s request `nonce`.
pub fn checkpoint(id: u128, to: u64, nonce: u64, position: &[u8], checkpoint: &[u8]) -> Vec<u8> {
    let len = u32::try_from(position.len()).unwrap_or(u32::MAX).to_le_bytes();
    encode(TAG_CHECKPOINT, id, &[&request(to, nonce), &len, position, checkpoint])
}

/// A checkpoint frame's body: (to, nonce, position, checkpoint).
pub fn parse_checkpoint(body: &[u8]) -> Option<(u64, u64, &[u8], &[u8])> {
    let (to, nonce) = parse_request(body)?;
    let len = u32::from_le_bytes(body.get(16..20)?.try_into().ok()?) as usize;
    let position = body.get(20..20usize.checked_add(len)?)?;
    Some((to, nonce, position, &body[20 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip() {
        let f = checkpoint(7, 11, 13, b"pos", b"state");
        let (tag, id, body) = split(&f).unwrap();
        assert_eq!((tag, id), (TAG_CHECKPOINT, 7));
        assert_eq!(parse_checkpoint(body), Some((11, 13, &b"pos"[..], &b"state"[..])));
        let r = encode(TAG_REQUEST, 9, &[&request(1, 2)]);
        assert_eq!(split(&r).and_then(|(_, _, b)| parse_request(b)), Some((1, 2)));
    }

    proptest! {
        #[test]
        fn parsing_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some((_, _, body)) = split(&bytes) {
                let _ = parse_checkpoint(body);
                let _ = parse_request(body);
            }
            let _ = parse_checkpoint(&bytes);
        }
    }
}
