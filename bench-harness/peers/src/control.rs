//! The child's side of a run: how a publisher or subscriber process takes part.
//!
//! Children speak over stdin/stdout: a child prints `ready` once set up; the publisher then
//! waits for `go` (and starts its clock), publishes, and waits for `stop` (or end of input)
//! before it exits, so that a reliable system can still serve repairs until every subscriber
//! is done. Every child's last stdout line is its JSON summary; logs go to stderr.

use crate::opts::{Opts, Role};
use crate::verify::Verifier;
use anyhow::bail;
use std::io::Write;
use std::time::{Duration, Instant};

/// What a child calls to take part in the run.
#[derive(Debug)]
pub struct Control {
    role: Role,
    stdin: std::io::Stdin,
    ready_at: Option<Instant>,
    deadline: Duration,
}

impl Control {
    /// The control of a child in `role`, with a subscriber's deadline from `--duration`.
    pub fn new(o: &Opts, role: Role) -> Control {
        // A subscriber gives up this long after it is ready (the run takes `duration`).
        let deadline = Duration::from_secs_f64(o.duration + 60.0);
        Control { role, stdin: std::io::stdin(), ready_at: None, deadline }
    }

    /// Tells the orchestrator this process is set up; a publisher then waits for `go`.
    pub fn ready(&mut self) -> anyhow::Result<()> {
        println!("ready");
        std::io::stdout().flush()?;
        self.ready_at = Some(Instant::now());
        if self.role == Role::Pub {
            let mut line = String::new();
            self.stdin.read_line(&mut line)?;
            if line.trim() != "go" {
                bail!("expected `go` from the orchestrator, got {:?}", line.trim());
            }
        }
        Ok(())
    }

    /// A publisher that has sent everything: waits until the orchestrator says every
    /// subscriber has finished (`stop`, or the end of its input).
    pub fn wait_stop(&mut self) -> anyhow::Result<()> {
        let mut line = String::new();
        self.stdin.read_line(&mut line)?;
        Ok(())
    }

    /// A subscriber keeps receiving until the end marker, or until its deadline has passed.
    pub fn keep_going(&self, v: &Verifier) -> bool {
        !v.ended() && self.ready_at.is_none_or(|t| t.elapsed() < self.deadline)
    }
}

/// User plus system CPU seconds of this process so far, from /proc/self/stat (clock ticks
/// of 1/100 s, Linux's USER_HZ).
pub fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // utime, stime: fields 14 and 15
}
