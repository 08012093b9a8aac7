//! The replicated log: entries appended in one order at every replica, the log of a
//! replicated state machine.

use super::codec::{decode_checkpoint, encode_checkpoint};
use super::error::ObjectError;
use super::kind::LiveObject;
use super::ordered::Stamped;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// A replicated log of `T`: every replica appends the entries in the order its driver
/// delivers them. On a total-order driver every replica holds the same entries at the same
/// indices, so applying them in index order is a replicated state machine. (Entries are
/// not reordered by stamp: that is what makes the index an agreement, and why the kind
/// needs total order, [`crate::types::Category::needs`].)
pub struct ReplicatedLog<T> {
    _entries: PhantomData<fn() -> T>,
}

/// An operation on a [`ReplicatedLog`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogOp<T> {
    /// Append an entry at the end.
    Append(T),
}

/// One entry of a [`ReplicatedLog`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry<T> {
    /// Who appended it, when.
    pub stamp: Stamp,
    /// The entry.
    pub value: T,
}

/// The state of a [`ReplicatedLog`]: its entries in the order applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState<T> {
    entries: Vec<LogEntry<T>>,
}

/// An entry was appended to a [`ReplicatedLog`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogChange<T> {
    /// Its index (the number of entries before it): the same at every replica.
    pub index: u64,
    /// Who appended it, when.
    pub stamp: Stamp,
    /// The entry.
    pub value: T,
}

impl<T> Stamped for LogChange<T> {
    fn stamp(&self) -> Stamp {
        self.stamp
    }
}

impl<T> LogState<T> {
    /// The entries, first appended first.
    pub fn entries(&self) -> &[LogEntry<T>] {
        &self.entries
    }

    /// The entry at `index`.
    pub fn get(&self, index: u64) -> Option<&LogEntry<T>> {
        usize::try_from(index).ok().and_then(|i| self.entries.get(i))
    }

    /// How many entries were appended.
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T> LiveObject for ReplicatedLog<T>
where
    T: Clone + Serialize + DeserializeOwned,
{
    type State = LogState<T>;
    type Op = LogOp<T>;
    type Change = LogChange<T>;

    fn initial() -> LogState<T> {
        LogState { entries: Vec::new() }
    }

    /// Append at the end: the index is the delivery order's.
    fn apply(state: &mut LogState<T>, stamp: Stamp, op: LogOp<T>) -> Option<LogChange<T>> {
        let LogOp::Append(value) = op;
        let index = state.len();
        state.entries.push(LogEntry { stamp, value: value.clone() });
        Some(LogChange { index, stamp, value })
    }

    fn checkpoint(state: &LogState<T>) -> Result<Vec<u8>, ObjectError> {
        encode_checkpoint(&state.entries)
    }

    fn restore(bytes: &[u8]) -> Result<LogState<T>, ObjectError> {
        Ok(LogState { entries: decode_checkpoint(bytes)? })
    }
}

impl<T> Proxy<ReplicatedLog<T>>
where
    T: Clone + Serialize + DeserializeOwned,
{
    /// The update that appends `value` once delivered; send it into the driver.
    pub fn append(&mut self, value: T) -> Result<Vec<u8>, ObjectError> {
        self.local(LogOp::Append(value))
    }

    /// The entries applied so far.
    pub fn entries(&self) -> &[LogEntry<T>] {
        self.state().entries()
    }
}

impl<T> fmt::Debug for ReplicatedLog<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplicatedLog")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = ReplicatedLog<String>;

    #[test]
    fn entries_take_the_delivery_order() {
        let mut p = Proxy::<Log>::new(1);
        let a = p.append("a".into()).unwrap();
        let b = p.append("b".into()).unwrap();
        assert!(p.entries().is_empty(), "applied only when delivered");
        let first = p.deliver(&a).unwrap().unwrap();
        assert_eq!((first.index, first.value.as_str()), (0, "a"));
        assert_eq!(p.deliver(&a), Ok(None), "a redelivery is skipped");
        let second = p.deliver(&b).unwrap().unwrap();
        assert_eq!(second.index, 1);
        assert_eq!(p.state().len(), 2);
        assert_eq!(p.state().get(1).map(|e| e.value.as_str()), Some("b"));
        assert_eq!(second.stamp(), p.state().entries()[1].stamp);
    }

    #[test]
    fn checkpoint_restores() {
        let mut s = Log::initial();
        Log::apply(&mut s, Stamp { lamport: 2, origin: 7 }, LogOp::Append("x".into()));
        Log::apply(&mut s, Stamp { lamport: 1, origin: 8 }, LogOp::Append("y".into()));
        let bytes = Log::checkpoint(&s).unwrap();
        assert_eq!(Log::restore(&bytes), Ok(s));
        assert!(Log::restore(&bytes[..bytes.len() - 1]).is_err());
    }
}
