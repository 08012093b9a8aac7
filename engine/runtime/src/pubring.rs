//! The publish ring: a single-producer single-consumer byte ring from an application thread
//! to a shard. Each message is written in place as one contiguous entry,
//! `len: u32 LE | payload`; an entry that would straddle the end of the ring is preceded by
//! a skip marker that fills the rest of it.

use rtrb::{Consumer, Producer};

/// Entry header size.
pub const ENTRY_HEADER: usize = 4;
/// Marks "skip to the end of the ring".
const SKIP: u32 = u32::MAX;

/// Reserve a contiguous entry of `len` payload bytes; `None` if the ring lacks room.
/// The returned chunk must be committed with [`commit_entry`] (or dropped to withdraw it).
#[inline]
pub fn reserve(p: &mut Producer<u8>, len: usize) -> Option<(rtrb::chunks::WriteChunk<'_, u8>, usize)> {
    let need = ENTRY_HEADER + len;
    // How much room lies before the ring's end, measured without the `Default` fill that
    // `write_chunk` does (the chunk taken below is filled once).
    let first_len = {
        let mut chunk = p.write_chunk_uninit(need).ok()?;
        chunk.as_mut_slices().0.len()
    };
    if first_len >= need {
        return Some((p.write_chunk(need).ok()?, 0));
    }
    // The entry would straddle the end: fill the tail with a skip marker and start at 0.
    let chunk = p.write_chunk(first_len + need).ok()?;
    Some((chunk, first_len))
}

/// Write the entry header (and skip marker) into a reserved chunk and return the payload.
#[inline]
pub fn payload<'c>(chunk: &'c mut rtrb::chunks::WriteChunk<'_, u8>, skip: usize, len: usize) -> &'c mut [u8] {
    let (first, second) = chunk.as_mut_slices();
    let area = if skip == 0 {
        first
    } else {
        // The skip marker needs a header's room; a shorter tail is skipped implicitly.
        if first.len() >= ENTRY_HEADER {
            first[..ENTRY_HEADER].copy_from_slice(&SKIP.to_le_bytes());
        }
        second
    };
    area[..ENTRY_HEADER].copy_from_slice(&(len as u32).to_le_bytes());
    &mut area[ENTRY_HEADER..ENTRY_HEADER + len]
}

/// Make a written entry visible to the shard.
#[inline]
pub fn commit_entry(chunk: rtrb::chunks::WriteChunk<'_, u8>, skip: usize, len: usize) {
    chunk.commit(skip + ENTRY_HEADER + len);
}

/// Hand each complete entry to `f`, in order, until it returns false (the entry is then left
/// in the ring). Returns the number of messages consumed.
pub fn drain(c: &mut Consumer<u8>, mut f: impl FnMut(&[u8]) -> bool) -> usize {
    let avail = c.slots();
    if avail == 0 {
        return 0;
    }
    let Ok(chunk) = c.read_chunk(avail) else { return 0 };
    let (first, second) = chunk.as_slices();
    let mut consumed = 0;
    let mut messages = 0;
    let mut stopped = false;
    for (part_idx, part) in [first, second].into_iter().enumerate() {
        let mut at = 0;
        while !stopped && at < part.len() {
            if part.len() - at < ENTRY_HEADER {
                // A tail too short for a header was skipped by the producer.
                consumed += part.len() - at;
                break;
            }
            let len = u32::from_le_bytes([part[at], part[at + 1], part[at + 2], part[at + 3]]);
            if len == SKIP {
                consumed += part.len() - at;
                break;
            }
            let end = at + ENTRY_HEADER + len as usize;
            if end > part.len() {
                debug_assert!(part_idx == 0, "entries never straddle the ring's end");
                stopped = true;
                break;
            }
            if !f(&part[at + ENTRY_HEADER..end]) {
                stopped = true;
                break;
            }
            messages += 1;
            consumed += end - at;
            at = end;
        }
        if stopped {
            break;
        }
    }
    chunk.commit(consumed);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_across_the_wrap() {
        let (mut p, mut c) = rtrb::RingBuffer::<u8>::new(64);
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for round in 0..50u8 {
            let len = (round as usize * 7) % 20 + 1;
            if let Some((mut chunk, skip)) = reserve(&mut p, len) {
                payload(&mut chunk, skip, len).fill(round);
                commit_entry(chunk, skip, len);
                sent.push(vec![round; len]);
            }
            if round % 3 == 0 {
                drain(&mut c, |m| {
                    got.push(m.to_vec());
                    true
                });
            }
        }
        drain(&mut c, |m| {
            got.push(m.to_vec());
            true
        });
        assert_eq!(got, sent);
        assert!(sent.len() > 20);
    }

    #[test]
    fn a_refused_entry_stays_in_the_ring() {
        let (mut p, mut c) = rtrb::RingBuffer::<u8>::new(64);
        for i in 0..3u8 {
            let (mut chunk, skip) = reserve(&mut p, 4).expect("room");
            payload(&mut chunk, skip, 4).fill(i);
            commit_entry(chunk, skip, 4);
        }
        let mut seen = 0;
        assert_eq!(
            drain(&mut c, |_| {
                seen += 1;
                seen < 2
            }),
            1
        );
        let mut rest = Vec::new();
        drain(&mut c, |m| {
            rest.push(m[0]);
            true
        });
        assert_eq!(rest, vec![1, 2]);
    }
}
