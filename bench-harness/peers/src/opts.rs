//! The command line: which system, how many subscribers, message size, duration and
//! settings, and the internal flags the orchestrator gives its children.

use clap::{Parser, ValueEnum};

/// Runs one peer system (raw UDP, Zenoh, Aeron, Corosync CPG) as separate, verifying processes on loopback
/// (or on a namespace LAN, with --netns) and prints a summary shaped like `argent bench
/// --json`: delivered_ok, msgs_per_sec and mb_per_sec (to each subscriber: the slowest one),
/// p50_us/p99_us (the worst subscriber), per_subscriber, per_publisher.
/// `argent-peer --built` lists the systems this build includes.
#[derive(Parser, Debug, Clone)]
#[command(version)]
pub struct Opts {
    /// The system to run.
    pub system: System,
    /// Subscriber processes.
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Publisher processes, each its own stream, verified on its own by every subscriber
    /// (exactly once, in order). More than one: corosync-cpg only.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Message size, bytes (at least 24: index, send time, check word).
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Settings of the system: `default` (the system's own defaults) or `tuned` (Aeron: MTU,
    /// term and socket buffers matched to argent's datagram and buffer sizes). Raw UDP, Zenoh
    /// and Corosync CPG (corosync's defaults) have one setting each and accept only `default`.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Raw UDP: bytes per datagram (messages are packed whole; default: one message per
    /// datagram). 65000 is argent's datagram size on loopback.
    #[arg(long)]
    pub datagram_size: Option<usize>,
    /// Raw UDP: the transport backend (std: recvmmsg/sendmmsg; uring: io_uring; auto: the
    /// probe argent uses). std is the faster path for large datagrams here (decision 006).
    #[arg(long, value_enum, default_value_t = RawTransport::Std)]
    pub transport: RawTransport,
    /// Paced publishers: messages per second per publisher (latency then counts from each
    /// message's scheduled send time, as `argent pub --rate` does). Raw UDP systems and
    /// corosync-cpg.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Run on a LAN of network namespaces made by `cluster-scripts/netns-lan up H PREFIX`
    /// (host PREFIXi has address 10.77.0.i): the publisher on host 1, subscriber k on host
    /// 2 + k mod (H - 1). Needs root. Raw UDP systems only.
    #[arg(long, value_name = "PREFIX", requires = "hosts")]
    pub netns: Option<String>,
    /// Raw UDP: receivers ask for UDP GRO (a GSO run arrives as one buffer), as argent's
    /// do. Default: plain recvmmsg, one datagram per slot (the LAN limit of issue 15).
    #[arg(long)]
    pub gro: bool,
    /// With --netns: how many hosts the LAN has (2..=50).
    #[arg(long, requires = "netns")]
    pub hosts: Option<usize>,
    /// What each subscriber checks of every message: `full` (header, check word and every
    /// byte of the fill) or `count` (the header's sequence number only: exactly once, in
    /// order, complete, as the systems' own throughput samples count).
    #[arg(long, value_enum, default_value_t = VerifyMode::Full)]
    pub verify: VerifyMode,
    /// Print the summary as one JSON line (last line of output).
    #[arg(long)]
    pub json: bool,
    /// Internal: the process's part in a run (started by the orchestrator).
    #[arg(long, hide = true, value_enum)]
    pub role: Option<Role>,
    /// Internal: the subscriber's or publisher's index.
    #[arg(long, hide = true, default_value_t = 0)]
    pub index: usize,
    /// Internal: the run's first port (each system derives its ports from it).
    #[arg(long, hide = true, default_value_t = 0)]
    pub port: u16,
    /// Internal: the address of the child's host (its interface for multicast).
    #[arg(long, hide = true, default_value_t = std::net::Ipv4Addr::LOCALHOST)]
    pub interface: std::net::Ipv4Addr,
}
/// A system argent is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// UDP unicast, one copy per subscriber, sendmmsg/recvmmsg batches of 32 (no reliability).
    RawUnicast,
    /// UDP IP multicast on loopback, batches of 32 (no reliability).
    RawMulticast,
    /// UDP IP multicast with a GSO sender: each send carries up to 64 KB that the kernel
    /// cuts into datagrams of --datagram-size (`UDP_SEGMENT`); receivers use recvmmsg. The
    /// most a tuned application gets through a LAN (no reliability).
    RawGso,
    /// Zenoh 1.10 pub/sub, peer mode over TCP on loopback, reliable, blocking congestion control.
    Zenoh,
    /// Aeron 1.54 (C media driver embedded in each process), reliable UDP unicast (1→1) or
    /// multicast (1→N, fc=min).
    Aeron,
    /// Corosync 3 closed process groups: every process a member of one group on a corosync
    /// daemon started for the run, agreed (total) order across all publishers.
    CorosyncCpg,
}

impl System {
    /// Its name on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            System::RawUnicast => "raw-unicast",
            System::RawMulticast => "raw-multicast",
            System::RawGso => "raw-gso",
            System::Zenoh => "zenoh",
            System::Aeron => "aeron",
            System::CorosyncCpg => "corosync-cpg",
        }
    }

    /// Raw UDP: unreliable, one of this crate's own senders.
    pub fn is_raw(self) -> bool {
        matches!(self, System::RawUnicast | System::RawMulticast | System::RawGso)
    }

    /// Total order: every subscriber delivers every publisher's messages in one sequence,
    /// the same for all (subscribers hash it: `order_hash`, `order_agreed`).
    pub fn total_order(self) -> bool {
        self == System::CorosyncCpg
    }

    /// Whether it runs several publishers (`--publishers`) and a paced load (`--rate`).
    pub fn many_publishers(self) -> bool {
        self == System::CorosyncCpg
    }

    /// Whether this build includes it.
    pub fn built(self) -> bool {
        match self {
            System::RawUnicast | System::RawMulticast | System::RawGso => true,
            System::Zenoh => cfg!(feature = "zenoh"),
            System::Aeron => cfg!(feature = "aeron"),
            System::CorosyncCpg => cfg!(feature = "corosync-cpg"),
        }
    }
}
/// The settings a system runs with (`--profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Default,
    Tuned,
}
/// The transport backend of the raw UDP systems (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RawTransport {
    Std,
    Uring,
    Auto,
}

impl RawTransport {
    /// argent's transport backend; `None` for `auto` (the probe argent uses).
    pub fn backend(self) -> Option<argent_transport::Backend> {
        match self {
            RawTransport::Std => Some(argent_transport::Backend::Std),
            RawTransport::Uring => Some(argent_transport::Backend::Uring),
            RawTransport::Auto => None,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RawTransport::Std => "std",
            RawTransport::Uring => "uring",
            RawTransport::Auto => "auto",
        }
    }
}
/// What a subscriber checks of every message (`--verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    Full,
    Count,
}

impl VerifyMode {
    pub fn name(self) -> &'static str {
        match self {
            VerifyMode::Full => "full",
            VerifyMode::Count => "count",
        }
    }
}

/// A child process's part in a run (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Pub,
    Sub,
}
