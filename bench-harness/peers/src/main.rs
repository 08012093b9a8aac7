//! `argent-peer`: the systems argent is measured against, run the way `argent bench` runs
//! argent: one publisher and N subscribers as separate processes on loopback, every message
//! verified (exactly once, in order, intact), one JSON summary line.
//!
//! `argent-peer SYSTEM --subscribers N --size S --duration D --json` orchestrates a run (on
//! loopback, or with `--netns PREFIX --hosts H` on a namespace LAN, see `lan`): it
//! starts the subscribers and the publisher (this same program with `--role`), tells the
//! publisher to go once every subscriber is ready, and tells it to stop once every
//! subscriber has finished.
//!
//! Systems: `raw-unicast`, `raw-multicast` and `raw-gso` (always built), `zenoh`, `aeron` and
//! `corosync-cpg` (cargo features of the same names; their build needs come from
//! cluster-scripts/install-peer-deps). `corosync-cpg` runs `--publishers N` publishers and a
//! corosync daemon per run, and checks that every subscriber delivered the same sequence.

#[cfg(feature = "aeron")]
mod aeron;
mod child;
mod control;
#[cfg(feature = "corosync-cpg")]
mod cpg;
mod lan;
mod opts;
mod orchestrate;
mod raw;
mod systems;
mod verify;
#[cfg(feature = "zenoh")]
mod zenoh;

use clap::{Parser, ValueEnum};
use opts::{Opts, System};
use std::process::ExitCode;

fn main() -> ExitCode {
    // `argent-peer --built`: the systems in this build, one line (for argent-bench).
    if std::env::args().nth(1).as_deref() == Some("--built") {
        let built: Vec<&str> =
            System::value_variants().iter().filter(|s| s.built()).map(|s| s.name()).collect();
        println!("{}", built.join(" "));
        return ExitCode::SUCCESS;
    }
    let o = Opts::parse();
    let r = match o.role {
        None => orchestrate::run(&o),
        Some(role) => child::run(&o, role),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("argent-peer {}: {e:#}", o.system.name());
            ExitCode::from(2)
        }
    }
}
