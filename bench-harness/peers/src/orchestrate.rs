//! One run, the orchestrator's side (no `--role`): it starts the publisher and the
//! subscribers (this program with `--role`, see `control` for what they say), says `go` once
//! all are ready and `stop` once every subscriber has finished, and prints the run's summary.

use crate::opts::{Opts, Profile, RawTransport, Role, System};
use crate::verify::MIN_SIZE;
use anyhow::{bail, Context};
use argent_procs::child::{GO, STOP};
use argent_procs::{Proc, Spec};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The most subscriber processes one run starts.
const MAX_SUBSCRIBERS: usize = 64;
/// Largest message and datagram: one UDP payload.
const MAX_SIZE: usize = 65_507;

/// The command line of a run: a system in this build, sizes and counts in range, and the
/// flags that apply to the system.
fn validate(o: &Opts) -> anyhow::Result<()> {
    let s = o.system.name();
    if !o.system.built() {
        bail!(
            "{s} is not in this build of argent-peer: run cluster-scripts/build-peers (it installs \
             the build needs with cluster-scripts/install-peer-deps and builds with --features zenoh,aeron)"
        );
    }
    if !(MIN_SIZE..=MAX_SIZE).contains(&o.size) {
        bail!("--size {} must be between {MIN_SIZE} and {MAX_SIZE} bytes", o.size);
    }
    if !(1..=MAX_SUBSCRIBERS).contains(&o.subscribers) {
        bail!("--subscribers {} must be between 1 and {MAX_SUBSCRIBERS}", o.subscribers);
    }
    if !(o.duration > 0.0 && o.duration <= 600.0) {
        bail!("--duration {} must be in (0, 600] seconds", o.duration);
    }
    if o.profile == Profile::Tuned && o.system != System::Aeron {
        bail!("--profile tuned applies to aeron only ({s} has one setting)");
    }
    let raw = o.system.is_raw();
    if !raw && o.transport != RawTransport::Std {
        bail!("--transport applies to the raw UDP systems only");
    }
    if o.system == System::RawGso && o.transport != RawTransport::Std {
        bail!("raw-gso sends with the std backend (the one with UDP GSO): leave --transport at std");
    }
    if !raw && (o.rate.is_some() || o.netns.is_some() || o.gro) {
        bail!("--rate, --netns and --gro apply to the raw UDP systems only ({s} runs unpaced on loopback)");
    }
    if let Some(r) = o.rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--rate {r} must be a positive number of messages per second");
        }
    }
    if let Some(h) = o.hosts {
        if !(2..=crate::lan::MAX_HOSTS).contains(&h) {
            bail!(
                "--hosts {h} must be between 2 and {} (host 1 publishes, the others subscribe)",
                crate::lan::MAX_HOSTS
            );
        }
    }
    if let Some(d) = o.datagram_size {
        if !raw {
            bail!("--datagram-size applies to the raw UDP systems only");
        }
        if !(o.size..=MAX_SIZE).contains(&d) {
            bail!("--datagram-size {d} must be between --size ({}) and {MAX_SIZE} bytes", o.size);
        }
    }
    Ok(())
}

/// A base port unlikely to collide with another run on the same host: each system uses a
/// few ports from it. Below the kernel's ephemeral range (32 768–60 999), where no socket
/// bound to port 0 can take one first.
fn base_port() -> u16 {
    let seed = u64::from(std::process::id()) ^ argent_verify::now_ns();
    let slot = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 127;
    20_000 + slot as u16 * 100
}

/// Starts this program as the publisher or subscriber `index` of the run.
fn spawn(o: &Opts, role: Role, index: usize, port: u16) -> anyhow::Result<Proc> {
    let what = match role {
        Role::Pub => "the publisher".to_string(),
        Role::Sub => format!("the subscriber {index}"),
    };
    let me = std::env::current_exe().context("finding the argent-peer executable")?;
    let place = match role {
        Role::Pub => crate::lan::publisher(o),
        Role::Sub => crate::lan::subscriber(o, index),
    };
    let mut args: Vec<String> = vec![
        o.system.name().into(),
        "--role".into(),
        if role == Role::Pub { "pub" } else { "sub" }.into(),
        "--index".into(),
        index.to_string(),
        "--port".into(),
        port.to_string(),
        "--subscribers".into(),
        o.subscribers.to_string(),
        "--size".into(),
        o.size.to_string(),
        "--duration".into(),
        o.duration.to_string(),
        "--profile".into(),
        if o.profile == Profile::Tuned { "tuned" } else { "default" }.into(),
    ];
    if let Some(d) = o.datagram_size {
        args.extend(["--datagram-size".into(), d.to_string()]);
    }
    args.extend(["--transport".into(), o.transport.name().into()]);
    args.extend(["--verify".into(), o.verify.name().into()]);
    if o.gro {
        args.push("--gro".into());
    }
    if let Some(r) = o.rate {
        args.extend(["--rate".into(), r.to_string()]);
    }
    let spec = match place {
        None => Spec::new(me, what).args(args),
        // `ip netns exec` replaces itself with the program: the process is the child itself.
        Some((ns, address)) => {
            args.extend(["--interface".into(), address.to_string()]);
            let mut all: Vec<String> = vec!["netns".into(), "exec".into(), ns, me.display().to_string()];
            all.extend(args);
            Spec::new("ip", what).args(all)
        }
    };
    Ok(Proc::spawn(spec.talk())?)
}

