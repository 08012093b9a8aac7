//! Which updates a state includes: per sender, the last update applied.

use super::codec::POSITION_VERSION;
use super::codec::{decode_versioned, encode_versioned};
use super::error::ObjectError;
use super::stamp::Stamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The last update of one sender that a state includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Its sequence number: updates `1..=seq` of the sender are included.
    pub seq: u64,
    /// Its Lamport time: the sender's next update must be stamped later.
    pub lamport: u64,
}

/// Per sender origin, the last update a state includes.
///
/// Senders number their updates 1, 2, 3, ... and the driver delivers each sender's updates
/// in order, so one [`Mark`] per sender says exactly which updates a state has: a delivered
/// update at or below its sender's mark is a duplicate and is skipped, the next one is
/// applied, and anything further is a [`ObjectError::Gap`]. A checkpoint travels with the
/// position of the state it was taken from, so a joiner skips exactly what it already has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    marks: BTreeMap<u64, Mark>,
}

/// What to do with a delivered update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Already included: skip it.
    Duplicate,
    /// The sender's next update: apply it, then [`Position::advance`].
    Next,
}

impl Position {
    /// The position of a state that includes no update.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last included update of `origin`, if any.
    pub fn mark(&self, origin: u64) -> Option<Mark> {
        self.marks.get(&origin).copied()
    }

    /// Whether update `seq` of `origin` is included.
    pub fn includes(&self, origin: u64, seq: u64) -> bool {
        self.marks.get(&origin).is_some_and(|m| seq <= m.seq)
    }

    /// The senders with included updates and their marks, by origin.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Mark)> + '_ {
        self.marks.iter().map(|(&origin, &mark)| (origin, mark))
    }

    /// How many senders have included updates.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// Whether no update is included.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// The total number of included updates.
    pub fn total(&self) -> u64 {
        self.marks.values().fold(0, |sum, m| sum.saturating_add(m.seq))
    }

    /// The largest Lamport time of any included update (0 when none).
    pub fn latest_lamport(&self) -> u64 {
        self.marks.values().map(|m| m.lamport).max().unwrap_or(0)
    }

    /// Encode with the [`POSITION_VERSION`] prefix, to send with a checkpoint.
    pub fn encode(&self) -> Result<Vec<u8>, ObjectError> {
        encode_versioned("position", POSITION_VERSION, self)
    }

    /// Decode untrusted bytes; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, ObjectError> {
        let position: Self = decode_versioned("position", POSITION_VERSION, bytes)?;
        // A sender's Lamport times strictly increase from at least 1, so lamport >= seq.
        if let Some((origin, m)) = position.iter().find(|(_, m)| m.seq == 0 || m.lamport < m.seq) {
            return Err(ObjectError::Malformed {
                what: "position",
                reason: format!(
                    "origin {origin} has mark seq {} lamport {}; need 1 <= seq <= lamport",
                    m.seq, m.lamport
                ),
            });
        }
        Ok(position)
    }

    /// Decide whether update `seq` stamped `stamp` is a duplicate or the sender's next,
    /// or refuse it when it leaves a gap or is stamped no later than its predecessor.
    pub(crate) fn admit(&self, stamp: Stamp, seq: u64) -> Result<Admission, ObjectError> {
        let origin = stamp.origin;
        let (expected, previous) = match self.marks.get(&origin) {
            Some(m) if seq <= m.seq => return Ok(Admission::Duplicate),
            // `m.seq < seq <= u64::MAX`, so this does not overflow.
            Some(m) => (m.seq + 1, m.lamport),
            None => (1, 0),
        };
        if seq != expected {
            return Err(ObjectError::Gap { origin, expected, found: seq });
        }
        if stamp.lamport <= previous {
            return Err(ObjectError::StaleStamp { origin, seq, lamport: stamp.lamport, previous });
        }
        Ok(Admission::Next)
    }

    /// Record that update `seq` stamped `stamp`, admitted as [`Admission::Next`], is included.
    pub(crate) fn advance(&mut self, stamp: Stamp, seq: u64) {
        let previous = self.marks.insert(stamp.origin, Mark { seq, lamport: stamp.lamport });
        assert_eq!(previous.map_or(0, |m| m.seq) + 1, seq, "advance without admit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(lamport: u64, origin: u64) -> Stamp {
        Stamp { lamport, origin }
    }

    #[test]
    fn admits_in_order_skips_duplicates_refuses_gaps() {
        let mut p = Position::new();
        assert_eq!(p.admit(stamp(5, 1), 2), Err(ObjectError::Gap { origin: 1, expected: 1, found: 2 }));
        assert_eq!(p.admit(stamp(5, 1), 1), Ok(Admission::Next));
        p.advance(stamp(5, 1), 1);
        assert_eq!(p.admit(stamp(5, 1), 1), Ok(Admission::Duplicate));
        assert!(matches!(p.admit(stamp(5, 1), 2), Err(ObjectError::StaleStamp { previous: 5, .. })));
        assert_eq!(p.admit(stamp(6, 1), 2), Ok(Admission::Next));
        p.advance(stamp(6, 1), 2);
        assert!(p.includes(1, 2) && !p.includes(1, 3) && !p.includes(2, 1));
        assert_eq!((p.total(), p.latest_lamport()), (2, 6));
    }

    #[test]
    fn round_trips_and_rejects_impossible_marks() {
        let mut p = Position::new();
        p.advance(stamp(3, 8), 1);
        p.advance(stamp(4, 9), 1);
        assert_eq!(Position::decode(&p.encode().unwrap()), Ok(p));
        let mut bad = Position::new();
        bad.marks.insert(1, Mark { seq: 4, lamport: 3 });
        assert!(matches!(Position::decode(&bad.encode().unwrap()), Err(ObjectError::Malformed { .. })));
    }
}
