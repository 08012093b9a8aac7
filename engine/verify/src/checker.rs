//! Where a receiver is in one (sender, stream) stream, and the verdict on each index.

/// A late joiner's stream before its first message.
const UNSTARTED: u64 = u64::MAX;
/// Highest `next` a started stream keeps (so that it never reads as unstarted).
const LAST: u64 = UNSTARTED - 1;

/// What one message's index means for its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// The index expected next.
    InOrder,
    /// A late joiner's first message: where its stream starts for it (in order by definition).
    First,
    /// An index already passed: a duplicate (or a message overtaken by a later one).
    Duplicate,
    /// This many indices were skipped before this one (a gap, or reordering).
    Skipped(u64),
}

/// The index a receiver expects next from one stream: 8 bytes, so that thousands of
/// streams stay in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checker {
    next: u64,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    /// A stream checked from its first message, index 0.
    pub const fn new() -> Self {
        Checker { next: 0 }
    }

    /// A late joiner's stream, checked from whichever message arrives first.
    pub const fn late() -> Self {
        Checker { next: UNSTARTED }
    }

    /// The verdict on message `index`; the stream moves past it unless it is a duplicate.
    #[inline]
    pub fn check(&mut self, index: u64) -> Verdict {
        let next = self.next;
        let verdict = if next == UNSTARTED {
            Verdict::First
        } else if index == next {
            Verdict::InOrder
        } else if index < next {
            return Verdict::Duplicate;
        } else {
            Verdict::Skipped(index - next)
        };
        self.next = index.saturating_add(1).min(LAST);
        verdict
    }

    /// The index expected next (0 before a late joiner's first message).
    #[inline]
    pub fn next(&self) -> u64 {
        if self.started() {
            self.next
        } else {
            0
        }
    }

    /// Whether a late joiner's stream has had its first message (always, from the start).
    #[inline]
    pub fn started(&self) -> bool {
        self.next != UNSTARTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_duplicates_and_skips() {
        let mut c = Checker::new();
        let verdicts: Vec<Verdict> = [0, 1, 1, 0, 4, 5, 3].iter().map(|i| c.check(*i)).collect();
        use Verdict::*;
        assert_eq!(verdicts, [InOrder, InOrder, Duplicate, Duplicate, Skipped(2), InOrder, Duplicate]);
        assert_eq!(c.next(), 6);
    }

    #[test]
    fn a_late_joiner_starts_where_it_starts() {
        let mut c = Checker::late();
        assert!(!c.started() && c.next() == 0);
        assert_eq!(c.check(40), Verdict::First);
        assert_eq!(
            (c.check(41), c.check(40), c.check(43)),
            (Verdict::InOrder, Verdict::Duplicate, Verdict::Skipped(1))
        );
        assert_eq!(c.next(), 44);
    }

    #[test]
    fn the_largest_index_never_unstarts_a_stream() {
        let mut c = Checker::new();
        assert_eq!(c.check(u64::MAX), Verdict::Skipped(u64::MAX));
        assert!(c.started());
        let mut late = Checker::late();
        assert_eq!(late.check(u64::MAX), Verdict::First);
        assert!(late.started());
    }
}
