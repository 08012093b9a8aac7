//! `argent obj` with real processes on loopback, through one `argent gms` replica: three
//! processes update a replicated variable and three a replicated map concurrently, a fourth
//! of each joins mid-stream, and all four of each end with identical checkpoints. The shell
//! verbs (`new`, `show`, `set`, `get`) work as the README shows.

#[path = "../../argent/tests/ports/mod.rs"]
mod ports;
mod procs;

use procs::{argent, ok, Kill};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// A cluster file of members 1..=n and one group "objects" of all of them.
fn cluster(dir: &Path, n: u16) -> String {
    let base = ports::block();
    let members: String = (1..=n)
        .map(|id| format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + id * 2))
        .collect();
    let ids: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let text = format!(
        "{members}[[group]]\nname = \"objects\"\nid = 1\nmembers = [{}]\n[protocol]\npin = false\n",
        ids.join(", ")
    );
    let file = dir.join("cluster.toml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn new_reference(dir: &Path, name: &str, class: &str) -> String {
    let out = argent()
        .args(["obj", "new", "--class", class, "--group", "objects", "--value-type", "i64", "--name", name])
        .output()
        .unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, ok(out, "obj new")).unwrap();
    file.display().to_string()
}

#[test]
fn processes_converge_and_a_mid_stream_joiner_ends_with_the_same_checkpoint() {
    // Declared before the processes, so it outlives them; removed on drop, even on a failure.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let base = ports::block();
    let gms_addr = format!("127.0.0.1:{base}");
    let _gms = Kill(
        argent()
            .args(["gms", "--listen", &gms_addr, "--tick-ms", "20", "--duration", "120"])
            .args(["--multicast-base", "239.255.71.1", "--multicast-port", &(base + 1).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = cluster(dir, 8);
    let var = new_reference(dir, "counter", "replicated-var");
    let map = new_reference(dir, "scores", "replicated-map");
    const UPDATES: u64 = 200;
    // Paced (4 s of updates), so that the late joiners join mid-stream even on a slow machine.
    let exercise = |reference: &str, id: u16, updates: u64| {
        argent()
            .args([
                "obj",
                "exercise",
                reference,
                "--config",
                &config,
                "--id",
                &id.to_string(),
                "--gms",
                &gms_addr,
            ])
            .args([
                "--transport",
                "std",
                "--updates",
                &updates.to_string(),
                "--expect",
                &(3 * UPDATES).to_string(),
            ])
            .args(["--seed", &id.to_string(), "--linger", "3", "--rate", "50"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The first of each starts alone (it finds no member and starts from the initial state).
    let mut procs = vec![exercise(&var, 1, UPDATES), exercise(&map, 5, UPDATES)];
    std::thread::sleep(Duration::from_millis(1500));
    procs.extend([exercise(&var, 2, UPDATES), exercise(&var, 3, UPDATES)]);
    procs.extend([exercise(&map, 6, UPDATES), exercise(&map, 7, UPDATES)]);
    // Late joiners, while the others are still updating.
    std::thread::sleep(Duration::from_millis(300));
    procs.extend([exercise(&var, 4, 0), exercise(&map, 8, 0)]);
    let results: Vec<Value> = procs
        .into_iter()
        .map(|p| {
            serde_json::from_str(ok(p.wait_with_output().unwrap(), "obj exercise").trim()).expect("JSON")
        })
        .collect();
    let digests = |object: &str| -> Vec<&str> {
        results
            .iter()
            .filter(|r| r["object"] == object)
            .filter_map(|r| r["checkpoint_digest"].as_str())
            .collect()
    };
    let id = |file: &str| {
        std::fs::read_to_string(file).unwrap().lines().next().unwrap().split('"').nth(1).unwrap().to_string()
    };
    for r in &results {
        eprintln!("{r}"); // per process: object, sent, applied, total, checkpoint digest
    }
    for (name, file) in [("var", &var), ("map", &map)] {
        let d = digests(&id(file));
        assert_eq!(d.len(), 4, "{name}: {results:#?}");
        assert!(d.iter().all(|x| *x == d[0]), "{name}: checkpoints differ: {results:#?}");
    }
    for r in &results {
        assert_eq!(r["total"], 3 * UPDATES, "{r}");
    }
    // The late joiners restored a checkpoint mid-stream: they applied some updates live,
    // fewer than there were.
    let late: Vec<&Value> = results.iter().filter(|r| r["sent"] == 0).collect();
    assert_eq!(late.len(), 2);
    assert!(late.iter().all(|r| (1..3 * UPDATES).contains(&r["applied"].as_u64().unwrap())), "{late:#?}");

    // The shell verbs, as the README shows them.
    let show = ok(argent().args(["obj", "show", &var]).output().unwrap(), "obj show");
    assert!(show.contains("uri: argent://") && show.contains("replicated-var"), "{show}");
    let node = |verb: &[&str], id: u16| {
        let mut c = argent();
        c.arg("obj").args(verb).args(["--config", &config, "--id", &id.to_string(), "--gms", &gms_addr]);
        c.args(["--transport", "std"]).output().unwrap()
    };
    // Nobody holds a fresh object: a write would vanish with the command, so it is refused
    // (non-zero exit), and `get` says the value is the initial state.
    let fresh = new_reference(dir, "fresh", "replicated-var");
    let e = node(&["set", &fresh, "1"], 2);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("nobody holds"), "{e:?}");
    let got = ok(node(&["get", &fresh], 3), "get of an object nobody holds");
    assert!(got.contains("\"from\":\"initial\""), "{got}");
    // A process holds the object: `set` from another joins it, `get` from a third too.
    let watcher = Kill(
        argent()
            .args([
                "obj",
                "watch",
                &var,
                "--config",
                &config,
                "--id",
                "1",
                "--gms",
                &gms_addr,
                "--duration",
                "20",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    ok(node(&["set", &var, "42"], 2), "obj set");
    let got = ok(node(&["get", &var], 3), "obj get");
    let v: Value = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(v["value"], 42, "{got}");
    let e = node(&["set", &var, "forty-two"], 2);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("value_type"), "{e:?}");
    drop(watcher);

    // An authenticated object: a key file, a reference with auth = "key"; the wrong key is
    // refused by the member holding the object, the right one gets in.
    let key = dir.join("secret.key");
    std::fs::write(&key, ok(argent().args(["obj", "key"]).output().unwrap(), "obj key")).unwrap();
    let wrong = dir.join("wrong.key");
    std::fs::write(&wrong, ok(argent().args(["obj", "key"]).output().unwrap(), "obj key")).unwrap();
    let out =
        argent().args(["obj", "new", "--class", "chat", "--group", "objects", "--auth"]).output().unwrap();
    let room = dir.join("room.toml");
    std::fs::write(&room, ok(out, "obj new --auth")).unwrap();
    let room = room.display().to_string();
    let (key, wrong) = (key.display().to_string(), wrong.display().to_string());
    let holder = Kill(
        argent()
            .args(["obj", "watch", &room, "--key-file", &key, "--config", &config, "--id", "1"])
            .args(["--gms", &gms_addr, "--duration", "20", "--transport", "std"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let e = node(&["post", &room, "--key-file", &wrong, "--author", "eve", "let me in"], 2);
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && err.contains("refused"), "{err}");
    let e = node(&["post", &room, "--author", "eve", "no key"], 2);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("key"), "{e:?}");
    ok(node(&["post", &room, "--key-file", &key, "--author", "ann", "hello"], 3), "post with the key");
    let got = ok(node(&["get", &room, "--key-file", &key], 4), "get with the key");
    assert!(got.contains("\"author\":\"ann\"") && got.contains("hello"), "{got}");
    drop(holder);
}
