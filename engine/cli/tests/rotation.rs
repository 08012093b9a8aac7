//! Key rotation through the membership service, with real processes on loopback: a keyed
//! `argent gms`, a verifying subscriber and a publisher; `argent key rotate` hands out epoch
//! 2 while traffic flows. Every message arrives once and in order, the publisher is
//! acknowledged for all, both nodes end up sealing under epoch 2, and the key file holds
//! both epochs.

#[path = "../../argent/tests/ports/mod.rs"]
mod ports;
mod procs;

use procs::{argent, last_json, Kill};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn a_key_rotates_through_the_gms_while_traffic_flows() {
    let base = ports::block();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    let out = argent().args(["key", "new"]).output().expect("key new");
    std::fs::write(&key, &out.stdout).unwrap();
    let key_arg = key.display().to_string();
    let gms_addr = format!("127.0.0.1:{base}");
    let _gms = Kill(
        argent()
            .args(["gms", "--listen", &gms_addr, "--key-file", &key_arg, "--tick-ms", "20"])
            .args(["--multicast-base", "239.255.62.1", "--multicast-port", &(base + 3).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gms starts"),
    );
    let file = dir.path().join("cluster.toml");
    let members: String = [0u16, 1]
        .iter()
        .map(|id| format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + 8 + id * 2))
        .collect();
    std::fs::write(
        &file,
        format!("{members}\n[[group]]\nname = \"g\"\nid = 1\nmembers = [0, 1]\n\n[protocol]\npin = false\n"),
    )
    .unwrap();
    let config = file.display().to_string();
    let node = |role: &str, id: u32, wait: u32| {
        let mut c = argent();
        c.args([role, "--config", &config, "--id", &id.to_string(), "--group", "g", "--transport", "std"])
            .args(["--gms", &gms_addr, "--wait-members", &wait.to_string(), "--key-file", &key_arg])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        c
    };
    let mut sub = node("sub", 0, 1)
        .args(["--verify", "--publishers", "1", "--idle-timeout", "5"])
        .spawn()
        .expect("sub");
    let mut line = String::new();
    BufReader::new(sub.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let publisher = node("pub", 1, 2)
        .args(["--size", "256", "--duration", "8", "--rate", "20000"])
        .spawn()
        .expect("pub starts");
    std::thread::sleep(Duration::from_millis(2000));
    let rotated = argent()
        .args(["key", "rotate", "--key-file", &key_arg, "--gms", &gms_addr])
        .output()
        .expect("key rotate runs");
    assert!(rotated.status.success(), "rotate: {}", String::from_utf8_lossy(&rotated.stderr));
    let shown = argent().args(["key", "show", &key_arg]).output().expect("key show");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("epochs 1, 2 (datagrams are sealed under 2)"), "{shown}");

    let p = last_json(publisher);
    let s = last_json(sub);
    assert_eq!(p["acknowledged"], true, "{p:#}");
    assert_eq!(s["verified"], true, "the subscriber verified the whole run: {s:#}");
    assert_eq!(s["received"], p["published"]);
    for (who, r) in [("publisher", &p), ("subscriber", &s)] {
        assert_eq!(r["protocol"]["auth"]["epoch"], 2, "{who} seals under the new epoch: {r:#}");
    }
    eprintln!("publisher auth {}; subscriber auth {}", p["protocol"]["auth"], s["protocol"]["auth"]);
}
