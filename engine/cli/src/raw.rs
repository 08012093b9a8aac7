//! `argent raw`: the raw UDP multicast limit, with the same datagram size, batching and
//! transport as argent, for `bench` to measure in the same run.

use anyhow::Context;
use argent_transport::{Outgoing, SocketSpec};
use bytes::Bytes;
use serde::Serialize;
use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct RawArgs {
    /// send or recv.
    #[arg(value_parser = ["send", "recv"])]
    mode: String,
    /// Multicast group:port.
    #[arg(long)]
    group: SocketAddrV4,
    /// Datagram size (send).
    #[arg(long, default_value_t = 8192)]
    size: usize,
    /// Seconds to send; receivers stop after this plus a second, or when idle.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Datagrams per system call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Socket buffers, bytes.
    #[arg(long, default_value_t = 32 << 20)]
    socket_buffer: usize,
    /// Transport backend.
    #[arg(long, default_value = "auto")]
    transport: crate::args::Transport,
    /// Do the application's per-byte work too: the sender writes every datagram and a
    /// checksum of it, receivers check every byte against it (as argent's publisher and
    /// verifying subscribers do), so the comparison isolates what the protocol costs.
    #[arg(long)]
    verify: bool,
}

#[derive(Serialize)]
struct RawSummary {
    role: &'static str,
    verify: bool,
    corrupt: u64,
    datagrams: u64,
    bytes: u64,
    secs: f64,
    mb_per_sec: f64,
    cpu_secs: f64,
    transport: String,
}

pub fn run(a: RawArgs) -> anyhow::Result<ExitCode> {
    if a.size < 16 || a.size > argent_transport::MAX_UDP_PAYLOAD {
        anyhow::bail!("--size {} must be between 16 and {} bytes", a.size, argent_transport::MAX_UDP_PAYLOAD);
    }
    let spec = SocketSpec {
        groups: if a.mode == "recv" { vec![a.group] } else { Vec::new() },
        recv_buffer: a.socket_buffer,
        send_buffer: a.socket_buffer,
        batch: a.batch,
        ..SocketSpec::default()
    };
    let mut t = argent_transport::open(a.transport.backend(), &spec).context("opening the raw transport")?;
    let summary = if a.mode == "send" { send(&a, t.as_mut())? } else { recv(&a, t.as_mut())? };
    let summary = RawSummary {
        cpu_secs: argent_procs::child::cpu_secs(),
        transport: t.backend().to_string(),
        ..summary
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}

/// Fill datagram `n`: an index, a fill pattern, and a checksum of the rest in the last 8 bytes.
fn fill(buf: &mut [u8], n: u64) {
    let body = buf.len() - 8;
    buf[..body].fill(n as u8);
    buf[..8].copy_from_slice(&n.to_le_bytes());
    let sum = argent_verify::message_sum(&buf[..body]);
    buf[body..].copy_from_slice(&sum.to_le_bytes());
}

fn intact(buf: &[u8]) -> bool {
    let Some(body) = buf.len().checked_sub(8) else { return false };
    buf[body..] == argent_verify::message_sum(&buf[..body]).to_le_bytes()
}

fn send(a: &RawArgs, t: &mut dyn argent_transport::Transport) -> anyhow::Result<RawSummary> {
    let fixed = Bytes::from(vec![0xA5u8; a.size]);
    let mut batch = Vec::with_capacity(a.batch);
    let (mut datagrams, mut bytes) = (0u64, 0u64);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(a.secs);
    while Instant::now() < until {
        for i in 0..a.batch {
            let data = if a.verify {
                let mut buf = vec![0u8; a.size];
                fill(&mut buf, datagrams + i as u64);
                Bytes::from(buf)
            } else {
                fixed.clone()
            };
            batch.push(Outgoing::new(a.group, data));
        }
        let r = t.send(&mut batch)?;
        datagrams += r.sent as u64;
        bytes += r.bytes as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(RawSummary {
        role: "raw-send",
        verify: a.verify,
        corrupt: 0,
        datagrams,
        bytes,
        secs,
        mb_per_sec: bytes as f64 / secs / 1e6,
        cpu_secs: 0.0,
        transport: String::new(),
    })
}

fn recv(a: &RawArgs, t: &mut dyn argent_transport::Transport) -> anyhow::Result<RawSummary> {
    argent_procs::child::ready()?;
    let mut rx = Vec::with_capacity(a.batch);
    let (mut datagrams, mut bytes, mut corrupt) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None::<Instant>, Instant::now());
    let give_up = Instant::now() + Duration::from_secs_f64(a.secs + 5.0);
    while Instant::now() < give_up {
        rx.clear();
        t.recv(Some(Duration::from_millis(100)), a.batch, &mut rx)?;
        if rx.is_empty() {
            if first.is_some() && last.elapsed() > Duration::from_millis(300) {
                break;
            }
            continue;
        }
        let now = Instant::now();
        first.get_or_insert(now);
        last = now;
        for r in &rx {
            if a.verify && !intact(&r.data) {
                corrupt += 1;
                continue;
            }
            datagrams += 1;
            bytes += r.data.len() as u64;
        }
    }
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    let mb_per_sec = if secs > 0.0 { bytes as f64 / secs / 1e6 } else { 0.0 };
    Ok(RawSummary {
        role: "raw-recv",
        verify: a.verify,
        corrupt,
        datagrams,
        bytes,
        secs,
        mb_per_sec,
        cpu_secs: 0.0,
        transport: String::new(),
    })
}
