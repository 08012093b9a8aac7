//! Issue 16's acceptance test of durable objects, with real processes on loopback running
//! the total-order driver: three processes open one durable replicated log and apply 1 000
//! appends between them; once each has all 1 000 applied and on its disk, all three are
//! SIGKILLed. A new process then opens the log, finds nobody holding it, restores it from
//! the disk, and must have all 1 000 applied: the same state, checkpoint for checkpoint.

#[path = "../../argent/tests/ports/mod.rs"]
mod ports;
mod procs;

use procs::{argent, Kill};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A cluster file of members 1..=n, one group "objects" of all of them, total order.
fn cluster(dir: &Path, base: u16, n: u16) -> String {
    let members: String = (1..=n)
        .map(|id| format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + id * 2))
        .collect();
    let ids: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let text = format!(
        "{members}[[group]]\nname = \"objects\"\nid = 1\nmembers = [{}]\n\
         [protocol]\npin = false\ndriver = \"total-order\"\n",
        ids.join(", ")
    );
    let file = dir.join("cluster.toml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

/// The first line `child` prints, within `within`, as JSON (the child keeps running).
fn first_line(child: &mut Child, within: Duration) -> Value {
    let out = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(within).expect("a line in time");
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[test]
fn a_durable_log_survives_every_holder_being_sigkilled() {
    const OPERATIONS: u64 = 1_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let base = ports::block();
    let gms_addr = format!("127.0.0.1:{base}");
    let _gms = Kill(
        argent()
            .args(["gms", "--listen", &gms_addr, "--tick-ms", "20", "--duration", "120"])
            .args(["--multicast-base", "239.255.74.1", "--multicast-port", &(base + 1).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = cluster(dir, base, 4);
    let out = argent()
        .args(["obj", "new", "--class", "replicated-log", "--value-type", "i64", "--durable"])
        .args(["--group", "objects", "--name", "journal"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let reference = dir.join("journal.toml");
    std::fs::write(&reference, &out.stdout).unwrap();
    let reference = reference.display().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let epoch = (now.as_millis() as u64 + 5_000).to_string();
    let exercise = |id: u16, updates: u64, linger: &str| {
        argent()
            .args(["obj", "exercise", &reference, "--data-dir", &data.display().to_string()])
            .args(["--config", &config, "--id", &id.to_string(), "--gms", &gms_addr, "--transport", "std"])
            .args(["--updates", &updates.to_string(), "--expect", &OPERATIONS.to_string()])
            .args(["--seed", &id.to_string(), "--linger", linger, "--timeout", "60", "--epoch-ms", &epoch])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The first starts alone (nothing on disk yet: the initial state), the others join it
    // one at a time (joiners at the same moment can stall the driver's flush: see
    // obj_ordered_cli.rs); from a common start time they append 334 + 333 + 333 entries
    // together, and each lingers (holding the object) once it has all 1 000 applied and
    // synced to its disk.
    let mut first = Kill(exercise(1, 334, "60"));
    std::thread::sleep(Duration::from_millis(1500));
    let second = Kill(exercise(2, 333, "60"));
    std::thread::sleep(Duration::from_millis(1500));
    let mut others = [second, Kill(exercise(3, 333, "60"))];
    let mut results = vec![first_line(&mut first.0, Duration::from_secs(60))];
    for p in &mut others {
        results.push(first_line(&mut p.0, Duration::from_secs(60)));
    }
    for r in &results {
        eprintln!("{r}");
        assert_eq!(r["total"], OPERATIONS, "{r}");
        assert!(r["durable"]["synced"].as_u64() >= Some(OPERATIONS), "{r}");
    }
    let digest = results[0]["checkpoint_digest"].clone();
    assert!(results.iter().all(|r| r["checkpoint_digest"] == digest), "{results:#?}");
    // SIGKILL all three, without a chance to close anything.
    drop(first);
    drop(others);

    // A new process: nobody holds the log, so it restores the disk's state.
    let mut reopened = exercise(4, 0, "0");
    let r = first_line(&mut reopened, Duration::from_secs(60));
    let _ = reopened.wait();
    eprintln!("reopened: {r}");
    assert_eq!(r["total"], OPERATIONS, "{r}");
    assert_eq!(r["durable"]["restored"], OPERATIONS, "{r}");
    assert_eq!(r["checkpoint_digest"], digest, "the state restored is the one delivered");
    let got = argent()
        .args(["obj", "get", &reference, "--data-dir", &data.display().to_string()])
        .args(["--config", &config, "--id", "4", "--gms", &gms_addr, "--transport", "std"])
        .output()
        .unwrap();
    assert!(got.status.success(), "{got:?}");
    let v: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!((v["from"].as_str(), v["len"].as_u64()), (Some("disk"), Some(OPERATIONS)), "{v}");
}
