//! Scenario files: what to run, as TOML (the format is documented in README.md).

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// alone). Anything but argent is a peer, run by `argent-peer` (loopback only).
    #[serde(default = "argent_only")]
    pub systems: Vec<System>,
    #[serde(default)]
    pub base: Base,
    #[serde(default)]
    pub sweep: Vec<Sweep>,
}

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
    /// Zenoh, peer mode over TCP on loopback, reliable, blocking congestion control.
    Zenoh,
    /// Aeron at its defaults (1408-byte MTU, 128 KB socket buffers).
    Aeron,
    /// Aeron tuned to argent's datagram size and buffers.
    AeronTuned,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Argent => "argent",
            System::RawUnicast => "raw-unicast",
            System::RawMulticast => "raw-multicast",
            System::Zenoh => "zenoh",
            System::Aeron => "aeron",
            System::AeronTuned => "aeron-tuned",
        }
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            System::Argent => "argent",
            System::RawUnicast => "raw UDP unicast (unreliable)",
            System::RawMulticast => "raw UDP multicast (unreliable)",
            System::Zenoh => "Zenoh (TCP peers, reliable, block)",
            System::Aeron => "Aeron (defaults)",
            System::AeronTuned => "Aeron (tuned)",
        }
    }

    /// The `argent-peer` system that runs it (`aeron-tuned` is `aeron --profile tuned`).
    pub fn peer_binary_system(self) -> &'static str {
        match self {
            System::AeronTuned => "aeron",
            s => s.name(),
        }
    }

    pub fn is_peer(self) -> bool {
        self != System::Argent
    }

    /// Raw UDP: the physical limit, not a peer to beat.
    pub fn is_raw(self) -> bool {
        matches!(self, System::RawUnicast | System::RawMulticast)
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
}

/// `argent bench`'s datagram size on loopback, which raw UDP matches.
const ARGENT_DATAGRAM: u64 = 65_000;

/// Smallest message argent-peer verifies (index, send time, check word).
const PEER_MIN_SIZE: u64 = 24;

/// The most hosts and subscribers `cluster-scripts/netns-run` accepts.
const NETNS_MAX_HOSTS: u64 = 50;
const NETNS_MAX_SUBSCRIBERS: u64 = 200;
const NETNS_MAX_GROUPS: u64 = 100_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    #[default]
    Loopback,
    Netns,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Auto,
    Std,
    Uring,
}

/// The settings of every point; a sweep overrides one of them.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Datagram size; `argent bench`'s default when absent.
    pub datagram_size: Option<u64>,
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
            datagram_size: None,
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

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Std => "std",
            Transport::Uring => "uring",
        }
    }
}

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
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Subscribers => "subscribers",
            Param::Groups => "groups",
            Param::Size => "size",
            Param::Publishers => "publishers",
            Param::LossPct => "loss_pct",
            Param::Rate => "rate",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub param: Param,
    pub values: Vec<u64>,
    /// Other settings of this sweep's points, replacing the base's: any `[base]` field, and
    /// `loss_pct` on netns (e.g. `{ size = 64 }`, `{ pause_one_at = 1.0, pause_for = 1.0 }`).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub set: toml::Table,
}

impl Sweep {
    /// The point this sweep starts from: `base` with `set` applied.
    fn start(&self, base: &PointSpec) -> anyhow::Result<PointSpec> {
        let mut spec = base.clone();
        let mut fields = match toml::Value::try_from(&base.base)? {
            toml::Value::Table(t) => t,
            _ => bail!("the base settings are not a table"),
        };
        for (k, v) in &self.set {
            if k == Param::LossPct.name() {
                let pct = v.as_integer().filter(|p| (0..=100).contains(p));
                let pct =
                    pct.with_context(|| format!("set.loss_pct = {v} must be a whole percentage, 0..100"))?;
                match &mut spec.netns {
                    Some(n) => n.loss_pct = pct as u64,
                    None => bail!("set.loss_pct needs topology = \"netns\""),
                }
                continue;
            }
            if k == self.param.name() {
                bail!("set.{k}: the swept setting cannot also be set");
            }
            fields.insert(k.clone(), v.clone());
        }
        spec.base = toml::Value::Table(fields).try_into().context("in set")?;
        Ok(spec)
    }
}

