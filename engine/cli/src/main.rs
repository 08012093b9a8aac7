//! Subcommands of the `argent` program.

mod bench;
mod gms;
mod msg;
mod obj;
mod popularity;
mod pubsub;
mod raw;
mod regions;
mod sys;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    Node(NodeArgs),
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
    /// `put`, `remove`, `post` and `watch`, joining the object through a node of its cluster.
    Obj(obj::ObjArgs),
    /// Raw UDP multicast baseline (used by `bench`).
    #[command(hide = true)]
    Raw(raw::RawArgs),
}

/// Where a node finds its cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct Membership {
    /// Static membership file (TOML: [[member]] id/addr, [[group]] name/id/members, optional
    /// [multicast] base/count/port; see `argent help node`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// This process's member id (default: the file's [node] id).
    #[arg(long)]
    pub id: Option<u32>,
    /// Transport backend: auto (io_uring where allowed, else std), std or uring.
    #[arg(long, default_value = "auto")]
    pub transport: Transport,
    /// Take membership from these GMS replicas (`ADDR[,ADDR...]` in raft id order, or
    /// `1=ADDR,2=ADDR`): the file then gives only this node's address, groups and settings.
    #[arg(long, value_name = "ADDRS")]
    pub gms: Option<String>,
    /// With --gms: start once the view has this many members.
    #[arg(long, default_value_t = 1)]
    pub wait_members: usize,
    /// Interface for IP multicast (default: the file's `interface`, else 127.0.0.1); on a
    /// LAN, this host's address.
    #[arg(long)]
    pub interface: Option<std::net::Ipv4Addr>,
}

/// Transport choice on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Probe: io_uring where the kernel allows it, else std.
    Auto,
    /// socket2 + recvmmsg/sendmmsg.
    Std,
    /// io_uring.
    Uring,
}

impl Transport {
    pub fn backend(self) -> Option<argent::Backend> {
        match self {
            Transport::Auto => None,
            Transport::Std => Some(argent::Backend::Std),
            Transport::Uring => Some(argent::Backend::Uring),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Std => "std",
            Transport::Uring => "uring",
        }
    }
}

impl Membership {
    pub fn start(&self) -> anyhow::Result<argent::Node> {
        let mut b = argent::Node::builder().config_file(&self.config);
        if let Some(id) = self.id {
            b = b.id(id);
        }
        if let Some(t) = self.transport.backend() {
            b = b.transport(t);
        }
        if let Some(i) = self.interface {
            b = b.interface(i);
        }
        if let Some(list) = &self.gms {
            b = b.gms(gms::parse_replicas(list)?).wait_members(self.wait_members);
        }
        Ok(b.start()?)
    }
}

#[derive(clap::Args, Debug)]
struct NodeArgs {
    #[command(flatten)]
    membership: Membership,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    duration: Option<f64>,
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(a) => run_node(a),
        Command::Pub(a) => pubsub::publish(a),
        Command::Sub(a) => pubsub::subscribe(a),
        Command::Bench(a) => bench::run(a),
        Command::Raw(a) => raw::run(a),
        Command::Regions(a) => regions::run(a),
        Command::Gms(a) => gms::run(a),
        Command::Status(a) => gms::status(a),
        Command::Obj(a) => obj::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("argent: {}", said_once(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each said once: a cause whose text is already in the message
/// (an error that shows its source, as `#[error("transport: {0}")]` does) is not repeated.
fn said_once(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1).map(ToString::to_string) {
        if !out.contains(&cause) {
            out = format!("{out}: {cause}");
        }
    }
    out
}

fn run_node(a: NodeArgs) -> anyhow::Result<ExitCode> {
    let node = a.membership.start()?;
    eprintln!("node {} running ({} transport)", node.id(), node.backend());
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let s = node.stats();
        eprintln!(
            "delivered {} messages; sent {} datagrams, {} retransmissions, {} peer repairs; {} rounds",
            s.qsm.delivered_messages,
            s.qsm.data_sent,
            s.qsm.sender_retransmissions,
            s.qsm.peer_repairs,
            s.qsm.rounds_completed
        );
        if a.duration.is_some_and(|d| started.elapsed().as_secs_f64() >= d) {
            node.shutdown();
            return Ok(ExitCode::SUCCESS);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_already_in_the_message_are_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let e = anyhow::Error::new(io).context("binding 127.0.0.1:7000 failed: address in use");
        assert_eq!(super::said_once(&e), "binding 127.0.0.1:7000 failed: address in use");
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("writing report.md");
        assert_eq!(super::said_once(&e), "writing report.md: disk full");
    }
}
