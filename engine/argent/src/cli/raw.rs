//! `argent raw`: the raw UDP multicast limit, with the same datagram size, batching and
//! transport as argent, for `bench` to measure in the same run.

use anyhow::Context;
use argent_transport::{Outgoing, SocketSpec};
use bytes::Bytes;
use serde::Serialize;
use std::io::Write;
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
    transport: super::Transport,
}

#[derive(Serialize)]
struct RawSummary {
    role: &'static str,
    datagrams: u64,
    bytes: u64,
    secs: f64,
    mb_per_sec: f64,
    cpu_secs: f64,
    transport: String,
}

pub fn run(a: RawArgs) -> anyhow::Result<ExitCode> {
    let spec = SocketSpec {
        groups: if a.mode == "recv" { vec![a.group] } else { Vec::new() },
        recv_buffer: a.socket_buffer,
        send_buffer: a.socket_buffer,
        batch: a.batch,
        ..SocketSpec::default()
    };
    let mut t = argent_transport::open(a.transport.backend(), &spec).context("opening the raw transport")?;
    let transport = t.backend().to_string();
    let summary = if a.mode == "send" {
        let payload = Bytes::from(vec![0xA5u8; a.size]);
        let mut batch = Vec::with_capacity(a.batch);
        let (mut datagrams, mut bytes) = (0u64, 0u64);
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(a.secs);
        while Instant::now() < until {
            batch.extend((0..a.batch).map(|_| Outgoing::new(a.group, payload.clone())));
            let r = t.send(&mut batch)?;
            datagrams += r.sent as u64;
            bytes += r.bytes as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        RawSummary {
            role: "raw-send",
            datagrams,
            bytes,
            secs,
            mb_per_sec: bytes as f64 / secs / 1e6,
            cpu_secs: 0.0,
            transport,
        }
    } else {
        println!("ready");
        std::io::stdout().flush()?;
        let mut rx = Vec::with_capacity(a.batch);
        let (mut datagrams, mut bytes) = (0u64, 0u64);
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
            datagrams += rx.len() as u64;
            bytes += rx.iter().map(|r| r.data.len() as u64).sum::<u64>();
        }
        let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
        let mb_per_sec = if secs > 0.0 { bytes as f64 / secs / 1e6 } else { 0.0 };
        RawSummary { role: "raw-recv", datagrams, bytes, secs, mb_per_sec, cpu_secs: 0.0, transport }
    };
    let summary = RawSummary { cpu_secs: super::sys::cpu_secs(), ..summary };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}
