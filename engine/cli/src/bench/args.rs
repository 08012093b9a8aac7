//! The arguments of `argent bench`: the flags, their checks, the perturbation they ask for,
//! and how their durations are read.

use crate::args::Transport;
use crate::msg;
use anyhow::bail;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Message size, bytes.
    #[arg(long, default_value_t = 1024)]
    pub(super) size: usize,
    /// Subscriber processes.
    #[arg(long, default_value_t = 3)]
    pub(super) subscribers: u32,
    /// Publisher processes.
    #[arg(long, default_value_t = 1)]
    pub(super) publishers: u32,
    /// Groups. Every process is a member of all of them, so they share one region (one
    /// multicast address, one token ring); publishers pick each message's group by Zipf
    /// popularity (--zipf). With more than one, one-group passes with the same settings
    /// alternate with N-group passes (--comparison-rounds) and the report compares their means
    /// (groups_1_msgs_per_sec, groups_n_msgs_per_sec, ratio_to_groups_1).
    #[arg(long, default_value_t = 1)]
    pub(super) groups: u32,
    /// With --groups above 1 (default 2), --group-churn (2) or --key-file (4): rounds of
    /// (baseline pass, measured-setting pass), alternated so that drift on a busy host
    /// affects both sides alike. More rounds average out more of a busy host's noise.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(super) comparison_rounds: Option<u32>,
    /// With --groups above 1: during the measured pass subscribers join and leave random
    /// groups, this many changes per second in total (spread over the subscribers, for the
    /// first 90% of --duration), each verifying every (publisher, group) stream from its
    /// join to its leave. A churn-free pass with the same settings runs first; the report
    /// gives group_joins, group_leaves and ratio_to_no_churn (the publishers' msgs/s with
    /// churn over without). Replaces the one-group comparison rounds.
    #[arg(long)]
    pub(super) group_churn: Option<f64>,
    /// Authenticate every datagram with this cluster key file (`auto`: a new key for the
    /// run). Unkeyed passes with the same settings alternate with keyed ones
    /// (--comparison-rounds; with 2, keyed-unkeyed-unkeyed-keyed, so drift weighs on both
    /// alike), and the report gives `auth` and ratio_to_no_auth (the keyed passes' mean
    /// msgs/s over the unkeyed ones').
    #[arg(long, value_name = "FILE|auto")]
    pub(super) key_file: Option<String>,
    /// With --key-file: encrypt bodies too (AES-256-GCM; `auth` is then "aead").
    #[arg(long, requires = "key_file")]
    pub(super) encrypt: bool,
    /// The key file the passes use (--key-file resolved; `None` in unkeyed passes).
    #[arg(skip)]
    pub(super) key_path: Option<std::path::PathBuf>,
    /// Zipf exponent of group popularity (the publishers' choice of group per message).
    #[arg(long, default_value_t = 1.5)]
    pub(super) zipf: f64,
    /// Seed of the publishers' group choice (publisher p uses seed + p).
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 5.0)]
    pub(super) duration: f64,
    /// Transport backend.
    #[arg(long, default_value = "auto")]
    pub(super) transport: Transport,
    /// What each subscriber checks of every message: `full` (the header, and every byte
    /// against each stream's checksum) or `count` (sequence numbers only: exactly once, in
    /// order, complete to the end marker, as systems' own throughput samples count).
    #[arg(long, value_enum, default_value_t = crate::msg::VerifyMode::Full)]
    pub(super) verify: crate::msg::VerifyMode,
    /// Datagram size argent aggregates messages into, and the raw baseline sends
    /// (default: from the loopback MTU, 65 000).
    #[arg(long, default_value_t = argent::config::MAX_AUTO_DATAGRAM)]
    pub(super) datagram_size: usize,
    /// Socket buffers, bytes.
    #[arg(long, default_value_t = 32 << 20)]
    pub(super) socket_buffer: usize,
    /// Send buffer per publisher, bytes (what the region has not acknowledged yet; a larger
    /// one adds queueing delay, not throughput, on loopback: decision 003).
    #[arg(long, default_value_t = 8 << 20)]
    pub(super) send_buffer: usize,
    /// Initial sending rate, bytes/s (flow control adapts it to the slowest receiver).
    #[arg(long, default_value_t = 256 << 20)]
    pub(super) initial_rate: u64,
    /// Lowest sending rate flow control may choose, bytes/s (raise it to pace less).
    #[arg(long, default_value_t = 1 << 20)]
    pub(super) min_rate: u64,
    /// Pin shard threads to cores.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(super) pin: bool,
    /// Skip the raw UDP baseline.
    #[arg(long)]
    pub(super) no_raw: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub(super) json: bool,
    /// Kill (SIGKILL) the last subscriber this long after publishing starts (e.g. 3s, 500ms):
    /// the GMS must evict it within --evict-ms and the others still verify everything.
    #[arg(long, value_parser = parse_duration)]
    pub(super) kill_one_at: Option<Duration>,
    /// Pause (SIGSTOP) the last subscriber this long after publishing starts, for
    /// --pause-for, then resume it (SIGCONT): everyone waits for it (it stays a member if
    /// the pause is shorter than --evict-ms) and it catches up; all must verify everything.
    #[arg(long, value_parser = parse_duration, requires = "pause_for", conflicts_with_all = ["kill_one_at", "restart_one_at"])]
    pub(super) pause_one_at: Option<Duration>,
    /// With --pause-one-at: how long the subscriber stays stopped (below --evict-ms).
    #[arg(long, value_parser = parse_duration, requires = "pause_one_at")]
    pub(super) pause_for: Option<Duration>,
    /// Kill (SIGKILL) the last subscriber this long after publishing starts, wait for its
    /// eviction, and start it again: it rejoins as a new incarnation and must verify every
    /// message from its join point on; the others verify everything.
    #[arg(long, value_parser = parse_duration, conflicts_with = "kill_one_at")]
    pub(super) restart_one_at: Option<Duration>,
    /// The last subscriber takes at most this many messages per second (a slowed receiver:
    /// flow control paces everyone to it; nothing may be lost).
    #[arg(long)]
    pub(super) slow_one: Option<f64>,
    /// Messages per second per publisher (paced load; default: as fast as flow control
    /// allows). Latency is then measured from each message's scheduled send time (corrected
    /// for coordinated omission).
    #[arg(long)]
    pub(super) rate: Option<f64>,
    /// The embedded GMS evicts a member silent this long (it suspects it after a third).
    #[arg(long, default_value_t = 1500)]
    pub(super) evict_ms: u64,
    /// How the cluster delivers: `qsm` (reliable, each publisher's order) or `total-order`
    /// (every subscriber delivers the same sequence from all publishers: each hashes the
    /// sequence it delivered, and the report's `order_agreed` says whether the hashes match).
    #[arg(long, default_value = "qsm", value_parser = parse_driver)]
    pub(super) driver: argent::Driver,
}