fn one() -> u32 {
    1
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let s: Scenario = toml::from_str(&text).with_context(|| format!("in scenario {}", path.display()))?;
        s.validate().with_context(|| format!("in scenario {}", path.display()))?;
        Ok(s)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.name.trim().is_empty() {
            bail!("name must not be empty");
        }
        if !(1..=1000).contains(&self.repeats) {
            bail!("repeats = {} must be between 1 and 1000", self.repeats);
        }
        if let Some(t) = self.timeout {
            if !(t > 0.0 && t.is_finite()) {
                bail!("timeout = {t} must be a positive number of seconds");
            }
        }
        let b = &self.base;
        for (field, v) in [("publishers", b.publishers), ("subscribers", b.subscribers), ("groups", b.groups)]
        {
            if v == 0 {
                bail!("base.{field} must be at least 1");
            }
        }
        if b.size == 0 {
            bail!("base.size must be at least 1 byte");
        }
        if !(b.zipf >= 0.0 && b.zipf.is_finite()) {
            bail!("base.zipf = {} must be a non-negative exponent", b.zipf);
        }
        if !(b.duration > 0.0 && b.duration <= 3600.0) {
            bail!("base.duration = {} must be in (0, 3600] seconds", b.duration);
        }
        for (i, s) in self.sweep.iter().enumerate() {
            if s.values.is_empty() {
                bail!("sweep[{i}].values must list at least one value");
            }
            if s.param != Param::LossPct && s.values.contains(&0) {
                bail!("sweep[{i}].values: {} must be at least 1", s.param.name());
            }
            let base = PointSpec { base: self.base.clone(), netns: self.netns };
            let start = s.start(&base).with_context(|| format!("sweep[{i}]"))?;
            for (field, v) in [
                ("publishers", start.base.publishers),
                ("subscribers", start.base.subscribers),
                ("groups", start.base.groups),
                ("size", start.base.size),
            ] {
                if v == 0 {
                    bail!("sweep[{i}].set.{field} must be at least 1");
                }
            }
        }
        self.validate_systems()?;
        let netns = self.topology == Topology::Netns;
        for (i, (_, points)) in self.series().iter().enumerate() {
            for p in points {
                p.base.validate_load(netns).with_context(|| match self.sweep.get(i) {
                    Some(s) => format!("in sweep[{i}] ({} = {})", s.param.name(), p.get(s.param)),
                    None => "in the base point".to_string(),
                })?;
            }
        }
        match (self.topology, &self.netns) {
            (Topology::Loopback, None) => {
                if let Some(i) = self.sweep.iter().position(|s| s.param == Param::LossPct) {
                    bail!(
                        "sweep[{i}].param = \"loss_pct\" needs topology = \"netns\" (loopback has no loss)"
                    );
                }
            }
            (Topology::Loopback, Some(_)) => {
                bail!("the [netns] table applies only to topology = \"netns\" (this scenario is loopback)")
            }
            (Topology::Netns, None) => {
                bail!("topology = \"netns\" needs a [netns] table: hosts (2..50), loss_pct (0..100), lossy_hosts")
            }
            (Topology::Netns, Some(n)) => self.validate_netns(n)?,
        }
        Ok(())
    }

    /// Peers run on loopback, one publisher, one group, messages of at least 24 bytes.
    fn validate_systems(&self) -> anyhow::Result<()> {
        if self.systems.is_empty() {
            bail!("systems must list at least one system (e.g. [\"argent\"])");
        }
        for (i, s) in self.systems.iter().enumerate() {
            if self.systems[..i].contains(s) {
                bail!("systems lists {} twice", s.name());
            }
        }
        let Some(peer) = self.systems.iter().find(|s| s.is_peer()) else { return Ok(()) };
        let peer = peer.name();
        if self.topology != Topology::Loopback {
            bail!("systems: {peer} runs on loopback only (topology = \"loopback\")");
        }
        let points = self.series();
        for p in points.iter().flat_map(|(_, pts)| pts) {
            let b = &p.base;
            if b.publishers != 1 || b.groups != 1 {
                bail!(
                    "systems: {peer} runs one publisher and one group, but a point has publishers = {} \
                     and groups = {} (set them to 1 in [base] and in every sweep)",
                    b.publishers,
                    b.groups
                );
            }
            if b.perturbed() {
                bail!(
                    "systems: {peer} runs unpaced and unperturbed: rate, slow_one, pause_one_at, kill_one_at \
                     and restart_one_at apply to argent alone (use a scenario of its own)"
                );
            }
            if b.size < PEER_MIN_SIZE {
                bail!("systems: {peer} needs messages of at least {PEER_MIN_SIZE} bytes, but a point has size = {}", b.size);
            }
        }
        Ok(())
    }

    /// What `cluster-scripts/netns-run` accepts; settings it has no flag for are errors rather
    /// than silently ignored (`pin` and `raw` excepted: they have defaults, and are documented
    /// as not applying).
    fn validate_netns(&self, n: &Netns) -> anyhow::Result<()> {
        if !(2..=NETNS_MAX_HOSTS).contains(&n.hosts) {
            bail!("netns.hosts = {} must be between 2 and {NETNS_MAX_HOSTS}", n.hosts);
        }
        if n.loss_pct > 100 {
            bail!("netns.loss_pct = {} must be a percentage, 0..100", n.loss_pct);
        }
        if n.lossy_hosts > n.hosts - 1 {
            bail!(
                "netns.lossy_hosts = {} must be at most netns.hosts - 1 = {} (the subscriber hosts)",
                n.lossy_hosts,
                n.hosts - 1
            );
        }
        let b = &self.base;
        if b.publishers != 1 {
            bail!(
                "base.publishers = {} must be 1 with topology = \"netns\" (netns-run runs one publisher)",
                b.publishers
            );
        }
        if b.subscribers > NETNS_MAX_SUBSCRIBERS {
            bail!(
                "base.subscribers = {} must be at most {NETNS_MAX_SUBSCRIBERS} with topology = \"netns\"",
                b.subscribers
            );
        }
        if b.groups > NETNS_MAX_GROUPS {
            bail!("base.groups = {} must be at most {NETNS_MAX_GROUPS} with topology = \"netns\"", b.groups);
        }
        if b.duration.fract() != 0.0 {
            bail!(
                "base.duration = {} must be a whole number of seconds with topology = \"netns\"",
                b.duration
            );
        }
        if b.transport != Transport::Auto {
            bail!(
                "base.transport must be \"auto\" with topology = \"netns\" (netns-run has no transport flag)"
            );
        }
        if b.datagram_size.is_some() {
            bail!(
                "base.datagram_size is not supported with topology = \"netns\" (netns-run has no such flag)"
            );
        }
        for (i, s) in self.sweep.iter().enumerate() {
            let limit = match s.param {
                Param::Publishers => {
                    bail!("sweep[{i}].param = \"publishers\" is not supported with topology = \"netns\" (one publisher)")
                }
                Param::Subscribers => NETNS_MAX_SUBSCRIBERS,
                Param::Groups => NETNS_MAX_GROUPS,
                Param::LossPct if n.lossy_hosts == 0 => {
                    bail!("sweep[{i}].param = \"loss_pct\" needs netns.lossy_hosts of at least 1 (no host has loss)")
                }
                Param::LossPct => 100,
                Param::Size | Param::Rate => u64::MAX,
            };
            if let Some(v) = s.values.iter().find(|&&v| v > limit) {
                bail!(
                    "sweep[{i}].values: {} = {v} must be at most {limit} with topology = \"netns\"",
                    s.param.name()
                );
            }
        }
        Ok(())
    }

    /// The settings of each point of each sweep; with no sweep, one series of the base point.
    pub fn series(&self) -> Vec<(Option<Param>, Vec<PointSpec>)> {
        let base = PointSpec { base: self.base.clone(), netns: self.netns };
        if self.sweep.is_empty() {
            return vec![(None, vec![base])];
        }
        self.sweep
            .iter()
            .map(|s| {
                // Checked by `validate`: a bad `set` never gets here.
                let start = s.start(&base).unwrap_or_else(|_| base.clone());
                (Some(s.param), s.values.iter().map(|&v| start.with(s.param, v)).collect())
            })
            .collect()
    }
}

