//! Messages larger than a datagram, sans-IO: a publisher cuts one into *fragments*, each a
//! message of the reserved group [`FRAGMENT_GROUP`] in the sender's stream, and a receiver
//! puts them back together. The stream is reliable and FIFO per sender, so a message's
//! fragments arrive whole and in order, possibly interleaved with other publishers' messages
//! of the same node (each message has its own id). Defined once for the runtime and the
//! simulator; parsing never panics and nothing from the network moves memory unbounded.
//!
//! A fragment: `FRAGMENT_GROUP (4) | group (4) | message id (8) | total length (4) |
//! offset (4) | chunk`, little-endian.

use crate::message::GROUP_TAG_LEN;
use std::collections::{BTreeMap, VecDeque};

/// The reserved group of fragments; configurations and named groups never use it.
pub const FRAGMENT_GROUP: u32 = u32::MAX - 1;
/// Bytes in front of a fragment's chunk.
pub const FRAGMENT_HEADER: usize = GROUP_TAG_LEN + 4 + 8 + 4 + 4;
/// The largest message carried in fragments (a total beyond it is refused when parsed).
pub const MAX_FRAGMENTED: usize = 256 << 20;

/// Partial messages a receiver holds by default (the runtime's `partial_messages`).
pub const DEFAULT_PARTIALS: usize = 16;
/// Bytes of partial messages a receiver holds by default (the runtime's `partial_bytes`).
pub const DEFAULT_PARTIAL_BYTES: usize = 256 << 20;

/// One fragment, as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The group the whole message is for.
    pub group: u32,
    /// The message's id, unique per sending publisher.
    pub id: u64,
    /// The whole message's length.
    pub total: usize,
    /// Where this chunk starts in it.
    pub offset: usize,
    /// The bytes.
    pub chunk: &'a [u8],
}

/// The fragments of `msg` for `group` with message id `id`, each at most `max_message`
/// bytes (header included). `None` if `max_message` leaves no room for a chunk or `msg` is
/// longer than [`MAX_FRAGMENTED`].
pub fn fragments(group: u32, id: u64, msg: &[u8], max_message: usize) -> Option<Vec<Vec<u8>>> {
    let room = max_message.checked_sub(FRAGMENT_HEADER).filter(|r| *r > 0)?;
    if msg.len() > MAX_FRAGMENTED || msg.is_empty() {
        return None;
    }
    let total = u32::try_from(msg.len()).ok()?;
    Some(
        msg.chunks(room)
            .enumerate()
            .map(|(i, chunk)| {
                let mut f = Vec::with_capacity(FRAGMENT_HEADER + chunk.len());
                f.extend_from_slice(&FRAGMENT_GROUP.to_le_bytes());
                f.extend_from_slice(&group.to_le_bytes());
                f.extend_from_slice(&id.to_le_bytes());
                f.extend_from_slice(&total.to_le_bytes());
                f.extend_from_slice(&((i * room) as u32).to_le_bytes());
                f.extend_from_slice(chunk);
                f
            })
            .collect(),
    )
}

/// The fragment a message holds; `None` for any other message, or one malformed: a total of
/// 0 or beyond [`MAX_FRAGMENTED`], an empty chunk, or a chunk that runs past the total.
pub fn parse_fragment(m: &[u8]) -> Option<Fragment<'_>> {
    let (head, chunk) = m.split_first_chunk::<FRAGMENT_HEADER>()?;
    let u32_at = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().expect("4 bytes"));
    if u32_at(0) != FRAGMENT_GROUP {
        return None;
    }
    let group = u32_at(4);
    let id = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
    let (total, offset) = (u32_at(16) as usize, u32_at(20) as usize);
    let fits = offset.checked_add(chunk.len()).is_some_and(|end| end <= total);
    (total > 0 && total <= MAX_FRAGMENTED && !chunk.is_empty() && fits).then_some(Fragment {
        group,
        id,
        total,
        offset,
        chunk,
    })
}

