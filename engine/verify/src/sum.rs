//! The checksum of a message's bytes, which end markers carry summed over a stream.

/// Position-sensitive checksum of one message's bytes: words weighted by odd multipliers,
/// summed in independent lanes (no serial dependency, so it runs at memory speed).
#[inline]
pub fn message_sum(m: &[u8]) -> u64 {
    let mut lanes = [0u64; 4];
    let mut chunks = m.chunks_exact(32);
    let mut k = 1u64;
    for c in &mut chunks {
        for (lane, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            *lane = lane.wrapping_add(w.wrapping_mul(k));
            k = k.wrapping_add(2);
        }
    }
    let mut tail = 0u64;
    for (i, b) in chunks.remainder().iter().enumerate() {
        tail = tail.wrapping_add(u64::from(*b).wrapping_mul(2 * i as u64 + 1));
    }
    finish(lanes, tail)
}

/// The lanes and the tail folded into the checksum.
#[inline]
fn finish(lanes: [u64; 4], tail: u64) -> u64 {
    lanes.iter().fold(tail, |a, l| a.rotate_left(17) ^ *l).wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// [`message_sum`] of a `len`-byte message (`len` ≥ 32) whose first four words are `head`
/// and whose other bytes all are `fill`, computed from those values in a few multiplies
/// rather than by reading the message back (a publisher that has just written it would
/// wait on its own stores).
#[inline]
pub(crate) fn filled_sum(head: [u64; 4], fill: u8, len: usize) -> u64 {
    debug_assert!(len >= 32);
    let chunks = (len / 32) as u64;
    let word = u64::from(fill).wrapping_mul(0x0101_0101_0101_0101);
    // Word j of the message is weighted by 2j + 1 and summed into lane j mod 4. Chunk c's
    // word in lane l has weight 8c + 2l + 1; the fill's chunks are c = 1 .. chunks - 1.
    let later = chunks.wrapping_sub(1);
    let weights = 4u64.wrapping_mul(chunks).wrapping_mul(later); // 8 · Σ c
    let mut lanes = [0u64; 4];
    for (l, lane) in lanes.iter_mut().enumerate() {
        let odd = 2 * l as u64 + 1;
        *lane = head[l]
            .wrapping_mul(odd)
            .wrapping_add(word.wrapping_mul(weights.wrapping_add(later.wrapping_mul(odd))));
    }
    // The tail: r fill bytes weighted 1, 3, .., 2r - 1, which sum to r².
    let r = (len % 32) as u64;
    finish(lanes, u64::from(fill).wrapping_mul(r * r))
}

#[cfg(test)]
mod tests {
    use super::{filled_sum, message_sum};

    #[test]
    fn a_filled_message_sums_as_if_read_back() {
        for len in (32..=400).chain([1024, 1055, 8192, 65_000]) {
            for (seed, fill) in [(1u64, 0u8), (0x9E37_79B9_7F4A_7C15, 0xA5), (u64::MAX, 0xFF)] {
                let head = [seed, seed.rotate_left(13) ^ 7, seed.wrapping_mul(3), !seed];
                let mut m = vec![fill; len];
                for (i, w) in head.iter().enumerate() {
                    m[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
                }
                assert_eq!(filled_sum(head, fill, len), message_sum(&m), "{len} bytes, fill {fill:#x}");
            }
        }
    }

    #[test]
    fn every_byte_and_its_position_count() {
        let m: Vec<u8> = (0..100u8).collect();
        let base = message_sum(&m);
        for i in 0..m.len() {
            let mut flipped = m.clone();
            flipped[i] ^= 0x01;
            assert_ne!(message_sum(&flipped), base, "byte {i}");
        }
        let mut swapped = m.clone();
        swapped.swap(3, 40);
        assert_ne!(message_sum(&swapped), base);
    }
}
