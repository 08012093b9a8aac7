//! What one simulated run looks like: cluster size, workload, network model and faults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// Faults beyond independent random loss, each decided by the seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Datagram copies are duplicated (5% of copies, the duplicate up to 100 µs later).
    pub dup: bool,
    /// Copies are reordered (10% of copies delayed by up to 500 µs).
    pub reorder: bool,
    /// Delay jitter of up to 200 µs on every copy (instead of 5 µs).
    pub jitter: bool,
    /// Burst loss per receiver (Gilbert–Elliott: bursts of about 5 datagrams, 50% dropped).
    pub burst: bool,
    /// One receiver processes at 1/4 to 1/16 of normal speed for the whole run.
    pub slow: bool,
    /// One receiver is paused (processes nothing) for 20–200 ms mid-stream.
    pub pause: bool,
    /// One receiver crashes mid-stream; a view without it is installed after detection
    /// (by the GMS when it runs, else by an oracle after [`Scenario::detection`]).
    pub crash: bool,
    /// Membership churn: two receivers leave mid-stream and join again (as new
    /// incarnations) a little later. Runs the GMS.
    pub churn: bool,
    /// The GMS leader replica crashes mid-stream (of three replicas). Runs the GMS.
    pub gms_crash: bool,
    /// One or two receivers, and sometimes a GMS replica, are cut off from everyone else for
    /// 20–200 ms, then the network heals; a cut longer than the eviction timeout evicts them
    /// and they join again. Runs the GMS.
    pub partition: bool,
    /// With `--groups`: nodes join and leave groups while senders publish (about two
    /// changes per node, spread over the traffic). Runs the GMS.
    pub group_churn: bool,
    /// Every node seals and opens its datagrams with the runtime's guard under a cluster
    /// key, and the network injects, without the key, forged and replayed datagrams: copies
    /// replayed at once or much later, copies with a byte changed, bodies sealed under
    /// another key, and unsealed bodies (about 3% of copies). Nothing forged may reach a
    /// protocol.
    pub forge: bool,
}

impl Faults {
    /// Names accepted by `--faults`.
    pub const NAMES: &'static [&'static str] = &[
        "dup",
        "reorder",
        "jitter",
        "burst",
        "slow",
        "pause",
        "crash",
        "churn",
        "gms-crash",
        "partition",
        "group-churn",
        "forge",
    ];

    /// Whether these faults need the membership service in the simulation.
    pub fn need_gms(&self) -> bool {
        self.churn || self.gms_crash || self.partition || self.group_churn
    }
}

/// The membership service in a simulation: raft replicas and a GMS client per node, on the
/// simulated network, with timing scaled to the simulated traffic (tens of milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GmsSim {
    /// Replicas (3 survive the crash of one).
    pub replicas: u32,
    /// raft tick; elections after 10 ticks (staggered per replica).
    pub tick: Duration,
    /// Member heartbeat period (and request retry).
    pub heartbeat: Duration,
    /// Silence before a member is suspected.
    pub suspect_after: Duration,
    /// Silence before a member is evicted.
    pub evict_after: Duration,
}

impl Default for GmsSim {
    fn default() -> Self {
        GmsSim {
            replicas: 3,
            tick: Duration::from_millis(5),
            heartbeat: Duration::from_millis(10),
            suspect_after: Duration::from_millis(40),
            evict_after: Duration::from_millis(100),
        }
    }
}

/// A `--faults` list that names an unknown fault.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown fault {0:?}: expected a comma-separated list of {names}", names = Faults::NAMES.join(", "))]
pub struct UnknownFault(String);

impl FromStr for Faults {
    type Err = UnknownFault;
    fn from_str(s: &str) -> Result<Self, UnknownFault> {
        let mut f = Faults::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "dup" => f.dup = true,
                "reorder" => f.reorder = true,
                "jitter" => f.jitter = true,
                "burst" => f.burst = true,
                "slow" => f.slow = true,
                "pause" => f.pause = true,
                "crash" => f.crash = true,
                "churn" => f.churn = true,
                "gms-crash" => f.gms_crash = true,
                "partition" => f.partition = true,
                "group-churn" => f.group_churn = true,
                "forge" => f.forge = true,
                other => return Err(UnknownFault(other.to_string())),
            }
        }
        Ok(f)
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = [
            self.dup,
            self.reorder,
            self.jitter,
            self.burst,
            self.slow,
            self.pause,
            self.crash,
            self.churn,
            self.gms_crash,
            self.partition,
            self.group_churn,
            self.forge,
        ];
        let names: Vec<&str> = Faults::NAMES.iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        f.write_str(&names.join(","))
    }
}

