//! The cluster of one benchmark pass: its ports, its membership file and its embedded
//! membership service.

use super::args::BenchArgs;
use argent::config::{ClusterConfig, GroupEntry, MemberEntry, MulticastEntry, ProtocolEntry};
use argent_membership::gms::GmsConfig;
use argent_membership::service::{GmsService, ServiceConfig};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// A base port unlikely to collide with another run on the same host, from 20 000–31 999:
/// below the kernel's ephemeral range (32 768–60 999), where no socket bound to port 0 can
/// take one of the members' ports before the member binds it.
/// `n` ports from it are free on loopback now (checked, as another run may have taken some).
pub(super) fn base_port(n: u32) -> u16 {
    let seed = std::process::id() as u64 ^ argent_verify::now_ns();
    let first = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 187;
    let at = |slot: u64| 20_000 + ((first + slot) % 187) as u16 * 64;
    let free =
        |base: u16| (base..base + n as u16).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok());
    // All taken: go ahead with the first and let the bind say which port.
    (0..187).map(at).find(|&base| free(base)).unwrap_or(at(0))
}

/// Members: subscribers first (the first leads the ring), then publishers; `groups` groups
/// `g0`, `g1`, … (ids 1, 2, …) of every member, so one region, whose address comes from a
/// pool private to this run.
pub(super) fn cluster(a: &BenchArgs, groups: u32, base: u16) -> ClusterConfig {
    let n = a.subscribers + a.publishers;
    let members: Vec<MemberEntry> = (0..n)
        .map(|id| MemberEntry {
            id,
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base + id as u16),
            shards: 1,
        })
        .collect();
    let octet = (base / 64 % 200) as u8;
    let groups = (0..groups)
        .map(|g| GroupEntry { name: format!("g{g}"), id: g + 1, address: None, members: (0..n).collect() })
        .collect();
    ClusterConfig {
        interface: Ipv4Addr::LOCALHOST,
        transport: a.transport.as_str().into(),
        multicast: MulticastEntry { base: Ipv4Addr::new(239, 255, octet, 1), count: 16, port: base + 40 },
        members,
        groups,
        protocol: ProtocolEntry {
            datagram_size: Some(a.datagram_size),
            socket_buffer: Some(a.socket_buffer),
            send_buffer_bytes: Some(a.send_buffer),
            initial_rate: Some(a.initial_rate.max(a.min_rate)),
            min_rate: Some(a.min_rate),
            pin: Some(a.pin),
            driver: Some(a.driver.name().into()),
            ..ProtocolEntry::default()
        },
        node: None,
        security: argent::config::SecurityEntry { key_file: a.key_path.clone(), encrypt: a.encrypt },
    }
}

/// Run the membership service for one pass: one replica on loopback, with the run's private
/// address pool.
pub(super) fn embedded_gms(a: &BenchArgs, cluster: &ClusterConfig) -> anyhow::Result<GmsService> {
    let pool = argent_membership::AddressPool {
        base: cluster.multicast.base,
        count: cluster.multicast.count,
        port: cluster.multicast.port,
    };
    let mut cfg = GmsConfig::new(pool);
    cfg.tick = Duration::from_millis(50);
    cfg.evict_after = Duration::from_millis(a.evict_ms.max(300));
    cfg.suspect_after = cfg.evict_after / 3;
    cfg.push_retry = Duration::from_millis(50);
    // A sole replica sends to no peer, so it can take any free port (bound, not guessed: a
    // port picked and released first may be taken by another process before the bind).
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let auth = cluster.security.auth().map_err(|e| anyhow::anyhow!(e))?;
    Ok(GmsService::start_keyed(ServiceConfig { gms: cfg, peers: [(1, any)].into(), data_dir: None }, auth)?)
}
