//! Raw UDP, the physical limit: no reliability, no ordering, no flow control. Messages are
//! packed whole into datagrams of `--datagram-size` bytes (default: one per datagram) and sent
//! in `sendmmsg` batches of 32 through argent's own transport layer (argent's socket buffers
//! and batching), one copy per subscriber (unicast) or one to the group (multicast). The
//! backend is `--transport`, by default `std`: the faster path here for 65 000-byte
//! datagrams (1 KB messages, 1 -> 3: 1 219 MB/s against io_uring's 782; decision 006), so the
//! limit is the best this machine does.
//!
//! `raw-gso` is `raw-multicast` with the sender a LAN-tuned application would have: each
//! `sendmsg` carries up to 64 KB that the kernel cuts into `--datagram-size` datagrams
//! (`UDP_SEGMENT`, the portable backend's GSO runs), so per-datagram system-call costs vanish
//! on the sending side. Every raw system can be paced (`--rate`) and run on a namespace LAN.

use crate::control::Control;
use crate::opts::{Opts, System};
use crate::verify::{Generator, Verifier};
use anyhow::Context;
use argent_transport::{Outgoing, SocketSpec};
use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Datagrams per system call, as argent's transport sends them.
const BATCH: usize = 32;
/// argent's socket buffers (`argent bench --socket-buffer`).
const SOCKET_BUFFER: usize = 32 << 20;
/// Most bytes and datagrams in one GSO send (the kernel's `UDP_MAX_SEGMENTS` is 64; a send
/// is one IP datagram's worth of payload).
const GSO_BYTES: usize = 65_000;
const GSO_SEGMENTS: usize = 64;
/// A receiver that got something and then nothing for this long is done (the end marker may
/// be lost: nothing is repaired).
const IDLE_END: Duration = Duration::from_millis(500);

/// Where subscriber `i` listens: its host's address and its own port (unicast) or the run's
/// group (multicast, administratively scoped, derived from the port so that concurrent runs
/// differ).
fn destination(o: &Opts, i: usize) -> SocketAddrV4 {
    match o.system {
        System::RawUnicast => SocketAddrV4::new(crate::lan::subscriber_address(o, i), o.port + 1 + i as u16),
        _ => SocketAddrV4::new(Ipv4Addr::new(239, 255, 91, (o.port / 100 % 250) as u8 + 1), o.port),
    }
}

/// Datagrams per send call: 32 (argent's batches), or with GSO as many as one 64 KB send
/// carries (the kernel's limit is 64 segments).
fn batch(o: &Opts) -> usize {
    match o.system {
        System::RawGso => (GSO_BYTES / datagram_bytes(o)).clamp(1, GSO_SEGMENTS),
        _ => BATCH,
    }
}

/// The length of a full datagram: as many whole messages as `--datagram-size` holds.
fn datagram_bytes(o: &Opts) -> usize {
    (o.datagram_size.unwrap_or(o.size) / o.size).max(1) * o.size
}

fn settings(o: &Opts, t: &dyn argent_transport::Transport) -> Value {
    let stats = t.stats();
    json!({
        "transport": t.backend().to_string(),
        "datagram_size": o.datagram_size.unwrap_or(o.size),
        "batch": batch(o),
        "socket_buffer": SOCKET_BUFFER,
        "interface": o.interface.to_string(),
        "send_calls": stats.send_syscalls,
        "gso_sends": stats.gso_messages,
        "recv_calls": stats.recv_syscalls,
        "recv_drops": stats.recv_drops,
        "gro_buffers": stats.gro_buffers,
    })
}

