//! `argent-peer`: the systems argent is measured against, run the way `argent bench` runs
//! argent: one publisher and N subscribers as separate processes on loopback, every message
//! verified (exactly once, in order, intact), one JSON summary line.
//!
//! `argent-peer SYSTEM --subscribers N --size S --duration D --json` orchestrates a run: it
//! starts the subscribers and the publisher (this same program with `--role`), tells the
//! publisher to go once every subscriber is ready, and tells it to stop once every
//! subscriber has finished.
//!
//! Systems: `raw-unicast` and `raw-multicast` (always built), `zenoh` and `aeron` (cargo
//! features of the same names; their build needs come from cluster-scripts/install-peer-deps).

#[cfg(feature = "aeron")]
mod aeron;
mod orchestrate;
mod raw;
mod verify;
#[cfg(feature = "zenoh")]
mod zenoh;

use clap::{Parser, ValueEnum};
use std::process::ExitCode;

/// Runs one peer system (raw UDP, Zenoh, Aeron) as separate, verifying processes on loopback
/// and prints a summary shaped like `argent bench --json`: delivered_ok, msgs_per_sec and
/// mb_per_sec (to each subscriber: the slowest one), per_subscriber, per_publisher.
/// `argent-peer --built` lists the systems this build includes.
#[derive(Parser, Debug, Clone)]
#[command(version)]
pub struct Opts {
    /// The system to run.
    pub system: System,
    /// Subscriber processes.
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Message size, bytes (at least 24: index, send time, check word).
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Settings of the system: `default` (the system's own defaults) or `tuned` (Aeron: MTU,
    /// term and socket buffers matched to argent's datagram and buffer sizes). Raw UDP and
    /// Zenoh have one setting each and accept only `default`.
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
    /// Print the summary as one JSON line (last line of output).
    #[arg(long)]
    pub json: bool,
    /// Internal: the process's part in a run (started by the orchestrator).
    #[arg(long, hide = true, value_enum)]
    pub role: Option<Role>,
    /// Internal: the subscriber's index.
    #[arg(long, hide = true, default_value_t = 0)]
    pub index: usize,
    /// Internal: the run's first port (each system derives its ports from it).
    #[arg(long, hide = true, default_value_t = 0)]
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// UDP unicast, one copy per subscriber, sendmmsg/recvmmsg batches of 32 (no reliability).
    RawUnicast,
    /// UDP IP multicast on loopback, batches of 32 (no reliability).
    RawMulticast,
    /// Zenoh 1.10 pub/sub, peer mode over TCP on loopback, reliable, blocking congestion control.
    Zenoh,
    /// Aeron 1.54 (C media driver embedded in each process), reliable UDP unicast (1→1) or
    /// multicast (1→N, fc=min).
    Aeron,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::RawUnicast => "raw-unicast",
            System::RawMulticast => "raw-multicast",
            System::Zenoh => "zenoh",
            System::Aeron => "aeron",
        }
    }

    /// Whether this build includes it.
    pub fn built(self) -> bool {
        match self {
            System::RawUnicast | System::RawMulticast => true,
            System::Zenoh => cfg!(feature = "zenoh"),
            System::Aeron => cfg!(feature = "aeron"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Default,
    Tuned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RawTransport {
    Std,
    Uring,
    Auto,
}

impl RawTransport {
    pub fn backend(self) -> Option<argent_transport::Backend> {
        match self {
            RawTransport::Std => Some(argent_transport::Backend::Std),
            RawTransport::Uring => Some(argent_transport::Backend::Uring),
            RawTransport::Auto => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RawTransport::Std => "std",
            RawTransport::Uring => "uring",
            RawTransport::Auto => "auto",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Pub,
    Sub,
}

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
        Some(role) => orchestrate::child(&o, role),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("argent-peer {}: {e:#}", o.system.name());
            ExitCode::from(2)
        }
    }
}
