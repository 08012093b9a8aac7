//! Raw UDP multicast throughput through an argent transport: the baseline a reliable
//! protocol is measured against (same datagram size, same batching, no protocol).
//!
//! ```text
//! raw_mcast send GROUP:PORT SIZE SECONDS BACKEND   # e.g. send 239.255.0.1:7000 8192 5 std
//! raw_mcast recv GROUP:PORT SECONDS BACKEND [MAX_DATAGRAM]  # start receivers first
//! ```
//! MAX_DATAGRAM (default 65507) sizes the receive buffers: set it to the datagram size, as a
//! protocol configures its largest datagram.
//! BACKEND is `std`, `uring` or `auto`. Each datagram carries a sequence number; receivers
//! count gaps (lost), late or duplicate datagrams, and the kernel's receive-buffer drops.
//! `ARGENT_TRANSPORT_GSO=0` turns UDP GSO off for comparison.

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argent_transport::{open, Backend, Outgoing, SocketSpec, Transport, TransportStats};
use bytes::Bytes;

const MAGIC: &[u8; 8] = b"ARGRAW01";
const HEADER: usize = 16;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("send") if args.len() == 5 => send(&args[1], &args[2], &args[3], &args[4]),
        Some("recv") if args.len() == 4 || args.len() == 5 => {
            recv(&args[1], &args[2], &args[3], args.get(4).map_or("65507", String::as_str))
        }
        _ => Err("usage: raw_mcast send GROUP:PORT SIZE SECONDS BACKEND | \
                  raw_mcast recv GROUP:PORT SECONDS BACKEND [MAX_DATAGRAM]"
            .to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raw_mcast: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| format!("bad {what} {s:?}: {e}"))
}

fn backend(s: &str) -> Result<Option<Backend>, String> {
    if s == "auto" {
        Ok(None)
    } else {
        parse("backend", s).map(Some)
    }
}

fn send(group: &str, size: &str, seconds: &str, backend_name: &str) -> Result<(), String> {
    let group: SocketAddrV4 = parse("group", group)?;
    let size: usize = parse("size", size)?;
    let seconds: f64 = parse("seconds", seconds)?;
    if size < HEADER {
        return Err(format!("size must be at least {HEADER}"));
    }
    let spec = SocketSpec::loopback(Vec::new());
    let mut t = open(backend(backend_name)?, &spec).map_err(|e| e.to_string())?;
    // One frame per batch slot, rewritten in place once the previous send released it.
    let mut frames: Vec<Bytes> = (0..spec.batch).map(|_| frame(size)).collect();
    let mut batch = Vec::with_capacity(spec.batch);
    let (mut seq, mut unsent, mut rejected) = (0u64, 0usize, 0usize);
    let start = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    while start.elapsed() < limit {
        for f in frames.iter_mut() {
            let mut b =
                std::mem::take(f).try_into_mut().unwrap_or_else(|_| frame(size).try_into_mut().unwrap());
            b[8..16].copy_from_slice(&seq.to_be_bytes());
            seq += 1;
            let data = b.freeze();
            *f = data.clone();
            batch.push(Outgoing::new(group, data));
        }
        let report = t.send(&mut batch).map_err(|e| format!("send: {e}"))?;
        unsent += report.unsent;
        rejected += report.rejected;
        if let Some(r) = report.first_rejection {
            return Err(format!("datagram to {} refused: {}", r.to, r.error));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let sent = seq as usize - unsent - rejected;
    println!(
        "send backend={} size={size} seconds={secs:.2}: {:.0} datagrams/s, {:.1} MB/s (sent {sent}, unsent {unsent}, rejected {rejected})",
        t.backend(),
        sent as f64 / secs,
        (sent * size) as f64 / secs / 1e6,
    );
    print_stats(&t.stats());
    Ok(())
}

fn frame(size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    v[..8].copy_from_slice(MAGIC);
    Bytes::from(v)
}

fn recv(group: &str, seconds: &str, backend_name: &str, max_datagram: &str) -> Result<(), String> {
    let group: SocketAddrV4 = parse("group", group)?;
    let seconds: f64 = parse("seconds", seconds)?;
    let max_datagram: usize = parse("max datagram", max_datagram)?;
    let spec = SocketSpec { max_datagram, ..SocketSpec::loopback(vec![group]) };
    let mut t: Box<dyn Transport> = open(backend(backend_name)?, &spec).map_err(|e| e.to_string())?;
    let limit = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut out = Vec::with_capacity(1024);
    let (mut count, mut bytes, mut lost, mut late, mut foreign) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut expected = 0u64;
    let mut first: Option<Instant> = None;
    let mut last = start;
    loop {
        let now = Instant::now();
        let idle_end = first.is_some() && now.duration_since(last) > Duration::from_secs(1);
        if now.duration_since(start) >= limit || idle_end {
            break;
        }
        out.clear();
        t.recv(Some(Duration::from_millis(100)), 1024, &mut out).map_err(|e| format!("recv: {e}"))?;
        if out.is_empty() {
            continue;
        }
        last = Instant::now();
        first.get_or_insert(last);
        for r in &out {
            let d = &r.data;
            if d.len() < HEADER || &d[..8] != MAGIC {
                foreign += 1;
                continue;
            }
            let seq = u64::from_be_bytes(d[8..16].try_into().expect("8 bytes"));
            if seq >= expected {
                lost += seq - expected;
                expected = seq + 1;
            } else {
                late += 1;
            }
            count += 1;
            bytes += d.len() as u64;
        }
    }
    let window = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64()).max(1e-9);
    println!(
        "recv backend={} window={window:.2}s: {:.0} datagrams/s, {:.1} MB/s (received {count}, lost {lost}, late/duplicate {late}, foreign {foreign})",
        t.backend(),
        count as f64 / window,
        bytes as f64 / window / 1e6,
    );
    print_stats(&t.stats());
    Ok(())
}

fn print_stats(s: &TransportStats) {
    println!(
        "  syscalls recv {} send {} wait {}; gso messages {}; kernel drops {}; buffers exhausted {}; rcvbuf {} sndbuf {}",
        s.recv_syscalls,
        s.send_syscalls,
        s.wait_syscalls,
        s.gso_messages,
        s.recv_drops,
        s.recv_buffer_exhausted,
        s.recv_buffer_granted,
        s.send_buffer_granted
    );
}
