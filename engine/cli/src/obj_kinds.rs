//! What `argent obj`'s shared verbs (`get`, `set`, `put`, `remove`, `publish`, `post`,
//! `exercise`) do with each kind QSM carries, by value type.

use crate::obj_common::{parse_value, Op, Opened};
use crate::obj_sample::{rng, Sample};
use anyhow::bail;
use argent::objects::object::{Chat, EventStream, ReplicatedMap, ReplicatedVar};
use argent::Live;
use rand_core::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::str::FromStr;

impl<T> Opened for Live<ReplicatedVar<T>>
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + FromStr + Sample + Send + 'static,
    T::Err: std::fmt::Display,
{
    fn state(&self) -> anyhow::Result<Value> {
        Ok(json!({ "object": self.id().to_string(), "value": self.get() }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Set(v) => self.set(parse_value::<T>(v)?)?,
            _ => bail!("a replicated variable takes `set`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            self.set(T::sample(rng.next_u64()))?;
        }
        Ok(())
    }
}

impl<V> Opened for Live<ReplicatedMap<String, V>>
where
    V: Serialize + DeserializeOwned + Clone + PartialEq + FromStr + Sample + Send + 'static,
    V::Err: std::fmt::Display,
{
    fn state(&self) -> anyhow::Result<Value> {
        let entries: serde_json::Map<String, Value> =
            self.entries().into_iter().map(|(k, v)| (k, json!(v))).collect();
        Ok(json!({ "object": self.id().to_string(), "entries": entries }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Put(k, v) => self.put(k.to_string(), parse_value::<V>(v)?)?,
            Op::Remove(k) => self.remove(k.to_string())?,
            _ => bail!("a replicated map takes `put` and `remove`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            let r = rng.next_u64();
            let key = format!("k{}", r % 16);
            if r.is_multiple_of(5) {
                self.remove(key)?;
            } else {
                self.put(key, V::sample(r >> 8))?;
            }
        }
        Ok(())
    }
}

impl<T> Opened for Live<EventStream<T>>
where
    T: Serialize + DeserializeOwned + Clone + FromStr + Sample + Send + 'static,
    T::Err: std::fmt::Display,
{
    fn state(&self) -> anyhow::Result<Value> {
        // A stream has no state: only what is published while one watches.
        Ok(json!({ "object": self.id().to_string(), "stream": true }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Publish(e) => self.publish(parse_value::<T>(e)?)?,
            _ => bail!("an event stream takes `publish`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            self.publish(T::sample(rng.next_u64()))?;
        }
        Ok(())
    }
}

impl Opened for Live<Chat> {
    fn state(&self) -> anyhow::Result<Value> {
        let history: Vec<Value> =
            self.history().into_iter().map(|p| json!({"author": p.author, "text": p.text})).collect();
        Ok(json!({ "object": self.id().to_string(), "history": history }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Post(author, text) => self.post(author, text)?,
            _ => bail!("a chat takes `post`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for i in 0..updates {
            self.post(format!("p{}", rng.next_u64() % 8), format!("message {i}"))?;
        }
        Ok(())
    }
}
