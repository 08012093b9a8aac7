//! What each built-in kind offers on an open proxy.

use super::error::LiveError;
use super::proxy::Live;
use argent_objects::object::{Chat, ChatOp, EventStream, MapOp, Post, ReplicatedMap, ReplicatedVar, VarOp};
use serde::de::DeserializeOwned;
use serde::Serialize;

impl<T: Serialize + DeserializeOwned + Clone + PartialEq> Live<ReplicatedVar<T>> {
    /// The value every proxy converges to (the latest write delivered so far).
    pub fn get(&self) -> Option<T> {
        self.read(|r| r.get().cloned())
    }

    /// Writes `value`; the latest write (by Lamport stamp) wins everywhere.
    pub fn set(&self, value: T) -> Result<(), LiveError> {
        self.submit(VarOp::Set(value))
    }
}

impl<K, V> Live<ReplicatedMap<K, V>>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        self.read(|m| m.get(key).cloned())
    }

    /// Every live entry, in key order.
    pub fn entries(&self) -> Vec<(K, V)> {
        self.read(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Sets `key` to `value` (per key, the latest write wins).
    pub fn put(&self, key: K, value: V) -> Result<(), LiveError> {
        self.submit(MapOp::Put(key, value))
    }

    /// Removes `key` (it wins over older puts, loses to newer ones).
    pub fn remove(&self, key: K) -> Result<(), LiveError> {
        self.submit(MapOp::Remove(key))
    }
}

impl Live<Chat> {
    /// Posts `text` as `author`.
    pub fn post(&self, author: impl Into<String>, text: impl Into<String>) -> Result<(), LiveError> {
        self.submit(ChatOp::Post { author: author.into(), text: text.into() })
    }

    /// The history, ordered by stamp: the same at every proxy once all posts are delivered.
    pub fn history(&self) -> Vec<Post> {
        self.read(|h| h.posts().to_vec())
    }
}

impl<T: Serialize + DeserializeOwned> Live<EventStream<T>> {
    /// Publishes one event; subscribers get it from [`Live::watch`].
    pub fn publish(&self, event: T) -> Result<(), LiveError> {
        self.submit(event)
    }
}
