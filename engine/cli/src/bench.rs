//! `argent bench`: a verified throughput run of a local cluster on loopback, with the raw
//! UDP multicast limit measured in the same run (same datagram size, batching, transport).

use super::Transport;
use anyhow::{bail, Context};
use argent::config::{ClusterConfig, GroupEntry, MemberEntry, MulticastEntry, ProtocolEntry};
use argent_membership::gms::GmsConfig;
use argent_membership::service::{GmsService, ServiceConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Message size, bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Subscriber processes.
    #[arg(long, default_value_t = 3)]
    subscribers: u32,
    /// Publisher processes.
    #[arg(long, default_value_t = 1)]
    publishers: u32,
    /// Groups. Every process is a member of all of them, so they share one region (one
    /// multicast address, one token ring); publishers pick each message's group by Zipf
    /// popularity (--zipf). With more than one, one-group passes with the same settings
    /// alternate with N-group passes (--comparison-rounds) and the report compares their means
    /// (groups_1_msgs_per_sec, groups_n_msgs_per_sec, ratio_to_groups_1).
    #[arg(long, default_value_t = 1)]
    groups: u32,
    /// With --groups above 1: rounds of (one-group pass, N-group pass), alternated so that
    /// drift on a busy host affects both sides alike.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    comparison_rounds: u32,
    /// Zipf exponent of group popularity (the publishers' choice of group per message).
    #[arg(long, default_value_t = 1.5)]
    zipf: f64,
    /// Seed of the publishers' group choice (publisher p uses seed + p).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Transport backend.
    #[arg(long, default_value = "auto")]
    transport: Transport,
    /// Datagram size argent aggregates messages into, and the raw baseline sends
    /// (default: from the loopback MTU, 65 000).
    #[arg(long, default_value_t = argent::config::MAX_AUTO_DATAGRAM)]
    datagram_size: usize,
    /// Socket buffers, bytes.
    #[arg(long, default_value_t = 32 << 20)]
    socket_buffer: usize,
    /// Send buffer per publisher, bytes (what the region has not acknowledged yet; a larger
    /// one adds queueing delay, not throughput, on loopback: decision 003).
    #[arg(long, default_value_t = 8 << 20)]
    send_buffer: usize,
    /// Initial sending rate, bytes/s (flow control adapts it to the slowest receiver).
    #[arg(long, default_value_t = 256 << 20)]
    initial_rate: u64,
    /// Lowest sending rate flow control may choose, bytes/s (raise it to pace less).
    #[arg(long, default_value_t = 1 << 20)]
    min_rate: u64,
    /// Pin shard threads to cores.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pin: bool,
    /// Skip the raw UDP baseline.
    #[arg(long)]
    no_raw: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
    /// Kill (SIGKILL) the last subscriber this long after publishing starts (e.g. 3s, 500ms):
    /// the GMS must evict it within --evict-ms and the others still verify everything.
    #[arg(long, value_parser = parse_duration)]
    kill_one_at: Option<Duration>,
    /// Pause (SIGSTOP) the last subscriber this long after publishing starts, for
    /// --pause-for, then resume it (SIGCONT): everyone waits for it (it stays a member if
    /// the pause is shorter than --evict-ms) and it catches up; all must verify everything.
    #[arg(long, value_parser = parse_duration, requires = "pause_for", conflicts_with_all = ["kill_one_at", "restart_one_at"])]
    pause_one_at: Option<Duration>,
    /// With --pause-one-at: how long the subscriber stays stopped (below --evict-ms).
    #[arg(long, value_parser = parse_duration, requires = "pause_one_at")]
    pause_for: Option<Duration>,
    /// Kill (SIGKILL) the last subscriber this long after publishing starts, wait for its
    /// eviction, and start it again: it rejoins as a new incarnation and must verify every
    /// message from its join point on; the others verify everything.
    #[arg(long, value_parser = parse_duration, conflicts_with = "kill_one_at")]
    restart_one_at: Option<Duration>,
    /// The last subscriber takes at most this many messages per second (a slowed receiver:
    /// flow control paces everyone to it; nothing may be lost).
    #[arg(long)]
    slow_one: Option<f64>,
    /// Messages per second per publisher (paced load; default: as fast as flow control
    /// allows). Latency is then measured from each message's scheduled send time (corrected
    /// for coordinated omission).
    #[arg(long)]
    rate: Option<f64>,
    /// The embedded GMS evicts a member silent this long (it suspects it after a third).
    #[arg(long, default_value_t = 1500)]
    evict_ms: u64,
}

