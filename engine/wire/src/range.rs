//! Inclusive ranges of sequence numbers, as pulls, NAKs and tokens carry them.

/// An inclusive range of sequence numbers, `start..=end`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct SeqRange {
    /// First sequence number.
    pub start: u64,
    /// Last sequence number (inclusive, `>= start`).
    pub end: u64,
}

impl SeqRange {
    /// Number of sequence numbers in the range.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }
    /// Ranges are never empty; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Whether `seq` lies in the range.
    pub fn contains(&self, seq: u64) -> bool {
        self.start <= seq && seq <= self.end
    }
}
