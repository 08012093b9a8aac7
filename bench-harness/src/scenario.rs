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
    #[serde(default)]
    pub base: Base,
    #[serde(default)]
    pub sweep: Vec<Sweep>,
}

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
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Subscribers => "subscribers",
            Param::Groups => "groups",
            Param::Size => "size",
            Param::Publishers => "publishers",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub param: Param,
    pub values: Vec<u64>,
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
        if self.topology == Topology::Netns {
            bail!("topology = \"netns\" is not yet supported (network-namespace LANs come later); use \"loopback\"");
        }
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
            if s.values.contains(&0) {
                bail!("sweep[{i}].values: {} must be at least 1", s.param.name());
            }
        }
        Ok(())
    }

    /// The settings of each point of each sweep; with no sweep, one series of the base point.
    pub fn series(&self) -> Vec<(Option<Param>, Vec<Base>)> {
        if self.sweep.is_empty() {
            return vec![(None, vec![self.base.clone()])];
        }
        self.sweep
            .iter()
            .map(|s| (Some(s.param), s.values.iter().map(|&v| self.base.with(s.param, v)).collect()))
            .collect()
    }
}

impl Base {
    pub fn with(&self, p: Param, v: u64) -> Base {
        let mut b = self.clone();
        *match p {
            Param::Subscribers => &mut b.subscribers,
            Param::Groups => &mut b.groups,
            Param::Size => &mut b.size,
            Param::Publishers => &mut b.publishers,
        } = v;
        b
    }

    pub fn get(&self, p: Param) -> u64 {
        match p {
            Param::Subscribers => self.subscribers,
            Param::Groups => self.groups,
            Param::Size => self.size,
            Param::Publishers => self.publishers,
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
        assert!(e.contains("not yet supported"), "{e}");
    }

    #[test]
    fn sweeps_override_one_setting() {
        let s =
            parse("name = \"x\"\n[base]\nsize = 64\n[[sweep]]\nparam = \"subscribers\"\nvalues = [1, 4]\n")
                .unwrap();
        let series = s.series();
        assert_eq!(series.len(), 1);
        let subs: Vec<u64> = series[0].1.iter().map(|b| b.subscribers).collect();
        assert_eq!(subs, [1, 4]);
        assert!(series[0].1.iter().all(|b| b.size == 64));
        let none = parse("name = \"x\"\n").unwrap().series();
        assert_eq!((none.len(), none[0].0, none[0].1.len()), (1, None, 1));
    }
}
