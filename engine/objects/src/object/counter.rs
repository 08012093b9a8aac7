//! The counter: a non-negative count with a conditional decrement decided at apply time.

use super::codec::{decode_checkpoint, encode_checkpoint};
use super::error::ObjectError;
use super::kind::LiveObject;
use super::ordered::Stamped;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::{Deserialize, Serialize};

/// A counter that never goes below 0: an increment adds, a conditional decrement
/// subtracts only if the count is at least the amount. Each replica decides when it applies
/// the update, from its state; on a total-order driver all replicas apply the same updates
/// in the same order, so they all decide alike, and two concurrent withdrawals can never
/// both overdraw. The kind needs total order ([`crate::types::Category::needs`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter;

/// An operation on a [`Counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterOp {
    /// Add this much (refused if the count would pass `u64::MAX`).
    Increment(u64),
    /// Subtract this much if the count is at least that much; refused otherwise.
    DecrementIfAtLeast(u64),
}

/// The state of a [`Counter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    value: u64,
    applied: u64,
    refused: u64,
}

/// A [`Counter`] update was applied or refused (every update makes one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CounterChange {
    /// The update's stamp (its origin is the proxy that submitted it).
    pub stamp: Stamp,
    /// What it asked for.
    pub op: CounterOp,
    /// Whether it changed the count (false: a decrement below 0, or an overflow).
    pub applied: bool,
    /// The count after it.
    pub value: u64,
}

impl Stamped for CounterChange {
    fn stamp(&self) -> Stamp {
        self.stamp
    }
}

impl CounterState {
    /// The count.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// How many updates changed the count.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// How many updates were refused (a decrement below 0, an overflow).
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

impl LiveObject for Counter {
    type State = CounterState;
    type Op = CounterOp;
    type Change = CounterChange;

    fn initial() -> CounterState {
        CounterState::default()
    }

    /// Decide from the state as it is at this point of the delivery order.
    fn apply(state: &mut CounterState, stamp: Stamp, op: CounterOp) -> Option<CounterChange> {
        let next = match op {
            CounterOp::Increment(n) => state.value.checked_add(n),
            CounterOp::DecrementIfAtLeast(n) => state.value.checked_sub(n),
        };
        let applied = next.is_some();
        match next {
            Some(v) => {
                state.value = v;
                state.applied = state.applied.saturating_add(1);
            }
            None => state.refused = state.refused.saturating_add(1),
        }
        Some(CounterChange { stamp, op, applied, value: state.value })
    }

    fn checkpoint(state: &CounterState) -> Result<Vec<u8>, ObjectError> {
        encode_checkpoint(state)
    }

    fn restore(bytes: &[u8]) -> Result<CounterState, ObjectError> {
        decode_checkpoint(bytes)
    }
}

impl Proxy<Counter> {
    /// The count applied so far.
    pub fn value(&self) -> u64 {
        self.state().value()
    }

    /// The update that adds `n` once delivered; send it into the driver.
    pub fn increment(&mut self, n: u64) -> Result<Vec<u8>, ObjectError> {
        self.local(CounterOp::Increment(n))
    }

    /// The update that subtracts `n` once delivered, if the count is then at least `n`.
    pub fn decrement_if_at_least(&mut self, n: u64) -> Result<Vec<u8>, ObjectError> {
        self.local(CounterOp::DecrementIfAtLeast(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(lamport: u64, origin: u64) -> Stamp {
        Stamp { lamport, origin }
    }

    #[test]
    fn a_decrement_applies_only_down_to_zero() {
        let mut s = Counter::initial();
        let c = Counter::apply(&mut s, stamp(1, 1), CounterOp::Increment(5)).unwrap();
        assert!(c.applied && c.value == 5);
        let c = Counter::apply(&mut s, stamp(2, 2), CounterOp::DecrementIfAtLeast(3)).unwrap();
        assert!(c.applied && c.value == 2);
        let c = Counter::apply(&mut s, stamp(2, 3), CounterOp::DecrementIfAtLeast(3)).unwrap();
        assert!(!c.applied && c.value == 2, "would go below 0");
        let c = Counter::apply(&mut s, stamp(3, 3), CounterOp::DecrementIfAtLeast(2)).unwrap();
        assert!(c.applied && c.value == 0);
        let c = Counter::apply(&mut s, stamp(4, 1), CounterOp::Increment(u64::MAX)).unwrap();
        assert!(c.applied && c.value == u64::MAX);
        let c = Counter::apply(&mut s, stamp(5, 1), CounterOp::Increment(1)).unwrap();
        assert!(!c.applied && c.value == u64::MAX, "an overflow is refused");
        assert_eq!((s.applied(), s.refused()), (4, 2));
        assert_eq!(c.stamp(), stamp(5, 1));
    }

    #[test]
    fn the_order_decides_which_withdrawal_wins() {
        let ops = [
            (stamp(1, 1), CounterOp::Increment(10)),
            (stamp(2, 2), CounterOp::DecrementIfAtLeast(7)),
            (stamp(2, 3), CounterOp::DecrementIfAtLeast(7)),
        ];
        let mut forward = Counter::initial();
        let won: Vec<bool> =
            ops.iter().map(|&(s, op)| Counter::apply(&mut forward, s, op).unwrap().applied).collect();
        assert_eq!(won, [true, true, false]);
        assert_eq!(forward.value(), 3);
        let bytes = Counter::checkpoint(&forward).unwrap();
        assert_eq!(Counter::restore(&bytes), Ok(forward));
    }

    #[test]
    fn proxy_learns_its_outcome_on_delivery() {
        let mut p = Proxy::<Counter>::new(4);
        let up = p.increment(1).unwrap();
        let down = p.decrement_if_at_least(2).unwrap();
        assert!(p.deliver(&up).unwrap().unwrap().applied);
        let c = p.deliver(&down).unwrap().unwrap();
        assert!(!c.applied);
        assert_eq!(c.stamp.origin, 4);
        assert_eq!(p.value(), 1);
    }
}