/// What [`Reassembly::add`] refused or dropped, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Messages completed.
    pub completed: u64,
    /// Partial messages forgotten to stay within the limits (the oldest first).
    pub evicted: u64,
    /// Fragments that did not continue their message where it stood (a sender's bug or a
    /// forgery: FIFO streams never reorder), with what was held of it.
    pub out_of_order: u64,
}

struct Partial {
    group: u32,
    total: usize,
    bytes: Vec<u8>,
}

/// Puts fragments back together, per sender (`S`: whatever names a sender's stream) and
/// message id, holding at most `max_partials` partial messages and `max_bytes` of them; a
/// sender killed mid-message leaves a partial that the limits (or [`Reassembly::forget`])
/// remove.
pub struct Reassembly<S> {
    partials: BTreeMap<(S, u64), Partial>,
    order: VecDeque<(S, u64)>,
    held: usize,
    max_partials: usize,
    max_bytes: usize,
    stats: ReassemblyStats,
}

impl<S> std::fmt::Debug for Reassembly<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembly")
            .field("partials", &self.partials.len())
            .field("held", &self.held)
            .finish()
    }
}

impl<S: Ord + Copy> Reassembly<S> {
    /// Nothing held; at most `max_partials` partial messages and `max_bytes` of them.
    pub fn new(max_partials: usize, max_bytes: usize) -> Self {
        Reassembly {
            partials: BTreeMap::new(),
            order: VecDeque::new(),
            held: 0,
            max_partials: max_partials.max(1),
            max_bytes,
            stats: ReassemblyStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Partial messages held, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.partials.len(), self.held)
    }

    /// Takes fragment `f` from `sender`'s stream: the whole message `(group, bytes)` once
    /// its last fragment is in.
    pub fn add(&mut self, sender: S, f: Fragment<'_>) -> Option<(u32, Vec<u8>)> {
        let key = (sender, f.id);
        if f.offset == 0 {
            // A new message (a partial of the same id would be a sender's bug: replaced).
            self.remove(&key);
            if f.chunk.len() == f.total {
                self.stats.completed += 1;
                return Some((f.group, f.chunk.to_vec()));
            }
            if f.total > self.max_bytes {
                self.stats.evicted += 1;
                return None; // larger than everything this receiver may hold
            }
            while self.partials.len() >= self.max_partials || self.held + f.total > self.max_bytes {
                let Some(old) = self.order.pop_front() else { break };
                if self.remove(&old) {
                    self.stats.evicted += 1;
                }
            }
            let mut bytes = Vec::with_capacity(f.total);
            bytes.extend_from_slice(f.chunk);
            self.held += f.total;
            self.partials.insert(key, Partial { group: f.group, total: f.total, bytes });
            self.order.push_back(key);
            return None;
        }
        let Some(p) = self.partials.get_mut(&key) else {
            self.stats.out_of_order += 1; // its start was never seen (or was evicted)
            return None;
        };
        if f.offset != p.bytes.len() || f.total != p.total || f.group != p.group {
            self.remove(&key);
            self.stats.out_of_order += 1;
            return None;
        }
        p.bytes.extend_from_slice(f.chunk);
        if p.bytes.len() < p.total {
            return None;
        }
        let p = self.partials.remove(&key).expect("present");
        self.held -= p.total;
        self.order.retain(|k| *k != key);
        self.stats.completed += 1;
        Some((p.group, p.bytes))
    }

    /// Drops what `sender` left unfinished (its stream ended).
    pub fn forget(&mut self, sender: S) {
        let gone: Vec<(S, u64)> = self.partials.keys().filter(|(s, _)| *s == sender).copied().collect();
        for k in gone {
            self.remove(&k);
        }
    }

