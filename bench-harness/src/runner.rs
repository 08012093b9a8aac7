//! Running `argent bench --json` for one point, bounded in time, and recording the machine.

use anyhow::{bail, Context};
use argent_procs::{Error, Proc, Spec};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `argent` binary: `--argent`, else `$ARGENT_BIN`, else next to this executable.
pub fn locate_argent(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let build = |profile: &str| match profile {
        "debug" => "`cargo build -p argent-cli`".to_string(),
        _ => "`cargo build --release -p argent-cli`".to_string(),
    };
    locate_binary("argent", "--argent PATH", "ARGENT_BIN", flag, &build)
}

/// The `argent-peer` binary: `--peer`, else `$ARGENT_PEER_BIN`, else next to this executable.
pub fn locate_peer(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let build = |_: &str| {
        "`cluster-scripts/build-peers` (installs what Aeron's and Corosync's builds need, then builds argent-peer with --features zenoh,aeron,corosync-cpg)".to_string()
    };
    locate_binary("argent-peer", "--peer PATH", "ARGENT_PEER_BIN", flag, &build)
}

/// `flag`, else the environment variable `env`, else `name` in this executable's folder;
/// the error says how to build it (`build` of the profile folder's name). Under `cargo run`
/// (which sets `CARGO`), a missing sibling is built first, in the same profile: the
/// workspace's binaries belong together.
fn locate_binary(
    name: &str,
    flag_name: &str,
    env: &str,
    flag: Option<PathBuf>,
    build: &dyn Fn(&str) -> String,
) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag.or_else(|| std::env::var_os(env).map(PathBuf::from)) {
        if !p.is_file() {
            bail!("the {name} binary {} does not exist", p.display());
        }
        return Ok(p);
    }
    let me = std::env::current_exe().context("finding the argent-bench executable")?;
    let dir = me.parent().context("argent-bench has no directory")?;
    let p = dir.join(name);
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("release");
    if !p.is_file() {
        build_sibling(name, profile, dir);
    }
    if p.is_file() {
        return Ok(p);
    }
    bail!(
        "no {name} binary at {}: build it first with {} (from the repository root), \
         or name one with {flag_name} or {env}",
        p.display(),
        build(profile)
    )
}

/// Under `cargo run`: `cargo build -p PACKAGE` of the missing binary `name`, in this
/// executable's profile and target directory. Best effort: on failure the caller's error says
/// how to build it.
fn build_sibling(name: &str, profile: &str, dir: &Path) {
    let Some(cargo) = std::env::var_os("CARGO") else { return };
    let package = match name {
        "argent-peer" => "argent-peers",
        "argent" => "argent-cli",
        other => other,
    };
    let Some(target) = dir.parent() else { return };
    eprintln!("argent-bench: {name} is missing; building it (cargo build --profile {profile} -p {package})");
    let profile = if profile == "debug" { "dev" } else { profile };
    let _ = Command::new(cargo)
        .args(["build", "--profile", profile, "-p", package, "--target-dir"])
        .arg(target)
        .stdout(Stdio::null())
        .status();
}

/// The systems `argent-peer` was built with (`argent-peer --built`).
pub fn peer_systems(peer: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new(peer)
        .arg("--built")
        .output()
        .with_context(|| format!("running {} --built", peer.display()))?;
    if !out.status.success() {
        bail!("{} --built failed ({}): is it argent-peer?", peer.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect())
}

/// Whether this process runs as root (effective uid 0, from /proc/self/status: no libc).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1)) // real, effective, saved, filesystem
        .is_some_and(|euid| euid == "0")
}

/// `cluster-scripts/netns-run`: in `--scripts DIR`, else in the repository above the current
/// directory, else in the repository above the scenario file.
pub fn locate_netns_run(scripts: Option<PathBuf>, scenario: &Path) -> anyhow::Result<PathBuf> {
    const SCRIPT: &str = "netns-run";
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(dir) = scripts {
        let p = dir.join(SCRIPT);
        if !executable(&p) {
            bail!("--scripts {}: no executable {SCRIPT} there", dir.display());
        }
        return Ok(p);
    }
    let mut starts = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Some(dir) = scenario.canonicalize().ok().and_then(|s| s.parent().map(Path::to_path_buf)) {
        if !starts.contains(&dir) {
            starts.push(dir);
        }
    }
    for start in &starts {
        for dir in start.ancestors() {
            let p = dir.join("cluster-scripts").join(SCRIPT);
            if executable(&p) {
                return Ok(p);
            }
        }
    }
    let looked: Vec<String> = starts.iter().map(|s| s.display().to_string()).collect();
    bail!(
        "topology = \"netns\" runs cluster-scripts/{SCRIPT}, found neither above the current directory \
         nor above the scenario file ({}): run from the repository, or name its folder with --scripts DIR",
        looked.join(", ")
    )
}

