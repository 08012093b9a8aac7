//! What the sender and the receivers share: batch size, socket buffers and the destination.

use crate::args::{arg, Args};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Datagrams per `sendmmsg`/`recvmmsg` call (the receivers' largest `--batch`).
pub const BATCH: usize = 32;
/// Send and receive buffer size of every socket, bytes.
pub const SOCK_BUF: usize = 4 << 20;

/// The run's destination: `--dest mcast` (239.255.77.1) or `unicast` (127.0.0.1), at `--port`.
pub fn dest_addr(a: &Args) -> SocketAddrV4 {
    let port: u16 = arg(a, "port", 47001);
    match a.get("dest").map(String::as_str).unwrap_or("mcast") {
        "mcast" => SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 1), port),
        "unicast" => SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        other => panic!("--dest mcast|unicast, not {other}"),
    }
}
