//! `argent pub` and `argent sub`.

use crate::args::{KeyFile, Membership};
use crate::msg::{self, Verifier};
use crate::popularity::Zipf;
use anyhow::{bail, Context};
use argent::{GroupId, PublishError};
use argent_verify::Header;
use serde::Serialize;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct PubArgs {
    /// The group to publish to (as --group).
    #[arg(value_name = "GROUP", conflicts_with_all = ["group", "all_groups"])]
    to: Option<String>,
    /// Text to publish (as --message).
    #[arg(value_name = "MESSAGE", requires = "to", conflicts_with_all = ["message", "stdin"])]
    text: Option<String>,
    #[command(flatten)]
    membership: Membership,
    #[command(flatten)]
    key: KeyFile,
    /// Group to publish to; a comma-separated list spreads generated messages over the
    /// groups (in turn, or by --zipf popularity; text goes to the first).
    #[arg(long, value_delimiter = ',', required_unless_present_any = ["all_groups", "to"])]
    group: Vec<String>,
    /// Publish to every group of the membership file, in file order (instead of --group).
    #[arg(long, conflicts_with = "group")]
    all_groups: bool,
    /// Pick each generated message's group at random with Zipf popularity of this exponent
    /// (the first group most popular; e.g. 1.5) instead of in turn.
    #[arg(long)]
    zipf: Option<f64>,
    /// Seed of the --zipf choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
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
    /// Messages per second (default: as fast as the group accepts). Paced messages carry
    /// their scheduled send time, so subscribers' latency includes any time the publisher
    /// fell behind its schedule (corrected for coordinated omission). The schedule starts
    /// once the region has acknowledged the first message (start-up is not latency).
    #[arg(long)]
    rate: Option<f64>,
    /// Most seconds to wait at the end for the group to acknowledge everything.
    #[arg(long, default_value_t = 20.0)]
    linger: f64,
    /// Print the JSON summary for text too (generated messages always print it).
    #[arg(long)]
    json: bool,
    /// What the subscribers of generated messages check: `full` (every byte: each stream's
    /// end marker carries the checksum of all its messages) or `count` (sequence numbers
    /// only, as `sub --verify=count`: no checksum is computed, its end markers carry 0).
    #[arg(long, value_enum, default_value_t = msg::VerifyMode::Full)]
    verify: msg::VerifyMode,
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
    /// Keyed clusters: what was opened and refused, and the epoch sealed under at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Auth>,
}

#[derive(Serialize)]
struct Auth {
    epoch: u16,
    opened: u64,
    refused: u64,
    unknown_epoch: u64,
    /// The refusals by kind that a healthy keyed cluster may see (the rest are in `argent node`).
    replayed: u64,
    stale: u64,
    forged: u64,
    not_member: u64,
    wrong_source: u64,
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
            auth: (s.auth.epoch > 0).then(|| Auth {
                epoch: s.auth.epoch,
                opened: s.auth.open.opened,
                refused: s.auth.refused(),
                unknown_epoch: s.auth.open.epoch,
                replayed: s.auth.open.replay,
                stale: s.auth.open.stale,
                forged: s.auth.open.forged,
                not_member: s.auth.open.not_member,
                wrong_source: s.auth.wrong_source,
            }),
        }
    }
}

