//! Many processes open, update and close the same objects at run time, each object in a
//! group of its own (joined through the GMS on the first open, left when the last proxy
//! closes). Every process works through the objects on one schedule from a common start
//! (`--epoch`): object i opens at `i × spread / objects`, stays open until every writer's
//! last update is in, and closes. Each writer puts its entry (`--name`) `--updates` times,
//! 100 ms apart, so updates of earlier openers are in flight while later ones join. A reader
//! (`--updates 0`) started late with `--from-object` opens objects that are already being
//! written, so it receives from writers that started before it.
//!
//! One JSON line per object: its index, whether every writer's last value arrived, and a
//! digest of the proxy's checkpoint taken then (identical at every process when the object
//! replicated exactly), then a summary line.
//!
//! ```sh
//! target/release/object_churn --config cluster.toml --id 1 --gms 127.0.0.1:7400 \
//!     --epoch $(date +%s%3N) --name p1 --writers p1,p2,p3,p4 &
//! ```

use anyhow::{bail, Context};
use argent::objects::object::ReplicatedMap;
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, TypeRequirement};
use argent::{Live, Node};
use argent_examples::NodeOptions;
use clap::Parser;
use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Open, update and close objects on a shared schedule.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    node: NodeOptions,
    /// The schedule's start, milliseconds since the Unix epoch (the same at every process).
    #[arg(long)]
    epoch: u64,
    /// Objects (ids from --first-id up).
    #[arg(long, default_value_t = 250)]
    objects: u32,
    /// Id of object 0.
    #[arg(long, default_value_t = 0xC0_0000)]
    first_id: u128,
    /// Seconds over which the objects' opens are spread.
    #[arg(long, default_value_t = 15.0)]
    spread: f64,
    /// This process's entry in every object (a writer).
    #[arg(long, default_value = "")]
    name: String,
    /// Updates of its entry per object (0: a reader).
    #[arg(long, default_value_t = 5)]
    updates: u32,
    /// Every writer's name: an object is complete when each has its last value.
    #[arg(long, value_delimiter = ',', required = true)]
    writers: Vec<String>,
    /// The writers' last value (their --updates; default: this process's).
    #[arg(long)]
    last: Option<i64>,
    /// Start at this object, opening at once those whose time has passed (a late reader).
    #[arg(long, default_value_t = 0)]
    from_object: u32,
    /// Longest wait for an object to be complete, seconds.
    #[arg(long, default_value_t = 20.0)]
    patience: f64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What happened to one object at this process.
struct Done {
    object: u32,
    complete: bool,
    digest: u64,
    entries: Vec<(String, i64)>,
}

fn work(node: &Node, a: &Args, object: u32) -> anyhow::Result<Done> {
    let reference = Reference::new(ObjectId(a.first_id + u128::from(object)), "replicated-map", "qsm")
        .with_parameter("value_type", "i64");
    let map: Live<ReplicatedMap<String, i64>> = node
        .open(&reference, &TypeRequirement::whole(Category::ReplicatedMap))
        .with_context(|| format!("opening object {object}"))?;
    for u in 1..=a.updates {
        map.put(a.name.clone(), i64::from(u)).with_context(|| format!("updating object {object}"))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let last = a.last.unwrap_or(i64::from(a.updates));
    let want = |m: &Live<ReplicatedMap<String, i64>>| a.writers.iter().all(|w| m.get(w) == Some(last));
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(a.patience);
    while !want(&map) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let complete = want(&map);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    map.checkpoint().context("taking a checkpoint")?.hash(&mut h);
    Ok(Done { object, complete, digest: h.finish(), entries: map.entries() })
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if a.updates > 0 && a.name.is_empty() {
        bail!("a writer (--updates above 0) needs --name, its entry in every object");
    }
    if a.last.unwrap_or(i64::from(a.updates)) <= 0 {
        bail!("a reader (--updates 0) needs --last, the writers' last value");
    }
    if a.objects == 0 || a.from_object >= a.objects || !(a.spread >= 0.0 && a.spread.is_finite()) {
        bail!("--objects must be positive, --from-object below it, and --spread a number of seconds");
    }
    let node = a.node.start()?;
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for object in a.from_object..a.objects {
            let at = a.epoch + (a.spread * 1000.0 * f64::from(object) / f64::from(a.objects)) as u64;
            if let Some(wait) = at.checked_sub(now_ms()) {
                std::thread::sleep(Duration::from_millis(wait));
            }
            let (tx, node, a) = (tx.clone(), &node, &a);
            s.spawn(move || {
                let _ = tx.send((object, work(node, a, object)));
            });
        }
    });
    drop(tx);
    let (mut complete, mut failed) = (0, 0);
    let mut results: Vec<_> = rx.into_iter().collect();
    results.sort_by_key(|(o, _)| *o);
    for (object, r) in results {
        match r {
            Ok(d) => {
                complete += u32::from(d.complete);
                println!(
                    "{{\"object\":{},\"complete\":{},\"digest\":\"{:016x}\",\"entries\":{}}}",
                    d.object,
                    d.complete,
                    d.digest,
                    d.entries.len()
                );
            }
            Err(e) => {
                failed += 1;
                println!("{{\"object\":{object},\"error\":{:?}}}", format!("{e:#}"));
            }
        }
    }
    let opened = a.objects - a.from_object;
    println!("{{\"summary\":true,\"objects\":{opened},\"complete\":{complete},\"failed\":{failed}}}");
    node.shutdown();
    if complete == opened {
        Ok(())
    } else {
        bail!("{} of {opened} objects incomplete or failed", opened - complete)
    }
}