/// `--driver`: a driver's name ([`argent::Driver::name`]).
fn parse_driver(name: &str) -> Result<argent::Driver, String> {
    argent::Driver::from_name(name).ok_or_else(|| {
        format!(
            "{name:?} is not a driver: use qsm (each publisher's order) or total-order (one order for all)"
        )
    })
}

/// A perturbation of the last subscriber during the measured pass.
#[derive(Debug, Clone, Copy)]
pub(super) enum Perturb {
    Kill { at: Duration },
    Pause { at: Duration, length: Duration },
    Restart { at: Duration },
}

/// Groups a benchmark runs at most (every one is listed in the generated membership file).
const MAX_GROUPS: u32 = 1_000_000;

impl BenchArgs {
    /// Comparison rounds with --groups above 1 or --group-churn (default 2).
    pub(super) fn group_rounds(&self) -> u32 {
        self.comparison_rounds.unwrap_or(2)
    }

    /// Comparison rounds with --key-file (default 4: a keyed pass costs a few percent and a
    /// single pass on a busy 2-core host varies by about 10 %, decision 011).
    pub(super) fn auth_rounds(&self) -> u32 {
        self.comparison_rounds.unwrap_or(4)
    }

    pub(super) fn perturb(&self) -> Option<Perturb> {
        match (self.kill_one_at, self.pause_one_at.zip(self.pause_for), self.restart_one_at) {
            (Some(at), _, _) => Some(Perturb::Kill { at }),
            (_, Some((at, length)), _) => Some(Perturb::Pause { at, length }),
            (_, _, Some(at)) => Some(Perturb::Restart { at }),
            _ => None,
        }
    }

