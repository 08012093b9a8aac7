//! Seeded Zipf choice of a group per message, O(1) per draw, for `pub --zipf` and
//! `bench --groups`.
//!
//! Walker's alias method, in two levels so the common draw touches only a small table: the
//! most popular [`HEAD`] ranks and one "tail" outcome share a table of a couple of kilobytes
//! (it stays in L1 however many groups there are); only a draw of the tail (about 4% of
//! draws at exponent 1.5) looks up the large table of the other ranks. A one-level table over
//! 10 000 ranks missed the cache on almost every draw, at the publisher's message rate.

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Ranks in the small first-level table.
const HEAD: usize = 256;

/// An alias table: column i keeps i when the low 32 random bits are below `keep`, else
/// gives `alias` (both in one entry: one cache line per draw).
struct Alias {
    table: Vec<(u32, u32)>,
}

impl Alias {
    /// Outcomes 0..weights.len() with probability proportional to the weights (not all 0).
    fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        // Vose's construction: scaled probabilities, split into under- and over-full columns.
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut table: Vec<(u32, u32)> = (0..n as u32).map(|i| (u32::MAX, i)).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| scaled[*i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            table[s] = ((scaled[s] * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32, l as u32);
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left is full (up to rounding): always kept.
        Alias { table }
    }

    #[inline]
    fn pick(&self, r: u64) -> usize {
        let i = (((r >> 32) * self.table.len() as u64) >> 32) as usize;
        let (keep, alias) = self.table[i];
        // Branch-free: which way a draw goes is random, so a branch would mispredict often.
        let take_alias = u64::from((r as u32) >= keep).wrapping_neg();
        ((i as u64 & !take_alias) | (u64::from(alias) & take_alias)) as usize
    }
}

/// Draws ranks 0..n with probability proportional to 1 / (rank + 1)^exponent.
pub struct Zipf {
    /// Ranks 0..head, and outcome `head` for "one of the others".
    head: Alias,
    head_len: usize,
    /// Ranks head_len..n.
    tail: Option<Alias>,
    rng: Xoshiro256PlusPlus,
}

impl Zipf {
    /// `n` ranks (at least 1), a finite non-negative exponent, a seed.
    pub fn new(n: usize, exponent: f64, seed: u64) -> Self {
        let n = n.max(1);
        let weight = |rank: usize| ((rank + 1) as f64).powf(-exponent);
        let head_len = n.min(HEAD);
        let mut head: Vec<f64> = (0..head_len).map(weight).collect();
        let tail = (n > head_len).then(|| {
            let tail: Vec<f64> = (head_len..n).map(weight).collect();
            head.push(tail.iter().sum());
            Alias::new(&tail)
        });
        Zipf { head: Alias::new(&head), head_len, tail, rng: Xoshiro256PlusPlus::seed_from_u64(seed) }
    }

    /// The next rank (0 is the most popular).
    #[inline]
    pub fn next_rank(&mut self) -> usize {
        let i = self.head.pick(self.rng.next_u64());
        match &self.tail {
            Some(tail) if i == self.head_len => self.head_len + tail.pick(self.rng.next_u64()),
            _ => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_follow_the_exponent_and_seeds_replay() {
        let n = 10_000;
        let mut z = Zipf::new(n, 1.5, 7);
        let mut counts = vec![0u32; n];
        let draws = 4_000_000;
        for _ in 0..draws {
            counts[z.next_rank()] += 1;
        }
        let total: f64 = (1..=n).map(|r| (r as f64).powf(-1.5)).sum();
        let expected = |rank: usize| draws as f64 * ((rank + 1) as f64).powf(-1.5) / total;
        for rank in [0usize, 1, 9, 255, 256] {
            let got = f64::from(counts[rank]);
            let tolerance = 5.0 * expected(rank).sqrt() + 0.01 * expected(rank);
            assert!((got - expected(rank)).abs() < tolerance, "rank {rank}: {got} vs {}", expected(rank));
        }
        // The tail as a whole (the second-level table).
        let tail: f64 = (300..n).map(|r| f64::from(counts[r])).sum();
        let want: f64 = (300..n).map(expected).sum();
        assert!((tail - want).abs() < 0.02 * want, "tail {tail} vs {want}");
        assert!(counts[n - 1] < 20, "the least popular group is rare");
        let mut a = Zipf::new(100, 1.5, 3);
        let mut b = Zipf::new(100, 1.5, 3);
        assert!((0..1000).all(|_| a.next_rank() == b.next_rank()));
        let mut one = Zipf::new(1, 1.5, 1);
        assert!((0..100).all(|_| one.next_rank() == 0));
        let mut flat = Zipf::new(1000, 0.0, 1);
        let mut seen = vec![false; 1000];
        (0..100_000).for_each(|_| seen[flat.next_rank()] = true);
        assert!(seen.iter().all(|s| *s), "exponent 0 reaches every rank");
    }
}
