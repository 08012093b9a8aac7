//! `argent obj` verbs of the classes that need the total-order driver: `append` (a
//! replicated log), `increment` and `decrement` (a counter that never goes below 0), and
//! `acquire` and `release` (a lock). Each waits until its update is applied by this
//! process and prints what became of it as JSON: decided when applied, alike at every
//! replica. A refused decrement or acquire exits with status 3.

use crate::obj_common::{open, parse_value, reach, refuse_vanishing, Op, Opened, Target, ValueType};
use crate::obj_sample::{rng, Sample};
use anyhow::bail;
use argent::objects::object::{Counter, CounterOp, Lock, LockOp, ReplicatedLog};
use argent::objects::reference::Reference;
use argent::objects::types::{Category, Reliability};
use argent::{Live, Node, OpenOptions};
use rand_core::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The exit status of a decrement or acquire that was refused (errors exit with 2).
const REFUSED: u8 = 3;

#[derive(clap::Subcommand, Debug)]
pub enum OrderedCommand {
    /// Append entries to a replicated log; prints each one's index (the same at every
    /// replica).
    Append {
        #[command(flatten)]
        target: Target,
        /// The entries (of the reference's value_type), appended in this order.
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Add to a counter; prints the count after it.
    Increment {
        #[command(flatten)]
        target: Target,
        n: u64,
    },
    /// Subtract from a counter if the count is then at least that much (decided when
    /// applied, alike everywhere: two concurrent withdrawals never both overdraw); exits
    /// with status 3 when refused. With --times, tries that many times and prints a summary.
    Decrement {
        #[command(flatten)]
        target: Target,
        n: u64,
        /// Tries, one after another.
        #[arg(long, default_value_t = 1)]
        times: u64,
        /// Before the summary, wait until the object includes this many updates in all (so
        /// that concurrent processes print the same final count).
        #[arg(long)]
        expect: Option<u64>,
        /// Start at this wall-clock time (ms since the Unix epoch), once open: processes
        /// started apart withdraw together.
        #[arg(long)]
        epoch_ms: Option<u64>,
    },
    /// Take a lock for an owner (granted if free, its lease ran out, or the owner's already:
    /// then the lease is renewed); exits with status 3 when someone else holds it.
    Acquire {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        owner: String,
        /// Held at most this long (default: until released).
        #[arg(long)]
        lease_ms: Option<u64>,
    },
    /// Give a lock back (only its holder's release applies); exits with status 3 when the
    /// owner did not hold it.
    Release {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        owner: String,
    },
}

/// The driver `obj new` names for `category` unless told: total-order for the classes that
/// need it.
pub(crate) fn default_driver(category: Option<Category>) -> &'static str {
    match category {
        Some(c) if c.needs() >= Reliability::TotalOrder => "total-order",
        _ => "qsm",
    }
}

pub fn run(c: OrderedCommand) -> anyhow::Result<ExitCode> {
    match c {
        OrderedCommand::Append { target, values } => with(&target, |node, r, o| {
            let vt: ValueType =
                r.parameters.get("value_type").map_or(Ok(ValueType::String), |v| v.parse())?;
            match vt {
                ValueType::I64 => append::<i64>(node, r, o, &values),
                ValueType::F64 => append::<f64>(node, r, o, &values),
                ValueType::Bool => append::<bool>(node, r, o, &values),
                ValueType::String => append::<String>(node, r, o, &values),
            }
        }),
        OrderedCommand::Increment { target, n } => with(&target, |node, r, o| {
            let c = open::<Counter>(node, r, o)?;
            refuse_vanishing(&c)?;
            let (applied, value) = c.increment(n)?;
            println!("{}", json!({"object": c.id().to_string(), "applied": applied, "value": value}));
            Ok(if applied { ExitCode::SUCCESS } else { ExitCode::from(REFUSED) })
        }),
        OrderedCommand::Decrement { target, n, times, expect, epoch_ms } => with(&target, |node, r, o| {
            let c = open::<Counter>(node, r, o)?;
            if let Some(at) = epoch_ms {
                let at = std::time::UNIX_EPOCH + Duration::from_millis(at);
                std::thread::sleep(at.duration_since(std::time::SystemTime::now()).unwrap_or_default());
            }
            decrement(&c, n, times, expect)
        }),
        OrderedCommand::Acquire { target, owner, lease_ms } => with(&target, |node, r, o| {
            let l = open::<Lock>(node, r, o)?;
            refuse_vanishing(&l)?;
            let granted = l.acquire(&owner, lease_ms.map(Duration::from_millis))?;
            lock_outcome(&l, granted)
        }),
        OrderedCommand::Release { target, owner } => with(&target, |node, r, o| {
            let l = open::<Lock>(node, r, o)?;
            refuse_vanishing(&l)?;
            let released = l.release(&owner)?;
            lock_outcome(&l, released)
        }),
    }
}

/// Reaches the target's object through a node of its cluster, runs `f`, and leaves.
fn with(
    t: &Target,
    f: impl FnOnce(&Node, &Reference, &OpenOptions) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let (node, r, o) = reach(t)?;
    let result = f(&node, &r, &o);
    node.shutdown();
    result
}

