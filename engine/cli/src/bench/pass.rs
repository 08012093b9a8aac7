//! One argent pass of the benchmark: its cluster file and membership service, its
//! subscriber and publisher processes, and their summaries.

use super::args::{BenchArgs, Perturb};
use super::cluster::{base_port, cluster, embedded_gms};
use super::perturb::{self, Perturbed};
use super::procs::{spawn, summary};
use anyhow::Context;
use argent_membership::service::GmsService;
use argent_procs::Proc;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one argent pass measured.
pub(super) struct Pass {
    /// The subscribers' summaries.
    pub(super) subs: Vec<Value>,
    /// The publishers' summaries.
    pub(super) pubs: Vec<Value>,
    /// Regions the groups map to.
    pub(super) regions: usize,
    /// Membership views the GMS installed.
    pub(super) views: u64,
    /// What the perturbation, if any, did.
    pub(super) perturbed: Perturbed,
}

/// Attempts of a pass whose member exits before it is ready.
const PORT_ATTEMPTS: u32 = 3;

/// One argent run over `groups` groups with its own membership file (in `dir`) and ports;
/// with `churn`, subscribers join and leave groups at that many changes per second in total.
/// A member that exits before it is ready (most often: a port found free was taken by
/// another process before the member bound it, as when benchmarks run side by side) makes
/// the pass start again on other ports, up to [`PORT_ATTEMPTS`] times.
pub(super) fn argent_pass(
    a: &BenchArgs,
    groups: u32,
    dir: &Path,
    perturb: Option<Perturb>,
    churn: Option<f64>,
) -> anyhow::Result<Pass> {
    let mut attempt = 1;
    loop {
        match pass_once(a, groups, dir, perturb, churn) {
            Err(e)
                if attempt < PORT_ATTEMPTS
                    && matches!(e.downcast_ref(), Some(argent_procs::Error::ExitedBeforeReady { .. })) =>
            {
                eprintln!(
                    "argent: {e:#}; starting the pass again on other ports (attempt {} of {PORT_ATTEMPTS})",
                    attempt + 1
                );
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn pass_once(
    a: &BenchArgs,
    groups: u32,
    dir: &Path,
    perturb: Option<Perturb>,
    churn: Option<f64>,
) -> anyhow::Result<Pass> {
    let cluster = cluster(a, groups, base_port(a.subscribers + a.publishers));
    cluster.check().map_err(|e| anyhow::anyhow!("generated membership file: {e}"))?;
    let file = dir.join(format!("cluster-{groups}.toml"));
    std::fs::write(&file, toml::to_string(&cluster)?).context("writing the cluster file")?;
    let gms = embedded_gms(a, &cluster)?;
    let mut pass = argent_run(a, &file, &gms, perturb, churn)?;
    let status = gms.status();
    pass.regions = status.report.view.regions.len().max(1);
    pass.views = status.report.view.id.0;
    gms.shutdown();
    Ok(pass)
}

/// The command lines of a pass's processes.
struct Lines<'a> {
    a: &'a BenchArgs,
    config: String,
    gms: String,
    churn: Option<f64>,
}

impl Lines<'_> {
    /// Every process takes every group of the file (`--all-groups`): no list on the command line.
    fn node(&self, id: u32, role: &str) -> Vec<String> {
        vec![
            role.into(),
            "--config".into(),
            self.config.clone(),
            "--id".into(),
            id.to_string(),
            "--all-groups".into(),
            "--transport".into(),
            self.a.transport.as_str().into(),
            "--gms".into(),
            self.gms.clone(),
        ]
    }

    fn subscriber(&self, i: u32) -> Vec<String> {
        let a = self.a;
        let mut args = self.node(i, "sub");
        args.extend([
            format!("--verify={}", a.verify.as_str()),
            "--publishers".into(),
            a.publishers.to_string(),
        ]);
        args.extend(["--idle-timeout".into(), "15".into()]);
        if let (Some(rate), true) = (a.slow_one, i + 1 == a.subscribers) {
            args.extend(["--max-rate".into(), rate.to_string()]);
        }
        if let Some(total) = self.churn {
            // Changes stop about when the publishers end (a join installed after they sent
            // their end markers is not held to them: `late_joins`).
            args.extend(["--group-churn".into(), (total / f64::from(a.subscribers)).to_string()]);
            args.extend(["--churn-for".into(), (a.duration * 0.9).to_string()]);
            args.extend(["--churn-seed".into(), a.seed.wrapping_add(1000 + u64::from(i)).to_string()]);
        }
        args
    }

    fn publisher(&self, p: u32) -> Vec<String> {
        let a = self.a;
        let id = a.subscribers + p;
        let mut args = self.node(id, "pub");
        args.extend(["--wait-members".into(), (a.subscribers + a.publishers).to_string()]);
        args.extend(["--size".into(), a.size.to_string(), "--duration".into(), a.duration.to_string()]);
        args.extend(["--verify".into(), a.verify.as_str().into()]);
        let seed = a.seed.wrapping_add(u64::from(p));
        args.extend(["--zipf".into(), a.zipf.to_string(), "--seed".into(), seed.to_string()]);
        if let Some(rate) = a.rate {
            args.extend(["--rate".into(), rate.to_string()]);
        }
        args
    }
}

fn argent_run(
    a: &BenchArgs,
    file: &Path,
    gms: &GmsService,
    perturb: Option<Perturb>,
    churn: Option<f64>,
) -> anyhow::Result<Pass> {
    let lines = Lines { a, config: file.display().to_string(), gms: gms.local_addr().to_string(), churn };
    let mut subs: Vec<Proc> = (0..a.subscribers)
        .map(|i| {
            let mut args = lines.subscriber(i);
            // Subscribers start once all of them are in; publishers join their region later.
            args.extend(["--wait-members".into(), a.subscribers.to_string()]);
            spawn(&args, format!("subscriber {i}"))
        })
        .collect::<anyhow::Result<_>>()?;
    for s in &mut subs {
        s.wait_ready(Duration::from_secs(10))?;
    }
    let pubs: Vec<Proc> = (0..a.publishers)
        .map(|p| spawn(&lines.publisher(p), format!("publisher {p}")))
        .collect::<anyhow::Result<_>>()?;
    let perturbed = match perturb {
        None => Perturbed::default(),
        Some(p) => {
            let mut restart = lines.subscriber(a.subscribers - 1);
            restart.push("--late".into());
            perturb::apply(a, p, &mut subs, gms, restart)?
        }
    };
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration + 60.0);
    let pubs = pubs.into_iter().map(|mut p| summary(&mut p, deadline)).collect::<anyhow::Result<_>>()?;
    let subs = subs.into_iter().map(|mut s| summary(&mut s, deadline)).collect::<anyhow::Result<_>>()?;
    Ok(Pass { subs, pubs, regions: 0, views: 0, perturbed })
}
