//! `argent-peer` end to end on loopback: real processes and sockets, every message verified.

use serde_json::Value;
use std::process::{Command, Output};

fn peer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_argent-peer")).args(args).output().expect("running argent-peer")
}

/// The stderr of a run that must have been refused as a usage error (exit 2).
fn refused(args: &[&str]) -> String {
    let out = peer(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    err
}

fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("last line is not JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn raw_udp_unicast_and_multicast_deliver_intact_messages_to_every_subscriber() {
    for system in ["raw-unicast", "raw-multicast"] {
        let out = peer(&[
            system,
            "--subscribers",
            "2",
            "--size",
            "100",
            "--datagram-size",
            "1000",
            "--duration",
            "0.5",
            "--json",
        ]);
        let s = summary(&out);
        assert!(out.status.success(), "{system}: {s}");
        assert_eq!(s["delivered_ok"], true, "{s}");
        assert_eq!(s["reliable"], false, "{s}");
        let subs = s["per_subscriber"].as_array().expect("per_subscriber");
        assert_eq!(subs.len(), 2, "{s}");
        for sub in subs {
            assert!(sub["received"].as_u64().unwrap() > 0, "{sub}");
            assert_eq!((sub["corrupt"].as_u64(), sub["out_of_order"].as_u64()), (Some(0), Some(0)), "{sub}");
        }
        // Ten 100-byte messages per 1000-byte datagram.
        assert_eq!(s["per_publisher"]["settings"]["datagram_size"], 1000, "{s}");
        assert!(s["msgs_per_sec"].as_f64().unwrap() > 0.0 && s["mb_per_sec"].as_f64().unwrap() > 0.0, "{s}");
    }
}

#[test]
fn raw_gso_sends_64_kb_at_a_time_and_a_paced_run_measures_latency() {
    let out = peer(&[
        "raw-gso",
        "--subscribers",
        "1",
        "--size",
        "1000",
        "--datagram-size",
        "1472",
        "--duration",
        "0.5",
        "--json",
    ]);
    let s = summary(&out);
    assert!(out.status.success() && s["delivered_ok"] == true, "{s}");
    let settings = &s["per_publisher"]["settings"];
    // 65 000 / 1 000-byte datagrams: 65 segments, capped at the kernel's 64.
    assert_eq!(settings["batch"], 64, "{s}");
    assert!(settings["gso_sends"].as_u64().unwrap() > 0, "{s}");
    // Paced at 2 000 msgs/s for 0.5 s: about 1 000 messages, each latency counted from its
    // scheduled send time, so every percentile is positive and far below a second.
    let out = peer(&[
        "raw-multicast",
        "--size",
        "100",
        "--duration",
        "0.5",
        "--rate",
        "2000",
        "--verify",
        "count",
        "--json",
    ]);
    let s = summary(&out);
    assert!(out.status.success() && s["delivered_ok"] == true, "{s}");
    let sent = s["published"].as_u64().unwrap();
    assert!((900..=1_300).contains(&sent), "paced: {s}");
    let (p50, p99) = (s["p50_us"].as_f64().unwrap(), s["p99_us"].as_f64().unwrap());
    assert!(p50 >= 2.0 && p50 <= p99 && p99 < 1e6, "{s}");
    assert_eq!(s["verify"], "count", "{s}");
}

#[test]
fn bad_settings_are_refused_with_the_flag_named() {
    for (args, want) in [
        (&["raw-unicast", "--size", "8"][..], "--size 8"),
        (&["raw-unicast", "--subscribers", "0"][..], "--subscribers 0"),
        (&["raw-unicast", "--profile", "tuned"][..], "aeron only"),
        (&["raw-multicast", "--size", "100", "--datagram-size", "50"][..], "--datagram-size 50"),
        (&["raw-unicast", "--duration", "0"][..], "--duration 0"),
        (&["raw-gso", "--transport", "uring"][..], "std backend"),
        (&["raw-unicast", "--rate", "0"][..], "--rate 0"),
        (&["raw-gso", "--netns", "anr", "--hosts", "1"][..], "--hosts 1"),
    ] {
        let err = refused(args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[cfg(not(feature = "zenoh"))]
#[test]
fn a_peer_left_out_of_the_build_says_how_to_build_it() {
    let err = refused(&["zenoh"]);
    assert!(err.contains("not in this build") && err.contains("build-peers"), "{err}");
}

#[test]
fn several_publishers_are_refused_by_the_one_publisher_systems() {
    let err = refused(&["raw-multicast", "--publishers", "2", "--duration", "0.5"]);
    assert!(err.contains("--publishers 2") && err.contains("corosync-cpg"), "{err}");
}

#[cfg(not(feature = "corosync-cpg"))]
#[test]
fn corosync_cpg_left_out_of_the_build_says_how_to_build_it() {
    let err = refused(&["corosync-cpg"]);
    assert!(err.contains("not in this build") && err.contains("corosync-cpg"), "{err}");
}

/// Needs root and corosync (cluster-scripts/install-peer-deps), with no other corosync
/// daemon running: the run starts its own.
#[cfg(feature = "corosync-cpg")]
#[test]
fn corosync_cpg_delivers_three_publishers_in_one_order_to_every_subscriber() {
    let out = peer(&[
        "corosync-cpg",
        "--publishers",
        "3",
        "--subscribers",
        "2",
        "--size",
        "100",
        "--duration",
        "0.5",
        "--rate",
        "2000",
        "--json",
    ]);
    let s = summary(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!((s["delivered_ok"].clone(), s["order_agreed"].clone()), (true.into(), true.into()), "{s}");
    let pubs = s["per_publisher"].as_array().expect("three publishers");
    let sent: u64 = pubs.iter().map(|p| p["sent"].as_u64().unwrap()).sum();
    assert!(pubs.len() == 3 && (2_700..=4_000).contains(&sent), "paced at 2 000/s each: {s}");
    let subs = s["per_subscriber"].as_array().expect("subscribers");
    assert!(subs
        .iter()
        .all(|x| x["received"].as_u64() == Some(sent) && x["order_hash"] == subs[0]["order_hash"]));
    let d = &s["daemon"];
    assert!(d["cpu_secs"].as_f64().unwrap() > 0.0 && d["vm_hwm_kb"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["clean_exit"], true, "{d}");
    let pid = d["pid"].as_u64().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the daemon is gone: {d}");
}