/// Held while a netns scenario runs, so that two `argent-bench` processes never build
/// namespace LANs at once (netns-run always uses the same host names). A file holding the
/// owner's pid; one left by a process that no longer exists is taken over.
#[derive(Debug)]
pub struct NetnsLock(PathBuf);

impl NetnsLock {
    pub fn acquire() -> anyhow::Result<NetnsLock> {
        let dir =
            if Path::new("/run/lock").is_dir() { PathBuf::from("/run/lock") } else { std::env::temp_dir() };
        let path = dir.join("argent-bench-netns.lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(NetnsLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let owner = owner.trim();
                    if !owner.is_empty() && Path::new("/proc").join(owner).exists() {
                        bail!(
                            "another argent-bench (pid {owner}) is running a netns scenario: namespace LANs \
                             run one at a time (lock {})",
                            path.display()
                        );
                    }
                    let _ = std::fs::remove_file(&path); // stale: its owner is gone
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        bail!("could not take the lock {}", path.display())
    }
}

/// After a netns-run stopped at its deadline (it may not have removed its LAN): removes the
/// namespaces it creates (`anr1`..), with `netns-lan down`, which is safe when there are none.
pub fn netns_cleanup(netns_run: &Path) {
    const NETNS_RUN_PREFIX: &str = "anr"; // the host names netns-run gives its LAN
    let lan = netns_run.with_file_name("netns-lan");
    let _ = Command::new(lan)
        .args(["down", NETNS_RUN_PREFIX])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for NetnsLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where and on what the run happened.
#[derive(Debug, Serialize)]
pub struct Environment {
    pub date: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub git_revision: Option<String>,
    /// Uncommitted changes in the work tree the revision names.
    pub git_dirty: Option<bool>,
    pub argent: String,
    /// `argent-peer`, when the scenario measures peers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argent_peer: Option<String>,
    /// `cluster-scripts/netns-run`, with topology netns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns_run: Option<String>,
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

impl Environment {
    pub fn capture(argent: &Path, peer: Option<&Path>, netns_run: Option<&Path>) -> Environment {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let listed = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
        let cpus =
            if listed > 0 { listed } else { std::thread::available_parallelism().map_or(0, |n| n.get()) };
        let git_revision = command_line("git", &["rev-parse", "HEAD"]);
        let git_dirty = git_revision
            .as_ref()
            .and_then(|_| {
                Command::new("git").args(["status", "--porcelain", "--untracked-files=no"]).output().ok()
            })
            .map(|o| !o.stdout.is_empty());
        Environment {
            date: command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_else(|| "unknown".into()),
            kernel: command_line("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
            cpu_model,
            cpus,
            git_revision,
            git_dirty,
            argent: argent.display().to_string(),
            argent_peer: peer.map(|p| p.display().to_string()),
            netns_run: netns_run.map(|p| p.display().to_string()),
        }
    }
}

/// One `argent bench` run: its JSON summary, or why there is none.
#[derive(Debug, Serialize)]
pub struct Run {
    /// Delivery verified: the summary's `delivered_ok`, and its `order_agreed` when it has
    /// one (a total-order system: every subscriber delivered the same sequence).
    pub delivered_ok: bool,
    /// A total-order system's verdict on the order (absent for the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_agreed: Option<bool>,
    pub wall_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last line `argent bench --json` printed, as it printed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<Value>,
    /// Its stdout and stderr, relative to the output directory.
    pub log: String,
    /// Stopped at its deadline.
    #[serde(skip)]
    pub killed: bool,
}

impl Run {
    /// A run that could not be started, and why.
    pub fn not_run(why: &str) -> Run {
        Run {
            delivered_ok: false,
            order_agreed: None,
            wall_seconds: 0.0,
            error: Some(why.into()),
            bench: None,
            log: String::new(),
            killed: false,
        }
    }
}

/// What one run executes: `argent bench` on loopback, `netns-run` on a namespace LAN.
#[derive(Debug)]
pub struct Job<'a> {
    pub program: &'a Path,
    /// How errors name the program: "argent bench", "netns-run".
    pub what: &'a str,
    pub args: &'a [String],
    pub timeout: Duration,
    /// At the deadline, SIGTERM first and this long to clean up (netns-run removes its LAN
    /// on exit), then SIGKILL; `None`: SIGKILL at once.
    pub grace: Option<Duration>,
}

/// Runs `job`, writing its output to `out/log`; stopped (with every process it started: it
/// leads its own process group) once its timeout has passed. Err only if it cannot start.
pub fn run(job: &Job, out: &Path, log: &str) -> anyhow::Result<Run> {
    let Job { program, what, args, timeout, grace } = *job;
    let start = Instant::now();
    let spec = Spec::new(program, what)
        .args(args.iter().cloned())
        .env("NO_COLOR", "1") // plain logs
        .log(out.join(log))
        .own_group();
    let mut proc = Proc::spawn(spec).map_err(|e| match e {
        Error::Start { source, .. } => {
            anyhow::Error::new(source).context(format!("starting {}", program.display()))
        }
        e => e.into(),
    })?;
    let finished = proc.finish(start + timeout, grace);
    let wall_seconds = start.elapsed().as_secs_f64();
    let bench = finished.summary;
    let delivered_ok = bench.as_ref().and_then(|b| b["delivered_ok"].as_bool()).unwrap_or(false);
    let order_agreed = bench.as_ref().and_then(|b| b["order_agreed"].as_bool());
    let error = match (finished.status, &bench) {
        (None, _) => Some(format!("killed after the {} s timeout", timeout.as_secs_f64())),
        (Some(s), None) => Some(format!("{what} exited with {s} and printed no JSON summary (see {log})")),
        (Some(_), Some(_)) if !delivered_ok => Some("delivery not verified on every subscriber".into()),
        (Some(_), Some(_)) if order_agreed == Some(false) => {
            Some("total order not agreed: the subscribers delivered different sequences (order_hash)".into())
        }
        _ => None,
    };
    Ok(Run {
        delivered_ok: delivered_ok && error.is_none(),
        order_agreed,
        wall_seconds,
        error,
        bench,
        log: log.into(),
        killed: finished.status.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graceful_job_gets_sigterm_and_time_to_clean_up() {
        let out = tempfile::tempdir().unwrap();
        let args: Vec<String> =
            ["-c", "trap 'echo cleaned up; exit 3' TERM; sleep 30 & wait"].map(String::from).into();
        let job = Job {
            program: Path::new("/bin/sh"),
            what: "sh",
            args: &args,
            timeout: Duration::from_millis(300),
            grace: Some(Duration::from_secs(10)),
        };
        let r = run(&job, out.path(), "graceful.log").unwrap();
        assert!(r.killed && !r.delivered_ok, "{r:?}");
        assert!(r.wall_seconds < 10.0, "{r:?}");
        assert!(r.error.as_deref().unwrap_or_default().contains("timeout"), "{r:?}");
        let log = std::fs::read_to_string(out.path().join("graceful.log")).unwrap();
        assert!(log.contains("cleaned up"), "{log}");
    }

    #[test]
    fn a_disagreed_total_order_fails_verification() {
        let out = tempfile::tempdir().unwrap();
        let run_json = |line: &str| {
            let args: Vec<String> = vec!["-c".into(), format!("echo '{line}'")];
            let job = Job {
                program: Path::new("/bin/sh"),
                what: "sh",
                args: &args,
                timeout: Duration::from_secs(10),
                grace: None,
            };
            run(&job, out.path(), "order.log").unwrap()
        };
        let r = run_json(r#"{"delivered_ok": true, "order_agreed": false}"#);
        assert!(!r.delivered_ok && r.order_agreed == Some(false), "{r:?}");
        assert!(r.error.as_deref().unwrap_or_default().contains("total order not agreed"), "{r:?}");
        let r = run_json(r#"{"delivered_ok": true, "order_agreed": true}"#);
        assert!(r.delivered_ok && r.error.is_none() && r.order_agreed == Some(true), "{r:?}");
        let r = run_json(r#"{"delivered_ok": true}"#);
        assert!(r.delivered_ok && r.order_agreed.is_none(), "no order to agree on: {r:?}");
    }

    #[test]
    fn netns_run_is_found_in_the_scripts_folder() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("s.toml");
        let e = format!("{:#}", locate_netns_run(Some(dir.path().into()), &scenario).unwrap_err());
        assert!(e.contains("--scripts") && e.contains("netns-run"), "{e}");
        let script = dir.path().join("netns-run");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(locate_netns_run(Some(dir.path().into()), &scenario).is_err(), "not executable");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(locate_netns_run(Some(dir.path().into()), &scenario).unwrap(), script);
    }

    #[test]
    fn root_is_what_id_says() {
        let Some(uid) = command_line("id", &["-u"]) else { return }; // no `id`: nothing to compare
        assert_eq!(is_root(), uid == "0");
    }
}