fn append<T>(node: &Node, r: &Reference, o: &OpenOptions, values: &[String]) -> anyhow::Result<ExitCode>
where
    T: Serialize + DeserializeOwned + Clone + FromStr + Send + 'static,
    T::Err: std::fmt::Display,
{
    let values = values.iter().map(|v| parse_value::<T>(v)).collect::<anyhow::Result<Vec<T>>>()?;
    let log = open::<ReplicatedLog<T>>(node, r, o)?;
    refuse_vanishing(&log)?;
    for v in values {
        let index = log.append(v)?;
        println!("{}", json!({"object": log.id().to_string(), "index": index}));
    }
    Ok(ExitCode::SUCCESS)
}

fn decrement(c: &Live<Counter>, n: u64, times: u64, expect: Option<u64>) -> anyhow::Result<ExitCode> {
    refuse_vanishing(c)?;
    let start = Instant::now();
    let (mut applied, mut refused) = (0u64, 0u64);
    for _ in 0..times {
        let (ok, value) = c.decrement_if_at_least(n)?;
        if times == 1 {
            println!("{}", json!({"object": c.id().to_string(), "applied": ok, "value": value}));
        }
        if ok {
            applied += 1;
        } else {
            refused += 1;
        }
    }
    if let Some(total) = expect {
        let until = Instant::now() + Duration::from_secs(30);
        while c.position().total() < total {
            if Instant::now() > until {
                bail!("the counter includes {} of {total} updates after 30 s", c.position().total());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if times > 1 {
        let summary = json!({"object": c.id().to_string(), "applied": applied, "refused": refused,
                             "value": c.value(), "total": c.position().total(),
                             "elapsed_ms": start.elapsed().as_secs_f64() * 1e3});
        println!("{summary}");
    }
    Ok(if applied > 0 || times == 0 { ExitCode::SUCCESS } else { ExitCode::from(REFUSED) })
}

fn lock_outcome(l: &Live<Lock>, granted: bool) -> anyhow::Result<ExitCode> {
    let holder = l.holder().map(|h| h.owner);
    println!("{}", json!({"object": l.id().to_string(), "granted": granted, "holder": holder}));
    Ok(if granted { ExitCode::SUCCESS } else { ExitCode::from(REFUSED) })
}

/// Opens `r` as one of the classes above, for the shared verbs (`get`, `watch`,
/// `exercise`); `None` for other classes.
pub(crate) fn open_dyn(
    node: &Node,
    r: &Reference,
    o: &OpenOptions,
    c: Category,
    vt: ValueType,
) -> anyhow::Result<Option<Box<dyn Opened>>> {
    Ok(Some(match (c, vt) {
        (Category::ReplicatedLog, ValueType::I64) => Box::new(open::<ReplicatedLog<i64>>(node, r, o)?),
        (Category::ReplicatedLog, ValueType::F64) => Box::new(open::<ReplicatedLog<f64>>(node, r, o)?),
        (Category::ReplicatedLog, ValueType::Bool) => Box::new(open::<ReplicatedLog<bool>>(node, r, o)?),
        (Category::ReplicatedLog, ValueType::String) => Box::new(open::<ReplicatedLog<String>>(node, r, o)?),
        (Category::Counter, _) => Box::new(open::<Counter>(node, r, o)?),
        (Category::Lock, _) => Box::new(open::<Lock>(node, r, o)?),
        _ => return Ok(None),
    }))
}

impl<T> Opened for Live<ReplicatedLog<T>>
where
    T: Serialize + DeserializeOwned + Clone + Sample + Send + 'static,
{
    fn state(&self) -> anyhow::Result<Value> {
        let entries: Vec<Value> = self.entries(0, usize::MAX).into_iter().map(|e| json!(e.value)).collect();
        Ok(json!({ "object": self.id().to_string(), "len": entries.len(), "entries": entries }))
    }

    fn update(&self, _: Op<'_>) -> anyhow::Result<()> {
        bail!("a replicated log takes `append`")
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            self.append_nowait(T::sample(rng.next_u64()))?;
        }
        Ok(())
    }
}

impl Opened for Live<Counter> {
    fn state(&self) -> anyhow::Result<Value> {
        let s = self.read(|s| *s);
        Ok(json!({ "object": self.id().to_string(), "value": s.value(), "applied": s.applied(),
                   "refused": s.refused() }))
    }

    fn update(&self, _: Op<'_>) -> anyhow::Result<()> {
        bail!("a counter takes `increment` and `decrement`")
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            let r = rng.next_u64();
            let op = if r.is_multiple_of(3) {
                CounterOp::Increment(r % 5)
            } else {
                CounterOp::DecrementIfAtLeast(r % 3)
            };
            self.submit(op)?;
        }
        Ok(())
    }
}

impl Opened for Live<Lock> {
    fn state(&self) -> anyhow::Result<Value> {
        let (grants, refusals) = self.read(|s| (s.grants(), s.refusals()));
        let holder = self.holder().map(|h| json!({"owner": h.owner, "expires_ms": h.expires_ms}));
        Ok(
            json!({ "object": self.id().to_string(), "holder": holder, "grants": grants, "refusals": refusals }),
        )
    }

    fn update(&self, _: Op<'_>) -> anyhow::Result<()> {
        bail!("a lock takes `acquire` and `release`")
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for i in 0..updates {
            let owner = format!("owner{}", rng.next_u64() % 3);
            let op = if i % 2 == 0 {
                LockOp::Acquire { owner, lease_ms: None, at_ms: 0 }
            } else {
                LockOp::Release { owner }
            };
            self.submit(op)?;
        }
        Ok(())
    }
}
