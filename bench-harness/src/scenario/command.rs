//! What a point runs: the command line of `argent bench`, netns-run or `argent-peer`, and a
//! bound on the run's wall time.

use super::point::PointSpec;
use super::types::{Base, Driver, System};
use std::path::Path;

/// `argent bench`'s datagram size on loopback, which raw UDP matches.
const ARGENT_DATAGRAM: u64 = 65_000;

impl PointSpec {
    /// The arguments of the program this point runs: `argent bench` on loopback, else
    /// `cluster-scripts/netns-run` (which runs `argent`, the binary given).
    pub fn args(&self, argent: &Path) -> Vec<String> {
        self.netns_args(argent, None)
    }

    /// On a namespace LAN, `netns-run`'s arguments for `system`: argent, or (with `peer`)
    /// a raw UDP system of `argent-peer` on the same hosts.
    pub fn netns_peer_args(&self, argent: &Path, system: System, peer: &Path) -> Vec<String> {
        self.netns_args(argent, Some((system, peer)))
    }

    fn netns_args(&self, argent: &Path, peer: Option<(System, &Path)>) -> Vec<String> {
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
            ("--mtu", n.mtu.to_string()),
            ("--verify", b.verify.name().to_string()),
        ] {
            a.push(flag.into());
            a.push(v);
        }
        if let Some((system, peer)) = peer {
            a.extend(["--system".into(), system.name().into(), "--peer".into(), peer.display().to_string()]);
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
            ("--verify", b.verify.name().to_string()),
        ] {
            a.push(flag.into());
            a.push(v);
        }
        if system == System::AeronTuned {
            a.extend(["--profile".into(), "tuned".into()]);
        }
        if system.many_publishers() {
            a.extend(["--publishers".into(), b.publishers.to_string()]);
        }
        if system.is_raw() {
            // The same datagram size as argent (argent bench's default on loopback).
            a.extend(["--datagram-size".into(), b.datagram_size.unwrap_or(ARGENT_DATAGRAM).to_string()]);
        }
        if let (true, Some(r)) = (system.paced(), b.rate) {
            a.extend(["--rate".into(), r.to_string()]);
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
            ("--verify", self.verify.name().to_string()),
        ] {
            a.push(flag.into());
            a.push(v);
        }
        if let Some(d) = self.datagram_size {
            a.push("--datagram-size".into());
            a.push(d.to_string());
        }
        if self.driver != Driver::Qsm {
            a.extend(["--driver".into(), self.driver.name().into()]);
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

    /// A generous bound on one run's wall time, seconds: raw baselines, warm-up and
    /// comparison passes (with more than one group), process start-up and verification.
    pub fn default_timeout(&self) -> f64 {
        let raw = if self.raw { 2.0 * (self.duration.min(3.0) + 5.0) } else { 0.0 };
        let passes = if self.groups > 1 { 5.0 } else { 1.0 };
        30.0 + 2.0 * (raw + passes * (self.duration + 5.0))
    }
}
