//! What a scenario produced: results.json, report.md and one SVG plot per sweep and metric.

use crate::runner::{Environment, Run};
use crate::scenario::{Base, Netns, Param, PointSpec, Scenario};
use anyhow::Context;
use plotters::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

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
    pub settings: Base,
    /// The namespace LAN of this point (topology netns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<Netns>,
    /// The arguments of `argent` (loopback) or of `netns-run` (netns).
    pub args: Vec<String>,
    pub delivered_ok: bool,
    /// Transport and datagram size `argent bench` reported, per repeat.
    pub transports: Vec<String>,
    pub datagram_sizes: Vec<u64>,
    /// Over the repeats that verified delivery (a figure counts only if verified).
    pub msgs_per_sec: Option<Stat>,
    pub mb_per_sec: Option<Stat>,
    pub p50_us: Option<Stat>,
    pub p99_us: Option<Stat>,
    pub raw_udp_mb_per_sec: Option<Stat>,
    pub ratio_to_raw: Option<Stat>,
    pub repeats: Vec<Run>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    fn of(mut v: Vec<f64>) -> Option<Stat> {
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
    pub fn new(value: Option<u64>, spec: PointSpec, args: Vec<String>, repeats: Vec<Run>) -> Point {
        let PointSpec { base: settings, netns } = spec;
        let ok: Vec<&serde_json::Value> =
            repeats.iter().filter(|r| r.delivered_ok).filter_map(|r| r.bench.as_ref()).collect();
        let stat = |k: &str| Stat::of(ok.iter().filter_map(|b| b[k].as_f64()).collect());
        let raw = settings.raw;
        let benches = || repeats.iter().filter_map(|r| r.bench.as_ref());
        Point {
            value,
            delivered_ok: !repeats.is_empty() && repeats.iter().all(|r| r.delivered_ok),
            transports: benches().filter_map(|b| b["transport"].as_str().map(String::from)).collect(),
            datagram_sizes: benches().filter_map(|b| b["datagram_size"].as_u64()).collect(),
            msgs_per_sec: stat("msgs_per_sec"),
            mb_per_sec: stat("mb_per_sec"),
            p50_us: stat("p50_us"),
            p99_us: stat("p99_us"),
            raw_udp_mb_per_sec: if raw { stat("raw_udp_mb_per_sec") } else { None },
            ratio_to_raw: if raw { stat("ratio_to_raw") } else { None },
            settings,
            netns,
            args,
            repeats,
        }
    }
}

/// `1.23 M (1.20–1.31 M)`: median, then min–max (the median alone when they are equal);
/// `scale` writes large values in k and M.
fn cell(s: Option<Stat>, digits: usize, scale: bool) -> String {
    let Some(s) = s else { return "–".into() };
    let (div, unit) = match s.max {
        m if scale && m >= 1e6 => (1e6, " M"),
        m if scale && m >= 1e4 => (1e3, " k"),
        _ => (1.0, ""),
    };
    let f = |x: f64| format!("{:.*}", if div > 1.0 { 2 } else { digits }, x / div);
    if s.min == s.max {
        return format!("{}{unit}", f(s.median));
    }
    format!("{}{unit} ({}–{}{unit})", f(s.median), f(s.min), f(s.max))
}

fn distinct<T: ToString>(v: &[T]) -> String {
    let mut s: Vec<String> = v.iter().map(T::to_string).collect();
    s.dedup();
    if s.is_empty() {
        "–".into()
    } else {
        s.join(", ")
    }
}