/// A perturbation of the last subscriber during the measured pass.
#[derive(Debug, Clone, Copy)]
enum Perturb {
    Kill { at: Duration },
    Pause { at: Duration, length: Duration },
    Restart { at: Duration },
}

impl BenchArgs {
    fn perturb(&self) -> Option<Perturb> {
        match (self.kill_one_at, self.pause_one_at.zip(self.pause_for), self.restart_one_at) {
            (Some(at), _, _) => Some(Perturb::Kill { at }),
            (_, Some((at, length)), _) => Some(Perturb::Pause { at, length }),
            (_, _, Some(at)) => Some(Perturb::Restart { at }),
            _ => None,
        }
    }
}

/// `3s`, `500ms`, `2.5` (seconds).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else {
        (s, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale <= 3600.0 => Ok(Duration::from_secs_f64(v * scale)),
        _ => Err(format!("{s:?} is not a duration like 3s, 500ms or 2.5")),
    }
}

/// Groups a benchmark runs at most (every one is listed in the generated membership file).
const MAX_GROUPS: u32 = 1_000_000;

#[derive(Serialize, Default)]
struct Report {
    delivered_ok: bool,
    msgs_per_sec: f64,
    mb_per_sec: f64,
    raw_udp_mb_per_sec: f64,
    ratio_to_raw: f64,
    raw_udp_unverified_mb_per_sec: f64,
    ratio_to_unverified_raw: f64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    /// With --rate: messages per second per publisher (latency from scheduled send times).
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    transport: String,
    size: usize,
    datagram_size: usize,
    subscribers: u32,
    publishers: u32,
    groups: u32,
    /// Regions the groups map to (1: every process is in every group).
    regions: usize,
    /// With more than one group: mean msgs/s of the one-group passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups_1_msgs_per_sec: Option<f64>,
    /// With more than one group: mean msgs/s of the N-group passes (`msgs_per_sec` and the
    /// per-process figures are those of the last one).
    #[serde(skip_serializing_if = "Option::is_none")]
    groups_n_msgs_per_sec: Option<f64>,
    /// With more than one group: groups_n_msgs_per_sec / groups_1_msgs_per_sec.
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_to_groups_1: Option<f64>,
    /// With more than one group: every pass in the order run (groups, msgs/s, verified).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    comparison_passes: Vec<Value>,
    published: u64,
    per_subscriber: Vec<Value>,
    per_publisher: Vec<Value>,
    raw: Vec<Value>,
    raw_unverified: Vec<Value>,
    /// Membership views installed by the embedded GMS during the measured pass.
    gms_views: u64,
    /// With --kill-one-at: the subscriber killed, and how long the GMS took to install a view
    /// without it (its eviction), milliseconds after the kill.
    #[serde(skip_serializing_if = "Option::is_none")]
    killed_subscriber: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evicted_after_ms: Option<f64>,
    /// With --pause-one-at: the subscriber paused, and for how long, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    paused_subscriber: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paused_ms: Option<f64>,
    /// With --restart-one-at: the subscriber killed and started again, and how long after
    /// the restart its first message arrived (verified from there on).
    #[serde(skip_serializing_if = "Option::is_none")]
    restarted_subscriber: Option<u32>,
    /// With --slow-one: the slowed subscriber and its rate, messages/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    slowed_subscriber: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slow_rate: Option<f64>,
}

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    if a.size < super::msg::MIN_SIZE {
        bail!(
            "--size {} is too small: verifiable messages need at least {} bytes",
            a.size,
            super::msg::MIN_SIZE
        );
    }
    let (lo, hi) = (argent_qsm::MIN_DATAGRAM, argent_transport::MAX_UDP_PAYLOAD);
    if !(lo..=hi).contains(&a.datagram_size) {
        bail!("--datagram-size {} must be between {lo} and {hi} bytes", a.datagram_size);
    }
    // Every message carries its group in a tag inside the datagram.
    let max = argent_qsm::Config { datagram_size: a.datagram_size, ..argent_qsm::Config::default() }
        .max_message_len()
        .saturating_sub(argent::GROUP_TAG_LEN);
    if a.size > max {
        bail!("--size {} does not fit a {}-byte datagram (at most {max}): lower --size or raise --datagram-size", a.size, a.datagram_size);
    }
    if a.subscribers == 0 || a.publishers == 0 || a.groups == 0 {
        bail!("--subscribers, --publishers and --groups must be at least 1");
    }
    if a.groups > MAX_GROUPS {
        bail!("--groups {} is more than {MAX_GROUPS}", a.groups);
    }
    if !(a.zipf >= 0.0 && a.zipf.is_finite()) {
        bail!("--zipf {} must be a non-negative exponent, e.g. 1.5", a.zipf);
    }
    if !(a.duration > 0.0 && a.duration <= 3600.0) {
        bail!("--duration {} must be in (0, 3600] seconds", a.duration);
    }
    for (flag, v) in [("--rate", a.rate), ("--slow-one", a.slow_one)] {
        if v.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            bail!("{flag} must be a positive number of messages per second");
        }
    }
    if let Some(Perturb::Pause { length, .. }) = a.perturb() {
        if length.as_millis() as u64 + 200 >= a.evict_ms {
            bail!(
                "--pause-for {length:?} must be shorter than --evict-ms {} by 200 ms or more: a longer pause \
                 gets the subscriber evicted (raise --evict-ms, or use --restart-one-at)",
                a.evict_ms
            );
        }
    }
    if a.perturb().is_some() || a.slow_one.is_some() {
        if a.subscribers < 2 {
            bail!("perturbing a subscriber (--kill-one-at, --pause-one-at, --restart-one-at, --slow-one) needs --subscribers 2 or more");
        }
        if a.groups > 1 {
            bail!("perturbations run on one group: use --groups 1");
        }
    }
    let dir = tempdir()?;
    let bar = progress(&a);
    let mut report = Report {
        transport: a.transport.as_str().into(),
        size: a.size,
        datagram_size: a.datagram_size,
        subscribers: a.subscribers,
        publishers: a.publishers,
        groups: a.groups,
        rate: a.rate,
        slowed_subscriber: a.slow_one.map(|_| a.subscribers - 1),
        slow_rate: a.slow_one,
        ..Report::default()
    };
    if !a.no_raw {
        let address = cluster(&a, 1, base_port(a.subscribers + a.publishers)).regions()[0].address;
        bar.set_message("raw UDP multicast, verified");
        report.raw = raw_baseline(&a, address, true)?;
        report.raw_udp_mb_per_sec = min_over(&report.raw, "mb_per_sec");
        bar.set_message("raw UDP multicast, unverified");
        report.raw_unverified = raw_baseline(&a, address, false)?;
        report.raw_udp_unverified_mb_per_sec = min_over(&report.raw_unverified, "mb_per_sec");
    }
    // With many groups: (1, N) rounds; the last N-group pass below is the reported one.
    let mut ones: Vec<Report> = Vec::new();
    let mut many: Vec<Report> = Vec::new();
    let rounds = if a.groups > 1 { a.comparison_rounds } else { 0 };
    if rounds > 0 {
        // The first pass of a run is often slower (caches, frequency, allocator): warm up
        // for a second, uncounted, so it does not bias the comparison.
        bar.set_message("argent, warm-up");
        let warm = BenchArgs { duration: 1.0, ..a.clone() };
        let _ = argent_pass(&warm, a.groups, &dir, None)?;
    }
    for round in 0..rounds {
        bar.set_message(format!("argent, 1 group (round {} of {rounds})", round + 1));
        let pass = argent_pass(&a, 1, &dir, None)?;
        let mut one = Report { regions: pass.regions, groups: 1, ..Report::default() };
        summarise(&mut one, pass.subs, pass.pubs);
        ones.push(one);
        if round + 1 < rounds {
            bar.set_message(format!("argent, {} groups (round {} of {rounds})", a.groups, round + 1));
            let pass = argent_pass(&a, a.groups, &dir, None)?;
            let mut n = Report { regions: pass.regions, groups: a.groups, ..Report::default() };
            summarise(&mut n, pass.subs, pass.pubs);
            many.push(n);
        }
    }
    bar.set_message(format!("argent, {} group(s)", a.groups));
    let pass = argent_pass(&a, a.groups, &dir, a.perturb())?;
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&dir);
    report.regions = pass.regions;
    report.gms_views = pass.views;
    report.killed_subscriber = pass.killed;
    report.evicted_after_ms = pass.evicted_after.map(|d| d.as_secs_f64() * 1e3);
    report.paused_subscriber = pass.paused.map(|(s, _)| s);
    report.paused_ms = pass.paused.map(|(_, d)| d.as_secs_f64() * 1e3);
    report.restarted_subscriber = pass.restarted;
    summarise(&mut report, pass.subs, pass.pubs);
    let evicted = report.evicted_after_ms.is_some();
    match a.perturb() {
        // The killed subscriber must have been evicted (and, restarted, verified its part).
        Some(Perturb::Kill { .. } | Perturb::Restart { .. }) if !evicted => report.delivered_ok = false,
        Some(Perturb::Pause { .. }) if report.paused_ms.is_none() => report.delivered_ok = false,
        _ => {}
    }
    if !ones.is_empty() {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let one = mean(&ones.iter().map(|r| r.msgs_per_sec).collect::<Vec<_>>());
        let mut ns: Vec<f64> = many.iter().map(|r| r.msgs_per_sec).collect();
        ns.push(report.msgs_per_sec);
        let n = mean(&ns);
        report.groups_1_msgs_per_sec = Some(one);
        report.groups_n_msgs_per_sec = Some(n);
        report.ratio_to_groups_1 = Some(if one > 0.0 { n / one } else { 0.0 });
        // Every pass must deliver everything, verified.
        report.delivered_ok &= ones.iter().chain(&many).all(|r| r.delivered_ok);
        let mut order = Vec::new();
        for (i, o) in ones.iter().enumerate() {
            order.push(o);
            if let Some(m) = many.get(i) {
                order.push(m);
            }
        }
        report.comparison_passes = order
            .iter()
            .map(|r| serde_json::json!({"groups": r.groups, "msgs_per_sec": r.msgs_per_sec, "delivered_ok": r.delivered_ok}))
            .chain(std::iter::once(serde_json::json!({
                "groups": a.groups, "msgs_per_sec": report.msgs_per_sec, "delivered_ok": report.delivered_ok
            })))
            .collect();
    }
    print_table(&report);
    if let (Some(one), Some(n)) = (report.groups_1_msgs_per_sec, report.groups_n_msgs_per_sec) {
        println!(
            "{} alternating rounds: one group {:.0} msgs/s, {} groups in {} region(s) {:.0} msgs/s (means), ratio {:.3}",
            rounds,
            one,
            a.groups,
            report.regions,
            n,
            report.ratio_to_groups_1.unwrap_or(0.0)
        );
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(if report.delivered_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("argent-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A base port unlikely to collide with another run on the same host, from 20 000–31 999:
/// below the kernel's ephemeral range (32 768–60 999), where no socket bound to port 0 can
/// take one of the members' ports before the member binds it.
/// `n` ports from it are free on loopback now (checked, as another run may have taken some).
fn base_port(n: u32) -> u16 {
    let seed = std::process::id() as u64 ^ super::msg::now_ns();
    let first = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 187;
    let at = |slot: u64| 20_000 + ((first + slot) % 187) as u16 * 64;
    let free =
        |base: u16| (base..base + n as u16).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok());
    // All taken: go ahead with the first and let the bind say which port.
    (0..187).map(at).find(|&base| free(base)).unwrap_or(at(0))
}

/// Members: subscribers first (the first leads the ring), then publishers; `groups` groups
/// `g0`, `g1`, … (ids 1, 2, …) of every member, so one region, whose address comes from a
/// pool private to this run.
fn cluster(a: &BenchArgs, groups: u32, base: u16) -> ClusterConfig {
    let n = a.subscribers + a.publishers;
    let members: Vec<MemberEntry> = (0..n)
        .map(|id| MemberEntry {
            id,
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base + id as u16),
            shards: 1,
        })
        .collect();
    let octet = (base / 64 % 200) as u8;
    let groups = (0..groups)
        .map(|g| GroupEntry { name: format!("g{g}"), id: g + 1, address: None, members: (0..n).collect() })
        .collect();
    ClusterConfig {
        interface: Ipv4Addr::LOCALHOST,
        transport: a.transport.as_str().into(),
        multicast: MulticastEntry { base: Ipv4Addr::new(239, 255, octet, 1), count: 16, port: base + 40 },
        members,
        groups,
        protocol: ProtocolEntry {
            datagram_size: Some(a.datagram_size),
            socket_buffer: Some(a.socket_buffer),
            send_buffer_bytes: Some(a.send_buffer),
            initial_rate: Some(a.initial_rate.max(a.min_rate)),
            min_rate: Some(a.min_rate),
            pin: Some(a.pin),
            ..ProtocolEntry::default()
        },
        node: None,
    }
}

fn progress(a: &BenchArgs) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let raw = if a.no_raw { 0.0 } else { 2.0 * a.duration.min(3.0) };
    let passes = if a.groups > 1 { 2.0 * f64::from(a.comparison_rounds) } else { 1.0 };
    bar.set_message(format!("about {:.0} s", raw + passes * (a.duration + 2.0)));
    bar
}