    fn remove(&mut self, key: &(S, u64)) -> bool {
        match self.partials.remove(key) {
            Some(p) => {
                self.held -= p.total;
                self.order.retain(|k| k != key);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_large_message_round_trips_interleaved_with_another_sender() {
        let a = msg(100_000);
        let b = msg(33_333);
        let fa = fragments(5, 1, &a, 1_500).expect("fragments");
        let fb = fragments(6, 1, &b, 1_500).expect("fragments");
        assert!(fa.iter().all(|f| f.len() <= 1_500));
        let mut r = Reassembly::new(4, 1 << 20);
        let mut done = Vec::new();
        for i in 0..fa.len().max(fb.len()) {
            for (sender, fs) in [(1u32, &fa), (2u32, &fb)] {
                if let Some(f) = fs.get(i) {
                    done.extend(r.add(sender, parse_fragment(f).expect("parses")));
                }
            }
        }
        assert_eq!(done, vec![(6, b), (5, a)]);
        assert_eq!(r.held(), (0, 0));
        assert_eq!(r.stats().completed, 2);
    }

    #[test]
    fn partials_are_bounded_and_a_dead_sender_is_forgotten() {
        let mut r = Reassembly::new(2, 1 << 20);
        for sender in 0..5u32 {
            let f = fragments(1, 9, &msg(10_000), 1_000).expect("fragments");
            r.add(sender, parse_fragment(&f[0]).expect("parses"));
        }
        assert_eq!(r.held(), (2, 20_000));
        assert_eq!(r.stats().evicted, 3);
        r.forget(4);
        assert_eq!(r.held(), (1, 10_000));
        // A message larger than the byte budget is refused, not held.
        let mut small = Reassembly::new(8, 5_000);
        let f = fragments(1, 1, &msg(10_000), 1_000).expect("fragments");
        assert_eq!(small.add(0u32, parse_fragment(&f[0]).expect("parses")), None);
        assert_eq!(small.held(), (0, 0));
    }

    #[test]
    fn a_fragment_out_of_place_drops_its_message() {
        let f = fragments(1, 3, &msg(5_000), 1_000).expect("fragments");
        let mut r = Reassembly::new(4, 1 << 20);
        r.add(0u32, parse_fragment(&f[0]).expect("parses"));
        assert_eq!(r.add(0, parse_fragment(&f[2]).expect("parses")), None);
        assert_eq!((r.stats().out_of_order, r.held()), (1, (0, 0)));
        assert_eq!(r.add(0, parse_fragment(&f[1]).expect("parses")), None, "its start is gone");
    }

    #[test]
    fn limits_of_fragmenting() {
        assert!(fragments(1, 1, &msg(10), FRAGMENT_HEADER).is_none(), "no room for a chunk");
        assert!(fragments(1, 1, &[], 1_000).is_none());
        assert_eq!(fragments(1, 1, &msg(10), FRAGMENT_HEADER + 1).expect("fragments").len(), 10);
        assert_eq!(parse_fragment(&crate::message::fence_message(1, 2)), None);
    }

    proptest! {
        #[test]
        fn parsing_anything_never_panics_and_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut m = FRAGMENT_GROUP.to_le_bytes().to_vec();
            m.extend_from_slice(&bytes);
            for input in [&bytes[..], &m[..]] {
                if let Some(f) = parse_fragment(input) {
                    prop_assert!(f.total <= MAX_FRAGMENTED && f.offset + f.chunk.len() <= f.total);
                    let mut r = Reassembly::new(2, 1 << 16);
                    let _ = r.add(0u8, f);
                    prop_assert!(r.held().1 <= 1 << 16);
                }
            }
        }

        #[test]
        fn any_message_round_trips(len in 1usize..20_000, max in (FRAGMENT_HEADER + 1)..4_000usize) {
            let m = msg(len);
            let mut r = Reassembly::new(1, 1 << 20);
            let mut out = None;
            for f in fragments(7, 42, &m, max).expect("fragments") {
                prop_assert!(out.is_none());
                out = r.add(3u16, parse_fragment(&f).expect("parses"));
            }
            prop_assert_eq!(out, Some((7, m)));
        }
    }
}
