//! The membership service with real processes on loopback: `argent bench --kill-one-at`
//! (eviction by the embedded GMS), and three `argent gms` replicas whose leader is killed
//! while traffic flows, after which a new subscriber is admitted.

#[path = "../../argent/tests/ports/mod.rs"]
mod ports;
mod procs;

use procs::{argent, last_json, Kill};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

#[test]
fn bench_kill_one_subscriber_is_evicted_and_the_others_verify() {
    let out = argent()
        .args(["bench", "--duration", "3", "--subscribers", "3", "--kill-one-at", "1s"])
        .args(["--evict-ms", "1000", "--no-raw", "--json", "--transport", "std", "--pin", "false"])
        .stderr(Stdio::inherit())
        .output()
        .expect("argent runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("bench printed {stdout:?}: {e}"));
    assert_eq!(r["delivered_ok"], true, "{r:#}");
    assert_eq!(r["killed_subscriber"], 2, "{r:#}");
    let evicted = r["evicted_after_ms"].as_f64().expect("evicted");
    assert!(evicted < 1000.0 + 500.0, "evicted {evicted} ms after the kill (timeout 1000 ms)");
    assert_eq!(r["per_subscriber"].as_array().map(Vec::len), Some(2), "{r:#}");
    for p in r["per_publisher"].as_array().expect("publishers") {
        assert_eq!(
            p["acknowledged"], true,
            "the publisher's buffer drained once the dead member was cut out"
        );
    }
}

#[test]
fn gms_leader_killed_traffic_continues_and_a_late_member_is_admitted() {
    // Replicas at base..base+3, the pool's port at base+3, members at base+8+2·id.
    let base = ports::block();
    let ports: Vec<u16> = (base..base + 3).collect();
    let replicas: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let gms_list: String = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let mut gms: Vec<Option<Kill>> = (1..=3)
        .map(|id| {
            let c = argent()
                .args(["gms", "--id", &id.to_string(), "--replicas", &replicas])
                .args(["--tick-ms", "20", "--suspect-ms", "400", "--evict-ms", "1200"])
                .args(["--multicast-base", "239.255.61.1", "--multicast-port", &(base + 3).to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("gms starts");
            Some(Kill(c))
        })
        .collect();
    // Members: 0 and 1 subscribe from the start, 3 joins late, 4 publishes.
    let dir = tempfile::tempdir().unwrap(); // removed on drop, even on a failure
    let file = dir.path().join("cluster.toml");
    let members: String = [0u16, 1, 3, 4]
        .iter()
        .map(|id| format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + 8 + id * 2))
        .collect();
    std::fs::write(
        &file,
        format!(
            "{members}\n[[group]]\nname = \"g\"\nid = 1\nmembers = [0, 1, 3, 4]\n\n[protocol]\npin = false\n"
        ),
    )
    .unwrap();
    let config = file.display().to_string();
    let node = |role: &str, id: u32, wait: usize| {
        let mut c = argent();
        c.args([role, "--config", &config, "--id", &id.to_string(), "--group", "g", "--transport", "std"])
            .args(["--gms", &gms_list, "--wait-members", &wait.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        c
    };
    let sub = |id: u32, late: bool| {
        let mut c = node("sub", id, 2);
        c.args(["--verify", "--publishers", "1", "--idle-timeout", "5"]);
        if late {
            c.arg("--late");
        }
        c.spawn().expect("sub starts")
    };
    let ready = |child: &mut Child, id: u32| {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "subscriber {id} started");
    };
    // Both must be up before either is admitted with two members.
    let (mut s0, mut s1) = (sub(0, false), sub(1, false));
    ready(&mut s0, 0);
    ready(&mut s1, 1);
    let publisher = node("pub", 4, 3)
        .args(["--size", "256", "--duration", "10", "--rate", "20000"])
        .spawn()
        .expect("pub starts");
    std::thread::sleep(Duration::from_millis(1500));
    let status = |what: &str| -> Value {
        let out = argent().args(["status", "--gms", &gms_list, "--json"]).output().expect("status runs");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: status printed {out:?}: {e}"))
    };
    let before = status("before the kill");
    let leader = before["leader"].as_u64().expect("a leader") as usize;
    assert_eq!(before["members"].as_array().map(Vec::len), Some(3), "{before:#}");
    drop(gms[leader - 1].take()); // kill the GMS leader
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let mut late = sub(3, true);
    ready(&mut late, 3);
    let admitted = started.elapsed();
    let after = status("after the kill");
    assert_ne!(after["leader"].as_u64(), Some(leader as u64), "a new leader: {after:#}");
    assert_eq!(after["members"].as_array().map(Vec::len), Some(4), "the late member is in: {after:#}");
    assert!(admitted < Duration::from_secs(5), "admitted in {admitted:?}");

    let p = last_json(publisher);
    assert_eq!(p["acknowledged"], true, "{p:#}");
    for (id, s) in [(0, s0), (1, s1)] {
        let r = last_json(s);
        assert_eq!(r["verified"], true, "subscriber {id} verified the whole run: {r:#}");
        assert_eq!(r["received"], p["published"], "subscriber {id}");
    }
    let r = last_json(late);
    assert_eq!(r["verified"], true, "the late subscriber verified everything from its join on: {r:#}");
    let got = r["received"].as_u64().unwrap_or(0);
    assert!(got > 0 && got < p["published"].as_u64().unwrap_or(0), "late subscriber got {got}: {r:#}");
}

#[test]
fn a_group_whose_last_member_leaves_does_not_block_its_publisher() {
    use argent::config::ClusterConfig;
    use argent_membership::gms::GmsConfig;
    use argent_membership::service::{GmsService, ServiceConfig};
    use argent_membership::AddressPool;
    let base = ports::block();
    let mut cfg =
        GmsConfig::new(AddressPool { base: std::net::Ipv4Addr::new(239, 255, 62, 1), count: 4, port: base });
    cfg.tick = Duration::from_millis(20);
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let service = GmsService::start(ServiceConfig { gms: cfg, peers: [(1, any)].into(), data_dir: None })
        .expect("gms starts");
    let gms_addr = service.local_addr();
    let (a, b) = (base + 1, base + 2);
    let text = format!(
        "[[member]]\nid = 0\naddr = \"127.0.0.1:{a}\"\n[[member]]\nid = 1\naddr = \"127.0.0.1:{b}\"\n\
         [[group]]\nname = \"g\"\nid = 7\nmembers = [0]\n[protocol]\npin = false\nsend_buffer_bytes = 65536\n"
    );
    let cluster: ClusterConfig = toml::from_str(&text).expect("valid cluster");
    let start = |id: u32, wait: usize| {
        argent::Node::builder()
            .cluster(cluster.clone())
            .id(id)
            .transport(argent::Backend::Std)
            .gms([(1, gms_addr)].into())
            .wait_members(wait)
            .start()
            .expect("node starts")
    };
    let sub_node = start(0, 1);
    let pub_node = start(1, 2);
    let mut sub = sub_node.subscribe("g").unwrap();
    let mut publisher = pub_node.publisher("g").unwrap();
    publisher.publish_blocking(b"first").unwrap();
    let got = sub.recv_timeout(Duration::from_secs(5)).expect("delivered");
    assert_eq!(got.messages().next(), Some(&b"first"[..]));
    drop(sub);
    sub_node.shutdown(); // leaves: the region has no members any more
    let deadline = Instant::now() + Duration::from_secs(5);
    while pub_node.stats().unrouted == 0 {
        // Far more than the 64 KiB send buffer: a region without members would block it.
        let _ = publisher.publish(&[0u8; 1000]);
        assert!(Instant::now() < deadline, "publishing to a group without members must not block forever");
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(pub_node.stats().unrouted > 0);
    pub_node.shutdown();
    service.shutdown();
}