fn me() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_exe().context("finding the argent executable")
}

/// A child whose stdout lines arrive on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    what: String,
}

fn spawn(args: &[String], what: String) -> anyhow::Result<Proc> {
    let mut child = Command::new(me()?)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let out = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Proc { child, lines: rx, what })
}

impl Drop for Proc {
    /// On an early error, no child outlives the benchmark.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proc {
    fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) if l == "ready" => Ok(()),
            Ok(l) => bail!("{} said {l:?} instead of ready", self.what),
            Err(_) => bail!("{} did not get ready within {timeout:?}", self.what),
        }
    }

    /// The last JSON line, once the process exits (or is stopped at the deadline).
    fn finish(&mut self, deadline: Instant) -> anyhow::Result<Value> {
        let mut last = None;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => last = Some(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    bail!("{} did not finish in time (killed)", self.what);
                }
                Err(_) => {}
            }
        }
        let _ = self.child.wait();
        let line = last.with_context(|| format!("{} printed no summary", self.what))?;
        serde_json::from_str(&line).with_context(|| format!("{} printed {line:?}", self.what))
    }
}

fn min_over(v: &[Value], k: &str) -> f64 {
    let m = v.iter().map(|r| num(r, k)).fold(f64::INFINITY, f64::min);
    if m.is_finite() {
        m
    } else {
        0.0
    }
}

