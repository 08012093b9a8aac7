//! Where a run's processes live: all on loopback, or on the hosts of a namespace LAN built by
//! `cluster-scripts/netns-lan up H PREFIX`, which gives host PREFIXi the address 10.77.0.i.
//! The publisher runs on host 1, subscriber k on host 2 + k mod (H - 1), as `netns-run`
//! places argent's processes.

use crate::opts::Opts;
use std::net::Ipv4Addr;

/// The most hosts a namespace LAN of `netns-run` has.
pub const MAX_HOSTS: usize = 50;

/// The address `netns-lan` gives host `i` (1-based).
fn host_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, i as u8)
}

/// The host (1-based) of subscriber `k` (0-based).
fn subscriber_host(hosts: usize, k: usize) -> usize {
    2 + k % (hosts - 1)
}

/// The namespace and address of the publisher, `None` on loopback.
pub fn publisher(o: &Opts) -> Option<(String, Ipv4Addr)> {
    let prefix = o.netns.as_ref()?;
    Some((format!("{prefix}1"), host_address(1)))
}

/// The namespace and address of subscriber `k`, `None` on loopback.
pub fn subscriber(o: &Opts, k: usize) -> Option<(String, Ipv4Addr)> {
    let (prefix, hosts) = (o.netns.as_ref()?, o.hosts?);
    let h = subscriber_host(hosts, k);
    Some((format!("{prefix}{h}"), host_address(h)))
}

/// Where subscriber `k` receives unicast: its host's address (127.0.0.1 on loopback).
pub fn subscriber_address(o: &Opts, k: usize) -> Ipv4Addr {
    subscriber(o, k).map_or(Ipv4Addr::LOCALHOST, |(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_spread_over_the_hosts_after_the_publishers() {
        let hosts: Vec<usize> = (0..6).map(|k| subscriber_host(4, k)).collect();
        assert_eq!(hosts, [2, 3, 4, 2, 3, 4]);
        assert_eq!(host_address(3), Ipv4Addr::new(10, 77, 0, 3));
    }
}
