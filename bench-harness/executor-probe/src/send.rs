//! The sender process: a pinned thread sending `sendmmsg` batches of numbered datagrams.

use crate::args::{arg, Args};
use crate::net::{dest_addr, BATCH, SOCK_BUF};
use crate::os::{pin_current, thread_cpu_ns};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Sends to the destination for `--secs` (at `--rate` datagrams/s, or as fast as it can),
/// then prints its `RESULT role=send` line.
pub fn run(a: &Args) {
    let size: usize = arg(a, "size", 8192);
    let secs: f64 = arg(a, "secs", 3.0);
    let core: usize = arg(a, "core", 0);
    let rate: f64 = arg(a, "rate", 0.0); // datagrams/s, 0 = as fast as possible
    let dest = dest_addr(a);
    pin_current(core);
    let s = tx_socket(dest);
    let fd = s.as_raw_fd();

    let mut bufs = vec![vec![0xA5u8; size]; BATCH];
    let mut iovs: Vec<libc::iovec> =
        bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }).collect();
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
        .map(|i| {
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();

    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut seq: u64 = 0;
    let (mut sent, mut calls, mut errors, mut short) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            if due > now {
                let wait = due - now;
                if wait > Duration::from_micros(200) {
                    std::thread::sleep(wait - Duration::from_micros(100));
                }
                continue;
            }
        }
        for (i, b) in bufs.iter_mut().enumerate() {
            b[..8].copy_from_slice(&(seq + i as u64).to_le_bytes());
        }
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0) };
        calls += 1;
        if n < 0 {
            errors += 1; // e.g. ENOBUFS: nothing sent, the same sequence numbers go again
            continue;
        }
        // Sequence numbers advance only by what was sent, so gaps at the receiver are
        // losses after the sender (socket buffer or backlog), never unsent datagrams.
        if (n as usize) < BATCH {
            short += 1;
        }
        sent += n as u64;
        seq += n as u64;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_ns() - cpu0;
    println!(
        "RESULT role=send size={size} sent={sent} calls={calls} errors={errors} short={short} wall_s={wall:.3} \
         dps={:.0} cpu_ns_per_dgram={:.0}",
        sent as f64 / wall,
        cpu as f64 / sent.max(1) as f64
    );
}

/// A UDP socket connected to `dest` (multicast out of loopback, looped back, TTL 1).
fn tx_socket(dest: SocketAddrV4) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_send_buffer_size(SOCK_BUF).unwrap();
    if dest.ip().is_multicast() {
        s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
        s.set_multicast_loop_v4(true).unwrap();
        s.set_multicast_ttl_v4(1).unwrap();
    }
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    s.connect(&SocketAddr::V4(dest).into()).unwrap();
    s
}
