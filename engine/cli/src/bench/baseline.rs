//! The raw UDP multicast baseline the benchmark compares argent with.

use super::args::BenchArgs;
use super::procs::{spawn, summary};
use argent_procs::Proc;
use serde_json::Value;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// Raw UDP multicast from one sender to `subscribers` receivers for up to 3 s, with the same
/// datagram size, batching, socket buffers and transport as argent. `verify`: the sender
/// writes and checksums every datagram and receivers check every byte, the per-byte work
/// argent's publisher and verifying subscribers do.
pub(super) fn raw_baseline(a: &BenchArgs, group: SocketAddrV4, verify: bool) -> anyhow::Result<Vec<Value>> {
    let secs = a.duration.min(3.0);
    let common = |mode: &str| -> Vec<String> {
        vec![
            "raw".into(),
            mode.into(),
            "--group".into(),
            group.to_string(),
            "--size".into(),
            a.datagram_size.to_string(),
            "--secs".into(),
            secs.to_string(),
            "--socket-buffer".into(),
            a.socket_buffer.to_string(),
            "--transport".into(),
            a.transport.as_str().into(),
        ]
        .into_iter()
        .chain(verify.then(|| "--verify".to_string()))
        .collect::<Vec<String>>()
    };
    let mut receivers: Vec<Proc> = (0..a.subscribers)
        .map(|i| spawn(&common("recv"), format!("raw receiver {i}")))
        .collect::<anyhow::Result<_>>()?;
    for r in &mut receivers {
        r.wait_ready(Duration::from_secs(10))?;
    }
    let mut sender = spawn(&common("send"), "raw sender".into())?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs + 30.0);
    summary(&mut sender, deadline)?;
    receivers.iter_mut().map(|r| summary(r, deadline)).collect()
}
