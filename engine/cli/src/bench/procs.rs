//! The benchmark's child processes: this program in another role (`sub`, `pub`, `raw`),
//! its stdout lines arriving on a channel, and none outliving the benchmark.

use anyhow::{bail, Context};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn me() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_exe().context("finding the argent executable")
}

/// A child whose stdout lines arrive on a channel.
pub(super) struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    what: String,
}

/// Starts this program with `args`; `what` names the process in errors.
pub(super) fn spawn(args: &[String], what: String) -> anyhow::Result<Proc> {
    let mut child = Command::new(me()?)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let out = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Proc { child, lines: rx, what })
}

impl Drop for Proc {
    /// On an early error, no child outlives the benchmark.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proc {
    /// The process id (to signal it).
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub(super) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(super) fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) if l == "ready" => Ok(()),
            Ok(l) => bail!("{} said {l:?} instead of ready", self.what),
            Err(_) => bail!("{} did not get ready within {timeout:?}", self.what),
        }
    }

    /// The last JSON line, once the process exits (or is stopped at the deadline).
    pub(super) fn finish(&mut self, deadline: Instant) -> anyhow::Result<Value> {
        let mut last = None;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => last = Some(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    bail!("{} did not finish in time (killed)", self.what);
                }
                Err(_) => {}
            }
        }
        let _ = self.child.wait();
        let line = last.with_context(|| format!("{} printed no summary", self.what))?;
        serde_json::from_str(&line).with_context(|| format!("{} printed {line:?}", self.what))
    }
}
