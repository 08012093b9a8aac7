//! The lock: at most one holder, granted in delivery order, with optional leases.

use super::codec::{decode_checkpoint, encode_checkpoint};
use super::error::ObjectError;
use super::kind::LiveObject;
use super::ordered::Stamped;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::{Deserialize, Serialize};

/// Longest owner name, in bytes: a longer one is refused (never granted).
pub const MAX_OWNER_BYTES: usize = 256;

/// A lock (or lease): every replica grants it to the first acquire it applies while it is
/// free, and refuses the others until the holder releases it or its lease runs out. On a
/// total-order driver every replica applies the same requests in the same order, so all
/// name the same holder and at most one holder exists in every replica's state. The kind
/// needs total order ([`crate::types::Category::needs`]).
///
/// Owners are names (a process, a user, a job), not proxies: a holder may release from
/// another process. A lease is measured against the wall-clock time each request carries
/// (`at_ms`, its sender's clock, milliseconds since the Unix epoch): an acquire made at or
/// after the holder's expiry finds the lock free. Every replica decides from the request's
/// time, not its own, so they agree; but a host whose clock runs ahead can take an expired
/// lease early, so with leases mutual exclusion in real time holds only as far as the
/// hosts' clocks agree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lock;

/// A request to a [`Lock`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockOp {
    /// Take the lock for `owner` (granted if free, expired, or already `owner`'s: then the
    /// lease is renewed).
    Acquire {
        /// Who takes it.
        owner: String,
        /// Held at most this long past `at_ms` (`None`: until released).
        lease_ms: Option<u64>,
        /// When the request was made, by its sender's clock (ms since the Unix epoch).
        at_ms: u64,
    },
    /// Give the lock back (only its holder's release applies).
    Release {
        /// Who gives it back.
        owner: String,
    },
}

/// Who holds a [`Lock`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The owner's name.
    pub owner: String,
    /// The acquire that granted it (its origin is the proxy that asked).
    pub since: Stamp,
    /// When the lease runs out (ms since the Unix epoch; `None`: never).
    pub expires_ms: Option<u64>,
}

/// The state of a [`Lock`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockState {
    holder: Option<Holder>,
    grants: u64,
    refusals: u64,
}

/// A request to a [`Lock`] was granted or refused (every request makes one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockChange {
    /// The request's stamp (its origin is the proxy that made it).
    pub stamp: Stamp,
    /// The request.
    pub op: LockOp,
    /// Acquire: the lock is now the owner's; release: the owner gave it back.
    pub granted: bool,
    /// Who holds the lock after the request.
    pub holder: Option<String>,
}

impl Stamped for LockChange {
    fn stamp(&self) -> Stamp {
        self.stamp
    }
}

impl LockState {
    /// The holder, as of the last request applied (a lease that ran out since is still
    /// shown: only a request carries the time that expires it).
    pub fn holder(&self) -> Option<&Holder> {
        self.holder.as_ref()
    }

    /// The holder at wall-clock time `now_ms`: `None` if free or its lease ran out.
    pub fn holder_at(&self, now_ms: u64) -> Option<&Holder> {
        self.holder.as_ref().filter(|h| h.expires_ms.map_or(true, |e| now_ms < e))
    }

    /// Acquires granted (renewals included).
    pub fn grants(&self) -> u64 {
        self.grants
    }

    /// Requests refused.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }
}

impl LiveObject for Lock {
    type State = LockState;
    type Op = LockOp;
    type Change = LockChange;

    fn initial() -> LockState {
        LockState::default()
    }

    /// Decide from the state at this point of the delivery order and the request's time.
    fn apply(state: &mut LockState, stamp: Stamp, op: LockOp) -> Option<LockChange> {
        let granted = match &op {
            LockOp::Acquire { owner, lease_ms, at_ms } => {
                let free = state.holder_at(*at_ms).map_or(true, |h| h.owner == *owner);
                let granted = free && owner.len() <= MAX_OWNER_BYTES;
                if granted {
                    let expires_ms = lease_ms.map(|l| at_ms.saturating_add(l));
                    state.holder = Some(Holder { owner: owner.clone(), since: stamp, expires_ms });
                    state.grants = state.grants.saturating_add(1);
                }
                granted
            }
            LockOp::Release { owner } => {
                let holds = state.holder.as_ref().is_some_and(|h| h.owner == *owner);
                if holds {
                    state.holder = None;
                }
                holds
            }
        };
        if !granted {
            state.refusals = state.refusals.saturating_add(1);
        }
        let holder = state.holder.as_ref().map(|h| h.owner.clone());
        Some(LockChange { stamp, op, granted, holder })
    }

