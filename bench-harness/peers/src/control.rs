//! The child's side of a run: how a publisher or subscriber process takes part.
//!
//! Children speak over stdin/stdout: a child prints `ready` once set up; the publisher then
//! waits for `go` (and starts its clock), publishes, and waits for `stop` (or end of input)
//! before it exits, so that a reliable system can still serve repairs until every subscriber
//! is done. Every child's last stdout line is its JSON summary; logs go to stderr.

use crate::opts::{Opts, Role};
use crate::verify::Verifier;
use anyhow::bail;
use argent_procs::child::{self, GO};
use std::time::{Duration, Instant};

/// What a child calls to take part in the run.
#[derive(Debug)]
pub struct Control {
    role: Role,
    ready_at: Option<Instant>,
    deadline: Duration,
}

impl Control {
    /// The control of a child in `role`, with a subscriber's deadline from `--duration`.
    pub fn new(o: &Opts, role: Role) -> Control {
        // A subscriber gives up this long after it is ready (the run takes `duration`).
        let deadline = Duration::from_secs_f64(o.duration + 60.0);
        Control { role, ready_at: None, deadline }
    }

    /// Tells the orchestrator this process is set up; a publisher then waits for `go`.
    pub fn ready(&mut self) -> anyhow::Result<()> {
        child::ready()?;
        self.ready_at = Some(Instant::now());
        if self.role == Role::Pub {
            let word = child::hear()?.unwrap_or_default();
            if word != GO {
                bail!("expected `{GO}` from the orchestrator, got {word:?}");
            }
        }
        Ok(())
    }

    /// A publisher that has sent everything: waits until the orchestrator says every
    /// subscriber has finished (`stop`, or the end of its input).
    pub fn wait_stop(&mut self) -> anyhow::Result<()> {
        child::hear()?;
        Ok(())
    }

    /// A subscriber keeps receiving until the end marker, or until its deadline has passed.
    pub fn keep_going(&self, v: &Verifier) -> bool {
        !v.ended() && self.ready_at.is_none_or(|t| t.elapsed() < self.deadline)
    }
}