/// One point: the `argent bench` settings and, on a namespace LAN, the LAN.
#[derive(Debug, Clone)]
pub struct PointSpec {
    pub base: Base,
    pub netns: Option<Netns>,
}

impl PointSpec {
    pub fn with(&self, p: Param, v: u64) -> PointSpec {
        let mut s = self.clone();
        match (p, &mut s.netns) {
            (Param::LossPct, Some(n)) => n.loss_pct = v,
            (Param::LossPct, None) => {} // rejected by validation
            _ => s.base = s.base.with(p, v),
        }
        s
    }

    pub fn get(&self, p: Param) -> u64 {
        match (p, &self.netns) {
            (Param::LossPct, n) => n.map_or(0, |n| n.loss_pct),
            _ => self.base.get(p),
        }
    }

    /// The arguments of the program this point runs: `argent bench` on loopback, else
    /// `cluster-scripts/netns-run` (which runs `argent`, the binary given).
    pub fn args(&self, argent: &Path) -> Vec<String> {
        let Some(n) = self.netns else { return self.base.args() };
        let b = &self.base;
        let mut a = Vec::new();
        for (flag, v) in [
            ("--hosts", n.hosts.to_string()),
            ("--loss", n.loss_pct.to_string()),
            ("--lossy-hosts", n.lossy_hosts.to_string()),
            ("--subscribers", b.subscribers.to_string()),
            ("--publishers", b.publishers.to_string()),
            ("--groups", b.groups.to_string()),
            ("--zipf", b.zipf.to_string()),
            ("--size", b.size.to_string()),
            ("--duration", b.duration.to_string()),
            ("--argent", argent.display().to_string()),
        ] {
            a.push(flag.into());
            a.push(v);
        }
        a.extend(b.load_args(false));
        a
    }