/// Which driver the members run over the region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// QSM: reliable, per-sender FIFO.
    #[default]
    Qsm,
    /// Total order over QSM (`argent-vsync`): every member delivers the same sequence of
    /// every sender's messages; members that move together from one view to the next
    /// delivered the same messages in it (virtual synchrony). With static membership (the
    /// oracle's view change after a crash) or the GMS, and with objects (decision 014).
    TotalOrder,
}

impl Driver {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Qsm => "qsm",
            Driver::TotalOrder => "total-order",
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Driver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "qsm" => Ok(Driver::Qsm),
            "total-order" => Ok(Driver::TotalOrder),
            other => Err(format!("unknown driver {other:?}: qsm or total-order")),
        }
    }
}

/// Deliberate breakage, to prove that the checkers catch what they claim to catch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sabotage {
    /// Nothing broken.
    #[default]
    None,
    /// Node `node` loses its `nth` delivery on the way to the checker.
    DropDelivery {
        /// Receiving node.
        node: u32,
        /// Index of the delivery to drop.
        nth: u64,
    },
    /// Node `node` sees its `nth` delivery twice.
    DuplicateDelivery {
        /// Receiving node.
        node: u32,
        /// Index of the delivery to repeat.
        nth: u64,
    },
    /// The `crash` fault happens but no view change follows (no membership service).
    NoViewChange,
    /// Forge runs: nodes seal nothing and check nothing, so what the attacker injects
    /// reaches the protocol.
    NoGuard,
    /// Membership runs: node `node` never hands view `view` to its protocol or checker
    /// (as if a member skipped a view).
    SkipView {
        /// Member.
        node: u32,
        /// View id skipped.
        view: u64,
    },
    /// Objects runs: joiners' sessions restore from the checkpoint alone, dropping what they
    /// buffered while joining (the shipped session's `Sabotage::DropBacklog`).
    DropBacklog,
    /// Objects runs: members' sessions answer a request at once, without waiting for every
    /// member's fence (the shipped session's `Sabotage::AnswerBeforeFences`).
    AnswerBeforeFences,
    /// Objects runs: joiners' sessions conclude nobody holds the objects after unanswered
    /// requests alone (`Sabotage::UnfencedFirst`).
    UnfencedFirst,
    /// Groups runs: nodes receive a group's messages from whatever view they were sent in
    /// once the group is joined (no join point: the runtime's filter before datagrams
    /// carried their view).
    NoGroupJoinPoint,
    /// Total-order runs: node `node` drops what its layer releases between installing a
    /// view and beginning it (as if it installed the view without the flush).
    NoFlush {
        /// Member.
        node: u32,
    },
    /// Total-order runs: node `node` hands its `nth` totally ordered message to the
    /// application after the next one.
    SwapOrder {
        /// Receiving node.
        node: u32,
        /// Index of the delivery to hold back by one.
        nth: u64,
    },
}

/// One simulated scenario; with a seed it determines a run completely.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Members of the region.
    pub nodes: u32,
    /// How many of them publish (the last `senders` node ids).
    pub senders: u32,
    /// Messages each sender publishes.
    pub messages: u64,
    /// Bytes per message (at least [`MIN_MESSAGE`]).
    pub size: usize,
    /// Independent loss probability of each datagram copy, 0..1.
    pub loss: f64,
    /// Further faults.
    pub faults: Faults,
    /// Protocol settings.
    pub qsm: argent_qsm::Config,
    /// One-way latency of every copy.
    pub latency: Duration,
    /// Link rate of each node's egress, bytes/s.
    pub bandwidth: u64,
    /// Receive socket buffer of each node, bytes; arrivals beyond it are dropped.
    pub socket_buffer: u64,
    /// CPU time to handle one datagram or timer.
    pub cpu_per_input: Duration,
    /// CPU time per message delivered or published.
    pub cpu_per_message: Duration,
    /// CPU time per datagram sent.
    pub cpu_per_send: Duration,
    /// Delay between a crash and the installation of the view without the crashed node,
    /// when an oracle installs it (no `qsm.member_timeout`: with one, the members' own
    /// failure detection does).
    pub detection: Duration,
    /// Everything must be delivered within this virtual time after faults stop.
    pub liveness: Duration,
    /// Deliberate breakage for checker tests; [`Sabotage::None`] otherwise.
    pub sabotage: Sabotage,
    /// Run the membership service (set automatically by membership faults); `None`: an
    /// oracle installs views.
    pub gms: Option<GmsSim>,
    /// Live objects over the multicast: every member runs a proxy of a replicated map and a
    /// replicated variable (on the total-order driver a counter too, whose conditional
    /// decrements the order decides); senders' messages carry updates, joiners join with
    /// state transfer over the same region, and at the end every member's state must be
    /// equal (and every counter update must have decided alike at every member).
    pub objects: bool,
    /// Many groups: `Some(G)` gives every node a seeded set of groups 1..=G (popularity
    /// Zipf-distributed, exponent 1), joined through the GMS, and senders publish each
    /// message to a group drawn with the same popularity; `None`: one group, every node in it.
    pub groups: Option<u32>,
    /// The driver over the region.
    pub driver: Driver,
}

