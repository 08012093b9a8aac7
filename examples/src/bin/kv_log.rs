//! A replicated key-value store as a state machine over a replicated log: every process
//! appends commands (`set KEY VALUE`, `del KEY`) to one log, and applies the log in index
//! order to its own map. On the total-order driver every process sees the same entries at
//! the same indices, so every map goes through the same states — whatever the commands do
//! (a `del` racing a `set` of the same key ends the same way everywhere).
//!
//! ```sh
//! argent obj new --class replicated-log --group objects > kv.toml     # driver total-order
//! cargo run -p argent-examples --bin kv_log -- kv.toml --follow 20 --config cluster-to.toml --id 1 --gms 127.0.0.1:7400
//! cargo run -p argent-examples --bin kv_log -- kv.toml --set color=red --del size --config cluster-to.toml --id 2 --gms 127.0.0.1:7400
//! ```

use argent::objects::object::ReplicatedLog;
use argent::Live;
use argent_examples::{load, NodeOptions};
use clap::Parser;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Append commands to a replicated key-value log and print the state they make.
#[derive(Parser, Debug)]
struct Args {
    /// The log's reference (class replicated-log, value_type string, driver total-order).
    reference: String,
    /// Append `set KEY VALUE` (as KEY=VALUE).
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Append `del KEY`.
    #[arg(long, value_name = "KEY")]
    del: Vec<String>,
    /// Keep applying new entries for this many seconds, printing each.
    #[arg(long, default_value_t = 0.0)]
    follow: f64,
    #[command(flatten)]
    node: NodeOptions,
}

/// The state machine: one command applied to the map.
fn apply(map: &mut BTreeMap<String, String>, command: &str) {
    let mut words = command.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("set"), Some(k), Some(v)) => {
            map.insert(k.to_string(), v.to_string());
        }
        (Some("del"), Some(k), None) => {
            map.remove(k);
        }
        _ => {} // not a command: every replica ignores it alike
    }
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let node = a.node.start()?;
    let log: Live<ReplicatedLog<String>> = node.open_as(&load(&a.reference)?)?;
    let mut commands: Vec<String> = Vec::new();
    for kv in &a.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("--set {kv:?}: write KEY=VALUE"))?;
        commands.push(format!("set {k} {v}"));
    }
    commands.extend(a.del.iter().map(|k| format!("del {k}")));
    for c in commands {
        let index = log.append(c.clone())?; // waits until applied here: its index is agreed
        println!("appended #{index}: {c}");
    }
    let (mut map, mut applied) = (BTreeMap::new(), 0u64);
    let until = Instant::now() + Duration::from_secs_f64(a.follow);
    loop {
        for e in log.entries(applied, 1024) {
            apply(&mut map, &e.value);
            if a.follow > 0.0 {
                println!("#{applied}: {}", e.value);
            }
            applied += 1;
        }
        if Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("after {applied} entries: {map:?}");
    drop(log);
    node.shutdown();
    Ok(())
}
