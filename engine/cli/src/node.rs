//! `argent node`: a node of a cluster, running until interrupted.

use crate::args::{KeyFile, Membership};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    #[command(flatten)]
    membership: Membership,
    #[command(flatten)]
    key: KeyFile,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    duration: Option<f64>,
}

/// Runs the node, printing its counters every second.
pub fn run(a: NodeArgs) -> anyhow::Result<ExitCode> {
    let node = a.membership.start_keyed(&a.key)?;
    eprintln!("node {} running ({} transport)", node.id(), node.backend());
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let s = node.stats();
        eprintln!(
            "delivered {} messages; sent {} datagrams, {} retransmissions, {} peer repairs; {} rounds",
            s.qsm.delivered_messages,
            s.qsm.data_sent,
            s.qsm.sender_retransmissions,
            s.qsm.peer_repairs,
            s.qsm.rounds_completed
        );
        if s.auth.open.opened > 0 || s.auth.refused() > 0 {
            eprintln!("{}", crate::auth::refusals(&s.auth));
        }
        if s.qsm.round_leaps + s.qsm.clamped + s.qsm.ignored > 0 {
            eprintln!(
                "from members: {} tokens refused for a round too far ahead, {} values clamped to local state                  (cleanup, cut-off, join view), {} datagrams for views, regions or positions not held here",
                s.qsm.round_leaps, s.qsm.clamped, s.qsm.ignored
            );
        }
        if a.duration.is_some_and(|d| started.elapsed().as_secs_f64() >= d) {
            node.shutdown();
            return Ok(ExitCode::SUCCESS);
        }
    }
}