pub fn publish(o: &Opts, ctl: &mut Control, g: &mut Generator) -> anyhow::Result<Value> {
    let per_send = batch(o);
    let spec = SocketSpec {
        unicast: SocketAddrV4::new(o.interface, 0),
        interface: o.interface,
        send_buffer: SOCKET_BUFFER,
        recv_buffer: 1 << 20,
        batch: per_send,
        ..SocketSpec::default()
    };
    let mut t = argent_transport::open(o.transport.backend(), &spec).context("opening the raw UDP sender")?;
    let to: Vec<SocketAddrV4> = match o.system {
        System::RawUnicast => (0..o.subscribers).map(|i| destination(o, i)).collect(),
        _ => vec![destination(o, 0)],
    };
    let per_datagram = (o.datagram_size.unwrap_or(o.size) / o.size).max(1);
    let mut batch = Vec::with_capacity(per_send * to.len());
    // Datagrams are written in place and frozen: no copy between writing and sending.
    let mut dgram = BytesMut::with_capacity(per_send * per_datagram * o.size);
    let mut unsent = 0u64;
    ctl.ready()?;
    g.start();
    let mut marker = None;
    while marker.is_none() {
        // Paced: nothing is due yet; what was due has been sent.
        if let Some(wait) = g.due_in() {
            std::thread::sleep(wait);
        }
        // Once the last batch was sent its buffers are free again: reclaimed, not reallocated.
        dgram.reserve(per_send * per_datagram * o.size);
        let mut not_due = false;
        for _ in 0..per_send {
            while dgram.len() < per_datagram * o.size {
                if g.due_in().is_some() {
                    not_due = true; // the next message is not due: send what is
                    break;
                }
                if g.current().is_none() {
                    break;
                }
                let end = g.at_end();
                match g.current() {
                    Some(m) if end => marker = Some(Bytes::copy_from_slice(m)),
                    Some(m) => dgram.extend_from_slice(m),
                    None => {}
                }
                g.advance();
                if end {
                    break;
                }
            }
            if !dgram.is_empty() {
                let data = dgram.split().freeze();
                batch.extend(to.iter().map(|&a| Outgoing::new(a, data.clone())));
            }
            if marker.is_some() || not_due {
                break;
            }
        }
        unsent += t.send(&mut batch)?.unsent as u64;
    }
    // The end marker alone, three times: a receiver that misses all three stops when idle.
    if let Some(m) = marker {
        for _ in 0..3 {
            batch.extend(to.iter().map(|&a| Outgoing::new(a, m.clone())));
            t.send(&mut batch)?;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    ctl.wait_stop()?;
    if o.system == System::RawGso && t.stats().gso_messages == 0 {
        anyhow::bail!(
            "raw-gso sent no GSO message: UDP_SEGMENT is unavailable on this path (transport {}; \
             only the std backend uses GSO, and the route's device needs checksum offload)",
            t.backend()
        );
    }
    let mut s = settings(o, t.as_ref());
    s["unsent_datagrams"] = json!(unsent);
    Ok(s)
}

pub fn subscribe(o: &Opts, ctl: &mut Control, v: &mut Verifier) -> anyhow::Result<Value> {
    let me = destination(o, o.index);
    let spec = match o.system {
        System::RawUnicast => SocketSpec { unicast: me, ..SocketSpec::default() },
        _ => SocketSpec {
            unicast: SocketAddrV4::new(o.interface, 0),
            groups: vec![me],
            ..SocketSpec::default()
        },
    };
    // Plain recvmmsg, one datagram per slot: the receivers the LAN limit is defined with
    // (issue 15), without UDP GRO (argent's receivers use it; decision 012 gives both).
    let spec = SocketSpec {
        interface: o.interface,
        recv_buffer: SOCKET_BUFFER,
        send_buffer: 1 << 20,
        batch: BATCH,
        gro: o.gro,
        ..spec
    };
    let mut t = argent_transport::open(o.transport.backend(), &spec)
        .with_context(|| format!("opening the raw UDP receiver on {me}"))?;
    ctl.ready()?;
    let mut rx = Vec::with_capacity(BATCH);
    while ctl.keep_going(v) {
        rx.clear();
        t.recv(Some(Duration::from_millis(100)), BATCH, &mut rx)?;
        if rx.is_empty() && v.idle().is_some_and(|i| i > IDLE_END) {
            break;
        }
        for r in &rx {
            if r.data.len() % o.size != 0 {
                v.check(&r.data); // counted as corrupt
                continue;
            }
            r.data.chunks_exact(o.size).for_each(|m| v.check(m));
        }
    }
    Ok(settings(o, t.as_ref()))
}