/// Raw UDP multicast from one sender to `subscribers` receivers for up to 3 s, with the same
/// datagram size, batching, socket buffers and transport as argent. `verify`: the sender
/// writes and checksums every datagram and receivers check every byte, the per-byte work
/// argent's publisher and verifying subscribers do.
fn raw_baseline(a: &BenchArgs, group: SocketAddrV4, verify: bool) -> anyhow::Result<Vec<Value>> {
    let secs = a.duration.min(3.0);
    let common = |mode: &str| -> Vec<String> {
        vec![
            "raw".into(),
            mode.into(),
            "--group".into(),
            group.to_string(),
            "--size".into(),
            a.datagram_size.to_string(),
            "--secs".into(),
            secs.to_string(),
            "--socket-buffer".into(),
            a.socket_buffer.to_string(),
            "--transport".into(),
            a.transport.as_str().into(),
        ]
        .into_iter()
        .chain(verify.then(|| "--verify".to_string()))
        .collect::<Vec<String>>()
    };
    let receivers: Vec<Proc> = (0..a.subscribers)
        .map(|i| spawn(&common("recv"), format!("raw receiver {i}")))
        .collect::<anyhow::Result<_>>()?;
    for r in &receivers {
        r.wait_ready(Duration::from_secs(10))?;
    }
    let sender = spawn(&common("send"), "raw sender".into())?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs + 30.0);
    let mut sender = sender;
    sender.finish(deadline)?;
    receivers.into_iter().map(|mut r| r.finish(deadline)).collect()
}