pub fn publish(mut a: PubArgs) -> anyhow::Result<ExitCode> {
    if let Some(g) = a.to.take() {
        a.group = vec![g];
    }
    if let Some(t) = a.text.take() {
        a.message = Some(t);
    }
    if a.message.is_none() && !a.stdin && a.size < msg::MIN_SIZE {
        bail!("--size {} is too small for a verifiable message: use at least {}", a.size, msg::MIN_SIZE);
    }
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        bail!("--duration {} must be a positive number of seconds", a.duration);
    }
    if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of messages per second");
    }
    if a.zipf.is_some_and(|z| !(z >= 0.0 && z.is_finite())) {
        bail!("--zipf must be a non-negative exponent, e.g. 1.5");
    }
    let node = a.membership.start_keyed(&a.key)?;
    let groups = resolve(&node, &a.group, a.all_groups, false)?;
    let ids: Vec<GroupId> = groups.iter().map(|(_, g)| *g).collect();
    // One publisher for any number of groups: one ring per shard, not per group.
    let mut p = node.publisher_any()?;
    let me = node.id().0;
    let started = Instant::now();
    let (published, bytes) = if let Some(text) = &a.message {
        let n = a.count.unwrap_or(1);
        for _ in 0..n {
            p.publish_blocking_to(ids[0], text.as_bytes()).context("publishing --message")?;
        }
        (n, n * text.len() as u64)
    } else if a.stdin {
        let mut n = 0;
        let mut bytes = 0;
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading standard input")?;
            p.publish_blocking_to(ids[0], line.as_bytes()).context("publishing a line")?;
            n += 1;
            bytes += line.len() as u64;
        }
        (n, bytes)
    } else {
        generate(&node, &mut p, &ids, me, &a)?
    };
    let secs = started.elapsed().as_secs_f64();
    let acknowledged = linger(&node, &p, Duration::from_secs_f64(a.linger.max(0.0)));
    let s = node.stats();
    let summary = PubSummary {
        role: "pub",
        node: me,
        published,
        bytes,
        secs,
        msgs_per_sec: published as f64 / secs.max(1e-9),
        acknowledged,
        cpu_secs: argent_procs::child::cpu_secs(),
        sender_retransmissions: s.qsm.sender_retransmissions,
        peer_repairs: s.qsm.peer_repairs,
        transport: node.backend().to_string(),
        protocol: Protocol::of(&s),
    };
    let text = a.message.is_some() || a.stdin;
    if a.json || !text {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !acknowledged {
        eprintln!(
            "argent: published {published} message(s), but the group's members did not acknowledge them within \
             --linger {} s: they may not have arrived",
            a.linger
        );
    }
    node.shutdown();
    Ok(if acknowledged { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The groups named on the command line, or every group (`all`: of the file, or only those
/// this node receives when `members_only`), with their ids.
fn resolve(
    node: &argent::Node,
    names: &[String],
    all: bool,
    members_only: bool,
) -> anyhow::Result<Vec<(String, GroupId)>> {
    let groups: Vec<(String, GroupId)> = if all {
        let mine: std::collections::HashSet<GroupId> = node.member_groups().into_iter().collect();
        node.cluster()
            .groups
            .iter()
            .map(|g| (g.name.clone(), GroupId(g.id)))
            .filter(|(_, g)| !members_only || mine.contains(g))
            .collect()
    } else {
        names.iter().map(|n| Ok((n.clone(), node.group_id(n)?))).collect::<Result<_, argent::Error>>()?
    };
    if groups.is_empty() {
        bail!("no group to use: name one with --group (the membership file lists the groups)");
    }
    Ok(groups)
}

/// Which group the next generated message goes to.
enum Pick {
    InTurn(usize),
    Zipf(Zipf),
}

impl Pick {
    #[inline]
    fn next(&mut self, n: usize) -> usize {
        match self {
            Pick::InTurn(i) => {
                let g = *i;
                *i = if g + 1 == n { 0 } else { g + 1 };
                g
            }
            Pick::Zipf(z) => z.next_rank(),
        }
    }
}

/// Publish verifiable messages for the duration (or count), spread over the groups (in turn
/// or by Zipf popularity), then an end marker per group.
fn generate(
    node: &argent::Node,
    p: &mut argent::AnyPublisher,
    groups: &[GroupId],
    me: u32,
    a: &PubArgs,
) -> anyhow::Result<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let limit = a.count.unwrap_or(u64::MAX);
    let n = groups.len();
    /// Everything the loop touches for a group, together: one cache line per message.
    #[derive(Clone, Copy)]
    struct Stream {
        group: GroupId,
        next: u64,
        sum: u64,
    }
    let mut streams: Vec<Stream> = groups.iter().map(|g| Stream { group: *g, next: 0, sum: 0 }).collect();
    let mut pick = match a.zipf {
        Some(exponent) => Pick::Zipf(Zipf::new(n, exponent, a.seed)),
        None => Pick::InTurn(0),
    };
    let mut i = 0u64;
    let mut started_ns = argent_verify::now_ns();
    // Paced: the message the schedule starts from (the first is sent before it starts).
    let mut scheduled_from = 0u64;
    let mut stamp = started_ns;
    // The group of the message being written: drawn once, kept across a full ring.
    let mut g = pick.next(n);
    // Messages larger than a datagram are written into this buffer, then published.
    let mut large = (a.size > p.max_message()).then(|| vec![0u8; a.size]);
    // Writes a message and returns its checksum; counting subscribers never compare the
    // streams' checksums.
    let write: fn(&mut [u8], Header) -> u64 = match a.verify {
        msg::VerifyMode::Full => argent_verify::write_summed,
        msg::VerifyMode::Count => |buf, h| {
            argent_verify::write(buf, h, &[]);
            0
        },
    };
    while i < limit {
        if i.is_multiple_of(16) {
            stamp = argent_verify::now_ns(); // one clock read per 16 messages
            if Instant::now() >= deadline {
                break;
            }
        }
        if let Some(rate) = a.rate {
            if i == 1 && scheduled_from == 0 {
                // The schedule starts once the region has acknowledged the first message: the
                // publisher has joined its ring, so start-up does not count as latency.
                linger(node, p, Duration::from_secs(5));
                (started_ns, scheduled_from) = (argent_verify::now_ns(), 1);
            }
            let offset = Duration::from_secs_f64((i - scheduled_from) as f64 / rate);
            // The scheduled send time: a message sent late still counts from when it was due.
            // Waited for on the same (wall) clock the stamp and the receivers use: scheduling
            // on `Instant` sent some messages a few µs before their stamp on this host.
            stamp = started_ns + offset.as_nanos() as u64;
            let now_ns = argent_verify::now_ns();
            if stamp > now_ns {
                let wait = Duration::from_nanos(stamp - now_ns);
                std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
            }
        }
        let s = &mut streams[g];
        let group = s.group;
        if let Some(buf) = large.as_mut() {
            // Larger than a datagram: written here, published in fragments (no claim).
            let sum = write(buf, Header { index: s.next, sender: me, stream: group.0, send_ns: stamp });
            match p.publish_within_to(group, buf, deadline.saturating_duration_since(Instant::now())) {
                Ok(()) => {
                    s.sum = s.sum.wrapping_add(sum);
                    s.next += 1;
                    i += 1;
                    g = pick.next(n);
                }
                Err(PublishError::WouldBlock) => break, // the deadline passed while the rings were full
                Err(e) => return Err(e).context("publishing"),
            }
            continue;
        }
        let written = match p.claim_to(group, a.size) {
            Ok(mut c) => {
                let h = Header { index: s.next, sender: me, stream: group.0, send_ns: stamp };
                s.sum = s.sum.wrapping_add(write(c.bytes_mut(), h));
                c.commit();
                true
            }
            Err(PublishError::WouldBlock) => false,
            Err(e) => return Err(e).context("publishing"),
        };
        if written {
            s.next += 1;
            i += 1;
            g = pick.next(n);
        } else {
            if Instant::now() >= deadline {
                break;
            }
            p.wait_for_space_to(group, a.size, Duration::from_millis(5));
            if a.rate.is_none() {
                stamp = argent_verify::now_ns(); // unpaced: the wait must not count as latency
            }
        }
    }
    let mut end = vec![0u8; a.size];
    let give_up = Instant::now() + Duration::from_secs_f64(a.linger.max(1.0));
    for s in &streams {
        argent_verify::write_end(&mut end, s.next, me, s.group.0, s.sum);
        loop {
            let sent = if end.len() > p.max_message() {
                p.publish_within_to(s.group, &end, give_up.saturating_duration_since(Instant::now()))
            } else {
                p.publish_to(s.group, &end)
            };
            match sent {
                Ok(()) => break,
                Err(PublishError::WouldBlock) if Instant::now() < give_up => {
                    p.wait_for_space_to(s.group, end.len(), Duration::from_millis(10));
                }
                Err(e) => return Err(e).context("publishing an end marker"),
            }
        }
    }
    Ok((i, i * a.size as u64))
}

/// Wait until the groups acknowledged everything published (or the timeout passes).
fn linger(node: &argent::Node, p: &argent::AnyPublisher, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    p.flush();
    while Instant::now() < deadline {
        if p.is_drained() {
            // Only statistics refreshed after the ring drained count.
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
    /// Groups to subscribe to (as --group).
    #[arg(value_name = "GROUP", conflicts_with_all = ["group", "all_groups"])]
    groups: Vec<String>,
    #[command(flatten)]
    membership: Membership,
    #[command(flatten)]
    key: KeyFile,
    /// Group to subscribe to (a comma-separated list: one subscription to all of them).
    #[arg(long, value_delimiter = ',', required_unless_present_any = ["all_groups", "groups"])]
    group: Vec<String>,
    /// Stop after printing this many messages (without --verify).
    #[arg(long, conflicts_with = "verify")]
    count: Option<u64>,
    /// Subscribe to every group this node is a member of (instead of --group).
    #[arg(long, conflicts_with = "group")]
    all_groups: bool,
    /// Verify exactly-once FIFO delivery per (publisher, group) of `argent pub` messages, and
    /// that each message's content names the group it was delivered in; print one JSON
    /// summary (received, duplicates, gaps, order_violations, wrong_group, msgs_per_sec,
    /// mb_per_sec, p50_us/p99_us/p999_us latency). `--verify` (or `--verify=full`) also
    /// checks every byte against each stream's checksum; `--verify=count` checks sequence
    /// numbers only, as systems' own throughput samples do.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "full")]
    verify: Option<msg::VerifyMode>,
    /// With --verify: publishers whose end markers (one per group) end the run.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Stop after this many seconds without a message (once one arrived).
    #[arg(long, default_value_t = 10.0)]
    idle_timeout: f64,
    /// Stop after this many seconds in any case.
    #[arg(long, default_value_t = 600.0)]
    max_secs: f64,
    /// With --verify: this subscriber joins while publishers are running, so each stream is
    /// verified from its first message on (exactly once, in order, to the end marker).
    #[arg(long)]
    late: bool,
    /// Take at most this many messages per second (a slowed receiver: the protocol's flow
    /// control and the other members feel it; nothing is dropped).
    #[arg(long)]
    max_rate: Option<f64>,
    /// Join and leave groups while receiving, this many changes per second: each change
    /// leaves a group this subscriber is in or joins one it is not in, drawn from the groups
    /// subscribed to (it keeps at least one). Needs --gms. With --verify, each (publisher,
    /// group) stream is checked from its first message after a join to the leave (exactly
    /// once, in order), and to the end marker for the groups joined at the end.
    #[arg(long)]
    group_churn: Option<f64>,
    /// With --group-churn: change groups for this many seconds from the first message (then
    /// stay, so that the end markers of the groups joined at the end arrive).
    #[arg(long, default_value_t = 4.0)]
    churn_for: f64,
    /// With --group-churn: seed of the groups changed.
    #[arg(long, default_value_t = 1)]
    churn_seed: u64,
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
    /// With --group-churn: groups joined and left while receiving.
    #[serde(skip_serializing_if = "Option::is_none")]
    group_joins: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_leaves: Option<u64>,
    /// With --group-churn: groups joined at the end whose end markers did not arrive (the
    /// first ten), to say which streams a failed verification waited for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups_without_end: Vec<u32>,
    /// With --group-churn: groups joined so late that the publishers may have finished
    /// before the join was installed (their end markers are not required).
    #[serde(skip_serializing_if = "Option::is_none")]
    late_joins: Option<u64>,
}

pub fn subscribe(mut a: SubArgs) -> anyhow::Result<ExitCode> {
    if !a.groups.is_empty() {
        a.group = std::mem::take(&mut a.groups);
    }
    if a.max_rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--max-rate must be a positive number of messages per second");
    }
    let node = a.membership.start_keyed(&a.key)?;
    if node.membership().is_some() {
        // With the membership service, naming a group joins it (creating it if new).
        let joined = node.joined_groups();
        for name in &a.group {
            if !joined.contains(&node.group_id(name)?) {
                node.join(name).with_context(|| format!("joining group {name:?}"))?;
            }
        }
    }
    let groups = resolve(&node, &a.group, a.all_groups, true)?;
    let ids: Vec<GroupId> = groups.iter().map(|(_, g)| *g).collect();
    let names: std::collections::HashMap<GroupId, &str> =
        groups.iter().map(|(n, g)| (*g, n.as_str())).collect();
    // One subscription for any number of groups.
    let mut sub = node.subscribe_groups(&ids)?;
    let mut churn = match a.group_churn {
        Some(rate) => Some(crate::churn::GroupChurn::new(rate, a.churn_for, a.churn_seed, groups.clone())?),
        None => None,
    };
    if a.verify.is_some() {
        // The benchmark harness waits for this line.
        argent_procs::child::ready()?;
    }
    let mut out = std::io::stdout().lock();
    let mut printed = 0u64;
    let started = Instant::now();
    let idle = Duration::from_secs_f64(a.idle_timeout.max(0.1));
    let mut last = Instant::now();
    let mut any = false;
    let mut v = Verifier::new(a.late)
        .with_mode(a.verify.unwrap_or_default())
        .ordered(node.driver() == argent::Driver::TotalOrder);
    let mut streams = a.publishers * ids.len();
    let mut ended = 0;
    // With --max-rate: messages taken so far, and when the first arrived.
    let (mut taken, mut first) = (0u64, None::<Instant>);
    while started.elapsed().as_secs_f64() < a.max_secs {
        let d = match sub.recv_timeout(Duration::from_millis(100)) {
            Ok(d) => d,
            Err(argent::RecvTimeoutError::Closed) => bail!("the node shut down"),
            Err(argent::RecvTimeoutError::Timeout) if any && last.elapsed() > idle => break,
            Err(argent::RecvTimeoutError::Timeout) => continue,
        };
        any = true;
        last = Instant::now();
        if let Some(rate) = a.max_rate {
            taken += d.group_messages().count() as u64;
            let due = *first.get_or_insert(last) + Duration::from_secs_f64(taken as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        if a.verify.is_some() {
            let now = argent_verify::now_ns();
            // Each message must name the node that delivered it and the group it arrived in.
            let from = d.sender_node().0;
            for (group, m) in d.group_messages() {
                v.check(m, now, Some(from), Some(group.0));
            }
            let done = match churn.as_mut() {
                // The end markers needed are those of the groups joined (in time) now.
                Some(c) if v.ended() != ended => {
                    ended = v.ended();
                    c.end_seen(d.view());
                    streams = a.publishers * c.required_count();
                    v.ended_in(|g| c.required(g)) >= streams
                }
                Some(_) => false,
                None => v.ended() >= streams,
            };
            if done {
                break;
            }
        } else {
            for (group, m) in d.group_messages() {
                if a.count.is_some_and(|c| printed >= c) {
                    break;
                }
                if ids.len() == 1 {
                    writeln!(out, "{}: {}", d.sender_node(), String::from_utf8_lossy(m))?;
                } else {
                    let name = names.get(&group).copied().unwrap_or("?");
                    writeln!(out, "{} {name}: {}", d.sender_node(), String::from_utf8_lossy(m))?;
                }
                printed += 1;
            }
            out.flush()?;
            if a.count.is_some_and(|c| printed >= c) {
                break;
            }
        }
        if let Some(c) = churn.as_mut() {
            c.tick(&node, &mut v)?;
        }
    }
    if a.verify.is_none() {
        node.shutdown();
        return Ok(ExitCode::SUCCESS);
    }
    let s = node.stats();
    let summary = SubSummary {
        role: "sub",
        node: node.id().0,
        verify: match churn.as_ref() {
            Some(c) => v.summary_in(a.publishers * c.required_count(), |g| c.required(g)),
            None => v.summary(streams),
        },
        cpu_secs: argent_procs::child::cpu_secs(),
        peer_repairs: s.qsm.peer_repairs,
        pulls: s.qsm.pulls_sent,
        naks: s.qsm.naks_sent + s.qsm.naks_escalated,
        transport: node.backend().to_string(),
        protocol: Protocol::of(&s),
        group_joins: churn.as_ref().map(|c| c.joins),
        group_leaves: churn.as_ref().map(|c| c.leaves),
        groups_without_end: churn
            .as_ref()
            .map_or(Vec::new(), |c| v.without_end(c.joined_groups().filter(|g| c.required(*g)), 10)),
        late_joins: churn.as_ref().map(|c| c.late_joins() as u64),
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
