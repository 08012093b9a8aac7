//! `argent-bench`: runs benchmark scenarios (TOML) against the `argent` binary and writes
//! results.json, report.md and SVG plots. The scenario format is in README.md.

mod report;
mod results;
mod runner;
mod scenario;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use results::{Point, Results, Series};
use scenario::{PointSpec, Scenario, System, Topology};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Reproducible benchmarks of argent: scenarios of sweeps and repeats, each point a verified
/// `argent bench --json` run; medians with min and max, the environment, plots.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a scenario and write results.json, report.md and one SVG plot per sweep and metric
    /// (messages/s, MB/s) into --out, with the output of every run under logs/. Exits non-zero
    /// if any point did not verify delivery on every subscriber (after writing everything).
    Run {
        /// Scenario file (TOML), e.g. bench-harness/scenarios/smoke.toml.
        scenario: PathBuf,
        /// Output directory (created if missing; files of the same names are replaced).
        #[arg(long)]
        out: PathBuf,
        /// The argent binary (default: $ARGENT_BIN, else `argent` next to this executable,
        /// as `cargo build --release -p argent-cli` puts it).
        #[arg(long)]
        argent: Option<PathBuf>,
        /// With topology = "netns": the folder holding netns-run and netns-lan (default:
        /// cluster-scripts/ of the repository above the current directory, else above the
        /// scenario file).
        #[arg(long, value_name = "DIR")]
        scripts: Option<PathBuf>,
        /// The argent-peer binary, for scenarios with peers in `systems` (default:
        /// $ARGENT_PEER_BIN, else `argent-peer` next to this executable, as
        /// cluster-scripts/build-peers puts it).
        #[arg(long, value_name = "PATH")]
        peer: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let Cmd::Run { scenario, out, argent, scripts, peer } = Cli::parse().command;
    match run(&scenario, &out, argent, scripts, peer) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("argent-bench: some points failed; see {}", out.join("report.md").display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("argent-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether every point verified delivery.
fn run(
    path: &std::path::Path,
    out: &std::path::Path,
    argent: Option<PathBuf>,
    scripts: Option<PathBuf>,
    peer: Option<PathBuf>,
) -> anyhow::Result<bool> {
    let scenario = Scenario::load(path)?;
    // A namespace LAN: root, the script, and no other netns scenario at the same time.
    let (netns_run, _lock) = if scenario.topology == Topology::Netns {
        if !runner::is_root() {
            anyhow::bail!(
                "scenario {}: topology = \"netns\" needs root (network namespaces, veth, nftables); \
                 run argent-bench as root (e.g. with sudo), or use a loopback scenario",
                path.display()
            );
        }
        let script = runner::locate_netns_run(scripts, path)?;
        (Some(script), Some(runner::NetnsLock::acquire()?))
    } else {
        (None, None)
    };
    let argent = runner::locate_argent(argent)?;
    let peer =
        if scenario.systems.iter().any(|s| s.is_peer()) { Some(runner::locate_peer(peer)?) } else { None };
    if let Some(p) = &peer {
        // A peer left out of the build would fail every run: say so before starting.
        let built = runner::peer_systems(p)?;
        let mut missing: Vec<&str> = scenario
            .systems
            .iter()
            .filter(|s| s.is_peer())
            .map(|s| s.peer_binary_system())
            .filter(|s| !built.iter().any(|b| b == s))
            .collect();
        missing.dedup(); // aeron and aeron-tuned are one system of argent-peer
        if !missing.is_empty() {
            anyhow::bail!(
                "scenario {} measures {}, which {} was built without: run cluster-scripts/build-peers \
                 (it installs the build needs and builds argent-peer with --features zenoh,aeron,corosync-cpg)",
                path.display(),
                missing.join(" and "),
                p.display()
            );
        }
    }
    std::fs::create_dir_all(out.join("logs")).with_context(|| format!("creating {}", out.display()))?;
    let environment = runner::Environment::capture(&argent, peer.as_deref(), netns_run.as_deref());
    let plan = scenario.series();
    let systems = scenario.systems.clone();
    let total: u64 = plan.iter().map(|(_, pts)| pts.len() as u64).sum::<u64>()
        * u64::from(scenario.repeats)
        * systems.len() as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs, about {eta} left: {msg}",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut series = Vec::new();
    for (i, (param, points)) in plan.into_iter().enumerate() {
        let mut done = Vec::new();
        for (j, mut settings) in points.into_iter().enumerate() {
            let value = param.map(|p| settings.get(p));
            // A `rate_of_peak` point: paced at its percentage of argent's peak, measured by an
            // earlier sweep at the same settings (validation checked that one exists).
            let peak = settings.peak_point().map(|unpaced| {
                series
                    .iter()
                    .flat_map(|s: &Series| &s.points)
                    .filter(|p| p.system == System::Argent && p.of_peak.is_none())
                    .filter(|p| PointSpec::new(p.settings.clone(), p.netns) == unpaced)
                    .find_map(|p| p.msgs_per_sec.map(|s| s.median))
            });
            if let Some(Some(peak)) = peak {
                settings.pace_at_peak(peak);
            }
            let what = param.map_or("base point".into(), |p| format!("{} = {}", p.name(), settings.get(p)));
            // Per system: its program, arguments and repeats. Every repeat runs the systems
            // one after another, so that drift on a busy host affects them alike.
            let mut runs: Vec<(System, Vec<String>, Vec<runner::Run>)> =
                systems.iter().map(|&s| (s, Vec::new(), Vec::new())).collect();
            for k in 0..scenario.repeats {
                for (system, args, repeats) in &mut runs {
                    if let Some(None) = peak {
                        // Nothing to pace at: argent's unpaced point verified in no repeat.
                        repeats.push(runner::Run::not_run(
                            "no peak to pace at: argent's unpaced point at these settings verified in no repeat",
                        ));
                        bar.inc(1);
                        continue;
                    }
                    let system = *system;
                    let timeout = Duration::from_secs_f64(
                        scenario.timeout.unwrap_or_else(|| settings.default_timeout(system)),
                    );
                    *args = match (system.is_peer(), &peer, &netns_run) {
                        (true, Some(p), Some(_)) => settings.netns_peer_args(&argent, system, p),
                        (true, Some(_), None) => settings.peer_args(system),
                        _ => settings.args(&argent),
                    };
                    // Points run one after another: never two namespace LANs at once.
                    let job = match (&netns_run, &peer) {
                        (None, Some(p)) if system.is_peer() => {
                            runner::Job { program: p, what: "argent-peer", args, timeout, grace: None }
                        }
                        (None, _) => {
                            runner::Job { program: &argent, what: "argent bench", args, timeout, grace: None }
                        }
                        (Some(script), _) => runner::Job {
                            program: script,
                            what: "netns-run",
                            args,
                            timeout,
                            grace: Some(Duration::from_secs(20)),
                        },
                    };
                    let label =
                        if systems.len() > 1 { format!("{}, ", system.name()) } else { String::new() };
                    bar.set_message(format!("{label}{what}, repeat {} of {}", k + 1, scenario.repeats));
                    let log = match system {
                        System::Argent => format!("logs/s{}-p{}-r{}.log", i + 1, j + 1, k + 1),
                        s => format!("logs/s{}-p{}-r{}-{}.log", i + 1, j + 1, k + 1, s.name()),
                    };
                    let r = runner::run(&job, out, &log)?;
                    if let (true, Some(script)) = (r.killed, &netns_run) {
                        runner::netns_cleanup(script);
                    }
                    if let Some(e) = &r.error {
                        bar.println(format!("{label}{what}, repeat {}: FAILED: {e}", k + 1));
                    }
                    repeats.push(r);
                    bar.inc(1);
                }
            }
            for (system, args, repeats) in runs {
                done.push(Point::new(value, system, settings.clone(), peak.flatten(), args, repeats));
            }
        }
        let mut s = Series { param, points: done, plots: Vec::new() };
        s.plots = report::plot(&s, i, out)?;
        series.push(s);
    }
    bar.finish_and_clear();
    let all_delivered = series.iter().flat_map(|s| &s.points).all(|p| p.delivered_ok);
    let results = Results { scenario, environment, series, all_delivered };
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text).with_context(|| format!("writing {}", out.join(name).display()))
    };
    write("results.json", serde_json::to_string_pretty(&results)?)?;
    let md = report::markdown(&results);
    write("report.md", md.clone())?;
    println!("{md}");
    println!("wrote {}", out.display());
    Ok(all_delivered)
}