/// One argent run over `groups` groups with its own membership file and ports: the
/// subscribers' and publishers' summaries, and the number of regions.
/// What one argent pass measured.
struct Pass {
    subs: Vec<Value>,
    pubs: Vec<Value>,
    regions: usize,
    views: u64,
    killed: Option<u32>,
    evicted_after: Option<Duration>,
    paused: Option<(u32, Duration)>,
    restarted: Option<u32>,
}

/// Run the membership service for one pass: one replica on loopback, with the run's private
/// address pool.
fn embedded_gms(a: &BenchArgs, cluster: &ClusterConfig) -> anyhow::Result<GmsService> {
    let pool = argent_membership::AddressPool {
        base: cluster.multicast.base,
        count: cluster.multicast.count,
        port: cluster.multicast.port,
    };
    let mut cfg = GmsConfig::new(pool);
    cfg.tick = Duration::from_millis(50);
    cfg.evict_after = Duration::from_millis(a.evict_ms.max(300));
    cfg.suspect_after = cfg.evict_after / 3;
    cfg.push_retry = Duration::from_millis(50);
    // A sole replica sends to no peer, so it can take any free port (bound, not guessed: a
    // port picked and released first may be taken by another process before the bind).
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("literal");
    Ok(GmsService::start(ServiceConfig { gms: cfg, peers: [(1, any)].into(), data_dir: None })?)
}