    fn checkpoint(state: &LockState) -> Result<Vec<u8>, ObjectError> {
        encode_checkpoint(state)
    }

    fn restore(bytes: &[u8]) -> Result<LockState, ObjectError> {
        let state: LockState = decode_checkpoint(bytes)?;
        if let Some(h) = state.holder.as_ref().filter(|h| h.owner.len() > MAX_OWNER_BYTES) {
            let reason = format!("a holder name of {} bytes (at most {MAX_OWNER_BYTES})", h.owner.len());
            return Err(ObjectError::Malformed { what: "checkpoint", reason });
        }
        Ok(state)
    }
}

impl Proxy<Lock> {
    /// The update that asks for the lock for `owner` at wall-clock time `at_ms`, held at
    /// most `lease_ms` (or until released); send it into the driver.
    pub fn acquire(
        &mut self,
        owner: &str,
        lease_ms: Option<u64>,
        at_ms: u64,
    ) -> Result<Vec<u8>, ObjectError> {
        self.local(LockOp::Acquire { owner: owner.to_owned(), lease_ms, at_ms })
    }

    /// The update that gives the lock back for `owner`; send it into the driver.
    pub fn release(&mut self, owner: &str) -> Result<Vec<u8>, ObjectError> {
        self.local(LockOp::Release { owner: owner.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(lamport: u64, origin: u64) -> Stamp {
        Stamp { lamport, origin }
    }

    fn acquire(owner: &str, lease_ms: Option<u64>, at_ms: u64) -> LockOp {
        LockOp::Acquire { owner: owner.into(), lease_ms, at_ms }
    }

    fn release(owner: &str) -> LockOp {
        LockOp::Release { owner: owner.into() }
    }

    fn granted(s: &mut LockState, lamport: u64, op: LockOp) -> bool {
        Lock::apply(s, stamp(lamport, 1), op).unwrap().granted
    }

    #[test]
    fn one_holder_until_released() {
        let mut s = Lock::initial();
        assert!(granted(&mut s, 1, acquire("a", None, 0)));
        assert!(!granted(&mut s, 2, acquire("b", None, 0)), "held by a");
        assert!(granted(&mut s, 3, acquire("a", None, 0)), "a renews");
        assert!(!granted(&mut s, 4, release("b")), "b does not hold it");
        assert_eq!(s.holder().map(|h| h.owner.as_str()), Some("a"));
        assert!(granted(&mut s, 5, release("a")));
        assert!(s.holder().is_none());
        let c = Lock::apply(&mut s, stamp(6, 9), acquire("b", None, 0)).unwrap();
        assert!(c.granted && c.holder.as_deref() == Some("b") && c.stamp() == stamp(6, 9));
        assert_eq!((s.grants(), s.refusals()), (3, 2));
    }

    #[test]
    fn a_lease_runs_out_by_the_requests_time() {
        let mut s = Lock::initial();
        assert!(granted(&mut s, 1, acquire("a", Some(100), 1_000)));
        assert!(!granted(&mut s, 2, acquire("b", Some(100), 1_099)));
        assert_eq!(s.holder_at(1_099).map(|h| h.owner.as_str()), Some("a"));
        assert!(s.holder_at(1_100).is_none());
        assert!(granted(&mut s, 3, acquire("b", None, 1_100)), "a's lease ran out");
        assert!(!granted(&mut s, 4, release("a")));
        assert!(!granted(&mut s, 5, acquire(&"x".repeat(MAX_OWNER_BYTES + 1), None, u64::MAX)));
        let bytes = Lock::checkpoint(&s).unwrap();
        assert_eq!(Lock::restore(&bytes), Ok(s));
    }
}
