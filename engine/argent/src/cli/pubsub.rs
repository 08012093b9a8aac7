//! `argent pub` and `argent sub`.

use super::msg::{self, Verifier};
use super::{sys, Membership};
use anyhow::{bail, Context};
use argent::PublishError;
use serde::Serialize;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct PubArgs {
    #[command(flatten)]
    membership: Membership,
    /// Group to publish to; a comma-separated list spreads generated messages over the
    /// groups in turn (text goes to the first).
    #[arg(long, value_delimiter = ',', required = true)]
    group: Vec<String>,
    /// Publish this text (repeated --count times, default once).
    #[arg(long, conflicts_with = "stdin")]
    message: Option<String>,
    /// Publish each line read from standard input.
    #[arg(long)]
    stdin: bool,
    /// Message size in bytes for generated verifiable messages (at least 32).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Stop generating after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// Messages per second (default: as fast as the group accepts).
    #[arg(long)]
    rate: Option<f64>,
    /// Most seconds to wait at the end for the group to acknowledge everything.
    #[arg(long, default_value_t = 20.0)]
    linger: f64,
}

#[derive(Serialize)]
struct PubSummary {
    role: &'static str,
    node: u32,
    published: u64,
    bytes: u64,
    secs: f64,
    msgs_per_sec: f64,
    acknowledged: bool,
    cpu_secs: f64,
    sender_retransmissions: u64,
    peer_repairs: u64,
    transport: String,
    protocol: Protocol,
}

/// Protocol counters reported by `pub` and `sub`.
#[derive(Serialize)]
struct Protocol {
    rounds: u64,
    rounds_regenerated: u64,
    token_retransmissions: u64,
    data_sent: u64,
    heartbeats: u64,
    duplicates: u64,
    beyond_window: u64,
    recv_calls: u64,
    send_calls: u64,
    cycles: u64,
    evictions: u64,
}

impl Protocol {
    fn of(s: &argent::NodeStats) -> Self {
        Protocol {
            rounds: s.qsm.rounds_completed,
            rounds_regenerated: s.qsm.rounds_regenerated,
            token_retransmissions: s.qsm.token_retransmissions,
            data_sent: s.qsm.data_sent,
            heartbeats: s.qsm.heartbeats_sent,
            duplicates: s.qsm.duplicates,
            beyond_window: s.qsm.beyond_window,
            recv_calls: s.recv_calls,
            send_calls: s.send_calls,
            cycles: s.cycles,
            evictions: s.evictions,
        }
    }
}

pub fn publish(a: PubArgs) -> anyhow::Result<ExitCode> {
    if a.message.is_none() && !a.stdin && a.size < msg::MIN_SIZE {
        bail!("--size {} is too small for a verifiable message: use at least {}", a.size, msg::MIN_SIZE);
    }
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        bail!("--duration {} must be a positive number of seconds", a.duration);
    }
    if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of messages per second");
    }
    let node = a.membership.start()?;
    let mut pubs: Vec<argent::Publisher> =
        a.group.iter().map(|g| node.publisher(g)).collect::<Result<_, _>>()?;
    let me = node.id().0;
    let p = &mut pubs[0];
    let started = Instant::now();
    let (published, bytes) = if let Some(text) = &a.message {
        let n = a.count.unwrap_or(1);
        for _ in 0..n {
            p.publish_blocking(text.as_bytes()).context("publishing --message")?;
        }
        (n, n * text.len() as u64)
    } else if a.stdin {
        let mut n = 0;
        let mut bytes = 0;
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading standard input")?;
            p.publish_blocking(line.as_bytes()).context("publishing a line")?;
            n += 1;
            bytes += line.len() as u64;
        }
        (n, bytes)
    } else {
        generate(&mut pubs, me, &a)?
    };
    let secs = started.elapsed().as_secs_f64();
    let acknowledged = linger(&node, &pubs, Duration::from_secs_f64(a.linger.max(0.0)));
    let s = node.stats();
    let summary = PubSummary {
        role: "pub",
        node: me,
        published,
        bytes,
        secs,
        msgs_per_sec: published as f64 / secs.max(1e-9),
        acknowledged,
        cpu_secs: sys::cpu_secs(),
        sender_retransmissions: s.qsm.sender_retransmissions,
        peer_repairs: s.qsm.peer_repairs,
        transport: node.backend().to_string(),
        protocol: Protocol::of(&s),
    };
    println!("{}", serde_json::to_string(&summary)?);
    node.shutdown();
    Ok(if acknowledged { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The stream id a publisher's messages to its `g`-th group carry.
pub fn stream_id(publisher: u32, g: usize) -> u32 {
    publisher << 16 | g as u32
}

/// Publish verifiable messages for the duration (or count), spread over the groups in
/// turn, then an end marker per group.
fn generate(pubs: &mut [argent::Publisher], me: u32, a: &PubArgs) -> anyhow::Result<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let started = Instant::now();
    let limit = a.count.unwrap_or(u64::MAX);
    let mut next = vec![0u64; pubs.len()];
    let mut sums = vec![0u64; pubs.len()];
    let mut i = 0u64;
    let mut stamp = msg::now_ns();
    while i < limit {
        if i.is_multiple_of(16) {
            stamp = msg::now_ns(); // one clock read per 16 messages
            if Instant::now() >= deadline {
                break;
            }
        }
        if let Some(rate) = a.rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
                stamp = msg::now_ns();
            }
        }
        let g = (i % pubs.len() as u64) as usize;
        let written = match pubs[g].claim(a.size) {
            Ok(mut c) => {
                let buf = c.bytes_mut();
                msg::write(buf, next[g], stream_id(me, g), stamp);
                sums[g] = sums[g].wrapping_add(msg::message_sum(buf));
                c.commit();
                true
            }
            Err(PublishError::WouldBlock) => false,
            Err(e) => return Err(e).context("publishing"),
        };
        if written {
            next[g] += 1;
            i += 1;
        } else {
            if Instant::now() >= deadline {
                break;
            }
            pubs[g].wait_for_space(a.size, Duration::from_millis(5));
            stamp = msg::now_ns(); // the wait must not count as latency
        }
    }
    let mut end = vec![0u8; a.size];
    let give_up = Instant::now() + Duration::from_secs_f64(a.linger.max(1.0));
    for (g, p) in pubs.iter_mut().enumerate() {
        msg::write_end(&mut end, stream_id(me, g), next[g], sums[g]);
        loop {
            match p.publish(&end) {
                Ok(()) => break,
                Err(PublishError::WouldBlock) if Instant::now() < give_up => {
                    p.wait_for_space(end.len(), Duration::from_millis(10));
                }
                Err(e) => return Err(e).context("publishing an end marker"),
            }
        }
    }
    Ok((i, i * a.size as u64))
}

