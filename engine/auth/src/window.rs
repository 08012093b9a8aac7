//! A sliding replay window over a sender channel's datagram counters.

/// Counters a window remembers below the highest one seen.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Which counters of one sender channel have been accepted: the highest, and a bitmap of the
/// [`WINDOW`] below it. A counter beyond the highest moves the window (however far: counters
/// only count up, and the tag was checked first); one older than the window is refused.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    highest: Option<u64>,
    bits: [u64; WORDS],
}

/// What a window says of a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not seen: accept it (then [`ReplayWindow::mark`] it).
    New,
    /// Seen before: a replay or a duplicate.
    Replay,
    /// Older than the window: refused, as a replay might be.
    Stale,
}

impl ReplayWindow {
    /// Whether `counter` is new, without changing anything.
    pub fn check(&self, counter: u64) -> Seen {
        let Some(high) = self.highest else { return Seen::New };
        if counter > high {
            return Seen::New;
        }
        let back = high - counter;
        if back >= WINDOW {
            return Seen::Stale;
        }
        let bit = (counter % WINDOW) as usize;
        if self.bits[bit / 64] & (1 << (bit % 64)) != 0 {
            Seen::Replay
        } else {
            Seen::New
        }
    }

    /// Records `counter` as accepted (after [`ReplayWindow::check`] said new and the tag held).
    pub fn mark(&mut self, counter: u64) {
        match self.highest {
            Some(high) if counter <= high => {}
            Some(high) => {
                // Clear the slots the window moves over (all of them after a long jump).
                let step = counter - high;
                if step >= WINDOW {
                    self.bits = [0; WORDS];
                } else {
                    for c in high + 1..=counter {
                        let bit = (c % WINDOW) as usize;
                        self.bits[bit / 64] &= !(1 << (bit % 64));
                    }
                }
                self.highest = Some(counter);
            }
            None => self.highest = Some(counter),
        }
        let bit = (counter % WINDOW) as usize;
        self.bits[bit / 64] |= 1 << (bit % 64);
    }

    /// The highest counter accepted.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replays_and_stale_counters_are_refused() {
        let mut w = ReplayWindow::default();
        for c in [100, 102, 101, 5000, 4000] {
            assert_eq!(w.check(c), Seen::New, "{c}");
            w.mark(c);
        }
        assert_eq!(w.check(5000), Seen::Replay);
        assert_eq!(w.check(4000), Seen::Replay);
        assert_eq!(w.check(4500), Seen::New);
        assert_eq!(w.check(102), Seen::Stale);
        assert_eq!(w.check(5000 - WINDOW), Seen::Stale);
        assert_eq!(w.check(5001 - WINDOW), Seen::New);
    }

    proptest! {
        /// Against a set of everything accepted: a counter is new exactly when it was never
        /// accepted and is within the window; nothing is accepted twice.
        #[test]
        fn matches_a_model(counters in proptest::collection::vec(0u64..3000, 1..400)) {
            let mut w = ReplayWindow::default();
            let mut seen = std::collections::BTreeSet::new();
            let mut high: Option<u64> = None;
            for c in counters {
                let expect = if seen.contains(&c) {
                    Seen::Replay
                } else if high.is_some_and(|h| c + WINDOW <= h) {
                    Seen::Stale
                } else {
                    Seen::New
                };
                let got = w.check(c);
                if got == Seen::New {
                    w.mark(c);
                    seen.insert(c);
                    high = high.max(Some(c));
                }
                // Seen-but-stale counters may be reported either way; both refuse.
                if expect == Seen::Replay && high.is_some_and(|h| c + WINDOW <= h) {
                    prop_assert_ne!(got, Seen::New);
                } else {
                    prop_assert_eq!(got, expect);
                }
            }
        }
    }
}
