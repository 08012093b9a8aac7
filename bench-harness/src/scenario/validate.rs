//! Reading a scenario file and checking it against what the runners accept, so that a bad
//! setting fails before the first run, with the field it is in.

use super::point::PointSpec;
use super::types::{Base, Driver, Netns, Param, Scenario, System, Topology, Transport};
use anyhow::{bail, Context};
use std::path::Path;

/// Smallest message argent-peer verifies (index, send time, check word).
const PEER_MIN_SIZE: u64 = 24;

/// The most hosts and subscribers `cluster-scripts/netns-run` accepts.
const NETNS_MAX_HOSTS: u64 = 50;
const NETNS_MAX_SUBSCRIBERS: u64 = 200;
const NETNS_MAX_GROUPS: u64 = 100_000;
/// The MTUs `cluster-scripts/netns-lan mtu` sets (IPv4's minimum to a veth's maximum).
pub(super) const MIN_MTU: u64 = 576;
pub(super) const MAX_MTU: u64 = 65_535;

impl Scenario {
    /// Reads the scenario file at `path` and checks it.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let s: Scenario = toml::from_str(&text).with_context(|| format!("in scenario {}", path.display()))?;
        s.validate().with_context(|| format!("in scenario {}", path.display()))?;
        Ok(s)
    }

    /// Every check, in order: the top-level settings and the base, the sweeps, the systems,
    /// the load of every point, the topology.
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        self.validate_settings()?;
        self.validate_sweeps()?;
        self.validate_systems()?;
        self.validate_points()?;
        self.validate_peaks()?;
        self.validate_topology()
    }

    /// The name, repeats, timeout and the base's counts, size, zipf and duration.
    fn validate_settings(&self) -> anyhow::Result<()> {
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
        Ok(())
    }

    /// Every sweep has values, and its starting point (the base with `set`) is sound.
    fn validate_sweeps(&self) -> anyhow::Result<()> {
        for (i, s) in self.sweep.iter().enumerate() {
            if s.values.is_empty() {
                bail!("sweep[{i}].values must list at least one value");
            }
            if s.param != Param::LossPct && s.values.contains(&0) {
                bail!("sweep[{i}].values: {} must be at least 1", s.param.name());
            }
            let base = PointSpec::new(self.base.clone(), self.netns);
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
        Ok(())
    }

    /// The pacing and perturbations of every point.
    fn validate_points(&self) -> anyhow::Result<()> {
        let netns = self.topology == Topology::Netns;
        for (i, (_, points)) in self.series().iter().enumerate() {
            for p in points {
                p.base.validate_load(netns).with_context(|| match self.sweep.get(i) {
                    Some(s) => format!("in sweep[{i}] ({} = {})", s.param.name(), p.get(s.param)),
                    None => "in the base point".to_string(),
                })?;
            }
        }
        Ok(())
    }

    /// A `rate_of_peak` sweep: percentages, argent measured, and its unpaced point with the
    /// same settings measured by an earlier sweep.
    fn validate_peaks(&self) -> anyhow::Result<()> {
        let series = self.series();
        for (i, s) in self.sweep.iter().enumerate().filter(|(_, s)| s.param == Param::RateOfPeak) {
            if let Some(v) = s.values.iter().find(|&&v| !(1..=100).contains(&v)) {
                bail!("sweep[{i}].values: rate_of_peak = {v} must be a percentage of the peak, 1..100");
            }
            if !self.systems.contains(&System::Argent) {
                bail!("sweep[{i}].param = \"rate_of_peak\" paces at a percentage of argent's peak: systems must include argent");
            }
            let Some(peak) = series[i].1.first().and_then(PointSpec::peak_point) else { continue };
            if !series[..i].iter().flat_map(|(_, pts)| pts).any(|p| *p == peak) {
                bail!(
                    "sweep[{i}].param = \"rate_of_peak\" needs argent's peak at the same settings: add an \
                     earlier sweep with an unpaced point of size = {}, subscribers = {}, publishers = {}, \
                     groups = {}{} and otherwise the same settings",
                    peak.base.size,
                    peak.base.subscribers,
                    peak.base.publishers,
                    peak.base.groups,
                    peak.netns
                        .map_or(String::new(), |n| format!(", mtu = {}, loss_pct = {}", n.mtu, n.loss_pct)),
                );
            }
        }
        Ok(())
    }

    /// Loss only on a namespace LAN, and the `[netns]` table exactly with topology netns.
    fn validate_topology(&self) -> anyhow::Result<()> {
        match (self.topology, &self.netns) {
            (Topology::Loopback, None) => {
                if let Some(i) = self.sweep.iter().position(|s| s.param == Param::LossPct) {
                    bail!(
                        "sweep[{i}].param = \"loss_pct\" needs topology = \"netns\" (loopback has no loss)"
                    );
                }
                if let Some(i) = self.sweep.iter().position(|s| s.param == Param::Mtu) {
                    bail!(
                        "sweep[{i}].param = \"mtu\" needs topology = \"netns\" (loopback's MTU is its own)"
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

    /// Peers run one group, messages of at least 24 bytes, one publisher (Corosync CPG:
    /// any number); on loopback, any peer, unpaced unless raw UDP or Corosync CPG; on netns,
    /// the raw UDP multicast systems only.
    fn validate_systems(&self) -> anyhow::Result<()> {
        if self.systems.is_empty() {
            bail!("systems must list at least one system (e.g. [\"argent\"])");
        }
        for (i, s) in self.systems.iter().enumerate() {
            if self.systems[..i].contains(s) {
                bail!("systems lists {} twice", s.name());
            }
        }
        let Some(&first) = self.systems.iter().find(|s| s.is_peer()) else { return Ok(()) };
        let peer = first.name();
        if self.topology != Topology::Loopback {
            if let Some(s) = self.systems.iter().find(|s| s.is_peer() && !s.runs_on_netns()) {
                bail!(
                    "systems: {} runs on loopback only; on topology = \"netns\" argent, raw-gso and \
                     raw-multicast run (netns-run places them on the LAN's hosts)",
                    s.name()
                );
            }
        }
        let all_paced = self.systems.iter().filter(|s| s.is_peer()).all(|s| s.paced());
        let one_publisher = self.systems.iter().find(|s| s.is_peer() && !s.many_publishers());
        let points = self.series();
        for p in points.iter().flat_map(|(_, pts)| pts) {
            let b = &p.base;
            if b.groups != 1 {
                bail!(
                    "systems: {peer} runs one group, but a point has groups = {} (set it to 1 in [base] \
                     and in every sweep)",
                    b.groups
                );
            }
            if let (Some(one), true) = (one_publisher, b.publishers != 1) {
                bail!(
                    "systems: {} runs one publisher, but a point has publishers = {} (set it to 1 in \
                     [base] and in every sweep; of the peers, corosync-cpg runs several)",
                    one.name(),
                    b.publishers
                );
            }
            if b.perturbed() && !(all_paced && b.paced_only()) {
                bail!(
                    "systems: {peer} runs unperturbed (and unpaced, but for raw UDP and corosync-cpg): \
                     rate, slow_one, pause_one_at, kill_one_at and restart_one_at apply to argent alone \
                     (use a scenario of its own)"
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
        if !(MIN_MTU..=MAX_MTU).contains(&n.mtu) {
            bail!(
                "netns.mtu = {} must be {MIN_MTU}..{MAX_MTU} bytes (1500: Ethernet, 9000: jumbo frames)",
                n.mtu
            );
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
        if let Some(p) = self.series().iter().flat_map(|(_, pts)| pts).find(|p| p.base.driver != Driver::Qsm)
        {
            bail!(
                "driver = \"{}\" is not supported with topology = \"netns\" (netns-run runs the qsm driver)",
                p.base.driver.name()
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
                Param::Mtu => {
                    if let Some(v) = s.values.iter().find(|&&v| v < MIN_MTU) {
                        bail!("sweep[{i}].values: mtu = {v} must be at least {MIN_MTU}");
                    }
                    MAX_MTU
                }
                Param::Size | Param::Rate => u64::MAX,
                Param::RateOfPeak => 100,
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
}

impl Base {
    /// Paced, and nothing else perturbed (what the raw UDP systems run as well).
    fn paced_only(&self) -> bool {
        self.slow_one.is_none()
            && self.pause_one_at.is_none()
            && self.kill_one_at.is_none()
            && self.restart_one_at.is_none()
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
}
