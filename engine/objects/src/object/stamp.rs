//! Lamport stamps: the total order that decides every conflict between updates.

use super::error::ObjectError;
use serde::{Deserialize, Serialize};

/// When and by whom an update was made: a Lamport time and the proxy that stamped it.
///
/// Ordered by `lamport`, then `origin`. Each proxy's stamps strictly increase and origins
/// are unique per proxy incarnation, so no two updates share a stamp and every conflict has
/// one winner at every proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Lamport time: one more than the largest time its proxy had seen.
    pub lamport: u64,
    /// The proxy that made the update; unique per proxy incarnation.
    pub origin: u64,
}

/// A proxy's Lamport clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    origin: u64,
    latest: u64,
}

impl Clock {
    /// A clock for proxy `origin` that has seen nothing.
    pub fn new(origin: u64) -> Self {
        Clock { origin, latest: 0 }
    }

    /// A clock for proxy `origin` that has already seen Lamport time `latest` (a joiner
    /// starts after everything its checkpoint includes).
    pub fn starting_at(origin: u64, latest: u64) -> Self {
        Clock { origin, latest }
    }

    /// The stamp for a new local update: one more than the largest time seen.
    pub fn tick(&mut self) -> Result<Stamp, ObjectError> {
        let lamport = self.latest.checked_add(1).ok_or(ObjectError::Exhausted("Lamport clock"))?;
        self.latest = lamport;
        Ok(Stamp { lamport, origin: self.origin })
    }

    /// Take a delivered update's stamp into account, so later local stamps follow it.
    pub fn observe(&mut self, stamp: Stamp) {
        self.latest = self.latest.max(stamp.lamport);
    }

    /// The largest Lamport time seen or stamped.
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The proxy this clock stamps for.
    pub fn origin(&self) -> u64 {
        self.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_order_by_lamport_then_origin() {
        let a = Stamp { lamport: 1, origin: 9 };
        let b = Stamp { lamport: 2, origin: 1 };
        let c = Stamp { lamport: 2, origin: 3 };
        assert!(a < b && b < c);
    }

    #[test]
    fn tick_follows_everything_observed() {
        let mut clock = Clock::new(7);
        assert_eq!(clock.tick(), Ok(Stamp { lamport: 1, origin: 7 }));
        clock.observe(Stamp { lamport: 10, origin: 3 });
        clock.observe(Stamp { lamport: 4, origin: 2 });
        assert_eq!(clock.tick(), Ok(Stamp { lamport: 11, origin: 7 }));
        assert_eq!(clock.latest(), 11);
    }

    #[test]
    fn exhausted_clock_refuses_to_stamp() {
        let mut clock = Clock::starting_at(1, u64::MAX - 1);
        assert!(clock.tick().is_ok());
        assert_eq!(clock.tick(), Err(ObjectError::Exhausted("Lamport clock")));
        assert_eq!(clock.latest(), u64::MAX);
    }
}