pub fn markdown(r: &Results) -> String {
    let e = &r.environment;
    let s = &r.scenario;
    let mut m = String::new();
    let _ = writeln!(m, "# argent-bench: {}\n", s.name);
    if !s.description.trim().is_empty() {
        let _ = writeln!(m, "{}\n", s.description.trim());
    }
    let verdict = if r.all_delivered {
        "every point verified delivery on every subscriber"
    } else {
        "**SOME POINTS FAILED** (see below)"
    };
    let _ = writeln!(m, "Result: {verdict}. Figures are medians over {} repeat(s), with min–max in brackets; msgs/s and MB/s are the slowest subscriber's (argent bench's `msgs_per_sec`, `mb_per_sec`), counted only for repeats that verified delivery.\n", s.repeats);
    let _ = writeln!(m, "## Environment\n\n| | |\n|---|---|");
    let git = match (&e.git_revision, e.git_dirty) {
        (Some(g), Some(true)) => format!("{g} (with uncommitted changes)"),
        (Some(g), _) => g.clone(),
        (None, _) => "unknown".into(),
    };
    for (k, v) in [
        ("date (UTC)", e.date.clone()),
        ("kernel", e.kernel.clone()),
        ("CPU", format!("{} × {}", e.cpus, e.cpu_model)),
        ("git revision", git),
        ("argent binary", e.argent.clone()),
        ("topology", topology(s)),
    ] {
        let _ = writeln!(m, "| {k} | {v} |");
    }
    if let Some(script) = &e.netns_run {
        let _ = writeln!(m, "| runs | `{script}` (a fresh LAN per run) |");
    }
    let b = &s.base;
    if s.netns.is_some() {
        let _ = writeln!(
            m,
            "\nBase settings: {} publisher(s), {} subscriber(s), {} group(s) (Zipf {}), {} B messages, {} s (transport and datagram size: argent's defaults; no raw baseline on a namespace LAN).",
            b.publishers, b.subscribers, b.groups, b.zipf, b.size, b.duration
        );
    } else {
        let _ = writeln!(
        m,
        "\nBase settings: {} publisher(s), {} subscriber(s), {} group(s) (Zipf {}), {} B messages, {} s, transport {}, datagram size {}, pin {}, raw baseline {}.",
        b.publishers,
        b.subscribers,
        b.groups,
        b.zipf,
        b.size,
        b.duration,
        b.transport.name(),
        b.datagram_size.map_or("default".into(), |d| d.to_string()),
        b.pin,
        if b.raw { "on" } else { "off" }
    );
    }
    for (i, series) in r.series.iter().enumerate() {
        let name = series.param.map_or("point", Param::name);
        let heading = match series.param {
            Some(p) => format!("Sweep {}: {}", i + 1, p.name()),
            None => "Single point".into(),
        };
        let _ = writeln!(m, "\n## {heading}\n");
        let _ = writeln!(m, "| {name} | verified | msgs/s | MB/s | p50 µs | p99 µs | raw UDP MB/s | ratio to raw | transport | datagram B |");
        let _ = writeln!(m, "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|");
        for p in &series.points {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.value.map_or("base".into(), |v| v.to_string()),
                if p.delivered_ok { "yes" } else { "**FAILED**" },
                cell(p.msgs_per_sec, 0, true),
                cell(p.mb_per_sec, 1, false),
                cell(p.p50_us, 0, false),
                cell(p.p99_us, 0, false),
                cell(p.raw_udp_mb_per_sec, 1, false),
                cell(p.ratio_to_raw, 2, false),
                distinct(&p.transports),
                distinct(&p.datagram_sizes),
            );
        }
        for p in series.points.iter().filter(|p| !p.delivered_ok) {
            for (k, run) in p.repeats.iter().enumerate().filter(|(_, r)| !r.delivered_ok) {
                let what = p.value.map_or(String::new(), |v| format!("{name} = {v}, "));
                let why = run.error.as_deref().unwrap_or("failed");
                let _ = writeln!(m, "\n- {what}repeat {}: {why} (log: `{}`)", k + 1, run.log);
            }
        }
        for plot in &series.plots {
            let _ = writeln!(m, "\n![{plot}]({plot})");
        }
    }
    m
}

