//! The scenario file's TOML types, their defaults and their names.

use serde::{Deserialize, Serialize};

/// A scenario file: what to measure, on which topology, how often, and the sweeps.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub topology: Topology,
    /// Runs of every point; the report gives their median, min and max.
    #[serde(default = "one")]
    pub repeats: u32,
    /// Seconds one `argent bench` run may take before it is killed (default: from its settings).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// The namespace LAN (required with `topology = "netns"`, an error otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<Netns>,
    /// What is measured at every point, one after another in each repeat (default: argent
    /// alone). Anything but argent is a peer, run by `argent-peer` (on netns: the raw UDP
    /// systems only, through netns-run).
    #[serde(default = "argent_only")]
    pub systems: Vec<System>,
    #[serde(default)]
    pub base: Base,
    #[serde(default)]
    pub sweep: Vec<Sweep>,
}

/// The default of `repeats`.
fn one() -> u32 {
    1
}

/// The default of `systems`: argent alone.
fn argent_only() -> Vec<System> {
    vec![System::Argent]
}

/// A system measured side by side with argent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// `argent bench` (or netns-run).
    Argent,
    /// Raw UDP unicast, one copy per subscriber, messages packed into argent's datagram size.
    RawUnicast,
    /// Raw UDP IP multicast, messages packed into argent's datagram size.
    RawMulticast,
    /// Raw UDP IP multicast with a GSO sender (64 KB sends cut by the kernel into datagrams
    /// of argent's size): the most a tuned application gets through a LAN.
    RawGso,
    /// Zenoh, peer mode over TCP on loopback, reliable, blocking congestion control.
    Zenoh,
    /// Aeron at its defaults (1408-byte MTU, 128 KB socket buffers).
    Aeron,
    /// Aeron tuned to argent's datagram size and buffers.
    AeronTuned,
    /// Corosync CPG: closed process groups on a corosync daemon started per run, agreed
    /// (total) order across every publisher.
    CorosyncCpg,
}

impl System {
    /// Its name in scenario files, log names and `argent-peer`'s command line.
    pub fn name(self) -> &'static str {
        match self {
            System::Argent => "argent",
            System::RawUnicast => "raw-unicast",
            System::RawMulticast => "raw-multicast",
            System::RawGso => "raw-gso",
            System::Zenoh => "zenoh",
            System::Aeron => "aeron",
            System::AeronTuned => "aeron-tuned",
            System::CorosyncCpg => "corosync-cpg",
        }
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            System::Argent => "argent",
            System::RawUnicast => "raw UDP unicast (unreliable)",
            System::RawMulticast => "raw UDP multicast (unreliable)",
            System::RawGso => "raw UDP multicast, GSO sender (unreliable)",
            System::Zenoh => "Zenoh (TCP peers, reliable, block)",
            System::Aeron => "Aeron (defaults)",
            System::AeronTuned => "Aeron (tuned)",
            System::CorosyncCpg => "Corosync CPG (agreed order)",
        }
    }

    /// The `argent-peer` system that runs it (`aeron-tuned` is `aeron --profile tuned`).
    pub fn peer_binary_system(self) -> &'static str {
        match self {
            System::AeronTuned => "aeron",
            s => s.name(),
        }
    }

    /// Whether `argent-peer` runs it (anything but argent).
    pub fn is_peer(self) -> bool {
        self != System::Argent
    }

    /// Whether netns-run runs it on a namespace LAN.
    pub fn runs_on_netns(self) -> bool {
        matches!(self, System::Argent | System::RawGso | System::RawMulticast)
    }

    /// Raw UDP: the physical limit, not a peer to beat.
    pub fn is_raw(self) -> bool {
        matches!(self, System::RawUnicast | System::RawMulticast | System::RawGso)
    }

    /// Whether `argent-peer` runs it with several publishers (`--publishers`).
    pub fn many_publishers(self) -> bool {
        self == System::CorosyncCpg
    }

    /// Whether `argent-peer` paces it (`--rate`): raw UDP and Corosync CPG.
    pub fn paced(self) -> bool {
        self.is_raw() || self == System::CorosyncCpg
    }
}

/// A LAN of network namespaces, built afresh for every run by `cluster-scripts/netns-run`:
/// a GMS replica and the publisher on host 1, the subscribers spread over hosts 2..=hosts,
/// `loss_pct`% of arriving UDP dropped on the first `lossy_hosts` subscriber hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Netns {
    pub hosts: u64,
    /// Percent of arriving UDP dropped (whole numbers: nftables `numgen random mod 100`).
    #[serde(default)]
    pub loss_pct: u64,
    #[serde(default)]
    pub lossy_hosts: u64,
    /// The MTU of every link, bytes (1 500: Ethernet; 9 000: jumbo frames).
    #[serde(default = "ethernet_mtu")]
    pub mtu: u64,
}

/// The default of `netns.mtu`.
fn ethernet_mtu() -> u64 {
    1500
}

