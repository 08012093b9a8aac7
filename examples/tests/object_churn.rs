//! Four processes create, open, update and close 250 objects over about 20 s, each object
//! in a group of its own joined through the GMS on open and left on close; a fifth process
//! starts later, with a group set nobody had, and opens objects the others are writing.
//! Every object's proxies must end with identical checkpoints, and the late reader must get
//! every writer's last value (it receives from writers that started before it).

use argent_membership::gms::GmsConfig;
use argent_membership::service::{GmsService, ServiceConfig};
use argent_membership::AddressPool;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const OBJECTS: u32 = 250;
const WRITERS: u32 = 4;

/// A block of 64 loopback ports below the ephemeral range (where no socket bound to port 0
/// takes one first), spread by pid, whose member ports are free now.
fn base_port() -> u16 {
    let first = std::process::id() % 180;
    let free = |base: u16| {
        (base..=base + WRITERS as u16).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok())
    };
    (0..180)
        .map(|k| 20_000 + ((first + k) % 180) as u16 * 64)
        .find(|b| free(*b))
        .expect("a free block of ports")
}

fn spawn(config: &str, gms: SocketAddr, id: u32, epoch: u64, extra: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_object_churn"))
        .args(["--config", config, "--id", &id.to_string(), "--gms", &gms.to_string()])
        .args(["--epoch", &epoch.to_string(), "--objects", &OBJECTS.to_string(), "--spread", "15"])
        .args(["--writers", "p0,p1,p2,p3"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("object_churn starts")
}

/// Per object: (complete, digest), and the summary line.
fn results(child: Child, who: &str) -> BTreeMap<u32, (bool, String)> {
    let out = child.wait_with_output().expect("object_churn ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{who} failed: {}\nstdout tail: {}\nstderr tail: {}",
        out.status,
        stdout.lines().rev().take(5).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr).lines().rev().take(10).collect::<Vec<_>>().join("\n")
    );
    let mut map = BTreeMap::new();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
        if let Some(o) = v.get("object").and_then(|o| o.as_u64()) {
            let complete = v.get("complete").and_then(|c| c.as_bool()).unwrap_or(false);
            let digest = v.get("digest").and_then(|d| d.as_str()).unwrap_or("").to_string();
            map.insert(o as u32, (complete, digest));
        }
    }
    map
}

#[test]
fn four_processes_churn_250_objects_and_a_late_reader_catches_up() {
    let base = base_port();
    let pool =
        AddressPool { base: Ipv4Addr::new(239, 253, (base % 200) as u8, 1), count: 128, port: base + 60 };
    let mut gms = GmsConfig::new(pool);
    gms.tick = Duration::from_millis(10);
    let any: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let service =
        GmsService::start(ServiceConfig { gms, peers: [(1, any)].into(), data_dir: None }).expect("gms");
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("cluster.toml");
    let mut text = String::from("[protocol]\npin = false\n");
    for id in 0..=WRITERS {
        text.push_str(&format!("[[member]]\nid = {id}\naddr = \"127.0.0.1:{}\"\n", base + id as u16));
    }
    std::fs::write(&config, text).expect("membership file");
    let config = config.display().to_string();
    let started = std::time::Instant::now();
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64 + 2_000;
    let writers: Vec<Child> = (0..WRITERS)
        .map(|p| spawn(&config, service.local_addr(), p, epoch, &["--name".into(), format!("p{p}")]))
        .collect();
    // Eight seconds in, a reader with none of the groups opens the objects being written.
    let from = OBJECTS / 2;
    std::thread::sleep(Duration::from_secs(2 + 8));
    let late = spawn(
        &config,
        service.local_addr(),
        WRITERS,
        epoch,
        &[
            "--updates".into(),
            "0".into(),
            "--last".into(),
            "5".into(),
            "--from-object".into(),
            from.to_string(),
        ],
    );
    let mut all: Vec<BTreeMap<u32, (bool, String)>> =
        writers.into_iter().enumerate().map(|(p, c)| results(c, &format!("writer {p}"))).collect();
    let reader = results(late, "late reader");
    service.shutdown();
    for (p, r) in all.iter().enumerate() {
        assert_eq!(r.len(), OBJECTS as usize, "writer {p} reported every object");
        assert!(r.values().all(|(c, _)| *c), "writer {p}: every object complete");
    }
    assert_eq!(reader.len(), (OBJECTS - from) as usize);
    assert!(reader.values().all(|(c, _)| *c), "the late reader got every writer's last value");
    all.push(reader);
    let mut proxies = 0;
    for o in 0..OBJECTS {
        let digests: Vec<&String> = all.iter().filter_map(|r| r.get(&o)).map(|(_, d)| d).collect();
        assert!(digests.windows(2).all(|w| w[0] == w[1]), "object {o}: checkpoints differ: {digests:?}");
        proxies += digests.len();
    }
    eprintln!(
        "{OBJECTS} objects, {proxies} proxies with identical checkpoints ({} at the late reader), in {:.1} s",
        OBJECTS - from,
        started.elapsed().as_secs_f64()
    );
}
