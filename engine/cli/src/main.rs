//! Subcommands of the `argent` program.

mod args;
mod auth;
mod bench;
mod churn;
mod errors;
mod gms;
mod msg;
mod node;
mod obj;
mod obj_common;
mod obj_kinds;
mod obj_ordered;
mod obj_sample;
mod popularity;
mod pubsub;
mod raw;
mod regions;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// argent: live distributed objects over scalable reliable multicast.
///
/// `argent bench` (the main job) runs a verified throughput benchmark on loopback with the
/// raw UDP multicast limit measured in the same run. `argent node`, `pub` and `sub` run
/// nodes of a cluster described by a static membership file (see `argent help node`).
/// Logs go to stderr; `RUST_LOG=info` shows transport and runtime details (default: warnings).
#[derive(Parser, Debug)]
#[command(name = "argent", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node of a cluster until interrupted, printing its counters every second.
    Node(node::NodeArgs),
    /// Publish to a group: text from the command line or stdin, or generated verifiable messages.
    Pub(pubsub::PubArgs),
    /// Subscribe to a group: print messages, or verify exactly-once FIFO delivery (--verify).
    Sub(pubsub::SubArgs),
    /// Benchmark a local cluster on loopback against raw UDP multicast, measured in the same run.
    Bench(bench::BenchArgs),
    /// Compute regions (sets of nodes with identical groups) for a synthetic Zipf workload, or
    /// show those of a membership file (--config).
    Regions(regions::RegionsArgs),
    /// Run a replica of the membership service (GMS): members register with it, it detects
    /// failures and pushes views (members, groups → regions, addresses, rings).
    Gms(gms::GmsArgs),
    /// Show the GMS's current view: members, groups, regions, addresses and ring layout.
    Status(gms::StatusArgs),
    /// Live objects from a shell: make a reference (`new`), `show` it, `get` the state, `set`,
    /// `put`, `remove`, `post`, `append`, `increment`, `decrement`, `acquire`, `release` and
    /// `watch`, joining the object through a node of its cluster.
    Obj(obj::ObjArgs),
    /// Cluster keys: `argent key new > cluster.key` makes one. Name it with --key-file (or
    /// [security] key_file) on every member, and every datagram is authenticated.
    Key(auth::KeyArgs),
    /// Raw UDP multicast baseline (used by `bench`).
    #[command(hide = true)]
    Raw(raw::RawArgs),
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs sent to files and pipes stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(a) => node::run(a),
        Command::Pub(a) => pubsub::publish(a),
        Command::Sub(a) => pubsub::subscribe(a),
        Command::Bench(a) => bench::run(a),
        Command::Raw(a) => raw::run(a),
        Command::Regions(a) => regions::run(a),
        Command::Gms(a) => gms::run(a),
        Command::Status(a) => gms::status(a),
        Command::Obj(a) => obj::run(a),
        Command::Key(a) => auth::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("argent: {}", errors::said_once(&e));
            ExitCode::from(2)
        }
    }
}
