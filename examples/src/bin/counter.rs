//! A replicated counter and its dashboard. Each process counts in its own entry of a
//! replicated map (name → count), so concurrent increments never overwrite each other; the
//! total is the sum, the same everywhere once the updates are delivered. The dashboard line
//! is reprinted on every change.
//!
//! ```sh
//! argent obj new --class replicated-map --group objects --value-type i64 > clicks.toml
//! cargo run -p argent-examples --bin counter -- clicks.toml --name ann --add 5 --config cluster.toml --id 1 --gms 127.0.0.1:7400
//! cargo run -p argent-examples --bin counter -- clicks.toml --name bob --watch 30 --config cluster.toml --id 2 --gms 127.0.0.1:7400
//! ```

use argent::objects::object::ReplicatedMap;
use argent::objects::types::{Category, TypeRequirement};
use argent::Live;
use argent_examples::{load, NodeOptions};
use clap::Parser;
use std::time::{Duration, Instant};

/// Count together: --add N to your own entry, or --watch SECS for a live dashboard.
#[derive(Parser, Debug)]
struct Args {
    /// The counter's reference (a replicated-map with value_type i64).
    reference: String,
    /// Your entry in the counter.
    #[arg(long)]
    name: String,
    /// Add this much to your entry, one at a time.
    #[arg(long, default_value_t = 0)]
    add: i64,
    /// Show the dashboard for this many seconds.
    #[arg(long, default_value_t = 0.0)]
    watch: f64,
    #[command(flatten)]
    node: NodeOptions,
}

fn dashboard(c: &Live<ReplicatedMap<String, i64>>) -> String {
    let entries = c.entries();
    let total: i64 = entries.iter().map(|(_, v)| v).sum();
    let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("total {total} ({})", parts.join(", "))
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let node = a.node.start()?;
    let counter: Live<ReplicatedMap<String, i64>> =
        node.open(&load(&a.reference)?, &TypeRequirement::whole(Category::ReplicatedMap))?;
    let mine = counter.get(&a.name).unwrap_or(0);
    for i in 1..=a.add {
        counter.put(a.name.clone(), mine + i)?; // only this process writes this entry
    }
    let changes = counter.watch();
    let until = Instant::now() + Duration::from_secs_f64(a.watch);
    // Wait for our own writes to come back, then show (and follow) the dashboard.
    let settle = Instant::now() + Duration::from_secs(5);
    while counter.get(&a.name).unwrap_or(0) != mine + a.add && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("{}", dashboard(&counter));
    while Instant::now() < until {
        if changes.recv_timeout(Duration::from_millis(200)).is_ok() {
            while changes.try_recv().is_ok() {}
            println!("{}", dashboard(&counter));
        }
    }
    drop(counter);
    node.shutdown();
    Ok(())
}
