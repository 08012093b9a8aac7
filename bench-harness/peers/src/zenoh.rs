//! Zenoh 1.10 pub/sub, the way its users run it for lossless throughput: peer mode, TCP on
//! loopback with explicit endpoints (no multicast or gossip scouting), reliable, blocking
//! congestion control (the publisher waits rather than drop), Zenoh's own batching (express
//! off). Zenoh's UDP multicast is best-effort, so its reliable TCP path is what is measured.
//!
//! The publisher listens on tcp/127.0.0.1:(port + 1) and every subscriber connects to it (a
//! star: one TCP connection and one copy per subscriber). Subscribers verify every sample in
//! Zenoh's callback, on its receive task, in arrival order: no queue between the two.

use crate::control::Control;
use crate::opts::Opts;
use crate::verify::{Generator, Verifier};
use anyhow::{anyhow, bail};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use zenoh::qos::CongestionControl;
use zenoh::{Config, Session, Wait};

/// The one key every message is put on.
const KEY: &str = "argent/bench";
/// How long a process waits for its peers (the subscribers' connections, the declarations).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a subscriber looks at its verifier (the figures are taken from the verifier's
/// own first and last arrival times, so this only bounds how soon the process exits).
const POLL: Duration = Duration::from_millis(2);
/// How often a subscriber checks that the publisher is still connected.
const PEER_CHECK: Duration = Duration::from_millis(100);

/// Zenoh's errors are boxed trait objects; anyhow takes them with a word of context.
fn z<T>(r: zenoh::Result<T>, what: &str) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("zenoh: {what}: {e}"))
}

fn publisher_endpoint(o: &Opts) -> String {
    format!("tcp/127.0.0.1:{}", o.port + 1)
}

/// Peer mode, no scouting, explicit endpoints, everything else Zenoh's defaults.
fn config(listen: &[String], connect: &[String]) -> anyhow::Result<Config> {
    let mut c = Config::default();
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
    for (key, value) in [
        ("mode", "\"peer\"".to_string()),
        ("listen/endpoints", json(listen)),
        ("connect/endpoints", json(connect)),
        ("scouting/multicast/enabled", "false".to_string()),
        ("scouting/gossip/enabled", "false".to_string()),
    ] {
        z(c.insert_json5(key, &value), &format!("setting {key} to {value}"))?;
    }
    Ok(c)
}

fn open(c: Config) -> anyhow::Result<Session> {
    z(zenoh::open(c).wait(), "opening the session")
}

/// Sessions this one has a transport with.
fn peers(s: &Session) -> usize {
    s.info().peers_zid().wait().count()
}

/// The settings used, for the summary: what was asked, and a few of Zenoh's values read back.
fn settings(c: &Config, listen: &[String], connect: &[String]) -> Value {
    let get = |k: &str| {
        c.get_json(k).ok().and_then(|s| serde_json::from_str::<Value>(&s).ok()).unwrap_or(Value::Null)
    };
    json!({
        "zenoh_version": zenoh::GIT_VERSION,
        "mode": "peer",
        "listen": listen,
        "connect": connect,
        "multicast_scouting": false,
        "gossip_scouting": false,
        "key": KEY,
        "reliability": "reliable",
        "congestion_control": "block",
        "express": false,
        "batching": get("transport/link/tx/queue/batching"),
        "batch_size": get("transport/link/tx/batch_size"),
        "tx_threads": get("transport/link/tx/threads"),
        "block_wait_before_close_us": get("transport/link/tx/queue/congestion_control/block/wait_before_close"),
    })
}

pub fn publish(o: &Opts, ctl: &mut Control, g: &mut Generator) -> anyhow::Result<Value> {
    let listen = vec![publisher_endpoint(o)];
    let c = config(&listen, &[])?;
    let s = settings(&c, &listen, &[]);
    let session = open(c)?;
    // Reliable is the default reliability (and TCP is reliable); Block is the lossless setting.
    let publisher = z(
        session.declare_publisher(KEY).congestion_control(CongestionControl::Block).express(false).wait(),
        "declaring the publisher",
    )?;
    ctl.ready()?;
    // The orchestrator says go once every subscriber is connected and has waited 500 ms; make
    // sure anyway, before the clock starts, that every subscriber is connected and that the
    // publisher has matching subscriptions (a sample put before would be dropped, not queued).
    let until = Instant::now() + CONNECT_TIMEOUT;
    while peers(&session) < o.subscribers
        || !z(publisher.matching_status().wait(), "matching status")?.matching()
    {
        if Instant::now() > until {
            bail!(
                "zenoh: {} of {} subscribers connected, or none declared, after go",
                peers(&session),
                o.subscribers
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    g.start();
    // Every message, then the end marker: `put` returns once the sample is in the transmit
    // queue (it blocks while the queue is full).
    while let Some(m) = g.current() {
        z(publisher.put(m).wait(), "put")?;
        g.advance();
    }
    // Keep the session (and its queued samples) alive until every subscriber has finished.
    ctl.wait_stop()?;
    z(publisher.undeclare().wait(), "undeclaring the publisher")?;
    z(session.close().wait(), "closing the session")?;
    Ok(s)
}

pub fn subscribe(o: &Opts, ctl: &mut Control, v: &mut Verifier) -> anyhow::Result<Value> {
    let connect = vec![publisher_endpoint(o)];
    let c = config(&[], &connect)?;
    let mut s = settings(&c, &[], &connect);
    let session = open(c)?;
    // The verifier moves into the callback (Zenoh calls it on its receive task, one sample at a
    // time, in order); the lock is uncontended but for this thread's polls.
    let shared = Arc::new(Mutex::new(std::mem::take(v)));
    let in_callback = Arc::clone(&shared);
    let subscriber = z(
        session
            .declare_subscriber(KEY)
            .callback(move |sample| {
                let payload = sample.payload().to_bytes();
                in_callback.lock().unwrap_or_else(PoisonError::into_inner).check(&payload);
            })
            .wait(),
        "declaring the subscriber",
    )?;
    let until = Instant::now() + CONNECT_TIMEOUT;
    while peers(&session) == 0 {
        if Instant::now() > until {
            bail!("zenoh: not connected to the publisher at {} after {CONNECT_TIMEOUT:?}", connect[0]);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    ctl.ready()?;
    let mut checked = Instant::now();
    let mut publisher_lost = false;
    while ctl.keep_going(&shared.lock().unwrap_or_else(PoisonError::into_inner)) {
        std::thread::sleep(POLL);
        if checked.elapsed() >= PEER_CHECK {
            checked = Instant::now();
            if peers(&session) == 0 {
                // The publisher stays connected until every subscriber is done: it is gone
                // (or its link was closed), and nothing more will arrive.
                publisher_lost = true;
                eprintln!(
                    "argent-peer zenoh: subscriber {}: the publisher disconnected before the end marker",
                    o.index
                );
                break;
            }
        }
    }
    z(subscriber.undeclare().wait(), "undeclaring the subscriber")?;
    z(session.close().wait(), "closing the session")?;
    *v = std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner));
    s["publisher_lost"] = json!(publisher_lost);
    Ok(s)
}