/// Smallest message the simulator can check (argent_verify's short form: index, sender, check word).
pub const MIN_MESSAGE: usize = argent_verify::MIN_SIZE;

/// Most groups a run may have.
pub const MAX_GROUPS: u32 = 100_000;

/// Largest message a run may fragment (messages beyond a datagram are cut into fragments).
pub const MAX_FRAGMENTED_MESSAGE: usize = 16 << 20;

/// Largest message an objects run may send (a checkpoint answer, with room to spare).
pub const MAX_OBJECT_MESSAGE: usize = 4096;

/// A scenario that cannot run.
#[derive(Debug, Error, PartialEq)]
pub enum ScenarioError {
    /// Bad counts.
    #[error("--nodes must be at least 1 and --senders between 1 and --nodes (got nodes={nodes}, senders={senders})")]
    Counts {
        /// Nodes.
        nodes: u32,
        /// Senders.
        senders: u32,
    },
    /// Message too small or too large.
    #[error("--size {size} must be between {min} and {max} bytes (larger messages are fragmented only without --objects and --groups; {datagram}-byte datagrams)")]
    Size {
        /// Requested.
        size: usize,
        /// Smallest.
        min: usize,
        /// Largest.
        max: usize,
        /// Datagram size.
        datagram: usize,
    },
    /// Loss outside 0..1.
    #[error("--loss {0} must be in [0, 0.9]")]
    Loss(f64),
    /// What the total-order driver does not run yet.
    #[error("--driver total-order {0}")]
    TotalOrder(&'static str),
    /// Membership faults without the membership service.
    #[error("faults {0:?} change the membership: the scenario must run the GMS (Scenario::gms)")]
    NeedsGms(String),
    /// Too few replicas.
    #[error("the GMS needs at least one replica, and three to survive the gms-crash fault (got {0})")]
    GmsReplicas(u32),
    /// Bad timing.
    #[error("GMS timing: evict_after must exceed suspect_after; heartbeat and tick must be positive")]
    GmsTiming,
    /// Members' own failure detection with a membership service.
    #[error("--member-timeout-ms is for static membership: with --gms (or membership faults) the GMS detects failures")]
    PresenceWithGms,
    /// Live objects need messages large enough for a checkpoint.
    #[error("--objects needs messages of up to {need} bytes for checkpoints, but a {datagram}-byte datagram carries at most {max}: raise --datagram-size")]
    ObjectsDatagram {
        /// Largest message objects may send.
        need: usize,
        /// Largest message a datagram carries.
        max: usize,
        /// Datagram size.
        datagram: usize,
    },
    /// Many groups need the membership service and plain messages.
    #[error("--groups {groups}: {why}")]
    Groups {
        /// Groups asked for.
        groups: u32,
        /// What is wrong.
        why: &'static str,
    },
    /// Group churn without groups.
    #[error("the group-churn fault needs --groups")]
    GroupChurnWithoutGroups,
    /// Protocol settings rejected.
    #[error("protocol settings: {0}")]
    Config(#[from] argent_qsm::ConfigError),
}

impl Scenario {
    /// Defaults: a data-centre LAN (50 µs latency, 10 Gbit/s) with jumbo-sized datagrams.
    pub fn new(nodes: u32, senders: u32, messages: u64, size: usize, loss: f64) -> Self {
        Scenario {
            nodes,
            senders,
            messages,
            size,
            loss,
            faults: Faults::default(),
            qsm: argent_qsm::Config::default(),
            latency: Duration::from_micros(50),
            bandwidth: 1_250_000_000,
            socket_buffer: 4 << 20,
            cpu_per_input: Duration::from_nanos(1500),
            cpu_per_message: Duration::from_nanos(100),
            cpu_per_send: Duration::from_nanos(800),
            detection: Duration::from_millis(20),
            liveness: Duration::from_secs(10),
            sabotage: Sabotage::None,
            gms: None,
            objects: false,
            groups: None,
            driver: Driver::Qsm,
        }
    }

    /// Check the scenario before running it.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.nodes == 0 || self.senders == 0 || self.senders > self.nodes {
            return Err(ScenarioError::Counts { nodes: self.nodes, senders: self.senders });
        }
        self.qsm.validate()?;
        if self.driver == Driver::TotalOrder {
            self.validate_total_order()?;
        }
        let max = self.message_limit();
        let largest = if self.objects || self.groups.is_some() { max } else { MAX_FRAGMENTED_MESSAGE };
        if self.size < MIN_MESSAGE || self.size > largest {
            return Err(ScenarioError::Size {
                size: self.size,
                min: MIN_MESSAGE,
                max: largest,
                datagram: self.qsm.datagram_size,
            });
        }
        if !(0.0..=0.9).contains(&self.loss) || self.loss.is_nan() {
            return Err(ScenarioError::Loss(self.loss));
        }
        if self.objects && max < MAX_OBJECT_MESSAGE {
            return Err(ScenarioError::ObjectsDatagram {
                need: MAX_OBJECT_MESSAGE,
                max,
                datagram: self.qsm.datagram_size,
            });
        }
        if let Some(groups) = self.groups {
            let why = if !(1..=MAX_GROUPS).contains(&groups) {
                Some("must be between 1 and 100000")
            } else if self.gms.is_none() {
                Some("groups are joined through the GMS: the scenario must run it (Scenario::gms)")
            } else if self.objects {
                Some("not with --objects (objects runs use one group)")
            } else if self.size < MIN_MESSAGE + argent_wire::message::GROUP_TAG_LEN {
                Some("messages carry a 4-byte group tag: --size must be at least 20")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ScenarioError::Groups { groups, why });
            }
        } else if self.faults.group_churn {
            return Err(ScenarioError::GroupChurnWithoutGroups);
        }
        if self.faults.need_gms() && self.gms.is_none() {
            return Err(ScenarioError::NeedsGms(self.faults.to_string()));
        }
        if self.gms.is_some() && self.qsm.member_timeout.is_some() {
            return Err(ScenarioError::PresenceWithGms);
        }
        if let Some(g) = &self.gms {
            if g.replicas == 0 || (self.faults.gms_crash && g.replicas < 3) {
                return Err(ScenarioError::GmsReplicas(g.replicas));
            }
            if g.evict_after <= g.suspect_after || g.heartbeat.is_zero() || g.tick.is_zero() {
                return Err(ScenarioError::GmsTiming);
            }
        }
        Ok(())
    }

    /// The total-order driver runs one static view so far: no view change, so no fault that
    /// changes the membership, and messages that fit a datagram with their frame byte.
    fn validate_total_order(&self) -> Result<(), ScenarioError> {
        let why = if self.groups.is_some() || self.faults.group_churn {
            Some("with --groups or group-churn: runs one group so far, not --groups (decision 014)")
        } else if self.qsm.member_timeout.is_some() {
            Some("with --member-timeout-ms: members' own evictions change the view, not wired yet (decision 014)")
        } else if self.size > self.message_limit() {
            Some("needs --size within one datagram, less the frame byte (no fragments yet)")
        } else {
            None
        };
        why.map_or(Ok(()), |w| Err(ScenarioError::TotalOrder(w)))
    }

    /// The longest message one datagram carries over the driver: QSM's, less the total-order
    /// layer's frame byte on that driver.
    pub fn message_limit(&self) -> usize {
        let qsm = self.qsm.max_message_len();
        match self.driver {
            Driver::Qsm => qsm,
            Driver::TotalOrder => argent_vsync::TotalOrder::max_message_len(qsm),
        }
    }

    /// Whether messages are larger than a datagram carries, so senders cut them into
    /// fragments (`argent_wire::fragment`, as the runtime does) and receivers reassemble them.
    pub fn fragmented(&self) -> bool {
        self.size > self.qsm.max_message_len()
    }

    /// Rough duration of the traffic, used to place faults mid-stream.
    pub(crate) fn estimated_traffic(&self) -> Duration {
        let bytes = self.messages as f64 * self.size as f64 * f64::from(self.senders);
        let secs = bytes / self.bandwidth as f64 * 2.0;
        Duration::from_secs_f64(secs.max(0.002))
    }
}
