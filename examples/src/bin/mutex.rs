//! Mutual exclusion between processes with a replicated lock: each process asks for the
//! lock until it is granted, holds it for a while, and gives it back. Grants are decided in
//! the one delivery order every replica shares, so at most one owner holds the lock in every
//! replica's state, and each process learns whether its request was granted. A lease makes
//! a crashed holder's lock free again once it runs out.
//!
//! ```sh
//! argent obj new --class lock --group objects > mutex.toml                 # driver total-order
//! cargo run -p argent-examples --bin mutex -- mutex.toml --owner ann --hold 2 --config cluster-to.toml --id 1 --gms 127.0.0.1:7400 &
//! cargo run -p argent-examples --bin mutex -- mutex.toml --owner bob --hold 2 --config cluster-to.toml --id 2 --gms 127.0.0.1:7400
//! # one holds it, the other waits ("held by ann") and gets it once ann releases it
//! ```

use argent::objects::object::Lock;
use argent::Live;
use argent_examples::{load, NodeOptions};
use clap::Parser;
use std::time::{Duration, Instant};

/// Take a replicated lock, hold it, give it back.
#[derive(Parser, Debug)]
struct Args {
    /// The lock's reference (class lock, driver total-order).
    reference: String,
    /// Who takes it.
    #[arg(long)]
    owner: String,
    /// Hold it this many seconds.
    #[arg(long, default_value_t = 1.0)]
    hold: f64,
    /// The lease: the lock frees itself this long after it was granted (default: when
    /// released only).
    #[arg(long)]
    lease_ms: Option<u64>,
    /// Give up after asking this many seconds.
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
    #[command(flatten)]
    node: NodeOptions,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let node = a.node.start()?;
    let lock: Live<Lock> = node.open_as(&load(&a.reference)?)?;
    let lease = a.lease_ms.map(Duration::from_millis);
    let give_up = Instant::now() + Duration::from_secs_f64(a.wait);
    let mut reported = None;
    while !lock.acquire(&a.owner, lease)? {
        let holder = lock.holder().map(|h| h.owner);
        if holder != reported {
            println!("{}: held by {}", a.owner, holder.as_deref().unwrap_or("nobody (just released)"));
            reported = holder;
        }
        anyhow::ensure!(Instant::now() < give_up, "{}: not granted in {} s", a.owner, a.wait);
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("{}: granted, holding for {} s", a.owner, a.hold);
    std::thread::sleep(Duration::from_secs_f64(a.hold));
    let released = lock.release(&a.owner)?;
    println!("{}: {}", a.owner, if released { "released" } else { "lost it (the lease ran out)" });
    drop(lock);
    node.shutdown();
    Ok(())
}
