//! `argent-sim`: run seeded simulations of the QSM protocol and check them.

use argent_sim::{run, Driver, Faults, GmsSim, Outcome, Scenario};
use clap::Parser;
use serde::Serialize;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Deterministic simulation of argent's QSM protocol under faults.
///
/// N nodes form one region (with --groups, the regions the GMS makes of their groups); the
/// last S of them each publish M messages. Every member that stays in the view must receive
/// every message exactly once and in per-sender order (with --groups: per group, from its
/// join point on); every send must complete; buffers must stay within bounds; and everything must
/// be delivered within a bounded virtual time after faults stop. Each seed determines a
/// run completely: a failing seed is printed with the command that replays it.
#[derive(Parser, Debug, Clone)]
#[command(name = "argent-sim", version)]
struct Args {
    /// Members of the region.
    #[arg(long, default_value_t = 25)]
    nodes: u32,
    /// Members that publish (the last S node ids; the leader, node 0, only receives unless S = N).
    #[arg(long, default_value_t = 1)]
    senders: u32,
    /// Messages per sender.
    #[arg(long, default_value_t = 10_000)]
    messages: u64,
    /// Bytes per message (at least 16). Beyond what one datagram carries (and up to 16 MiB),
    /// messages are cut into fragments and reassembled, as the runtime does.
    #[arg(long, default_value_t = 1000)]
    size: usize,
    /// Independent loss probability of every datagram copy (multicast per receiver, unicast too).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Number of seeds to run, starting at --seed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Comma-separated faults: dup, reorder, jitter, burst, slow, pause, crash; and the
    /// membership faults churn (receivers leave and join again), gms-crash (the GMS leader
    /// replica crashes), partition (receivers, maybe a replica, cut off for 20–200 ms),
    /// group-churn (with --groups: nodes join and leave groups during traffic).
    #[arg(long, default_value = "")]
    faults: Faults,
    /// Run the membership service (raft replicas and a client per node) instead of an oracle
    /// that installs views; implied by the churn, gms-crash and partition faults.
    #[arg(long)]
    gms: bool,
    /// Live objects: every member runs a replicated map and a replicated variable (with
    /// --driver total-order, a counter too, whose withdrawals the order decides) whose
    /// updates the senders' messages carry; members that join (churn, evictions) join the
    /// objects with state transfer over the region; at the end every member's state must be
    /// identical (and every counter update decided alike everywhere).
    #[arg(long)]
    objects: bool,
    /// Many groups: every node joins a seeded set of the groups 1..=G through the GMS
    /// (popularity Zipf-distributed: group 1 has every node, group r about N/r), and the
    /// senders publish each message to a group drawn by the same popularity. Every node must
    /// get, per group and sender, exactly the messages sent after its join point, once and in
    /// order, and nothing after it left. Implies --gms; with the fault group-churn nodes join
    /// and leave groups during traffic.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    groups: Option<u32>,
    /// GMS replicas when the membership service runs (three survive a replica crash).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=7))]
    gms_replicas: u32,
    /// Datagram size the protocol aggregates messages into, bytes.
    #[arg(long, default_value_t = 8192)]
    datagram_size: usize,
    /// Members per token-ring partition.
    #[arg(long, default_value_t = 5)]
    partition_size: usize,
    /// Retransmissions of a token pass before leaving it to the leader's regeneration
    /// (0: no hop-by-hop recovery, for experiments).
    #[arg(long, default_value_t = 12)]
    token_pass_attempts: u32,
    /// Send buffer per sender, bytes.
    #[arg(long, default_value_t = 4 << 20)]
    send_buffer: usize,
    /// Static membership only: members detect failures themselves, evicting a member
    /// silent this long (the driver's presence, as a node with a static membership file
    /// runs it); without it, an oracle installs the view without a crashed member.
    #[arg(long)]
    member_timeout_ms: Option<u64>,
    /// Virtual seconds after faults stop within which everything must be delivered.
    #[arg(long, default_value_t = 10.0, value_parser = positive_secs)]
    liveness_secs: f64,
    /// Worker threads running seeds (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// The driver over the region: qsm (reliable, per-sender FIFO) or total-order (every
    /// member delivers the same sequence of all senders' messages; checked by
    /// `order_disagreements`; with --objects, the objects' frames and fences go through the
    /// layer too, and a counter whose withdrawals the order decides is checked as well).
    #[arg(long, default_value = "qsm")]
    driver: Driver,
    /// Print one JSON summary object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Default)]
struct Summary {
    driver: &'static str,
    seeds: u64,
    failed_seeds: Vec<u64>,
    violations: u64,
    /// Total-order runs: deliveries out of the common sequence.
    order_disagreements: u64,
    /// Total-order runs: members that began a view at a different position than others.
    vsync_violations: u64,
    flushes: u64,
    flush_dropped: u64,
    sequencer_flushes: u64,
    delivered: u64,
    expected: u64,
    max_token_bytes: u64,
    sender_retransmissions: u64,
    peer_repairs: u64,
    lost_datagrams: u64,
    overflow_drops: u64,
    pulls: u64,
    naks: u64,
    naks_escalated: u64,
    rounds: u64,
    rounds_regenerated: u64,
    max_sender_buffer_bytes: u64,
    max_receiver_buffer_bytes: u64,
    virtual_secs: f64,
    max_virtual_secs: f64,
    /// Messages delivered (to every member, summed) per virtual second from start to
    /// completion, over all seeds: divided by `--nodes`, the rate each member receives at.
    delivered_per_virtual_sec: f64,
    wall_secs: f64,
    deliveries: u64,
    deliveries_per_wall_sec: f64,
    threads: usize,
    view_disagreements: u64,
    max_view: u64,
    evictions: u64,
    presence_evictions: u64,
    rejoins: u64,
    joiners_checked: u64,
    group_joins_checked: u64,
    group_leaves: u64,
    group_changes: u64,
    group_deliveries: u64,
    unrouted: u64,
    object_updates_published: u64,
    object_updates_applied: u64,
    object_duplicates: u64,
    object_joins: u64,
    object_joins_during_traffic: u64,
    object_join_backlog: u64,
    object_join_retries: u64,
    object_join_requests: u64,
    object_join_timeouts: u64,
    object_checkpoints_sent: u64,
    object_rejected: u64,
    object_members_checked: u64,
    object_divergent: u64,
    object_counter_updates: u64,
    object_counter_refused: u64,
    object_decisions_compared: u64,
    object_decision_disagreements: u64,
    reassembled: u64,
    forged_injected: u64,
    forged_refused: u64,
    fragments_orphaned: u64,
    partials_evicted: u64,
    max_partials_held: u64,
}

impl Summary {
    fn add(&mut self, o: &Outcome) {
        self.seeds += 1;
        if o.violations > 0 {
            self.failed_seeds.push(o.seed);
        }
        self.violations += o.violations;
        self.order_disagreements += o.order_disagreements;
        self.vsync_violations += o.vsync_violations;
        self.flushes += o.flushes;
        self.flush_dropped += o.flush_dropped;
        self.sequencer_flushes += o.sequencer_flushes;
        self.delivered += o.delivered;
        self.expected += o.expected;
        self.max_token_bytes = self.max_token_bytes.max(o.max_token_bytes);
        self.sender_retransmissions += o.sender_retransmissions;
        self.peer_repairs += o.peer_repairs;
        self.lost_datagrams += o.lost_datagrams;
        self.overflow_drops += o.overflow_drops;
        self.pulls += o.pulls;
        self.naks += o.naks;
        self.naks_escalated += o.naks_escalated;
        self.rounds += o.rounds;
        self.rounds_regenerated += o.rounds_regenerated;
        self.max_sender_buffer_bytes = self.max_sender_buffer_bytes.max(o.max_sender_buffer_bytes);
        self.max_receiver_buffer_bytes = self.max_receiver_buffer_bytes.max(o.max_receiver_buffer_bytes);
        self.virtual_secs += o.virtual_secs;
        self.max_virtual_secs = self.max_virtual_secs.max(o.virtual_secs);
        self.deliveries += o.deliveries;
        self.view_disagreements += o.view_disagreements;
        self.max_view = self.max_view.max(o.views);
        self.evictions += o.evictions;
        self.presence_evictions += o.presence_evictions;
        self.rejoins += o.rejoins;
        self.joiners_checked += o.joiners_checked;
        self.group_joins_checked += o.group_joins_checked;
        self.group_leaves += o.group_leaves;
        self.group_changes += o.group_changes;
        self.group_deliveries += o.group_deliveries;
        self.unrouted += o.unrouted;
        self.object_updates_published += o.object_updates_published;
        self.object_updates_applied += o.object_updates_applied;
        self.object_duplicates += o.object_duplicates;
        self.object_joins += o.object_joins;
        self.object_joins_during_traffic += o.object_joins_during_traffic;
        self.object_join_backlog += o.object_join_backlog;
        self.object_join_retries += o.object_join_retries;
        self.object_join_requests += o.object_join_requests;
        self.object_join_timeouts += o.object_join_timeouts;
        self.object_checkpoints_sent += o.object_checkpoints_sent;
        self.object_rejected += o.object_rejected;
        self.object_members_checked += o.object_members_checked;
        self.object_divergent += o.object_divergent;
        self.object_counter_updates += o.object_counter_updates;
        self.object_counter_refused += o.object_counter_refused;
        self.object_decisions_compared += o.object_decisions_compared;
        self.object_decision_disagreements += o.object_decision_disagreements;
        self.reassembled += o.reassembled;
        self.forged_injected += o.forged_injected;
        self.forged_refused += o.forged_refused;
        self.fragments_orphaned += o.fragments_orphaned;
        self.partials_evicted += o.partials_evicted;
        self.max_partials_held = self.max_partials_held.max(o.max_partials_held);
    }
}

fn positive_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not a number of seconds in (0, 86400]"))
    }
}

