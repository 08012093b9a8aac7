//! What `argent obj exercise` writes: a value of each value type from a random word, and
//! the seeded generator it is drawn from.

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// A value of each value type from a random word, for the exercise.
pub(crate) trait Sample {
    fn sample(r: u64) -> Self;
}

impl Sample for i64 {
    fn sample(r: u64) -> Self {
        (r % 1000) as i64
    }
}

impl Sample for f64 {
    fn sample(r: u64) -> Self {
        (r % 1000) as f64 / 10.0
    }
}

impl Sample for bool {
    fn sample(r: u64) -> Self {
        r.is_multiple_of(2)
    }
}

impl Sample for String {
    fn sample(r: u64) -> Self {
        format!("v{}", r % 1000)
    }
}

/// The exercise's seeded generator (the repo's: portable, the same sequence everywhere).
pub(crate) fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}
