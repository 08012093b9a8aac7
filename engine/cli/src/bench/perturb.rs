//! Perturbing the last subscriber during the measured pass: pause it (SIGSTOP, then
//! SIGCONT), kill it (SIGKILL) and time its eviction, or kill it and start it again.

use super::args::{BenchArgs, Perturb};
use super::procs::spawn;
use anyhow::Context;
use argent_membership::service::GmsService;
use argent_procs::{Proc, Signal};
use std::time::{Duration, Instant};

/// What a perturbation did, for the report.
#[derive(Debug, Default)]
pub(super) struct Perturbed {
    /// The subscriber killed (`--kill-one-at`, `--restart-one-at`).
    pub(super) killed: Option<u32>,
    /// How long after the kill the GMS installed a view without it.
    pub(super) evicted_after: Option<Duration>,
    /// The subscriber paused, and for how long.
    pub(super) paused: Option<(u32, Duration)>,
    /// The subscriber started again.
    pub(super) restarted: Option<u32>,
}

/// Applies `perturb` to the last of `subs` once its time comes. `restart` is the command line
/// of a new incarnation of it (`--restart-one-at`).
pub(super) fn apply(
    a: &BenchArgs,
    perturb: Perturb,
    subs: &mut Vec<Proc>,
    gms: &GmsService,
    restart: Vec<String>,
) -> anyhow::Result<Perturbed> {
    let victim = a.subscribers - 1;
    let mut done = Perturbed::default();
    match perturb {
        Perturb::Pause { at, length } => {
            std::thread::sleep(at);
            let last = subs.last().context("no subscriber to pause")?;
            if last.signal(Signal::Stop)? {
                let stopped = Instant::now();
                std::thread::sleep(length);
                last.signal(Signal::Cont)?;
                done.paused = Some((victim, stopped.elapsed()));
            }
        }
        Perturb::Kill { at } | Perturb::Restart { at } => {
            std::thread::sleep(at);
            subs.pop().context("no subscriber to kill")?.kill();
            done.killed = Some(victim);
            done.evicted_after = eviction(a, gms, victim);
            if matches!(perturb, Perturb::Restart { .. }) && done.evicted_after.is_some() {
                // A new incarnation of the same member joins while the publishers run.
                let mut proc = spawn(&restart, format!("subscriber {victim} (restarted)"))?;
                proc.wait_ready(Duration::from_secs(10))?;
                subs.push(proc);
                done.restarted = Some(victim);
            }
        }
    }
    Ok(done)
}

/// How long after now (the kill) the GMS installs a view without `victim`: `None` if it does
/// not within three eviction times.
fn eviction(a: &BenchArgs, gms: &GmsService, victim: u32) -> Option<Duration> {
    let killed_at = Instant::now();
    let limit = Duration::from_millis(a.evict_ms.max(300)) * 3;
    while killed_at.elapsed() < limit {
        if gms.status().report.view.member(argent::NodeId(victim)).is_none() {
            return Some(killed_at.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}
