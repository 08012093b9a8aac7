//! What a scenario measured: every point of every series, its repeats, and their medians,
//! min and max over the verified repeats (results.json is this, serialized).

use crate::runner::{Environment, Run};
use crate::scenario::{Base, Netns, Param, PointSpec, Scenario, System};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Results {
    pub scenario: Scenario,
    pub environment: Environment,
    pub series: Vec<Series>,
    /// Every point of every series verified delivery in every repeat.
    pub all_delivered: bool,
}

/// One sweep (or, with none, the base point alone).
#[derive(Debug, Serialize)]
pub struct Series {
    pub param: Option<Param>,
    pub points: Vec<Point>,
    /// The SVG files plotted from this series.
    pub plots: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Point {
    /// The swept parameter's value at this point (absent without a sweep).
    pub value: Option<u64>,
    /// What was measured: argent, or a peer.
    pub system: System,
    pub settings: Base,
    /// The namespace LAN of this point (topology netns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<Netns>,
    /// A `rate_of_peak` point: the percentage, and the peak it was taken of (argent's median
    /// messages/s per subscriber at the same settings unpaced, earlier in this run);
    /// `settings.rate` is the rate paced at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of_peak: Option<OfPeak>,
    /// The arguments of `argent` (loopback), `netns-run` (netns) or `argent-peer` (peers).
    pub args: Vec<String>,
    pub delivered_ok: bool,
    /// Total order (argent's total-order driver, Corosync CPG): whether every subscriber
    /// delivered the same sequence in every repeat that reported it (absent: no repeat did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_agreed: Option<bool>,
    /// Transport and datagram size `argent bench` reported, per repeat.
    pub transports: Vec<String>,
    pub datagram_sizes: Vec<u64>,
    /// Over the repeats that verified delivery (a figure counts only if verified).
    pub msgs_per_sec: Option<Stat>,
    pub mb_per_sec: Option<Stat>,
    pub p50_us: Option<Stat>,
    pub p99_us: Option<Stat>,
    pub p999_us: Option<Stat>,
    pub max_us: Option<Stat>,
    pub raw_udp_mb_per_sec: Option<Stat>,
    pub ratio_to_raw: Option<Stat>,
    pub repeats: Vec<Run>,
}

/// What a `rate_of_peak` point was paced at a percentage of.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OfPeak {
    pub percent: u64,
    pub peak_msgs_per_sec: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(mut v: Vec<f64>) -> Option<Stat> {
        v.retain(|x| x.is_finite());
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Stat { median, min: v[0], max: v[n - 1] })
    }
}

impl Point {
    pub fn new(
        value: Option<u64>,
        system: System,
        spec: PointSpec,
        peak: Option<f64>,
        args: Vec<String>,
        repeats: Vec<Run>,
    ) -> Point {
        let PointSpec { base: settings, netns, of_peak } = spec;
        let of_peak =
            of_peak.zip(peak).map(|(percent, peak_msgs_per_sec)| OfPeak { percent, peak_msgs_per_sec });
        let ok: Vec<&serde_json::Value> =
            repeats.iter().filter(|r| r.delivered_ok).filter_map(|r| r.bench.as_ref()).collect();
        let stat = |k: &str| Stat::of(ok.iter().filter_map(|b| b[k].as_f64()).collect());
        let raw = settings.raw && system == System::Argent;
        let benches = || repeats.iter().filter_map(|r| r.bench.as_ref());
        Point {
            value,
            system,
            delivered_ok: !repeats.is_empty() && repeats.iter().all(|r| r.delivered_ok),
            order_agreed: repeats.iter().filter_map(|r| r.order_agreed).reduce(|a, b| a && b),
            transports: benches().filter_map(|b| b["transport"].as_str().map(String::from)).collect(),
            datagram_sizes: benches().filter_map(|b| b["datagram_size"].as_u64()).collect(),
            msgs_per_sec: stat("msgs_per_sec"),
            mb_per_sec: stat("mb_per_sec"),
            p50_us: stat("p50_us"),
            p99_us: stat("p99_us"),
            p999_us: stat("p999_us"),
            max_us: stat("max_us"),
            raw_udp_mb_per_sec: if raw { stat("raw_udp_mb_per_sec") } else { None },
            ratio_to_raw: if raw { stat("ratio_to_raw") } else { None },
            settings,
            netns,
            of_peak,
            args,
            repeats,
        }
    }
}
