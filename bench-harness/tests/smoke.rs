//! The smoke scenario end to end: `argent-bench run scenarios/smoke.toml --out DIR` against the
//! real `argent` binary, and what it writes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `binary` of `package` from the same target directory and profile as this crate's binary;
/// built (with -j1: the machine is shared) when `cargo test -p argent-bench` ran without it.
fn sibling_binary(package: &str, binary: &str) -> PathBuf {
    let bench = Path::new(env!("CARGO_BIN_EXE_argent-bench"));
    let dir = bench.parent().expect("target/<profile>");
    let path = dir.join(binary);
    if !path.is_file() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-j1", "-p", package]);
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                cmd.args(["--profile", profile]);
            }
        }
        if let Some(target) = dir.parent() {
            cmd.arg("--target-dir").arg(target);
        }
        let status = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("running cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    assert!(path.is_file(), "no {binary} binary at {}", path.display());
    path
}

#[test]
fn smoke_scenario_writes_a_verified_report() {
    let argent = sibling_binary("argent-cli", "argent");
    let peer = sibling_binary("argent-peers", "argent-peer");
    let out = tempfile::tempdir().expect("tempdir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let run = Command::new(env!("CARGO_BIN_EXE_argent-bench"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(out.path())
        .arg("--argent")
        .arg(&argent)
        .arg("--peer")
        .arg(&peer)
        .output()
        .expect("running argent-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "argent-bench failed: {}\n{stderr}", run.status);

    let report = std::fs::read_to_string(out.path().join("report.md")).expect("report.md");
    assert!(report.contains("| subscribers | system |"), "{report}");
    assert!(report.contains("## Side by side"), "{report}");
    assert!(report.contains("argent ÷ raw UDP"), "{report}");
    let svgs = std::fs::read_dir(out.path())
        .expect("out dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "svg"))
        .count();
    assert!(svgs >= 1, "no SVG plot written");

    let text = std::fs::read_to_string(out.path().join("results.json")).expect("results.json");
    let results: serde_json::Value = serde_json::from_str(&text).expect("results.json is JSON");
    assert_eq!(results["all_delivered"], true, "{text}");
    let points: Vec<&serde_json::Value> = results["series"]
        .as_array()
        .expect("series")
        .iter()
        .flat_map(|s| s["points"].as_array().expect("points"))
        .collect();
    assert_eq!(points.len(), 4, "two points, each of argent and raw UDP multicast");
    for p in &points {
        assert_eq!(p["delivered_ok"], true, "{p}");
        for r in p["repeats"].as_array().expect("repeats") {
            assert_eq!(r["bench"]["delivered_ok"], true, "the run itself says delivered: {r}");
        }
        assert!(p["msgs_per_sec"]["median"].as_f64().expect("a median") > 0.0);
    }
    let systems: Vec<&str> = points.iter().filter_map(|p| p["system"].as_str()).collect();
    assert_eq!(systems, ["argent", "raw-multicast", "argent", "raw-multicast"]);
    // The raw receivers checked every message they got: none corrupt or out of order.
    let raw = points[1]["repeats"][0]["bench"]["per_subscriber"][0].clone();
    assert_eq!((raw["corrupt"].as_u64(), raw["out_of_order"].as_u64()), (Some(0), Some(0)), "{raw}");
    assert!(raw["received"].as_u64().expect("received") > 0, "{raw}");
    assert!(results["environment"]["kernel"].is_string());
    assert!(results["environment"]["cpus"].as_u64().expect("cpus") >= 1);
}
