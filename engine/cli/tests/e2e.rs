//! End-to-end runs on real sockets on loopback: separate processes (the `argent` binary),
//! IP multicast on 127.0.0.1, verified exactly-once FIFO delivery, for both transports.

#[path = "../../argent/tests/ports/mod.rs"]
mod ports;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn argent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_argent"))
}

fn bench(transport: &str, extra: &[&str]) -> Value {
    let out = argent()
        .args([
            "bench",
            "--duration",
            "1",
            "--subscribers",
            "2",
            "--no-raw",
            "--json",
            "--transport",
            transport,
        ])
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .expect("argent runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("bench printed {stdout:?}: {e}"))
}

#[test]
fn bench_verifies_delivery_over_std_sockets() {
    let r = bench("std", &[]);
    assert_eq!(r["delivered_ok"], true, "{r:#}");
    assert_eq!(r["transport"], "std");
    assert!(r["msgs_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(r["regions"], 1);
    assert!(r.get("ratio_to_groups_1").is_none(), "one group: no comparison pass");
}

#[test]
fn bench_counting_checks_sequence_numbers_and_says_so() {
    let r = bench("std", &["--verify", "count", "--size", "64"]);
    assert_eq!(r["delivered_ok"], true, "{r:#}");
    assert_eq!(r["verify"], "count", "{r:#}");
    for s in r["per_subscriber"].as_array().expect("subscribers") {
        assert_eq!((s["verify"].as_str(), s["verified"].as_bool()), (Some("count"), Some(true)), "{s:#}");
        assert_eq!(s["received"], r["published"], "every message, counted: {s:#}");
    }
    assert_eq!(bench("std", &[])["verify"], "full", "every byte by default");
}

#[test]
fn bench_over_many_groups_uses_one_region_and_compares_with_one_group() {
    let r = bench("std", &["--groups", "1000", "--size", "64"]);
    assert_eq!(r["delivered_ok"], true, "{r:#}");
    assert_eq!((r["groups"].as_u64(), r["regions"].as_u64()), (Some(1000), Some(1)), "{r:#}");
    assert!(r["groups_1_msgs_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert!(r["ratio_to_groups_1"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    for s in r["per_subscriber"].as_array().expect("subscribers") {
        // One end marker per (publisher, group), and every message in the group it names.
        assert_eq!(
            (s["publishers_ended"].as_u64(), s["wrong_group"].as_u64()),
            (Some(1000), Some(0)),
            "{s:#}"
        );
    }
}

#[test]
fn bench_verifies_delivery_over_io_uring() {
    if let Err(why) = argent_transport::probe_uring() {
        // Not a pass: say loudly why this backend was not exercised here.
        eprintln!("io_uring unavailable on this machine ({why}); the uring end-to-end run did not happen");
        return;
    }
    let r = bench("uring", &["--size", "64"]);
    assert_eq!(r["delivered_ok"], true, "{r:#}");
    assert_eq!(r["transport"], "uring");
}

/// A cluster file for `subs` subscribers and one publisher on free ports.
fn cluster_file(dir: &std::path::Path, subs: u32, base: u16) -> std::path::PathBuf {
    let mut s =
        String::from("transport = \"std\"\n[protocol]\nmember_timeout_ms = 1000\ndatagram_size = 16384\n");
    let n = subs + 1;
    for id in 0..n {
        s += &format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + id as u16);
    }
    let members: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    s += &format!(
        "[[group]]\nname = \"t\"\nid = 1\naddress = \"239.255.{}.9:{}\"\nmembers = [{}]\n",
        base % 200,
        base + 50,
        members.join(", ")
    );
    let path = dir.join("cluster.toml");
    std::fs::File::create(&path).and_then(|mut f| f.write_all(s.as_bytes())).expect("write cluster file");
    path
}

#[test]
fn a_killed_subscriber_does_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = ports::block();
    let file = cluster_file(dir.path(), 3, base);
    let config = file.display().to_string();
    let sub = |id: u32| {
        argent()
            .args(["sub", "--config", &config, "--id", &id.to_string(), "--group", "t", "--verify"])
            .args(["--idle-timeout", "10"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sub starts")
    };
    let mut subs: Vec<_> = (0..3).map(sub).collect();
    std::thread::sleep(Duration::from_millis(500));
    let publisher = argent()
        .args(["pub", "--config", &config, "--id", "3", "--group", "t", "--size", "256", "--duration", "3"])
        .args(["--rate", "50000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pub starts");
    std::thread::sleep(Duration::from_millis(1200));
    let mut victim = subs.remove(2);
    victim.kill().expect("SIGKILL the subscriber");
    let _ = victim.wait();
    let started = Instant::now();
    let out = publisher.wait_with_output().expect("pub finishes");
    let p: Value =
        serde_json::from_slice(out.stdout.trim_ascii_end().rsplit(|b| *b == b'\n').next().unwrap_or(&[]))
            .expect("pub summary");
    assert_eq!(p["acknowledged"], true, "the survivors acknowledged everything: {p:#}");
    assert!(started.elapsed() < Duration::from_secs(30));
    for s in subs {
        let out = s.wait_with_output().expect("sub finishes");
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.lines().last().unwrap_or_default()).expect("sub summary");
        assert_eq!(v["verified"], true, "{v:#}");
        assert_eq!(v["received"], p["published"], "{v:#}");
    }
}

#[test]
fn bad_membership_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[member]]\nid = 0\naddr = \"127.0.0.1:4000\"\n[[group]]\nname = \"x\"\nid = 1\naddress = \"10.0.0.1:5000\"\nmembers = [0]\n")
        .expect("write");
    let out = argent()
        .args(["sub", "--config", &path.display().to_string(), "--id", "0", "--group", "x"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an IPv4 multicast address"), "{err}");
    let out = argent().args(["sub", "--config", "/nonexistent.toml", "--group", "x"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.toml"));
}

#[test]
fn one_shot_publishers_one_after_another_all_arrive() {
    // The shell workflow: a subscriber, then several short-lived `argent pub` processes under
    // the same id, which is not a member of the group (senders need not be members).
    let dir = tempfile::tempdir().expect("tempdir");
    let base = ports::block();
    let file = dir.path().join("c.toml");
    let toml = format!(
        "[[member]]\nid = 0\naddr = \"127.0.0.1:{}\"\n[[member]]\nid = 1\naddr = \"127.0.0.1:{}\"\n\
         [[group]]\nname = \"chat\"\nid = 1\naddress = \"239.255.{}.7:{}\"\nmembers = [0]\n",
        base,
        base + 1,
        base % 200,
        base + 2
    );
    std::fs::write(&file, toml).expect("write");
    let config = file.display().to_string();
    let sub = argent()
        .args(["sub", "--config", &config, "--id", "0", "--group", "chat", "--idle-timeout", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sub starts");
    std::thread::sleep(Duration::from_millis(500));
    for text in ["first", "second", "third"] {
        let out = argent()
            .args(["pub", "--config", &config, "--id", "1", "--group", "chat", "--message", text])
            .stderr(Stdio::null())
            .output()
            .expect("pub runs");
        assert!(out.status.success(), "pub {text}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let out = sub.wait_with_output().expect("sub ends after going idle");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines, vec!["n1: first", "n1: second", "n1: third"]);
}

#[test]
fn regions_lays_a_zipf_workload_within_its_budgets() {
    let out = argent()
        .args([
            "regions", "--nodes", "1000", "--groups", "10000", "--zipf", "1.5", "--pool", "1000", "--json",
        ])
        .output()
        .expect("argent runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON last");
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {r:#}"));
    assert!(f("sends_per_message") + f("unwanted_per_message") <= 1.25, "{r:#}");
    assert!(f("rings_per_node_max") <= 16.0 && f("rings_per_node_mean") >= 1.0, "{r:#}");
    assert!(f("addresses_used") >= 1.0 && f("addresses_used") <= 1000.0, "{r:#}");
    assert!(f("compute_ms") >= 0.0 && f("regions") >= 1.0, "{r:#}");
    // Regions of identical group sets, measured the same way, send a message many times.
    assert!(r["group_sets"]["sends_per_message"].as_f64().unwrap_or(0.0) > 100.0, "{r:#}");
}
