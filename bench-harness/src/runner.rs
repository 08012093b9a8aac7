//! Running `argent bench --json` for one point, bounded in time, and recording the machine.

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `argent` binary: `--argent`, else `$ARGENT_BIN`, else next to this executable.
pub fn locate_argent(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag.or_else(|| std::env::var_os("ARGENT_BIN").map(PathBuf::from)) {
        if !p.is_file() {
            bail!("the argent binary {} does not exist", p.display());
        }
        return Ok(p);
    }
    let me = std::env::current_exe().context("finding the argent-bench executable")?;
    let dir = me.parent().context("argent-bench has no directory")?;
    let p = dir.join("argent");
    if p.is_file() {
        return Ok(p);
    }
    let build = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "cargo build -p argent",
        _ => "cargo build --release -p argent",
    };
    bail!(
        "no argent binary at {}: build it first with `{build}` (from the repository root), \
         or name one with --argent PATH or ARGENT_BIN",
        p.display()
    )
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
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

impl Environment {
    pub fn capture(argent: &Path) -> Environment {
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
        }
    }
}

/// One `argent bench` run: its JSON summary, or why there is none.
#[derive(Debug, Serialize)]
pub struct Run {
    pub delivered_ok: bool,
    pub wall_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last line `argent bench --json` printed, as it printed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<Value>,
    /// Its stdout and stderr, relative to the output directory.
    pub log: String,
}

/// Runs `argent args`, writing its output to `out/log`; killed (with every process it
/// started: it leads its own process group) once `timeout` has passed.
pub fn run(argent: &Path, args: &[String], timeout: Duration, out: &Path, log: &str) -> anyhow::Result<Run> {
    let path = out.join(log);
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let start = Instant::now();
    let mut child = Command::new(argent)
        .args(args)
        .env("NO_COLOR", "1") // plain logs
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", argent.display()))?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > timeout {
            // The group id is the child's pid; `kill` reaches the processes argent started too.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall_seconds = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let bench: Option<Value> = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object);
    let delivered_ok = bench.as_ref().and_then(|b| b["delivered_ok"].as_bool()).unwrap_or(false);
    let error = match (status, &bench) {
        (None, _) => Some(format!("killed after the {} s timeout", timeout.as_secs_f64())),
        (Some(s), None) => {
            Some(format!("argent bench exited with {s} and printed no JSON summary (see {log})"))
        }
        (Some(_), Some(_)) if !delivered_ok => Some("delivery not verified on every subscriber".into()),
        _ => None,
    };
    Ok(Run { delivered_ok: delivered_ok && error.is_none(), wall_seconds, error, bench, log: log.into() })
}
