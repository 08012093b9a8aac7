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
    lanes.iter().fold(tail, |a, l| a.rotate_left(17) ^ *l).wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[cfg(test)]
mod tests {
    use super::message_sum;

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
