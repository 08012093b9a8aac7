//! The replicated variable: a last-writer-wins register.

use super::codec::{decode_checkpoint, encode_checkpoint};
use super::error::ObjectError;
use super::kind::LiveObject;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// A replicated variable of `T`: every proxy holds the value of the write with the
/// greatest [`Stamp`], whatever order writes were delivered in.
pub struct ReplicatedVar<T> {
    _value: PhantomData<fn() -> T>,
}

/// An operation on a [`ReplicatedVar`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VarOp<T> {
    /// Replace the value.
    Set(T),
}

/// The state of a [`ReplicatedVar`]: the winning write, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register<T> {
    current: Option<(Stamp, T)>,
}

/// A [`ReplicatedVar`]'s value changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VarChange<T> {
    /// The value before (`None` if the variable was never set).
    pub old: Option<T>,
    /// The value now.
    pub new: T,
    /// The stamp of the write that set it.
    pub stamp: Stamp,
}

impl<T> Register<T> {
    /// The current value, or `None` if nobody has set the variable yet.
    pub fn get(&self) -> Option<&T> {
        self.current.as_ref().map(|(_, value)| value)
    }

    /// The stamp of the write that set the current value.
    pub fn stamp(&self) -> Option<Stamp> {
        self.current.as_ref().map(|&(stamp, _)| stamp)
    }
}

impl<T> LiveObject for ReplicatedVar<T>
where
    T: Clone + PartialEq + Serialize + DeserializeOwned,
{
    type State = Register<T>;
    type Op = VarOp<T>;
    type Change = VarChange<T>;

    fn initial() -> Register<T> {
        Register { current: None }
    }

    /// Keep the write with the greater stamp; notify only when the value differs.
    fn apply(state: &mut Register<T>, stamp: Stamp, op: VarOp<T>) -> Option<VarChange<T>> {
        let VarOp::Set(value) = op;
        if state.stamp().is_some_and(|current| current >= stamp) {
            return None;
        }
        let changed = state.get() != Some(&value);
        let new = changed.then(|| value.clone());
        let old = state.current.replace((stamp, value)).map(|(_, old)| old);
        new.map(|new| VarChange { old, new, stamp })
    }

    fn checkpoint(state: &Register<T>) -> Result<Vec<u8>, ObjectError> {
        encode_checkpoint(state)
    }

    fn restore(bytes: &[u8]) -> Result<Register<T>, ObjectError> {
        decode_checkpoint(bytes)
    }
}

impl<T> Proxy<ReplicatedVar<T>>
where
    T: Clone + PartialEq + Serialize + DeserializeOwned,
{
    /// The current value, or `None` if nobody has set the variable yet.
    pub fn get(&self) -> Option<&T> {
        self.state().get()
    }

    /// The update that sets the value to `value` once delivered; send it into the driver.
    pub fn set(&mut self, value: T) -> Result<Vec<u8>, ObjectError> {
        self.local(VarOp::Set(value))
    }
}

impl<T> fmt::Debug for ReplicatedVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplicatedVar")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Var = ReplicatedVar<String>;

    fn stamp(lamport: u64, origin: u64) -> Stamp {
        Stamp { lamport, origin }
    }

    fn set(value: &str) -> VarOp<String> {
        VarOp::Set(value.to_string())
    }

    #[test]
    fn last_writer_wins_whatever_the_order() {
        let (mut a, mut b) = (Var::initial(), Var::initial());
        let writes = [(stamp(1, 1), set("x")), (stamp(2, 2), set("y")), (stamp(2, 1), set("z"))];
        for (s, op) in writes.iter().cloned() {
            Var::apply(&mut a, s, op);
        }
        for (s, op) in writes.iter().rev().cloned() {
            Var::apply(&mut b, s, op);
        }
        assert_eq!(a.get().map(String::as_str), Some("y"));
        assert_eq!(a, b);
        assert_eq!(Var::checkpoint(&a), Var::checkpoint(&b));
    }

    #[test]
    fn notifies_only_real_changes() {
        let mut r = Var::initial();
        let first = Var::apply(&mut r, stamp(1, 1), set("x"));
        assert_eq!(first, Some(VarChange { old: None, new: "x".into(), stamp: stamp(1, 1) }));
        assert_eq!(Var::apply(&mut r, stamp(2, 1), set("x")), None, "same value");
        assert_eq!(r.stamp(), Some(stamp(2, 1)), "a newer write of the same value still wins");
        assert_eq!(Var::apply(&mut r, stamp(1, 2), set("old")), None, "stale write");
        assert_eq!(Var::apply(&mut r, stamp(2, 1), set("y")), None, "same stamp again");
        let change = Var::apply(&mut r, stamp(3, 2), set("y"));
        assert_eq!(change, Some(VarChange { old: Some("x".into()), new: "y".into(), stamp: stamp(3, 2) }));
    }

    #[test]
    fn set_applies_only_when_delivered() {
        let mut p = Proxy::<Var>::new(1);
        let bytes = p.set("hello".into()).unwrap();
        assert_eq!(p.get(), None);
        let change = p.deliver(&bytes).unwrap();
        assert_eq!(change.map(|c| c.new), Some("hello".into()));
        assert_eq!(p.get().map(String::as_str), Some("hello"));
        assert_eq!(p.deliver(&bytes), Ok(None), "redelivery is skipped");
        assert_eq!((p.stats().applied, p.stats().duplicates), (1, 1));
    }

    #[test]
    fn checkpoint_restores() {
        let mut r = Var::initial();
        Var::apply(&mut r, stamp(4, 2), set("v"));
        let bytes = Var::checkpoint(&r).unwrap();
        assert_eq!(Var::restore(&bytes), Ok(r));
        assert!(Var::restore(&bytes[..bytes.len() - 1]).is_err());
    }
}
