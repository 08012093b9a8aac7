//! Sweeps expanded into series of points.

use super::point::PointSpec;
use super::types::{Param, Scenario, Sweep};
use super::validate::{MAX_MTU, MIN_MTU};
use anyhow::{bail, Context};

impl Sweep {
    /// The point this sweep starts from: `base` with `set` applied.
    pub(super) fn start(&self, base: &PointSpec) -> anyhow::Result<PointSpec> {
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
            if k == Param::Mtu.name() {
                let mtu = v.as_integer().filter(|m| (MIN_MTU as i64..=MAX_MTU as i64).contains(m));
                let mtu = mtu.with_context(|| format!("set.mtu = {v} must be {MIN_MTU}..{MAX_MTU} bytes"))?;
                match &mut spec.netns {
                    Some(n) => n.mtu = mtu as u64,
                    None => bail!("set.mtu needs topology = \"netns\" (loopback's MTU is its own)"),
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

impl Scenario {
    /// The settings of each point of each sweep; with no sweep, one series of the base point.
    pub fn series(&self) -> Vec<(Option<Param>, Vec<PointSpec>)> {
        let base = PointSpec::new(self.base.clone(), self.netns);
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
