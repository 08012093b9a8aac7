//! An account that never overdraws: a counter whose withdrawals apply only if the balance
//! covers them. The decision is made when the withdrawal is applied, from the balance at
//! that point of the one delivery order every replica shares, so two processes withdrawing
//! at once can never both spend the same money; each learns whether its own withdrawal went
//! through.
//!
//! ```sh
//! argent obj new --class counter --group objects > account.toml           # driver total-order
//! cargo run -p argent-examples --bin account -- account.toml --deposit 100 --hold 30 --config cluster-to.toml --id 1 --gms 127.0.0.1:7400 &
//! cargo run -p argent-examples --bin account -- account.toml --withdraw 30 --times 3 --config cluster-to.toml --id 2 --gms 127.0.0.1:7400 &
//! cargo run -p argent-examples --bin account -- account.toml --withdraw 30 --times 3 --config cluster-to.toml --id 3 --gms 127.0.0.1:7400
//! # between them, exactly three withdrawals of 30 go through; the balance ends at 10
//! ```

use argent::objects::object::Counter;
use argent::Live;
use argent_examples::{load, NodeOptions};
use clap::Parser;
use std::time::Duration;

/// Deposit into and withdraw from an account that never goes below 0.
#[derive(Parser, Debug)]
struct Args {
    /// The account's reference (class counter, driver total-order).
    reference: String,
    /// Deposit this much first.
    #[arg(long, default_value_t = 0)]
    deposit: u64,
    /// Then withdraw this much ...
    #[arg(long, default_value_t = 0)]
    withdraw: u64,
    /// ... this many times.
    #[arg(long, default_value_t = 1)]
    times: u32,
    /// Then keep the account open this many seconds (so it lives on for others).
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    #[command(flatten)]
    node: NodeOptions,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let node = a.node.start()?;
    let account: Live<Counter> = node.open_as(&load(&a.reference)?)?;
    if a.deposit > 0 {
        let (_, balance) = account.increment(a.deposit)?;
        println!("deposited {}: balance {balance}", a.deposit);
    }
    if a.withdraw > 0 {
        for _ in 0..a.times {
            match account.decrement_if_at_least(a.withdraw)? {
                (true, balance) => println!("withdrew {}: balance {balance}", a.withdraw),
                (false, balance) => println!("refused {}: balance {balance} does not cover it", a.withdraw),
            }
        }
    }
    std::thread::sleep(Duration::from_secs_f64(a.hold));
    println!("balance {}", account.value());
    drop(account);
    node.shutdown();
    Ok(())
}