    /// The arguments of `argent-peer` for `system` at this point (loopback).
    pub fn peer_args(&self, system: System) -> Vec<String> {
        let b = &self.base;
        let mut a: Vec<String> = vec![system.peer_binary_system().into(), "--json".into()];
        for (flag, v) in [
            ("--subscribers", b.subscribers.to_string()),
            ("--size", b.size.to_string()),
            ("--duration", b.duration.to_string()),
        ] {
            a.push(flag.into());
            a.push(v);
        }
        if system == System::AeronTuned {
            a.extend(["--profile".into(), "tuned".into()]);
        }
        if system.is_raw() {
            // The same datagram size as argent (argent bench's default on loopback).
            a.extend(["--datagram-size".into(), b.datagram_size.unwrap_or(ARGENT_DATAGRAM).to_string()]);
        }
        a
    }

    /// A generous bound on one run's wall time, seconds. netns-run bounds its own processes
    /// at the duration + 60 s, plus building and removing the LAN.
    pub fn default_timeout(&self, system: System) -> f64 {
        match self.netns {
            // argent-peer bounds its own run at start-up + duration + 90 s + 30 s.
            None if system.is_peer() => 200.0 + self.base.duration,
            None => self.base.default_timeout(),
            Some(_) => 30.0 + 2.0 * (self.base.duration + 60.0),
        }
    }
}

impl Base {
    fn with(&self, p: Param, v: u64) -> Base {
        let mut b = self.clone();
        *match p {
            Param::Subscribers => &mut b.subscribers,
            Param::Groups => &mut b.groups,
            Param::Size => &mut b.size,
            Param::Publishers => &mut b.publishers,
            Param::Rate => {
                b.rate = Some(v);
                return b;
            }
            Param::LossPct => return b, // not a Base setting (PointSpec::with)
        } = v;
        b
    }

    fn get(&self, p: Param) -> u64 {
        match p {
            Param::Subscribers => self.subscribers,
            Param::Groups => self.groups,
            Param::Size => self.size,
            Param::Publishers => self.publishers,
            Param::Rate => self.rate.unwrap_or(0),
            Param::LossPct => 0,
        }
    }

    /// The flags of `argent bench` for this point.
    pub fn args(&self) -> Vec<String> {
        let transport = self.transport.name();
        let mut a: Vec<String> = vec!["bench".into(), "--json".into()];
        for (flag, v) in [
            ("--publishers", self.publishers.to_string()),
            ("--subscribers", self.subscribers.to_string()),
            ("--groups", self.groups.to_string()),
            ("--zipf", self.zipf.to_string()),
            ("--size", self.size.to_string()),
            ("--duration", self.duration.to_string()),
            ("--transport", transport.to_string()),
            ("--pin", self.pin.to_string()),
        ] {
            a.push(flag.into());
            a.push(v);
        }
        if let Some(d) = self.datagram_size {
            a.push("--datagram-size".into());
            a.push(d.to_string());
        }
        if !self.raw {
            a.push("--no-raw".into());
        }
        a.extend(self.load_args(true));
        a
    }

