//! What the kinds that need total order offer on an open proxy: each operation waits for
//! its own update to come back and says what became of it (decided at apply time, alike at
//! every replica).

use super::error::LiveError;
use super::proxy::Live;
use argent_objects::object::{Counter, CounterOp, Holder, Lock, LockOp, LogEntry, LogOp, ReplicatedLog};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// How long the operations below wait for their update to be applied here.
pub const ORDERED_WAIT: Duration = Duration::from_secs(10);

impl<T: Serialize + DeserializeOwned + Clone> Live<ReplicatedLog<T>> {
    /// Appends `value` and waits until it is applied here; returns its index, the same at
    /// every replica.
    pub fn append(&self, value: T) -> Result<u64, LiveError> {
        Ok(self.submit_wait(LogOp::Append(value), ORDERED_WAIT)?.index)
    }

    /// Appends `value` without waiting (it takes its index when delivered).
    pub fn append_nowait(&self, value: T) -> Result<(), LiveError> {
        self.submit(LogOp::Append(value))
    }

    /// How many entries are applied here.
    pub fn len(&self) -> u64 {
        self.read(|s| s.len())
    }

    /// Whether no entry is applied here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries applied here, from index `from` on (at most `max`).
    pub fn entries(&self, from: u64, max: usize) -> Vec<LogEntry<T>> {
        self.read(|s| {
            let from = usize::try_from(from).unwrap_or(usize::MAX).min(s.entries().len());
            s.entries()[from..].iter().take(max).cloned().collect()
        })
    }
}

impl Live<Counter> {
    /// The count applied here.
    pub fn value(&self) -> u64 {
        self.read(|s| s.value())
    }

    /// Adds `n`, and waits until it is applied here; false if the count would pass
    /// `u64::MAX` (then nothing changed). Returns the outcome and the count after it.
    pub fn increment(&self, n: u64) -> Result<(bool, u64), LiveError> {
        let c = self.submit_wait(CounterOp::Increment(n), ORDERED_WAIT)?;
        Ok((c.applied, c.value))
    }

    /// Subtracts `n` if the count is at least `n` when the update is applied; waits for it
    /// and says whether it applied (and the count after it). Every replica decides alike,
    /// so two concurrent withdrawals never both overdraw.
    pub fn decrement_if_at_least(&self, n: u64) -> Result<(bool, u64), LiveError> {
        let c = self.submit_wait(CounterOp::DecrementIfAtLeast(n), ORDERED_WAIT)?;
        Ok((c.applied, c.value))
    }
}

impl Live<Lock> {
    /// Asks for the lock for `owner`, held at most `lease` (or until released); waits for
    /// the request to be applied and says whether `owner` holds it now. The time that
    /// expires leases is this host's clock when the request is made.
    pub fn acquire(&self, owner: &str, lease: Option<Duration>) -> Result<bool, LiveError> {
        let lease_ms = lease.map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX));
        let op = LockOp::Acquire { owner: owner.to_owned(), lease_ms, at_ms: now_ms() };
        Ok(self.submit_wait(op, ORDERED_WAIT)?.granted)
    }

    /// Gives the lock back for `owner`; says whether `owner` held it (else nothing changed).
    pub fn release(&self, owner: &str) -> Result<bool, LiveError> {
        Ok(self.submit_wait(LockOp::Release { owner: owner.to_owned() }, ORDERED_WAIT)?.granted)
    }

    /// Who holds the lock here now (a lease that ran out by this host's clock is free).
    pub fn holder(&self) -> Option<Holder> {
        self.read(|s| s.holder_at(now_ms()).cloned())
    }
}

/// This host's wall clock, milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
