//! The membership file's groups become regions: members listed in exactly the same groups
//! share one, with an address from the file or from the `[multicast]` pool.

use argent::config::ClusterConfig;
use argent::{GroupId, NodeId, RegionId};
use std::net::{Ipv4Addr, SocketAddrV4};

const FILE: &str = r#"
[multicast]
base = "239.255.40.1"
count = 4
port = 47200

[[member]]
id = 0
addr = "127.0.0.1:47000"
[[member]]
id = 1
addr = "127.0.0.1:47001"
[[member]]
id = 2
addr = "127.0.0.1:47002"
[[member]]
id = 3
addr = "127.0.0.1:47003"

[[group]]
name = "quotes"
id = 10
members = [1, 0, 2]
[[group]]
name = "trades"
id = 11
members = [0, 1, 2]
[[group]]
name = "news"
id = 13
members = [0, 1]
[[group]]
name = "audit"
id = 12
members = [2]
address = "239.255.9.9:5000"
"#;

#[test]
fn groups_become_regions_of_nodes_with_identical_group_sets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cluster.toml");
    std::fs::write(&path, FILE).expect("write");
    let cluster = ClusterConfig::load(&path).expect("valid file");
    let regions = cluster.regions();
    // Nodes 0 and 1 take quotes, trades and news; node 2 quotes, trades and audit; node 3
    // nothing (it may still publish).
    assert_eq!(regions.len(), 2);
    let (big, small) = (&regions[0], &regions[1]);
    assert_eq!(big.region, RegionId(1), "largest region first");
    assert_eq!(big.groups, vec![GroupId(10), GroupId(11), GroupId(13)]);
    // Leader order from the region's lowest-id group (quotes lists 1 before 0).
    assert_eq!(big.members, vec![NodeId(1), NodeId(0)]);
    assert_eq!(big.address, SocketAddrV4::new(Ipv4Addr::new(239, 255, 40, 1), 47200), "the pool's first");
    assert_eq!(small.groups, vec![GroupId(10), GroupId(11), GroupId(12)]);
    assert_eq!(small.members, vec![NodeId(2)]);
    assert_eq!(small.address, "239.255.9.9:5000".parse().expect("address"), "audit names one");
    // Quotes spans both regions: a message to it is multicast once in each.
    assert_eq!(regions.iter().filter(|r| r.groups.contains(&GroupId(10))).count(), 2);
    let rc = cluster.runtime(3).expect("runtime settings");
    assert_eq!(rc.regions, regions);
    // Deterministic: the same file gives the same regions.
    assert_eq!(ClusterConfig::load(&path).expect("valid").regions(), regions);
}

#[test]
fn many_groups_with_the_same_members_are_one_region() {
    let mut text = String::from("[[member]]\nid = 0\naddr = \"127.0.0.1:47000\"\n");
    text += "[[member]]\nid = 1\naddr = \"127.0.0.1:47001\"\n";
    for g in 0..10_000 {
        text += &format!("[[group]]\nname = \"g{g}\"\nid = {}\nmembers = [0, 1]\n", g + 1);
    }
    let cluster: ClusterConfig = toml::from_str(&text).expect("parses");
    cluster.check().expect("valid");
    let regions = cluster.regions();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0].groups.len(), 10_000);
    assert_eq!(regions[0].address, SocketAddrV4::new(Ipv4Addr::new(239, 255, 0, 1), 47100), "default pool");
}

#[test]
fn bad_pools_and_groups_are_refused_naming_the_field() {
    let replace = |from: &str, to: &str| -> String {
        let c: ClusterConfig = toml::from_str(&FILE.replace(from, to)).expect("parses");
        c.check().expect_err("refused")
    };
    let e = replace("base = \"239.255.40.1\"", "base = \"10.0.0.1\"");
    assert!(e.contains("[multicast] base 10.0.0.1 is not an IPv4 multicast address"), "{e}");
    let e = replace("count = 4", "count = 0");
    assert!(e.contains("[multicast] count must be at least 1"), "{e}");
    let e = replace("base = \"239.255.40.1\"", "base = \"239.255.255.254\"");
    assert!(e.contains("[multicast] count 4 from base 239.255.255.254 runs past"), "{e}");
    let e = replace("port = 47200", "port = 0");
    assert!(e.contains("[multicast] port"), "{e}");
    let e = replace("\"239.255.9.9:5000\"", "\"10.9.9.9:5000\"");
    assert!(e.contains("group \"audit\": address 10.9.9.9:5000 is not an IPv4 multicast address"), "{e}");
    let e = replace("members = [0, 1]", "members = [0, 0]");
    assert!(e.contains("group \"news\" lists member 0 twice"), "{e}");
    let e = replace("id = 13", "id = 12");
    assert!(e.contains("group \"audit\": id 12 is used by another group"), "{e}");
    let unknown = toml::from_str::<ClusterConfig>(&FILE.replace("port = 47200", "port = 47200\nsize = 3"));
    let e = unknown.expect_err("unknown field").to_string();
    assert!(e.contains("unknown field `size`, expected one of `base`, `count`, `port`"), "{e}");
}

#[test]
fn shards_and_windows_beyond_their_bounds_are_refused() {
    let path = std::path::Path::new("/etc/argent/cluster.toml");
    let with = |extra: &str| {
        FILE.replace(
            "id = 3\naddr = \"127.0.0.1:47003\"",
            &format!("id = 3\naddr = \"127.0.0.1:47003\"\n{extra}"),
        )
    };
    let e = ClusterConfig::parse(&with("shards = 65"), path).expect_err("refused").to_string();
    assert!(e.contains("member 3: shards = 65 is out of bounds: use 1 to 64"), "{e}");
    assert!(e.starts_with("/etc/argent/cluster.toml"), "names the file: {e}");
    ClusterConfig::parse(&with("shards = 64"), path).expect("64 shards are fine");
    let protocol = |w: u64| format!("{FILE}\n[protocol]\nwindow_datagrams = {w}\n");
    let e = ClusterConfig::parse(&protocol(1 << 20), path).expect("parses").runtime(0).expect_err("refused");
    assert!(e.to_string().contains("window_datagrams 1048576 is out of bounds: use 1 to 65536"), "{e}");
    ClusterConfig::parse(&protocol(4096), path)
        .expect("parses")
        .runtime(0)
        .expect("a 4096-datagram window is fine");
}