/// Wait until the group acknowledged everything published (or the timeout passes).
fn linger(node: &argent::Node, pubs: &[argent::Publisher], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    pubs.iter().for_each(argent::Publisher::flush);
    while Instant::now() < deadline {
        if pubs.iter().all(argent::Publisher::is_drained) {
            // Only statistics refreshed after the rings drained count.
            let drained_at = node.stats().cycles;
            loop {
                let s = node.stats();
                if s.cycles > drained_at + 1 {
                    if s.send_buffered == 0 {
                        return true;
                    }
                    break;
                }
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[derive(clap::Args, Debug)]
pub struct SubArgs {
    #[command(flatten)]
    membership: Membership,
    /// Group to subscribe to (a comma-separated list subscribes to each).
    #[arg(long, value_delimiter = ',', required = true)]
    group: Vec<String>,
    /// Verify exactly-once per-sender FIFO delivery of `argent pub` messages and print one
    /// JSON summary (received, duplicates, gaps, order_violations, msgs_per_sec, mb_per_sec,
    /// p50_us/p99_us/p999_us latency).
    #[arg(long)]
    verify: bool,
    /// With --verify: publishers whose end markers (one per group) end the run.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Stop after this many seconds without a message (once one arrived).
    #[arg(long, default_value_t = 10.0)]
    idle_timeout: f64,
    /// Stop after this many seconds in any case.
    #[arg(long, default_value_t = 600.0)]
    max_secs: f64,
}

#[derive(Serialize)]
struct SubSummary {
    role: &'static str,
    node: u32,
    #[serde(flatten)]
    verify: msg::Summary,
    cpu_secs: f64,
    peer_repairs: u64,
    pulls: u64,
    naks: u64,
    transport: String,
    protocol: Protocol,
}

pub fn subscribe(a: SubArgs) -> anyhow::Result<ExitCode> {
    let node = a.membership.start()?;
    let mut subs: Vec<argent::Subscription> =
        a.group.iter().map(|g| node.subscribe(g)).collect::<Result<_, _>>()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let started = Instant::now();
    let idle = Duration::from_secs_f64(a.idle_timeout.max(0.1));
    let mut last = Instant::now();
    let mut any = false;
    let mut v = Verifier::new();
    let streams = a.publishers * subs.len();
    let mut turn = 0;
    while started.elapsed().as_secs_f64() < a.max_secs {
        let ready = subs.iter_mut().enumerate().find_map(|(i, s)| s.try_recv().map(|d| (i, d)));
        let (group, d) = match ready {
            Some(x) => x,
            None => {
                turn = (turn + 1) % subs.len();
                let wait = if subs.len() == 1 { 100 } else { 1 };
                let Some(d) = subs[turn].recv_timeout(Duration::from_millis(wait)) else {
                    if any && last.elapsed() > idle {
                        break;
                    }
                    if subs.iter().any(argent::Subscription::is_closed) {
                        bail!("the node shut down");
                    }
                    continue;
                };
                (turn, d)
            }
        };
        any = true;
        last = Instant::now();
        if a.verify {
            let now = msg::now_ns();
            // Each message must carry the stream id of the node that delivered it, in the
            // group (subscription) it arrived on.
            let from = stream_id(d.sender_node().0, group);
            for m in d.messages() {
                v.check(m, now, Some(from));
            }
            if v.ended() >= streams {
                break;
            }
        } else {
            for m in d.messages() {
                writeln!(out, "{}: {}", d.sender_node(), String::from_utf8_lossy(m))?;
            }
            out.flush()?;
        }
    }
    if !a.verify {
        node.shutdown();
        return Ok(ExitCode::SUCCESS);
    }
    let s = node.stats();
    let summary = SubSummary {
        role: "sub",
        node: node.id().0,
        verify: v.summary(streams),
        cpu_secs: sys::cpu_secs(),
        peer_repairs: s.qsm.peer_repairs,
        pulls: s.qsm.pulls_sent,
        naks: s.qsm.naks_sent + s.qsm.naks_escalated,
        transport: node.backend().to_string(),
        protocol: Protocol::of(&s),
    };
    let ok = summary.verify.verified;
    writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    out.flush()?;
    // Stay in the ring a little longer, so the round that acknowledges the publisher's last
    // datagrams completes before this member leaves.
    std::thread::sleep(Duration::from_millis(300));
    node.shutdown();
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