/// Its JSON summary, if it exited successfully; killed at `until`.
fn finish(p: &mut Proc, until: Instant) -> anyhow::Result<Value> {
    Ok(p.finish(until, None).into_successful_summary()?)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

/// Orchestrates one run and prints its summary.
pub fn run(o: &Opts) -> anyhow::Result<ExitCode> {
    validate(o)?;
    let port = base_port();
    let started = Instant::now();
    // The publisher first (Zenoh subscribers connect to it, Aeron subscribers see its image),
    // then the subscribers; `go` once all are ready.
    let mut publisher = spawn(o, Role::Pub, 0, port)?;
    publisher.wait_ready(Duration::from_secs(30))?;
    let mut subs: Vec<Proc> =
        (0..o.subscribers).map(|i| spawn(o, Role::Sub, i, port)).collect::<anyhow::Result<_>>()?;
    for s in &mut subs {
        s.wait_ready(Duration::from_secs(30))?;
    }
    // Subscriptions propagate (Zenoh declarations, Aeron status messages) before the clock starts.
    std::thread::sleep(Duration::from_millis(500));
    publisher.say(GO)?;
    let until = Instant::now() + Duration::from_secs_f64(o.duration + 90.0);
    let mut per_subscriber = Vec::new();
    let mut errors = Vec::new();
    for s in &mut subs {
        match finish(s, until) {
            Ok(v) => per_subscriber.push(v),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let _ = publisher.say(STOP);
    let per_publisher = match finish(&mut publisher, Instant::now() + Duration::from_secs(30)) {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("{e:#}"));
            Value::Null
        }
    };
    let (summary, delivered_ok) = summarize(o, started, per_subscriber, per_publisher, errors);
    if !o.json {
        eprintln!(
            "{} ({:?}), {} B, 1 -> {}: {:.0} msgs/s, {:.1} MB/s to each subscriber (the slowest), delivered_ok {}",
            o.system.name(),
            o.profile,
            o.size,
            o.subscribers,
            num(&summary, "msgs_per_sec"),
            num(&summary, "mb_per_sec"),
            delivered_ok
        );
    }
    println!("{summary}");
    Ok(if delivered_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The run's summary, shaped like `argent bench --json`, and whether delivery was verified.
fn summarize(
    o: &Opts,
    started: Instant,
    per_subscriber: Vec<Value>,
    per_publisher: Value,
    errors: Vec<String>,
) -> (Value, bool) {
    let sent = per_publisher["sent"].as_u64();
    let reliable = !o.system.is_raw();
    let min = |k: &str| per_subscriber.iter().map(|s| num(s, k)).fold(f64::INFINITY, f64::min);
    let min_or_0 = |k: &str| if per_subscriber.is_empty() { 0.0 } else { min(k) };
    let max = |k: &str| per_subscriber.iter().map(|s| num(s, k)).fold(0.0, f64::max);
    let received_min = per_subscriber.iter().filter_map(|s| s["received"].as_u64()).min().unwrap_or(0);
    let intact = per_subscriber
        .iter()
        .all(|s| s["corrupt"].as_u64() == Some(0) && s["out_of_order"].as_u64() == Some(0));
    // Reliable systems must deliver every message to every subscriber; raw UDP may lose
    // datagrams (counted in lost), but never corrupt or reorder them.
    let delivered_ok = errors.is_empty()
        && per_subscriber.len() == o.subscribers
        && intact
        && if reliable {
            per_subscriber.iter().all(|s| s["complete"] == json!(true) && s["published"].as_u64() == sent)
        } else {
            true
        };
    let lost = sent.map(|n| n.saturating_sub(received_min));
    let summary = json!({
        "system": o.system.name(),
        "profile": o.profile,
        "reliable": reliable,
        "delivered_ok": delivered_ok,
        "msgs_per_sec": min_or_0("msgs_per_sec"),
        "mb_per_sec": min_or_0("mb_per_sec"),
        "publisher_msgs_per_sec": num(&per_publisher, "msgs_per_sec"),
        "p50_us": max("p50_us"),
        "p99_us": max("p99_us"),
        "p999_us": max("p999_us"),
        "max_us": max("max_us"),
        "rate": o.rate,
        "netns": o.netns.as_ref().map(|p| json!({"prefix": p, "hosts": o.hosts})),
        "size": o.size,
        "datagram_size": o.datagram_size.unwrap_or(o.size),
        "subscribers": o.subscribers,
        "verify": o.verify,
        "published": sent,
        "lost_by_slowest": lost,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "errors": errors,
        "per_subscriber": per_subscriber,
        "per_publisher": per_publisher,
    });
    (summary, delivered_ok)
}