/// `loopback`, or the namespace LAN: hosts and where the loss is.
fn topology(s: &Scenario) -> String {
    let Some(n) = s.netns else { return "loopback".into() };
    let swept = s.sweep.iter().any(|w| w.param == Param::LossPct);
    let loss = match (n.loss_pct, n.lossy_hosts, swept) {
        (_, 0, _) => "no loss".to_string(),
        (p, k, true) => format!(
            "arriving UDP dropped on the first {k} subscriber host(s): loss_pct% in the loss_pct sweep, {p}% in the others"
        ),
        (0, _, false) => "no loss".to_string(),
        (p, k, false) => format!("{p}% of arriving UDP dropped on the first {k} subscriber host(s)"),
    };
    format!(
        "netns: {} hosts on one bridge (GMS replica and publisher on host 1, subscribers spread over hosts 2..{}); {loss}",
        n.hosts, n.hosts
    )
}

/// Plots median msgs/s and MB/s against the swept value, with min–max error bars; returns
/// the files written. A logarithmic axis when the values span two decades or more.
pub fn plot(series: &Series, index: usize, out: &Path) -> anyhow::Result<Vec<String>> {
    let Some(param) = series.param else { return Ok(Vec::new()) };
    let mut files = Vec::new();
    for (metric, label, get) in [
        (
            "msgs",
            "messages/s to the slowest subscriber",
            (|p: &Point| p.msgs_per_sec) as fn(&Point) -> Option<Stat>,
        ),
        ("mb", "MB/s to the slowest subscriber", |p: &Point| p.mb_per_sec),
    ] {
        let pts: Vec<(f64, Stat)> =
            series.points.iter().filter_map(|p| Some((p.value? as f64, get(p)?))).collect();
        let file = format!("sweep-{}-{}-{metric}.svg", index + 1, param.name());
        draw(&out.join(&file), param.name(), label, &pts).with_context(|| format!("plotting {file}"))?;
        files.push(file);
    }
    Ok(files)
}

/// `2.5M`, `340k`, `12`: axis labels.
fn human(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e3 => format!("{:.0}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
}

fn draw(path: &Path, x_name: &str, y_name: &str, pts: &[(f64, Stat)]) -> anyhow::Result<()> {
    let (lo, hi) = pts.iter().fold((f64::INFINITY, 0.0f64), |(l, h), (x, _)| (l.min(*x), h.max(*x)));
    let log = lo > 0.0 && hi / lo >= 100.0;
    let tx = |x: f64| if log { x.log10() } else { x };
    let (x0, x1) = if pts.is_empty() { (0.0, 1.0) } else { (tx(lo), tx(hi)) };
    let pad = ((x1 - x0) * 0.08).max(0.5);
    let y_max = pts.iter().map(|(_, s)| s.max).fold(0.0, f64::max).max(1.0) * 1.1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{y_name} vs {x_name} (median, min–max)"), ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(x0 - pad..x1 + pad, 0.0..y_max)?;
    let x_label = |v: &f64| {
        if log {
            format!("{:.0}", 10f64.powf(*v))
        } else {
            format!("{}", (v * 100.0).round() / 100.0)
        }
    };
    chart
        .configure_mesh()
        .x_desc(if log { format!("{x_name} (log scale)") } else { x_name.to_string() })
        .y_desc(y_name)
        .x_labels(pts.len().clamp(2, 10))
        .x_label_formatter(&x_label)
        .y_label_formatter(&|v| human(*v))
        .draw()?;
    let xy: Vec<(f64, f64)> = pts.iter().map(|(x, s)| (tx(*x), s.median)).collect();
    chart.draw_series(LineSeries::new(xy.iter().copied(), &BLUE))?;
    chart.draw_series(
        pts.iter().map(|(x, s)| ErrorBar::new_vertical(tx(*x), s.min, s.median, s.max, BLUE.filled(), 10)),
    )?;
    chart.draw_series(xy.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    root.present()?;
    Ok(())
}
