//! The benchmark's child processes: this program in another role (`sub`, `pub`, `raw`),
//! run with argent-procs (their stdout lines come back; none outlives the benchmark).

use anyhow::Context;
use argent_procs::{Proc, Spec};
use serde_json::Value;
use std::time::Instant;

/// Starts this program with `args`; `what` names the process in errors.
pub(super) fn spawn(args: &[String], what: String) -> anyhow::Result<Proc> {
    let me = std::env::current_exe().context("finding the argent executable")?;
    Ok(Proc::spawn(Spec::new(me, what).args(args.iter().cloned()))?)
}

/// Its JSON summary once it exits, whatever its exit status; killed at `deadline`.
pub(super) fn summary(p: &mut Proc, deadline: Instant) -> anyhow::Result<Value> {
    Ok(p.finish(deadline, None).into_summary()?)
}