/// Where the processes of a run live: loopback, or a LAN of network namespaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    #[default]
    Loopback,
    Netns,
}

/// The transport backend of `argent bench` (`--transport`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Auto,
    Std,
    Uring,
}

/// The settings of every point; a sweep overrides one of them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Base {
    pub publishers: u64,
    pub subscribers: u64,
    pub groups: u64,
    pub zipf: f64,
    /// Message size, bytes.
    pub size: u64,
    /// Seconds of publishing per run.
    pub duration: f64,
    pub transport: Transport,
    /// What every subscriber of every system checks of each message: `full` (every byte) or
    /// `count` (sequence numbers only, as the systems' own throughput samples count).
    pub verify: Verify,
    /// Datagram size; `argent bench`'s default when absent.
    pub datagram_size: Option<u64>,
    /// How argent delivers (`argent bench --driver`): `qsm` (reliable, each publisher's
    /// order) or `total-order` (one sequence of all publishers' messages on every
    /// subscriber, which `argent bench` checks: `order_agreed`).
    pub driver: Driver,
    pub pin: bool,
    /// Measure the raw UDP multicast baselines in the same run.
    pub raw: bool,
    /// Paced load: messages per second per publisher (latency then counts from each
    /// message's scheduled send time). Absent: as fast as flow control allows.
    pub rate: Option<u64>,
    /// The last subscriber takes at most this many messages per second.
    pub slow_one: Option<u64>,
    /// Seconds after publishing starts when the last subscriber is stopped (SIGSTOP) for
    /// `pause_for` seconds, then resumed.
    pub pause_one_at: Option<f64>,
    pub pause_for: Option<f64>,
    /// Seconds after publishing starts when the last subscriber is killed (loopback only).
    pub kill_one_at: Option<f64>,
    /// Seconds after publishing starts when the last subscriber is killed, then started
    /// again once evicted (loopback only).
    pub restart_one_at: Option<f64>,
}

impl Default for Base {
    fn default() -> Self {
        Base {
            publishers: 1,
            subscribers: 3,
            groups: 1,
            zipf: 1.5,
            size: 1024,
            duration: 5.0,
            transport: Transport::Auto,
            verify: Verify::Full,
            datagram_size: None,
            driver: Driver::Qsm,
            pin: true,
            raw: true,
            rate: None,
            slow_one: None,
            pause_one_at: None,
            pause_for: None,
            kill_one_at: None,
            restart_one_at: None,
        }
    }
}

/// argent's delivery driver (`driver`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// QSM: reliable, FIFO per publisher.
    #[default]
    Qsm,
    /// Total order over QSM's streams: every subscriber delivers the same sequence.
    TotalOrder,
}

impl Driver {
    /// Its name in scenario files and on `argent bench`'s command line (`--driver`).
    pub fn name(self) -> &'static str {
        match self {
            Driver::Qsm => "qsm",
            Driver::TotalOrder => "total-order",
        }
    }
}

/// What a subscriber checks of each message (`verify`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// The header, and every byte (argent: against each stream's checksum).
    #[default]
    Full,
    /// Sequence numbers only: exactly once, in order, complete to the end marker.
    Count,
}

impl Verify {
    /// Its name in scenario files and on the command lines (`--verify`).
    pub fn name(self) -> &'static str {
        match self {
            Verify::Full => "full",
            Verify::Count => "count",
        }
    }
}

impl Transport {
    /// Its name in scenario files and on `argent bench`'s command line.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Std => "std",
            Transport::Uring => "uring",
        }
    }
}

/// A setting a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Param {
    Subscribers,
    Groups,
    Size,
    Publishers,
    /// `netns.loss_pct` (topology netns only), percent.
    #[serde(rename = "loss_pct")]
    LossPct,
    /// `base.rate`, messages per second per publisher (latency under load).
    Rate,
    /// `base.rate` as a percentage of argent's peak: the median messages/s per subscriber
    /// of argent's unpaced point with the same settings, measured by an earlier sweep of
    /// the same run (the paced rate is computed when the point runs, and the same for
    /// every system).
    #[serde(rename = "rate_of_peak")]
    RateOfPeak,
    /// `netns.mtu` (topology netns only), bytes.
    Mtu,
}

impl Param {
    /// Its name in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Param::Subscribers => "subscribers",
            Param::Groups => "groups",
            Param::Size => "size",
            Param::Publishers => "publishers",
            Param::LossPct => "loss_pct",
            Param::Rate => "rate",
            Param::RateOfPeak => "rate_of_peak",
            Param::Mtu => "mtu",
        }
    }
}

/// One sweep: a setting and its values, over the base point with `set` applied.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub param: Param,
    pub values: Vec<u64>,
    /// Other settings of this sweep's points, replacing the base's: any `[base]` field, and
    /// `loss_pct` and `mtu` on netns (e.g. `{ size = 64 }`, `{ pause_one_at = 1.0, pause_for = 1.0 }`).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub set: toml::Table,
}
