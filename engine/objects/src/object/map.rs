//! The replicated map: a last-writer-wins register per key, with tombstones.

use super::codec::{decode_checkpoint, encode_checkpoint};
use super::error::ObjectError;
use super::kind::LiveObject;
use super::proxy::Proxy;
use super::stamp::Stamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::btree_map::{self, BTreeMap};
use std::fmt;
use std::marker::PhantomData;

/// A replicated map from `K` to `V`: for each key, every proxy holds the put or remove
/// with the greatest [`Stamp`]. A remove leaves a tombstone, so it beats an older put that
/// is delivered after it and loses to a newer one.
pub struct ReplicatedMap<K, V> {
    _entries: PhantomData<fn() -> (K, V)>,
}

/// An operation on a [`ReplicatedMap`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapOp<K, V> {
    /// Set the value of a key.
    Put(K, V),
    /// Remove a key.
    Remove(K),
}

/// The winning write of one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry<V> {
    /// The stamp of the put or remove that won.
    pub stamp: Stamp,
    /// The value put, or `None` for a tombstone.
    pub value: Option<V>,
}

/// The state of a [`ReplicatedMap`]: per key, the winning write, tombstones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapState<K, V> {
    entries: BTreeMap<K, MapEntry<V>>,
    live: usize,
}

/// A key's value changed in a [`ReplicatedMap`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MapChange<K, V> {
    /// The key.
    pub key: K,
    /// Its value before (`None`: absent).
    pub old: Option<V>,
    /// Its value now (`None`: removed).
    pub new: Option<V>,
    /// The stamp of the write that changed it.
    pub stamp: Stamp,
}

impl<K: Ord, V> MapState<K, V> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).and_then(|e| e.value.as_ref())
    }

    /// The present keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.entries.iter().filter_map(|(k, e)| e.value.as_ref().map(|v| (k, v)))
    }

    /// How many keys are present.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no key is present.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The winning write of `key`, tombstone or not.
    pub fn entry(&self, key: &K) -> Option<&MapEntry<V>> {
        self.entries.get(key)
    }

    /// How many removed keys are remembered as tombstones.
    pub fn tombstones(&self) -> usize {
        self.entries.len() - self.live
    }
}

impl<K, V> LiveObject for ReplicatedMap<K, V>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    type State = MapState<K, V>;
    type Op = MapOp<K, V>;
    type Change = MapChange<K, V>;

    fn initial() -> MapState<K, V> {
        MapState { entries: BTreeMap::new(), live: 0 }
    }

    /// Keep each key's write with the greater stamp; notify when the key's value differs.
    fn apply(state: &mut MapState<K, V>, stamp: Stamp, op: MapOp<K, V>) -> Option<MapChange<K, V>> {
        let (key, value) = match op {
            MapOp::Put(key, value) => (key, Some(value)),
            MapOp::Remove(key) => (key, None),
        };
        let new = value.clone();
        let (key, old) = match state.entries.entry(key) {
            btree_map::Entry::Occupied(o) if o.get().stamp >= stamp => return None,
            btree_map::Entry::Occupied(mut o) => {
                let old = o.insert(MapEntry { stamp, value }).value;
                (o.key().clone(), old)
            }
            btree_map::Entry::Vacant(v) => {
                let key = v.key().clone();
                v.insert(MapEntry { stamp, value });
                (key, None)
            }
        };
        state.live = state.live + usize::from(new.is_some()) - usize::from(old.is_some());
        (old != new).then_some(MapChange { key, old, new, stamp })
    }

    fn checkpoint(state: &MapState<K, V>) -> Result<Vec<u8>, ObjectError> {
        encode_checkpoint(&state.entries)
    }

    fn restore(bytes: &[u8]) -> Result<MapState<K, V>, ObjectError> {
        let entries: BTreeMap<K, MapEntry<V>> = decode_checkpoint(bytes)?;
        let live = entries.values().filter(|e| e.value.is_some()).count();
        Ok(MapState { entries, live })
    }
}

