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
//! | [`TAG_CHECKPOINT_PART`] | part `index` of `count` (4 + 4, LE) of a checkpoint too large for one message, after the origin and nonce (8 + 8, LE): the parts' concatenation is what follows origin and nonce in [`TAG_CHECKPOINT`] |
//! | [`TAG_PENDING`] | a member will answer a request once fenced: the joiner's origin and nonce (8 + 8, LE) |
//!
//! Authenticated objects append a MAC after the body (the session adds and checks it:
//! [`crate::key`]).
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
// Tag 6 was the simulator's own fence frame; fences are the runtime's fence messages now
// (`argent_wire::message`), the same in the engine and the simulator.
/// A member has a joiner's request and will answer it once every member's fence is in.
pub const TAG_PENDING: u8 = 7;
/// A part of a checkpoint too large for one message.
pub const TAG_CHECKPOINT_PART: u8 = 8;
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

/// Bytes of a part frame before its chunk: header, origin, nonce, index, count.
const PART_OVERHEAD: usize = HEADER + 16 + 8;

/// The frames of a checkpoint for object `id`, each at most `max_frame` bytes: one
/// [`TAG_CHECKPOINT`] frame if it fits, else [`TAG_CHECKPOINT_PART`] frames. `None` if
/// `max_frame` leaves no room for a part's chunk.
pub fn checkpoint_frames(
    id: u128,
    to: u64,
    nonce: u64,
    position: &[u8],
    checkpoint: &[u8],
    max_frame: usize,
) -> Option<Vec<Vec<u8>>> {
    let whole = self::checkpoint(id, to, nonce, position, checkpoint);
    if whole.len() <= max_frame {
        return Some(vec![whole]);
    }
    let chunk = max_frame.checked_sub(PART_OVERHEAD).filter(|c| *c > 0)?;
    let payload = &whole[HEADER + 16..]; // position length, position, checkpoint
    let count = u32::try_from(payload.len().div_ceil(chunk)).ok()?;
    let head = request(to, nonce);
    Some(
        payload
            .chunks(chunk)
            .enumerate()
            .map(|(i, c)| {
                let (index, count) = ((i as u32).to_le_bytes(), count.to_le_bytes());
                encode(TAG_CHECKPOINT_PART, id, &[&head, &index, &count, c])
            })
            .collect(),
    )
}

/// A part frame's body: (to, nonce, index, count, chunk).
pub fn parse_part(body: &[u8]) -> Option<(u64, u64, u32, u32, &[u8])> {
    let (to, nonce) = parse_request(body)?;
    let index = u32::from_le_bytes(body.get(16..20)?.try_into().ok()?);
    let count = u32::from_le_bytes(body.get(20..24)?.try_into().ok()?);
    (index < count).then_some((to, nonce, index, count, &body[24..]))
}

/// Reassembles checkpoints sent in parts, per sender (parts of one sender arrive in order;
/// several members may answer at once). Bounded: a checkpoint larger than `limit` bytes is
/// dropped, and so are the oldest senders' partial ones beyond [`MAX_ASSEMBLING`].
#[derive(Debug)]
pub struct Assembler {
    limit: usize,
    partial: Vec<(u64, Partial)>,
}

#[derive(Debug)]
struct Partial {
    to: u64,
    nonce: u64,
    count: u32,
    next: u32,
    body: Vec<u8>,
}

/// Senders whose checkpoints an [`Assembler`] reassembles at once.
pub const MAX_ASSEMBLING: usize = 16;

impl Assembler {
    /// Checkpoints up to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Assembler { limit, partial: Vec::new() }
    }

    /// A part from `sender`; the whole checkpoint's body (as [`parse_checkpoint`] reads it)
    /// once its last part is in. A part out of order restarts that sender's checkpoint.
    pub fn push(&mut self, sender: u64, body: &[u8]) -> Option<Vec<u8>> {
        let (to, nonce, index, count, chunk) = parse_part(body)?;
        let at = self.partial.iter().position(|(s, _)| *s == sender);
        let fits = |p: &Partial| p.to == to && p.nonce == nonce && p.count == count && p.next == index;
        let i = match at {
            Some(i) if fits(&self.partial[i].1) => i,
            _ => {
                if let Some(i) = at {
                    self.partial.remove(i);
                }
                if index != 0 {
                    return None;
                }
                if self.partial.len() == MAX_ASSEMBLING {
                    self.partial.remove(0);
                }
                let body = request(to, nonce).to_vec();
                self.partial.push((sender, Partial { to, nonce, count, next: 0, body }));
                self.partial.len() - 1
            }
        };
        let p = &mut self.partial[i].1;
        if p.body.len() + chunk.len() > self.limit {
            self.partial.remove(i);
            return None;
        }
        p.body.extend_from_slice(chunk);
        p.next += 1;
        if p.next < p.count {
            return None;
        }
        Some(self.partial.remove(i).1.body)
    }
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

    #[test]
    fn a_large_checkpoint_travels_in_parts_and_is_reassembled() {
        let state: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let frames = checkpoint_frames(7, 11, 13, b"pos", &state, 1_000).unwrap();
        assert!(frames.len() > 10 && frames.iter().all(|f| f.len() <= 1_000));
        let mut a = Assembler::new(1 << 20);
        let mut whole = None;
        for f in &frames {
            let (tag, id, body) = split(f).unwrap();
            assert_eq!((tag, id), (TAG_CHECKPOINT_PART, 7));
            assert!(whole.is_none(), "complete before the last part");
            whole = a.push(5, body);
        }
        let whole = whole.expect("reassembled");
        assert_eq!(parse_checkpoint(&whole), Some((11, 13, &b"pos"[..], &state[..])));
        // Small enough: one ordinary frame.
        assert_eq!(checkpoint_frames(7, 11, 13, b"pos", b"s", 1_000).unwrap().len(), 1);
        assert_eq!(checkpoint_frames(7, 11, 13, b"pos", &state, PART_OVERHEAD), None);
    }

    #[test]
    fn reassembly_is_per_sender_bounded_and_restarts_on_a_missing_part() {
        let state = vec![9u8; 5_000];
        let frames = checkpoint_frames(7, 1, 2, b"", &state, 1_000).unwrap();
        let body = |i: usize| split(&frames[i]).unwrap().2;
        let mut a = Assembler::new(1 << 20);
        // Two senders interleaved; one skips a part and starts over.
        assert_eq!(a.push(1, body(0)), None);
        assert_eq!(a.push(2, body(0)), None);
        assert_eq!(a.push(2, body(2)), None, "part 1 missing: dropped");
        let mut got = None;
        for i in 1..frames.len() {
            got = a.push(1, body(i));
        }
        assert!(got.is_some());
        // Over the limit: dropped.
        let mut small = Assembler::new(2_000);
        assert!((0..frames.len()).all(|i| small.push(1, body(i)).is_none()));
    }

    proptest! {
        #[test]
        fn parsing_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some((_, _, body)) = split(&bytes) {
                let _ = parse_checkpoint(body);
                let _ = parse_request(body);
                let _ = parse_part(body);
                let _ = Assembler::new(100).push(1, body);
            }
            let _ = parse_checkpoint(&bytes);
        }
    }
}