    /// Refuses settings the benchmark cannot run, saying which flag to change.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        let a = self;
        if a.size < msg::MIN_SIZE {
            bail!(
                "--size {} is too small: verifiable messages need at least {} bytes",
                a.size,
                msg::MIN_SIZE
            );
        }
        let (lo, hi) = (argent_qsm::MIN_DATAGRAM, argent_transport::MAX_UDP_PAYLOAD);
        if !(lo..=hi).contains(&a.datagram_size) {
            bail!("--datagram-size {} must be between {lo} and {hi} bytes", a.datagram_size);
        }
        // Messages larger than a datagram travel in fragments, up to argent::MAX_MESSAGE.
        if a.size > argent::MAX_MESSAGE {
            bail!("--size {} is above the largest message, {} bytes", a.size, argent::MAX_MESSAGE);
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
        if let Some(c) = a.group_churn {
            if !(c > 0.0 && c <= 10_000.0) {
                bail!("--group-churn {c} must be a number of group changes per second in (0, 10000]");
            }
            if a.groups < 2 {
                bail!("--group-churn needs --groups 2 or more (subscribers join and leave among them)");
            }
            if a.perturb().is_some() || a.slow_one.is_some() {
                bail!("--group-churn does not combine with --kill-one-at, --pause-one-at, --restart-one-at or --slow-one");
            }
        }
        if a.driver == argent::Driver::TotalOrder && a.group_churn.is_some() {
            bail!("--group-churn does not combine with --driver total-order: subscribers that join and leave groups deliver different sequences, so their orders cannot be compared");
        }
        if a.key_file.is_some() && (a.groups > 1 || a.group_churn.is_some()) {
            bail!("--key-file compares keyed with unkeyed passes; it does not combine with --groups above 1 or --group-churn (their own comparisons): run them apart");
        }
        for (flag, v) in [("--rate", a.rate), ("--slow-one", a.slow_one)] {
            if v.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                bail!("{flag} must be a positive number of messages per second");
            }
        }
        self.check_perturbation()
    }

    fn check_perturbation(&self) -> anyhow::Result<()> {
        let a = self;
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
        Ok(())
    }
}

/// The longest duration a flag takes.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// `3s`, `500ms`, `2.5` (seconds): what `humantime` reads (`1.5s`, `1m 30s`, …), or a bare
/// decimal number of seconds (or of seconds or milliseconds with `s`, `ms`: `1e3ms`), as
/// scripts pass it; at most an hour.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = match (humantime::parse_duration(s.trim()), decimal(s)) {
        (Ok(d), _) => d,
        (Err(_), Some(d)) => d?,
        (Err(e), None) => {
            return Err(format!("{s:?} is not a duration ({e}): write it like 3s, 500ms or 2.5 (seconds)"))
        }
    };
    if d > MAX_DURATION {
        return Err(format!(
            "{s:?} is longer than {} s, the longest duration a flag takes",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// A decimal number of seconds, or of seconds or milliseconds with `s` or `ms` (`2.5`,
/// `1e3ms`), the forms `humantime` does not read; `None` if `s` is not such a number.
fn decimal(s: &str) -> Option<Result<Duration, String>> {
    let (num, scale) = match s.strip_suffix("ms") {
        Some(v) => (v, 1e-3),
        None => (s.strip_suffix('s').unwrap_or(s), 1.0),
    };
    let v = num.trim().parse::<f64>().ok()? * scale;
    Some(match Duration::try_from_secs_f64(v) {
        Ok(d) => Ok(d),
        Err(_) => Err(format!("{s:?} is not a duration: it must be a finite number of seconds, 0 or more")),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_before() {
        let ms = Duration::from_millis;
        for (s, d) in [
            ("3s", ms(3000)),
            ("500ms", ms(500)),
            ("2.5", ms(2500)),
            ("3", ms(3000)),
            ("0", ms(0)),
            ("1.5s", ms(1500)),
            ("0.5ms", Duration::from_micros(500)),
            ("3 s", ms(3000)),
            ("500 ms", ms(500)),
            (" 2", ms(2000)),
            ("1e3ms", ms(1000)),
            ("3600", ms(3_600_000)),
        ] {
            assert_eq!(parse_duration(s), Ok(d), "{s:?}");
        }
    }

    #[test]
    fn humantime_forms_are_read_too() {
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        for s in ["", "abc", "3x", "-1", "-1s", "nan", "inf", "1e400"] {
            let e = parse_duration(s).expect_err(s);
            assert!(e.contains(&format!("{s:?}")) && e.contains("not a duration"), "{s:?}: {e}");
        }
        for s in ["3601", "2h", "3600001ms"] {
            let e = parse_duration(s).expect_err(s);
            assert!(e.contains("longer than 3600 s"), "{s:?}: {e}");
        }
    }
}
