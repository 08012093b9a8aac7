//! One run, the orchestrator's side (no `--role`): it starts the system's service if it has
//! one (Corosync's daemon), the publishers and the subscribers (this program with `--role`,
//! see `control` for what they say), says `go` once all are ready and `stop` once every
//! subscriber has finished, stops the service, and prints the run's summary.

use crate::opts::{Opts, Profile, RawTransport, Role, System};
use crate::systems::Service;
use crate::verify::MIN_SIZE;
use anyhow::{bail, Context};
use argent_procs::child::{GO, STOP};
use argent_procs::{Proc, Spec};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The most subscriber and publisher processes one run starts.
const MAX_SUBSCRIBERS: usize = 64;
const MAX_PUBLISHERS: usize = 16;
/// Largest message and datagram: one UDP payload.
const MAX_SIZE: usize = 65_507;

/// The command line of a run: a system in this build, sizes and counts in range, and the
/// flags that apply to the system.
fn validate(o: &Opts) -> anyhow::Result<()> {
    let s = o.system.name();
    if !o.system.built() {
        bail!(
            "{s} is not in this build of argent-peer: run cluster-scripts/build-peers (it installs \
             the build needs with cluster-scripts/install-peer-deps and builds with --features \
             zenoh,aeron,corosync-cpg)"
        );
    }
    if !(MIN_SIZE..=MAX_SIZE).contains(&o.size) {
        bail!("--size {} must be between {MIN_SIZE} and {MAX_SIZE} bytes", o.size);
    }
    if !(1..=MAX_SUBSCRIBERS).contains(&o.subscribers) {
        bail!("--subscribers {} must be between 1 and {MAX_SUBSCRIBERS}", o.subscribers);
    }
    if !(1..=MAX_PUBLISHERS).contains(&o.publishers) {
        bail!("--publishers {} must be between 1 and {MAX_PUBLISHERS}", o.publishers);
    }
    if o.publishers > 1 && !o.system.many_publishers() {
        bail!("--publishers {} applies to corosync-cpg only ({s} runs one publisher)", o.publishers);
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
    if !raw && o.rate.is_some() && !o.system.many_publishers() {
        bail!("--rate applies to the raw UDP systems and corosync-cpg only ({s} runs unpaced)");
    }
    if !raw && (o.netns.is_some() || o.gro) {
        bail!("--netns and --gro apply to the raw UDP systems only ({s} runs on loopback)");
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
        Role::Pub if o.publishers == 1 => "the publisher".to_string(),
        Role::Pub => format!("the publisher {index}"),
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
        "--publishers".into(),
        o.publishers.to_string(),
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
    let mut service = Service::start(o, port)?;
    let (outcome, service_use) = match run_processes(o, port, &mut service) {
        Ok(outcome) => (outcome, service.stop()),
        Err(e) => {
            service.stop();
            return Err(e);
        }
    };
    let (per_subscriber, per_publisher, errors) = outcome;
    let (mut summary, delivered_ok) = summarize(o, started, per_subscriber, per_publisher, errors);
    if let Some(used) = service_use {
        summary["daemon"] = used;
    }
    let agreed = summary["order_agreed"].as_bool().unwrap_or(true);
    if !o.json {
        eprintln!(
            "{} ({:?}), {} B, {} -> {}: {:.0} msgs/s, {:.1} MB/s to each subscriber (the slowest), delivered_ok {}{}",
            o.system.name(),
            o.profile,
            o.size,
            o.publishers,
            o.subscribers,
            num(&summary, "msgs_per_sec"),
            num(&summary, "mb_per_sec"),
            delivered_ok,
            if o.system.total_order() { format!(", order_agreed {agreed}") } else { String::new() },
        );
    }
    println!("{summary}");
    Ok(if delivered_ok && agreed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What a run's processes reported: the subscribers' summaries, the publishers' and the errors.
type Outcome = (Vec<Value>, Vec<Value>, Vec<String>);

/// Starts the publishers and subscribers, says `go` and `stop`, and collects their summaries.
fn run_processes(o: &Opts, port: u16, service: &mut Service) -> anyhow::Result<Outcome> {
    // The publishers first (Zenoh subscribers connect to it, Aeron subscribers see its image),
    // then the subscribers; `go` once all are ready.
    let mut publishers: Vec<Proc> = Vec::new();
    for i in 0..o.publishers {
        publishers.push(spawn(o, Role::Pub, i, port)?);
        publishers[i].wait_ready(Duration::from_secs(30))?;
    }
    let mut subs: Vec<Proc> =
        (0..o.subscribers).map(|i| spawn(o, Role::Sub, i, port)).collect::<anyhow::Result<_>>()?;
    for s in &mut subs {
        s.wait_ready(Duration::from_secs(30))?;
    }
    // Subscriptions propagate (Zenoh declarations, Aeron status messages) before the clock starts.
    std::thread::sleep(Duration::from_millis(500));
    service.mark();
    for p in &mut publishers {
        p.say(GO)?;
    }
    let until = Instant::now() + Duration::from_secs_f64(o.duration + 90.0);
    let mut per_subscriber = Vec::new();
    let mut errors = Vec::new();
    for s in &mut subs {
        match finish(s, until) {
            Ok(v) => per_subscriber.push(v),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    for p in &mut publishers {
        let _ = p.say(STOP);
    }
    let mut per_publisher = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    for p in &mut publishers {
        match finish(p, until) {
            Ok(v) => per_publisher.push(v),
            Err(e) => {
                errors.push(format!("{e:#}"));
                per_publisher.push(Value::Null);
            }
        }
    }
    Ok((per_subscriber, per_publisher, errors))
}

/// The run's summary, shaped like `argent bench --json`, and whether delivery was verified.
/// With one publisher `per_publisher` is its summary; with several, the list of them.
fn summarize(
    o: &Opts,
    started: Instant,
    per_subscriber: Vec<Value>,
    per_publisher: Vec<Value>,
    errors: Vec<String>,
) -> (Value, bool) {
    let sents: Vec<Option<u64>> = per_publisher.iter().map(|p| p["sent"].as_u64()).collect();
    let sent = if sents.is_empty() { None } else { sents.iter().copied().sum::<Option<u64>>() };
    let reliable = !o.system.is_raw();
    let min = |k: &str| per_subscriber.iter().map(|s| num(s, k)).fold(f64::INFINITY, f64::min);
    let min_or_0 = |k: &str| if per_subscriber.is_empty() { 0.0 } else { min(k) };
    let max = |k: &str| per_subscriber.iter().map(|s| num(s, k)).fold(0.0, f64::max);
    let received_min = per_subscriber.iter().filter_map(|s| s["received"].as_u64()).min().unwrap_or(0);
    let intact = per_subscriber
        .iter()
        .all(|s| s["corrupt"].as_u64() == Some(0) && s["out_of_order"].as_u64() == Some(0));
    // With several publishers, each publisher's count must match each subscriber's end marker.
    let streams_match = |s: &Value| {
        o.publishers == 1
            || s["published_by"]
                .as_array()
                .is_some_and(|by| by.iter().map(Value::as_u64).eq(sents.iter().copied()))
    };
    // Reliable systems must deliver every message to every subscriber; raw UDP may lose
    // datagrams (counted in lost), but never corrupt or reorder them.
    let delivered_ok = errors.is_empty()
        && per_subscriber.len() == o.subscribers
        && per_publisher.len() == o.publishers
        && intact
        && if reliable {
            per_subscriber
                .iter()
                .all(|s| s["complete"] == json!(true) && s["published"].as_u64() == sent && streams_match(s))
        } else {
            true
        };
    let lost = sent.map(|n| n.saturating_sub(received_min));
    let publisher_rate: f64 = per_publisher.iter().map(|p| num(p, "msgs_per_sec")).sum();
    let mut summary = json!({
        "system": o.system.name(),
        "profile": o.profile,
        "reliable": reliable,
        "delivered_ok": delivered_ok,
        "msgs_per_sec": min_or_0("msgs_per_sec"),
        "mb_per_sec": min_or_0("mb_per_sec"),
        "publisher_msgs_per_sec": publisher_rate,
        "p50_us": max("p50_us"),
        "p99_us": max("p99_us"),
        "p999_us": max("p999_us"),
        "max_us": max("max_us"),
        "rate": o.rate,
        "netns": o.netns.as_ref().map(|p| json!({"prefix": p, "hosts": o.hosts})),
        "size": o.size,
        "datagram_size": o.datagram_size.unwrap_or(o.size),
        "subscribers": o.subscribers,
        "publishers": o.publishers,
        "verify": o.verify,
        "published": sent,
        "lost_by_slowest": lost,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "errors": errors,
    });
    if o.system.total_order() {
        // The same sequence everywhere: every subscriber complete, and every hash equal.
        let hashes: Vec<Option<&str>> = per_subscriber.iter().map(|s| s["order_hash"].as_str()).collect();
        let agreed = delivered_ok
            && hashes.first().is_some_and(|h| h.is_some())
            && hashes.windows(2).all(|w| w[0] == w[1]);
        summary["order_agreed"] = json!(agreed);
    }
    summary["per_subscriber"] = json!(per_subscriber);
    summary["per_publisher"] = match <[Value; 1]>::try_from(per_publisher) {
        Ok([one]) if o.publishers == 1 => one,
        Ok([one]) => json!([one]),
        Err(all) if all.is_empty() => Value::Null,
        Err(all) => json!(all),
    };
    (summary, delivered_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn sub(hash: &str, by: [u64; 2]) -> Value {
        json!({
            "received": by[0] + by[1], "corrupt": 0, "out_of_order": 0, "complete": true,
            "published": by[0] + by[1], "published_by": by, "order_hash": hash,
            "msgs_per_sec": 10.0, "mb_per_sec": 1.0,
        })
    }

    #[test]
    fn total_order_needs_every_subscriber_complete_with_one_hash() {
        let o = Opts::parse_from(["argent-peer", "corosync-cpg", "--publishers", "2", "--subscribers", "2"]);
        let pubs = || vec![json!({"sent": 5, "msgs_per_sec": 2.0}), json!({"sent": 7, "msgs_per_sec": 3.0})];
        let run = |subs: Vec<Value>| summarize(&o, Instant::now(), subs, pubs(), Vec::new()).0;
        let s = run(vec![sub("ab", [5, 7]), sub("ab", [5, 7])]);
        assert_eq!((s["delivered_ok"].clone(), s["order_agreed"].clone()), (json!(true), json!(true)), "{s}");
        assert_eq!((s["published"].as_u64(), s["publisher_msgs_per_sec"].as_f64()), (Some(12), Some(5.0)));
        assert_eq!(s["per_publisher"].as_array().map(Vec::len), Some(2), "{s}");
        let s = run(vec![sub("ab", [5, 7]), sub("ba", [5, 7])]);
        assert_eq!(
            (s["delivered_ok"].clone(), s["order_agreed"].clone()),
            (json!(true), json!(false)),
            "{s}"
        );
        // A stream's count that does not match its publisher's fails, even if the total does.
        let s = run(vec![sub("ab", [6, 6]), sub("ab", [6, 6])]);
        assert_eq!(
            (s["delivered_ok"].clone(), s["order_agreed"].clone()),
            (json!(false), json!(false)),
            "{s}"
        );
        // Other systems have no order_agreed, and one publisher's summary is an object.
        let o = Opts::parse_from(["argent-peer", "raw-unicast"]);
        let s = summarize(&o, Instant::now(), vec![], vec![json!({"sent": 1})], vec![]).0;
        assert!(s.get("order_agreed").is_none() && s["per_publisher"]["sent"] == 1, "{s}");
    }
}