impl<K, V> Proxy<ReplicatedMap<K, V>>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    /// The value of `key`, if present.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.state().get(key)
    }

    /// The present keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.state().iter()
    }

    /// The update that puts `value` at `key` once delivered; send it into the driver.
    pub fn put(&mut self, key: K, value: V) -> Result<Vec<u8>, ObjectError> {
        self.local(MapOp::Put(key, value))
    }

    /// The update that removes `key` once delivered; send it into the driver.
    pub fn remove(&mut self, key: K) -> Result<Vec<u8>, ObjectError> {
        self.local(MapOp::Remove(key))
    }
}

impl<K, V> fmt::Debug for ReplicatedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplicatedMap")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Map = ReplicatedMap<String, u32>;

    fn stamp(lamport: u64, origin: u64) -> Stamp {
        Stamp { lamport, origin }
    }

    fn put(k: &str, v: u32) -> MapOp<String, u32> {
        MapOp::Put(k.into(), v)
    }

    fn remove(k: &str) -> MapOp<String, u32> {
        MapOp::Remove(k.into())
    }

    #[test]
    fn remove_beats_an_older_put_delivered_later() {
        let mut m = Map::initial();
        assert_eq!(Map::apply(&mut m, stamp(2, 1), remove("a")), None, "nothing to remove yet");
        assert_eq!(Map::apply(&mut m, stamp(1, 2), put("a", 1)), None, "older than the remove");
        assert_eq!((m.get(&"a".into()), m.len(), m.tombstones()), (None, 0, 1));
        let change = Map::apply(&mut m, stamp(3, 2), put("a", 5));
        assert_eq!(change, Some(MapChange { key: "a".into(), old: None, new: Some(5), stamp: stamp(3, 2) }));
        assert_eq!((m.get(&"a".into()), m.len(), m.tombstones()), (Some(&5), 1, 0));
    }

    #[test]
    fn notifies_per_key_when_the_value_changes() {
        let mut m = Map::initial();
        assert!(Map::apply(&mut m, stamp(1, 1), put("a", 1)).is_some());
        assert!(Map::apply(&mut m, stamp(2, 1), put("b", 2)).is_some());
        assert_eq!(Map::apply(&mut m, stamp(3, 2), put("a", 1)), None, "same value");
        let change = Map::apply(&mut m, stamp(4, 2), remove("b"));
        assert_eq!(change, Some(MapChange { key: "b".into(), old: Some(2), new: None, stamp: stamp(4, 2) }));
        let present: Vec<_> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(present, [("a", 1)]);
    }

    #[test]
    fn order_does_not_matter() {
        let ops = [
            (stamp(1, 1), put("a", 1)),
            (stamp(1, 2), remove("a")),
            (stamp(2, 1), put("b", 2)),
            (stamp(3, 2), put("a", 3)),
            (stamp(3, 1), remove("b")),
        ];
        let mut forward = Map::initial();
        let mut backward = Map::initial();
        for (s, op) in ops.iter().cloned() {
            Map::apply(&mut forward, s, op);
        }
        for (s, op) in ops.iter().rev().cloned() {
            Map::apply(&mut backward, s, op);
        }
        assert_eq!(forward, backward);
        let bytes = Map::checkpoint(&forward).unwrap();
        assert_eq!(Map::restore(&bytes), Ok(forward));
    }

    #[test]
    fn proxy_put_and_remove() {
        let mut p = Proxy::<Map>::new(3);
        let a = p.put("k".into(), 7).unwrap();
        let b = p.remove("k".into()).unwrap();
        p.deliver(&a).unwrap();
        assert_eq!(p.get(&"k".into()), Some(&7));
        p.deliver(&b).unwrap();
        assert_eq!(p.iter().count(), 0);
    }
}