fn argent_pass(a: &BenchArgs, groups: u32, dir: &Path, perturb: Option<Perturb>) -> anyhow::Result<Pass> {
    let cluster = cluster(a, groups, base_port(a.subscribers + a.publishers));
    cluster.check().map_err(|e| anyhow::anyhow!("generated membership file: {e}"))?;
    let file = dir.join(format!("cluster-{groups}.toml"));
    std::fs::write(&file, toml::to_string(&cluster)?).context("writing the cluster file")?;
    let gms = embedded_gms(a, &cluster)?;
    let mut pass = argent_run(a, &file, &gms, perturb)?;
    let status = gms.status();
    pass.regions = status.report.view.regions.len().max(1);
    pass.views = status.report.view.id.0;
    gms.shutdown();
    Ok(pass)
}

fn argent_run(
    a: &BenchArgs,
    file: &Path,
    gms: &GmsService,
    perturb: Option<Perturb>,
) -> anyhow::Result<Pass> {
    let config = file.display().to_string();
    let gms_addr = gms.local_addr().to_string();
    // Every process takes every group of the file (`--all-groups`): no list on the command line.
    let node_args = |id: u32, role: &str| -> Vec<String> {
        vec![
            role.into(),
            "--config".into(),
            config.clone(),
            "--id".into(),
            id.to_string(),
            "--all-groups".into(),
            "--transport".into(),
            a.transport.as_str().into(),
            "--gms".into(),
            gms_addr.clone(),
        ]
    };
    let sub_args = |i: u32| {
        let mut args = node_args(i, "sub");
        args.extend(["--verify".into(), "--publishers".into(), a.publishers.to_string()]);
        args.extend(["--idle-timeout".into(), "15".into()]);
        if let (Some(rate), true) = (a.slow_one, i + 1 == a.subscribers) {
            args.extend(["--max-rate".into(), rate.to_string()]);
        }
        args
    };
    let subs: Vec<Proc> = (0..a.subscribers)
        .map(|i| {
            let mut args = sub_args(i);
            // Subscribers start once all of them are in; publishers join their region later.
            args.extend(["--wait-members".into(), a.subscribers.to_string()]);
            spawn(&args, format!("subscriber {i}"))
        })
        .collect::<anyhow::Result<_>>()?;
    for s in &subs {
        s.wait_ready(Duration::from_secs(10))?;
    }
    let pubs: Vec<Proc> = (0..a.publishers)
        .map(|p| {
            let id = a.subscribers + p;
            let mut args = node_args(id, "pub");
            args.extend(["--wait-members".into(), (a.subscribers + a.publishers).to_string()]);
            args.extend(["--size".into(), a.size.to_string(), "--duration".into(), a.duration.to_string()]);
            let seed = a.seed.wrapping_add(u64::from(p));
            args.extend(["--zipf".into(), a.zipf.to_string(), "--seed".into(), seed.to_string()]);
            if let Some(rate) = a.rate {
                args.extend(["--rate".into(), rate.to_string()]);
            }
            spawn(&args, format!("publisher {p}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut subs = subs;
    let mut pass = Pass {
        subs: Vec::new(),
        pubs: Vec::new(),
        regions: 0,
        views: 0,
        killed: None,
        evicted_after: None,
        paused: None,
        restarted: None,
    };
    let victim = a.subscribers - 1;
    match perturb {
        None => {}
        Some(Perturb::Pause { at, length }) => {
            std::thread::sleep(at);
            let pid = subs.last().context("no subscriber to pause")?.child.id().to_string();
            let signal = |sig: &str| Command::new("kill").args([sig, &pid]).status().map(|s| s.success());
            if signal("-STOP")? {
                let stopped = Instant::now();
                std::thread::sleep(length);
                signal("-CONT")?;
                pass.paused = Some((victim, stopped.elapsed()));
            }
        }
        Some(Perturb::Kill { at } | Perturb::Restart { at }) => {
            std::thread::sleep(at);
            let mut proc = subs.pop().context("no subscriber to kill")?;
            let _ = proc.child.kill();
            let _ = proc.child.wait();
            let killed_at = Instant::now();
            pass.killed = Some(victim);
            let limit = Duration::from_millis(a.evict_ms.max(300)) * 3;
            while killed_at.elapsed() < limit {
                if gms.status().report.view.member(argent::NodeId(victim)).is_none() {
                    pass.evicted_after = Some(killed_at.elapsed());
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if matches!(perturb, Some(Perturb::Restart { .. })) && pass.evicted_after.is_some() {
                // A new incarnation of the same member joins while the publishers run.
                let mut args = sub_args(victim);
                args.push("--late".into());
                let proc = spawn(&args, format!("subscriber {victim} (restarted)"))?;
                proc.wait_ready(Duration::from_secs(10))?;
                subs.push(proc);
                pass.restarted = Some(victim);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration + 60.0);
    pass.pubs = pubs.into_iter().map(|mut p| p.finish(deadline)).collect::<anyhow::Result<_>>()?;
    pass.subs = subs.into_iter().map(|mut s| s.finish(deadline)).collect::<anyhow::Result<_>>()?;
    Ok(pass)
}

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn summarise(r: &mut Report, subs: Vec<Value>, pubs: Vec<Value>) {
    r.published = pubs.iter().map(|p| num(p, "published") as u64).sum();
    let all_acked = pubs.iter().all(|p| p.get("acknowledged").and_then(Value::as_bool) == Some(true));
    // Every subscriber verified; all but a restarted one (verified from its join point on,
    // `late`) received everything.
    let all_verified = subs.iter().all(|s| {
        let late = r
            .restarted_subscriber
            .is_some_and(|v| s.get("node").and_then(Value::as_u64) == Some(u64::from(v)));
        s.get("verified").and_then(Value::as_bool) == Some(true)
            && (num(s, "received") as u64 == r.published || late && num(s, "received") > 0.0)
    });
    r.delivered_ok = all_acked && all_verified && !subs.is_empty();
    r.msgs_per_sec = subs.iter().map(|s| num(s, "msgs_per_sec")).fold(f64::INFINITY, f64::min);
    r.mb_per_sec = subs.iter().map(|s| num(s, "mb_per_sec")).fold(f64::INFINITY, f64::min);
    if !r.msgs_per_sec.is_finite() {
        r.msgs_per_sec = 0.0;
        r.mb_per_sec = 0.0;
    }
    let worst = |k: &str| subs.iter().map(|s| num(s, k) as u64).max().unwrap_or(0);
    r.p50_us = worst("p50_us");
    r.p99_us = worst("p99_us");
    r.p999_us = worst("p999_us");
    r.max_us = worst("max_us");
    if let Some(t) = subs.first().and_then(|s| s.get("transport")).and_then(Value::as_str) {
        r.transport = t.into();
    }
    let ratio = |raw: f64| if raw > 0.0 { r.mb_per_sec / raw } else { 0.0 };
    r.ratio_to_raw = ratio(r.raw_udp_mb_per_sec);
    r.ratio_to_unverified_raw = ratio(r.raw_udp_unverified_mb_per_sec);
    r.per_subscriber = subs;
    r.per_publisher = pubs;
}

fn print_table(r: &Report) {
    println!(
        "argent bench: {} B messages (+{} B group tag), {} publisher(s) -> {} subscriber(s), {} group(s) in {} region(s), {} transport, {} B datagrams",
        r.size, argent::GROUP_TAG_LEN, r.publishers, r.subscribers, r.groups, r.regions, r.transport, r.datagram_size
    );
    println!(
        "{:<14} {:>12} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}  verified",
        "process", "msgs/s", "MB/s", "p50 µs", "p99 µs", "p999 µs", "repairs", "retx", "CPU s"
    );
    for s in &r.per_subscriber {
        println!(
            "{:<14} {:>12.0} {:>10.1} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8.2}  {}",
            format!("sub {}", num(s, "node")),
            num(s, "msgs_per_sec"),
            num(s, "mb_per_sec"),
            num(s, "p50_us"),
            num(s, "p99_us"),
            num(s, "p999_us"),
            num(s, "peer_repairs"),
            "-",
            num(s, "cpu_secs"),
            s.get("verified").and_then(Value::as_bool).unwrap_or(false)
        );
    }
    for p in &r.per_publisher {
        println!(
            "{:<14} {:>12.0} {:>10.1} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8.2}  acknowledged: {}",
            format!("pub {}", num(p, "node")),
            num(p, "msgs_per_sec"),
            num(p, "msgs_per_sec") * r.size as f64 / 1e6,
            "-",
            "-",
            "-",
            num(p, "peer_repairs"),
            num(p, "sender_retransmissions"),
            num(p, "cpu_secs"),
            p.get("acknowledged").and_then(Value::as_bool).unwrap_or(false)
        );
    }
    for (label, xs) in [("raw verified", &r.raw), ("raw unverified", &r.raw_unverified)] {
        for x in xs.iter() {
            println!("{:<14} {:>12} {:>10.1} {:>62.2}", label, "-", num(x, "mb_per_sec"), num(x, "cpu_secs"));
        }
    }
    println!(
        "delivered (min over subscribers): {:.0} msgs/s, {:.1} MB/s, verified: {}",
        r.msgs_per_sec, r.mb_per_sec, r.delivered_ok
    );
    if !r.raw.is_empty() {
        println!(
            "raw UDP multicast with the same datagrams and per-byte work: {:.1} MB/s (ratio {:.2}); kernel path alone: {:.1} MB/s (ratio {:.2})",
            r.raw_udp_mb_per_sec, r.ratio_to_raw, r.raw_udp_unverified_mb_per_sec, r.ratio_to_unverified_raw
        );
    }
}