fn scenario(a: &Args) -> Scenario {
    let mut sc = Scenario::new(a.nodes, a.senders, a.messages, a.size, a.loss);
    sc.faults = a.faults;
    sc.qsm.datagram_size = a.datagram_size;
    sc.qsm.partition_size = a.partition_size;
    sc.qsm.send_buffer_bytes = a.send_buffer;
    sc.qsm.token_pass_attempts = a.token_pass_attempts;
    sc.qsm.member_timeout = a.member_timeout_ms.map(Duration::from_millis);
    sc.liveness = Duration::from_secs_f64(a.liveness_secs);
    sc.objects = a.objects;
    sc.groups = a.groups;
    sc.driver = a.driver;
    if a.gms || a.faults.need_gms() || a.groups.is_some() {
        sc.gms = Some(GmsSim { replicas: a.gms_replicas, ..GmsSim::default() });
    }
    sc
}

fn replay_command(a: &Args, seed: u64) -> String {
    let faults = a.faults.to_string();
    let mut cmd = format!(
        "cargo run --release -p argent-sim -- --nodes {} --senders {} --messages {} --size {} --loss {} \
         --datagram-size {} --partition-size {} --send-buffer {} --liveness-secs {} --seed {seed} --seeds 1",
        a.nodes,
        a.senders,
        a.messages,
        a.size,
        a.loss,
        a.datagram_size,
        a.partition_size,
        a.send_buffer,
        a.liveness_secs
    );
    if !faults.is_empty() {
        cmd.push_str(&format!(" --faults {faults}"));
    }
    if let Some(ms) = a.member_timeout_ms {
        cmd.push_str(&format!(" --member-timeout-ms {ms}"));
    }
    if a.objects {
        cmd.push_str(" --objects");
    }
    if a.driver != Driver::Qsm {
        cmd.push_str(&format!(" --driver {}", a.driver));
    }
    if let Some(g) = a.groups {
        cmd.push_str(&format!(" --groups {g}"));
    }
    if a.gms || a.faults.need_gms() || a.groups.is_some() {
        cmd.push_str(&format!(" --gms --gms-replicas {}", a.gms_replicas));
    }
    cmd
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sc = scenario(&args);
    if let Err(e) = sc.validate() {
        eprintln!("argent-sim: {e}");
        return ExitCode::from(2);
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256)
        .min(args.seeds.max(1) as usize);
    let next = AtomicU64::new(0);
    let outcomes = Mutex::new(Vec::with_capacity(args.seeds as usize));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.seeds {
                    break;
                }
                let o = run(&sc, args.seed.wrapping_add(i));
                if o.violations > 0 {
                    eprintln!("seed {}: {} violation(s)", o.seed, o.violations);
                    for d in &o.details {
                        eprintln!("  {d}");
                    }
                    eprintln!("  replay: {}", replay_command(&args, o.seed));
                }
                outcomes.lock().expect("no worker panics while holding the lock").push(o);
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let mut outcomes = outcomes.into_inner().expect("workers finished");
    outcomes.sort_by_key(|o| o.seed);
    let mut sum = Summary { threads, driver: args.driver.name(), ..Summary::default() };
    for o in &outcomes {
        sum.add(o);
    }
    sum.wall_secs = wall;
    sum.deliveries_per_wall_sec = sum.deliveries as f64 / wall.max(1e-9);
    sum.delivered_per_virtual_sec =
        if sum.virtual_secs > 0.0 { sum.delivered as f64 / sum.virtual_secs } else { 0.0 };
    println!(
        "{} seeds, {} violations; delivered {}/{}; lost {} datagrams, peer repairs {}, sender retransmissions {}; \
         max token {} B; {:.1} virtual s in {:.2} wall s ({:.2} M deliveries/s on {} threads)",
        sum.seeds,
        sum.violations,
        sum.delivered,
        sum.expected,
        sum.lost_datagrams,
        sum.peer_repairs,
        sum.sender_retransmissions,
        sum.max_token_bytes,
        sum.virtual_secs,
        wall,
        sum.deliveries_per_wall_sec / 1e6,
        threads
    );
    if sc.driver == Driver::TotalOrder {
        println!(
            "total order: {} order disagreements (every member's sequence against the first to reach each position), \
             {} virtual synchrony violations (members that began a view at different positions); \
             {} flushes ({} after the sequencer crashed), {} datagrams past the ends dropped",
            sum.order_disagreements, sum.vsync_violations, sum.flushes, sum.sequencer_flushes, sum.flush_dropped
        );
    }
    if sc.gms.is_some() {
        println!(
            "membership: {} view disagreements; views up to {}; {} evictions, {} rejoins, {} joiners checked",
            sum.view_disagreements, sum.max_view, sum.evictions, sum.rejoins, sum.joiners_checked
        );
    }
    if sc.groups.is_some() {
        println!(
            "groups: {} messages checked in their groups ({} unrouted: nobody in the group); {} group changes, \
             {} joins at run time checked to the end, {} leaves",
            sum.group_deliveries, sum.unrouted, sum.group_changes, sum.group_joins_checked, sum.group_leaves
        );
    }
    if sc.faults.forge {
        println!(
            "forge: {} forged or replayed datagrams injected without the key, {} refused by the receivers' guards",
            sum.forged_injected, sum.forged_refused
        );
    }
    if sc.fragmented() {
        println!(
            "fragments: {} messages reassembled; {} fragments without their start (joined or cut \
             mid-message), {} partial messages evicted, at most {} held by one receiver",
            sum.reassembled, sum.fragments_orphaned, sum.partials_evicted, sum.max_partials_held
        );
    }
    if sc.qsm.member_timeout.is_some() {
        println!("presence: {} views installed without a silent member", sum.presence_evictions);
    }
    if sc.objects {
        println!(
            "objects: {} updates published, {} applied ({} duplicates skipped); {} joins ({} during traffic, \
             {} updates buffered), {} retries, {} requests ({} after a timeout), {} checkpoints sent; \
             {} updates refused; {} members compared, {} divergent",
            sum.object_updates_published,
            sum.object_updates_applied,
            sum.object_duplicates,
            sum.object_joins,
            sum.object_joins_during_traffic,
            sum.object_join_backlog,
            sum.object_join_retries,
            sum.object_join_requests,
            sum.object_join_timeouts,
            sum.object_checkpoints_sent,
            sum.object_rejected,
            sum.object_members_checked,
            sum.object_divergent
        );
    }
    if sc.objects && sc.driver == Driver::TotalOrder {
        println!(
            "ordered objects: {} counter updates ({} refused: withdrawals the order left no room for); \
             {} decisions compared across members, {} disagreements",
            sum.object_counter_updates,
            sum.object_counter_refused,
            sum.object_decisions_compared,
            sum.object_decision_disagreements
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&sum).expect("summary serialises"));
    }
    if sum.violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