    /// The paced-load and perturbation flags, the same for `argent bench` and netns-run
    /// (durations in seconds; `argent bench` reads `2.5` as seconds too).
    fn load_args(&self, loopback: bool) -> Vec<String> {
        let mut a = Vec::new();
        let secs = |v: f64| v.to_string();
        for (flag, v) in [
            ("--rate", self.rate.map(|r| r.to_string())),
            ("--slow-one", self.slow_one.map(|r| r.to_string())),
            ("--pause-one-at", self.pause_one_at.map(secs)),
            ("--pause-for", self.pause_for.map(secs)),
        ] {
            if let Some(v) = v {
                a.extend([flag.to_string(), v]);
            }
        }
        if loopback {
            for (flag, v) in [("--kill-one-at", self.kill_one_at), ("--restart-one-at", self.restart_one_at)]
            {
                if let Some(v) = v {
                    a.extend([flag.to_string(), secs(v)]);
                }
            }
        }
        a
    }

    /// Whether a subscriber is perturbed or the load paced (argent only: peers run unpaced).
    fn perturbed(&self) -> bool {
        self.rate.is_some()
            || self.slow_one.is_some()
            || self.pause_one_at.is_some()
            || self.kill_one_at.is_some()
            || self.restart_one_at.is_some()
    }

    /// Perturbations and pacing: consistent, and within what the runners accept.
    fn validate_load(&self, netns: bool) -> anyhow::Result<()> {
        for (field, v) in [("base.rate", self.rate), ("base.slow_one", self.slow_one)] {
            if v == Some(0) {
                bail!("{field} must be at least 1 message per second");
            }
        }
        for (field, v) in [
            ("base.pause_one_at", self.pause_one_at),
            ("base.pause_for", self.pause_for),
            ("base.kill_one_at", self.kill_one_at),
            ("base.restart_one_at", self.restart_one_at),
        ] {
            if let Some(v) = v {
                if !(v >= 0.0 && v <= self.duration) {
                    bail!("{field} = {v} must be a time in seconds within the run (0..={})", self.duration);
                }
            }
        }
        if self.pause_one_at.is_some() != self.pause_for.is_some() {
            bail!("base.pause_one_at and base.pause_for go together");
        }
        // A pause shorter than the eviction time (argent bench: 1.5 s; netns-run's GMS: 3 s).
        let longest = if netns { 2.5 } else { 1.3 };
        if let Some(p) = self.pause_for {
            if !(p > 0.0 && p <= longest) {
                bail!("base.pause_for = {p} must be in (0, {longest}] seconds: a longer pause gets the subscriber evicted");
            }
        }
        let perturbations =
            [self.pause_one_at, self.kill_one_at, self.restart_one_at].iter().filter(|v| v.is_some()).count();
        if perturbations > 1 {
            bail!("base: at most one of pause_one_at, kill_one_at and restart_one_at");
        }
        if netns && (self.kill_one_at.is_some() || self.restart_one_at.is_some()) {
            bail!("base.kill_one_at and base.restart_one_at are not supported with topology = \"netns\" (netns-run has no such flags)");
        }
        if (perturbations > 0 || self.slow_one.is_some()) && self.subscribers < 2 {
            bail!("base: perturbing a subscriber needs subscribers = 2 or more");
        }
        if (perturbations > 0 || self.slow_one.is_some()) && self.groups > 1 && !netns {
            bail!("base: perturbations run on one group on loopback (groups = 1)");
        }
        Ok(())
    }

    /// A generous bound on one run's wall time, seconds: raw baselines, warm-up and
    /// comparison passes (with more than one group), process start-up and verification.
    pub fn default_timeout(&self) -> f64 {
        let raw = if self.raw { 2.0 * (self.duration.min(3.0) + 5.0) } else { 0.0 };
        let passes = if self.groups > 1 { 5.0 } else { 1.0 };
        30.0 + 2.0 * (raw + passes * (self.duration + 5.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Scenario> {
        let s: Scenario = toml::from_str(s)?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn errors_name_the_field() {
        let e = format!("{:#}", parse("name = \"x\"\n[base]\nsubscriber = 2\n").unwrap_err());
        assert!(e.contains("subscriber"), "{e}");
        let e =
            format!("{:#}", parse("name = \"x\"\n[[sweep]]\nparam = \"loss\"\nvalues = [1]\n").unwrap_err());
        assert!(e.contains("param") || e.contains("loss"), "{e}");
        let e = format!("{:#}", parse("name = \"x\"\n[base]\nsubscribers = 0\n").unwrap_err());
        assert!(e.contains("base.subscribers"), "{e}");
        let e = format!("{:#}", parse("name = \"x\"\ntopology = \"netns\"\n").unwrap_err());
        assert!(e.contains("[netns]"), "{e}");
    }

    const NETNS: &str =
        "name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = 5\nloss_pct = 1\nlossy_hosts = 2\n";

    /// The error of NETNS with `extra` appended (a `[base]` or `[[sweep]]` table).
    fn netns_error(extra: &str) -> String {
        format!("{:#}", parse(&format!("{NETNS}{extra}")).expect_err(extra))
    }

    fn netns_with(hosts: u64, loss_pct: u64, lossy_hosts: u64) -> anyhow::Result<Scenario> {
        parse(&format!(
            "name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = {hosts}\nloss_pct = {loss_pct}\nlossy_hosts = {lossy_hosts}\n"
        ))
    }

    #[test]
    fn netns_table_is_checked_field_by_field() {
        let s = parse(NETNS).unwrap();
        assert_eq!(s.netns, Some(Netns { hosts: 5, loss_pct: 1, lossy_hosts: 2 }));
        for (hosts, loss, lossy, field) in [
            (1, 0, 0, "netns.hosts"),
            (51, 0, 0, "netns.hosts"),
            (5, 101, 0, "netns.loss_pct"),
            (5, 1, 5, "netns.lossy_hosts"),
        ] {
            let e = format!("{:#}", netns_with(hosts, loss, lossy).unwrap_err());
            assert!(e.contains(field), "{hosts} {loss} {lossy}: {e}");
        }
        for (hosts, loss, lossy) in [(2, 0, 0), (2, 100, 1), (50, 5, 49)] {
            netns_with(hosts, loss, lossy).unwrap();
        }
        // loss_pct and lossy_hosts default to 0; hosts is required; unknown fields are errors.
        let s = parse("name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = 3\n").unwrap();
        assert_eq!(s.netns, Some(Netns { hosts: 3, loss_pct: 0, lossy_hosts: 0 }));
        let e = format!("{:#}", parse("name = \"x\"\ntopology = \"netns\"\n[netns]\n").unwrap_err());
        assert!(e.contains("hosts"), "{e}");
        let e = format!("{:#}", parse(&format!("{NETNS}loss = 3\n")).unwrap_err());
        assert!(e.contains("loss"), "{e}");
        // The table belongs to netns only.
        let e = format!("{:#}", parse("name = \"x\"\n[netns]\nhosts = 3\n").unwrap_err());
        assert!(e.contains("[netns]") && e.contains("loopback"), "{e}");
    }

    #[test]
    fn netns_settings_match_what_netns_run_accepts() {
        // Several subscribers may share a host.
        parse(&format!("{NETNS}[base]\nsubscribers = 12\n")).unwrap();
        for (extra, field) in [
            ("[base]\npublishers = 2\n", "base.publishers"),
            ("[base]\nsubscribers = 201\n", "base.subscribers"),
            ("[base]\ngroups = 100001\n", "base.groups"),
            ("[base]\nduration = 2.5\n", "base.duration"),
            ("[base]\ntransport = \"std\"\n", "base.transport"),
            ("[base]\ndatagram_size = 9000\n", "base.datagram_size"),
            ("[[sweep]]\nparam = \"publishers\"\nvalues = [1]\n", "sweep[0].param"),
            ("[[sweep]]\nparam = \"subscribers\"\nvalues = [1, 300]\n", "sweep[0].values"),
            ("[[sweep]]\nparam = \"subscribers\"\nvalues = [0]\n", "sweep[0].values"),
            ("[[sweep]]\nparam = \"loss_pct\"\nvalues = [0, 101]\n", "sweep[0].values"),
        ] {
            let e = netns_error(extra);
            assert!(e.contains(field), "{extra}: {e}");
        }
        let no_lossy_host = "name = \"x\"\ntopology = \"netns\"\n[netns]\nhosts = 5\n\
                             [[sweep]]\nparam = \"loss_pct\"\nvalues = [1]\n";
        let e = format!("{:#}", parse(no_lossy_host).unwrap_err());
        assert!(e.contains("netns.lossy_hosts"), "{e}");
    }

    #[test]
    fn loss_sweeps_only_on_netns() {
        let sweep = "[[sweep]]\nparam = \"loss_pct\"\nvalues = [0, 1, 5]\n";
        let e = format!("{:#}", parse(&format!("name = \"x\"\n{sweep}")).unwrap_err());
        assert!(e.contains("loss_pct") && e.contains("netns"), "{e}");
        let s = parse(&format!("{NETNS}{sweep}")).unwrap();
        let series = s.series();
        assert_eq!(series[0].0, Some(Param::LossPct));
        let losses: Vec<u64> = series[0].1.iter().map(|p| p.get(Param::LossPct)).collect();
        assert_eq!(losses, [0, 1, 5]);
        assert!(series[0].1.iter().all(|p| p.netns.is_some_and(|n| n.hosts == 5 && n.lossy_hosts == 2)));
        let args = series[0].1[2].args(Path::new("/bin/argent"));
        let pairs: Vec<(&str, &str)> = args.chunks(2).map(|c| (c[0].as_str(), c[1].as_str())).collect();
        for want in [
            ("--hosts", "5"),
            ("--loss", "5"),
            ("--lossy-hosts", "2"),
            ("--subscribers", "3"),
            ("--publishers", "1"),
            ("--groups", "1"),
            ("--duration", "5"),
            ("--argent", "/bin/argent"),
        ] {
            assert!(pairs.contains(&want), "{want:?} in {args:?}");
        }
        // Loopback points still run `argent bench` with its flags.
        let lo = parse("name = \"x\"\n").unwrap().series();
        assert_eq!(lo[0].1[0].args(Path::new("/bin/argent"))[..2], ["bench", "--json"]);
    }

    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for name in ["smoke", "qsm-paper", "qsm-paper-loopback", "peers"] {
            let s = Scenario::load(&dir.join(format!("{name}.toml"))).unwrap();
            assert_eq!(s.name, name);
        }
        let paper = Scenario::load(&dir.join("qsm-paper.toml")).unwrap();
        assert_eq!(paper.topology, Topology::Netns);
        assert_eq!(paper.netns, Some(Netns { hosts: 5, loss_pct: 1, lossy_hosts: 2 }));
        let params: Vec<Param> = paper.sweep.iter().map(|s| s.param).collect();
        assert_eq!(
            params,
            [
                Param::Subscribers,
                Param::Groups,
                Param::LossPct,
                Param::LossPct,
                Param::Subscribers,
                Param::Rate
            ]
        );
        let loopback = Scenario::load(&dir.join("qsm-paper-loopback.toml")).unwrap();
        assert_eq!(loopback.topology, Topology::Loopback);
        assert_eq!(loopback.sweep.len(), 6);
    }

    #[test]
    fn peers_scenario_is_a_grid_of_every_system() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let s = Scenario::load(&dir.join("peers.toml")).unwrap();
        assert_eq!(
            s.systems,
            [
                System::Argent,
                System::RawUnicast,
                System::RawMulticast,
                System::Zenoh,
                System::Aeron,
                System::AeronTuned
            ]
        );
        let grid: Vec<(u64, u64)> = s
            .series()
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| (p.base.size, p.base.subscribers)))
            .collect();
        assert_eq!(grid, [(64, 1), (64, 3), (1024, 1), (1024, 3)]);
        let p = &s.series()[1].1[1];
        let args = p.peer_args(System::AeronTuned);
        assert_eq!(args[..2], ["aeron", "--json"]);
        assert!(args.windows(2).any(|w| w == ["--profile", "tuned"]), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--size", "1024"]), "{args:?}");
        let raw = p.peer_args(System::RawMulticast);
        assert!(raw.windows(2).any(|w| w == ["--datagram-size", "65000"]), "{raw:?}");
        assert!(!p.peer_args(System::Zenoh).contains(&"--datagram-size".to_string()));
    }

    #[test]
    fn peers_and_sweep_sets_are_checked() {
        let peers = "name = \"x\"\nsystems = [\"argent\", \"zenoh\"]\n";
        parse(&format!("{peers}[base]\ngroups = 1\npublishers = 1\n")).unwrap();
        for (text, want) in [
            (format!("{peers}[base]\ngroups = 10\n"), "groups = 10"),
            (format!("{peers}[[sweep]]\nparam = \"publishers\"\nvalues = [1, 2]\n"), "publishers = 2"),
            (format!("{peers}[base]\nsize = 16\n"), "at least 24 bytes"),
            ("name = \"x\"\nsystems = []\n".to_string(), "at least one system"),
            ("name = \"x\"\nsystems = [\"zenoh\", \"zenoh\"]\n".to_string(), "twice"),
            ("name = \"x\"\nsystems = [\"kafka\"]\n".to_string(), "kafka"),
            (
                "name = \"x\"\ntopology = \"netns\"\nsystems = [\"argent\", \"aeron\"]\n[netns]\nhosts = 3\n"
                    .to_string(),
                "loopback only",
            ),
            (
                "name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { sizes = 1 }\n".to_string(),
                "sizes",
            ),
            (
                "name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { size = 1 }\n".to_string(),
                "cannot also be set",
            ),
            (
                "name = \"x\"\n[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { loss_pct = 1 }\n"
                    .to_string(),
                "netns",
            ),
        ] {
            let e = format!("{:#}", parse(&text).expect_err(&text));
            assert!(e.contains(want), "{text}: {e}");
        }
        // Without peers, argent alone; systems need not be written.
        assert_eq!(parse("name = \"x\"\n").unwrap().systems, [System::Argent]);
    }

    #[test]
    fn sweep_sets_take_any_base_field_and_perturbations_are_checked() {
        let s = parse(
            "name = \"x\"\n[base]\nsubscribers = 4\nduration = 3.0\n[[sweep]]\nparam = \"subscribers\"\nvalues = [4]\n\
             set = { pause_one_at = 1.0, pause_for = 0.5 }\n[[sweep]]\nparam = \"rate\"\nvalues = [1000, 5000]\n",
        )
        .unwrap();
        let series = s.series();
        let paused = &series[0].1[0];
        assert_eq!((paused.base.pause_one_at, paused.base.pause_for), (Some(1.0), Some(0.5)));
        let args = paused.args(Path::new("argent"));
        assert!(args.windows(2).any(|w| w == ["--pause-one-at", "1"]), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["--pause-for", "0.5"]), "{args:?}");
        // The rate sweep does not inherit the other sweep's pause.
        let paced = &series[1].1[1];
        assert_eq!((paced.base.rate, paced.base.pause_one_at), (Some(5000), None));
        assert!(paced.args(Path::new("argent")).windows(2).any(|w| w == ["--rate", "5000"]));
        for (extra, want) in [
            ("[base]\npause_one_at = 1.0\n", "go together"),
            ("[base]\npause_one_at = 1.0\npause_for = 2.0\n", "base.pause_for"),
            ("[base]\nkill_one_at = 9.0\n", "base.kill_one_at"),
            ("[base]\nrate = 0\n", "base.rate"),
            ("[base]\nsubscribers = 1\nslow_one = 1000\n", "subscribers = 2"),
            ("[base]\nkill_one_at = 1.0\nrestart_one_at = 2.0\n", "at most one"),
            ("[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { pause_for = 1.0 }\n", "sweep[0]"),
            (
                "[[sweep]]\nparam = \"size\"\nvalues = [64]\nset = { subscribers = 0 }\n",
                "sweep[0].set.subscribers",
            ),
        ] {
            let e = format!("{:#}", parse(&format!("name = \"x\"\n{extra}")).expect_err(extra));
            assert!(e.contains(want), "{extra}: {e}");
        }
        // On a namespace LAN: pauses up to 2.5 s, no kills.
        let e = netns_error("[base]\nsubscribers = 3\nkill_one_at = 1.0\n");
        assert!(e.contains("kill_one_at"), "{e}");
        let ok = parse(&format!(
            "{NETNS}[base]\nsubscribers = 3\npause_one_at = 1.0\npause_for = 2.0\nrate = 1000\n"
        ))
        .unwrap();
        let args = ok.series()[0].1[0].args(Path::new("argent"));
        assert!(
            args.windows(2).any(|w| w == ["--pause-for", "2"])
                && args.windows(2).any(|w| w == ["--rate", "1000"]),
            "{args:?}"
        );
        // Peers run unpaced.
        let e = format!(
            "{:#}",
            parse("name = \"x\"\nsystems = [\"argent\", \"zenoh\"]\n[base]\nrate = 1000\n").unwrap_err()
        );
        assert!(e.contains("unpaced"), "{e}");
    }

    #[test]
    fn sweeps_override_one_setting() {
        let s =
            parse("name = \"x\"\n[base]\nsize = 64\n[[sweep]]\nparam = \"subscribers\"\nvalues = [1, 4]\n")
                .unwrap();
        let series = s.series();
        assert_eq!(series.len(), 1);
        let subs: Vec<u64> = series[0].1.iter().map(|p| p.base.subscribers).collect();
        assert_eq!(subs, [1, 4]);
        assert!(series[0].1.iter().all(|p| p.base.size == 64 && p.netns.is_none()));
        let none = parse("name = \"x\"\n").unwrap().series();
        assert_eq!((none.len(), none[0].0, none[0].1.len()), (1, None, 1));
    }
}
