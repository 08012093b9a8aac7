//! What a scenario produced, written out: report.md and one SVG plot per sweep and metric.

use crate::results::{Point, Results, Series, Stat};
use crate::scenario::{Driver, Param, PointSpec, Scenario, System};
use anyhow::Context;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

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
    if b.driver != Driver::Qsm {
        let _ = writeln!(
            m,
            "\nargent's driver: {} (every subscriber hashes the sequence it delivered; a point verifies only if the hashes agree).",
            b.driver.name()
        );
    }
    if s.systems.len() > 1 {
        m.push_str(&side_by_side(r));
    }
    for (i, series) in r.series.iter().enumerate() {
        let name = series.param.map_or("point", Param::name);
        let set = r.scenario.sweep.get(i).map(|w| &w.set).filter(|t| !t.is_empty());
        let heading = match (series.param, set) {
            (Some(p), Some(set)) => {
                let set: Vec<String> = set.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("Sweep {}: {} ({})", i + 1, p.name(), set.join(", "))
            }
            (Some(p), None) => format!("Sweep {}: {}", i + 1, p.name()),
            (None, _) => "Single point".into(),
        };
        let _ = writeln!(m, "\n## {heading}\n");
        let many = s.systems.len() > 1;
        let (sys_head, sys_rule) = if many { (" system |", "---|") } else { ("", "") };
        // Total order: whether the subscribers agreed on one sequence, where it was checked.
        let ordered = r.series.iter().flat_map(|s| &s.points).any(|p| p.order_agreed.is_some());
        let (order_head, order_rule) = if ordered { (" same order |", "---|") } else { ("", "") };
        let _ = writeln!(m, "| {name} |{sys_head} verified |{order_head} msgs/s | MB/s | p50 µs | p99 µs | p99.9 µs | max µs | raw UDP MB/s | ratio to raw | transport | datagram B |");
        let _ =
            writeln!(m, "|---:|{sys_rule}---|{order_rule}---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
        for p in &series.points {
            let sys = if many { format!(" {} |", p.system.label()) } else { String::new() };
            let order = match (ordered, p.order_agreed) {
                (false, _) => String::new(),
                (true, Some(true)) => " yes |".into(),
                (true, Some(false)) => " **NO** |".into(),
                (true, None) => " – |".into(),
            };
            let _ = writeln!(
                m,
                "| {} |{sys} {} |{order} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.value.map_or("base".into(), |v| v.to_string()),
                if p.delivered_ok { "yes" } else { "**FAILED**" },
                cell(p.msgs_per_sec, 0, true),
                cell(p.mb_per_sec, 1, false),
                cell(p.p50_us, 0, false),
                cell(p.p99_us, 0, false),
                cell(p.p999_us, 0, false),
                cell(p.max_us, 0, false),
                cell(p.raw_udp_mb_per_sec, 1, false),
                cell(p.ratio_to_raw, 2, false),
                distinct(&p.transports),
                distinct(&p.datagram_sizes),
            );
        }
        let mut noted = Vec::new(); // once per point, not once per system alike
        for p in &series.points {
            if let Some(what) = perturbation(p) {
                let at = p.value.map_or(String::new(), |v| format!("{name} = {v}: "));
                let line = format!("\n- {at}{what}");
                if !noted.contains(&line) {
                    let _ = writeln!(m, "{line}");
                    noted.push(line);
                }
            }
        }
        for p in series.points.iter().filter(|p| !p.delivered_ok) {
            for (k, run) in p.repeats.iter().enumerate().filter(|(_, r)| !r.delivered_ok) {
                let sys = if many { format!("{}, ", p.system.name()) } else { String::new() };
                let what = p.value.map_or(String::new(), |v| format!("{sys}{name} = {v}, "));
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

/// What was done to the load or a subscriber at this point, with what the runs measured
/// (medians over the repeats): paced rate, pause, kill and eviction, restart, slowed.
fn perturbation(p: &Point) -> Option<String> {
    let b = &p.settings;
    let benches: Vec<&serde_json::Value> = p.repeats.iter().filter_map(|r| r.bench.as_ref()).collect();
    let med = |k: &str| Stat::of(benches.iter().filter_map(|b| b[k].as_f64()).collect()).map(|s| s.median);
    let ms = |k: &str| med(k).map_or("–".to_string(), |v| format!("{v:.0} ms"));
    let mut parts = Vec::new();
    let who = match b.publishers {
        1 => "publisher".to_string(),
        n => format!("each of the {n} publishers"),
    };
    match (b.rate, p.of_peak) {
        (Some(rate), Some(o)) => parts.push(format!(
            "{who} paced at {rate} msgs/s, {} % of argent's peak of {:.0} msgs/s (per subscriber, every publisher's messages) at these settings unpaced (latency from scheduled send times)",
            o.percent, o.peak_msgs_per_sec
        )),
        (Some(rate), None) => parts.push(format!("{who} paced at {rate} msgs/s (latency from scheduled send times)")),
        _ => {}
    }
    if let (Some(at), Some(len)) = (b.pause_one_at, b.pause_for) {
        parts.push(format!(
            "the last subscriber stopped {at} s in for {len} s (measured: {})",
            ms("paused_ms")
        ));
    }
    if let Some(at) = b.kill_one_at {
        parts.push(format!("the last subscriber killed {at} s in, evicted after {}", ms("evicted_after_ms")));
    }
    if let Some(at) = b.restart_one_at {
        parts.push(format!(
            "the last subscriber killed {at} s in, evicted after {}, restarted and verified from its join point on",
            ms("evicted_after_ms")
        ));
    }
    if let Some(rate) = b.slow_one {
        parts.push(format!("the last subscriber slowed to {rate} msgs/s"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The goals the side-by-side table tracks.
const GOAL_OVER_PEERS: f64 = 1.5;
const GOAL_OVER_RAW: f64 = 0.9;
/// On a LAN: argent's messages/s over raw UDP multicast with a GSO sender (issue 15), and
/// its p99 latency over raw UDP's at the same paced rate.
const GOAL_OVER_GSO: f64 = 0.8;
const GOAL_P99_OVER_GSO: f64 = 2.0;
/// Against Corosync CPG (issue 16): argent's msgs/s at least twice CPG's, and its p99 at the
/// same paced load no worse.
const GOAL_OVER_CPG: f64 = 2.0;
const GOAL_P99_OVER_CPG: f64 = 1.0;

/// One table of every system at every point (columns), medians of msgs/s and MB/s, and the
/// ratios the goals are stated in: argent over the best peer, argent over raw UDP.
fn side_by_side(r: &Results) -> String {
    let mut m = String::new();
    // Columns: every point of every series, in order, once.
    let mut columns: Vec<(String, Vec<&Point>)> = Vec::new();
    let varying: Vec<Param> = [
        Param::Size,
        Param::Subscribers,
        Param::Groups,
        Param::Publishers,
        Param::LossPct,
        Param::Mtu,
        Param::Rate,
    ]
    .into_iter()
    .filter(|&p| {
        let mut vs = r.series.iter().flat_map(|s| &s.points).map(|pt| point_get(pt, p));
        let first = vs.next();
        vs.any(|v| Some(v) != first)
    })
    .collect();
    let all = || r.series.iter().flat_map(|s| &s.points);
    let verify_varies = all().any(|p| all().any(|q| q.settings.verify != p.settings.verify));
    for series in &r.series {
        for p in &series.points {
            let mut label = column_label(p, &varying);
            if verify_varies {
                label = format!("{label}, verify {}", p.settings.verify.name());
            }
            match columns.iter_mut().find(|(l, _)| *l == label) {
                Some((_, pts)) => pts.push(p),
                None => columns.push((label, vec![p])),
            }
        }
    }
    let _ = writeln!(m, "\n## Side by side\n");
    let _ = writeln!(
        m,
        "Medians of messages/s and MB/s of payload delivered to each subscriber (the slowest), every system measured at every point in the same run, one after another in each repeat. Reliable systems count only repeats that verified exactly-once in-order delivery of everything; raw UDP is unreliable (losses are in results.json) and is the limit at argent's datagram size.\n"
    );
    let _ = write!(m, "| system |");
    for (label, _) in &columns {
        let _ = write!(m, " {label} |");
    }
    let _ = write!(m, "\n|---|");
    for _ in &columns {
        let _ = write!(m, "---:|");
    }
    m.push('\n');
    for &system in &r.scenario.systems {
        let _ = write!(m, "| {} |", system.label());
        for (_, pts) in &columns {
            let cell = match pts.iter().find(|p| p.system == system) {
                Some(p) if p.delivered_ok || system.is_raw() => match (p.msgs_per_sec, p.mb_per_sec) {
                    (Some(a), Some(b)) => {
                        let p99 = match (p.settings.rate, p.p99_us) {
                            (Some(_), Some(l)) => format!(", p99 {:.0} µs", l.median),
                            _ => String::new(),
                        };
                        format!("{} msgs/s, {:.1} MB/s{p99}", human_rate(a.median), b.median)
                    }
                    _ => "–".into(),
                },
                Some(_) => "**FAILED**".into(),
                None => "–".into(),
            };
            let _ = write!(m, " {cell} |");
        }
        m.push('\n');
    }
    let median = |pts: &[&Point], pick: &dyn Fn(System) -> bool, f: fn(&Point) -> Option<Stat>| {
        pts.iter()
            .filter(|p| pick(p.system) && (p.delivered_ok || p.system.is_raw()))
            .filter_map(|p| Some((p.system, f(p)?.median)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let has = |f: fn(System) -> bool| r.scenario.systems.iter().any(|&s| f(s));
    if has(|s| s == System::Argent) && has(|s| s.is_peer() && !s.is_raw()) {
        let _ = write!(m, "| **argent ÷ best peer** (msgs/s; MB/s alike), goal ≥ {GOAL_OVER_PEERS} |");
        for (_, pts) in &columns {
            let argent = median(pts, &|s| s == System::Argent, |p| p.msgs_per_sec);
            let best = median(pts, &|s| s.is_peer() && !s.is_raw(), |p| p.msgs_per_sec);
            let _ = write!(m, " {} |", ratio_cell(argent, best, GOAL_OVER_PEERS));
        }
        m.push('\n');
    }
    if has(|s| s == System::Argent) && has(|s| s == System::RawGso) {
        let _ = write!(
            m,
            "| **argent ÷ raw GSO multicast** (msgs/s, median of the repeats' ratios), goal ≥ {GOAL_OVER_GSO} |"
        );
        for (_, pts) in &columns {
            let find = |s: System| pts.iter().find(|p| p.system == s);
            let cell = match (find(System::Argent), find(System::RawGso)) {
                (Some(a), Some(g)) => match per_repeat_ratio(a, g, "msgs_per_sec") {
                    Some(r) => format!("{:.2} {}", r, if r >= GOAL_OVER_GSO { "✓" } else { "✗" }),
                    None => "–".into(),
                },
                _ => "–".into(),
            };
            let _ = write!(m, " {cell} |");
        }
        m.push('\n');
        let _ = write!(
            m,
            "| **argent p99 ÷ raw GSO p99** (paced points: same rate), goal ≤ {GOAL_P99_OVER_GSO} |"
        );
        for (_, pts) in &columns {
            let find = |s: System| pts.iter().find(|p| p.system == s);
            let cell = match (find(System::Argent), find(System::RawGso)) {
                (Some(a), Some(g)) if a.settings.rate.is_some() => match per_repeat_ratio(a, g, "p99_us") {
                    Some(r) => format!("{:.2} {}", r, if r <= GOAL_P99_OVER_GSO { "✓" } else { "✗" }),
                    None => "–".into(),
                },
                _ => "–".into(),
            };
            let _ = write!(m, " {cell} |");
        }
        m.push('\n');
    }
    if has(|s| s == System::Argent) && has(|s| s == System::CorosyncCpg) {
        m.push_str(&against_cpg(&columns));
    }
    if has(|s| s == System::Argent) && has(System::is_raw) {
        let _ = write!(m, "| **argent ÷ raw UDP** (MB/s, same datagram size), goal ≥ {GOAL_OVER_RAW} |");
        for (_, pts) in &columns {
            let argent = median(pts, &|s| s == System::Argent, |p| p.mb_per_sec);
            let best = median(pts, &System::is_raw, |p| p.mb_per_sec);
            let _ = write!(m, " {} |", ratio_cell(argent, best, GOAL_OVER_RAW));
        }
        m.push('\n');
    }
    m
}

/// Issue 16's goals against Corosync CPG: argent's msgs/s at least twice CPG's (unpaced
/// points), and argent's p99 no worse than CPG's at the same paced rate. Medians of
/// verified repeats only (both systems are reliable; CPG must agree on its order too).
fn against_cpg(columns: &[(String, Vec<&Point>)]) -> String {
    let mut m = String::new();
    fn pair<'a>(pts: &[&'a Point]) -> Option<(&'a Point, &'a Point)> {
        let find = |s: System| pts.iter().find(|p| p.system == s && p.delivered_ok).copied();
        find(System::Argent).zip(find(System::CorosyncCpg))
    }
    let ratio = |a: Option<Stat>, c: Option<Stat>, ok: &dyn Fn(f64) -> bool| match (a, c) {
        (Some(a), Some(c)) if c.median > 0.0 => {
            let r = a.median / c.median;
            let digits = if r < 0.01 { 4 } else { 2 };
            format!("{r:.digits$} {}", if ok(r) { "✓" } else { "✗" })
        }
        _ => "–".into(),
    };
    let _ = write!(m, "| **argent ÷ Corosync CPG** (msgs/s, unpaced), goal ≥ {GOAL_OVER_CPG} |");
    for (_, pts) in columns {
        let cell = match pair(pts) {
            Some((a, c)) if a.settings.rate.is_none() => {
                ratio(a.msgs_per_sec, c.msgs_per_sec, &|r| r >= GOAL_OVER_CPG)
            }
            _ => "–".into(),
        };
        let _ = write!(m, " {cell} |");
    }
    m.push('\n');
    let _ = write!(
        m,
        "| **argent p99 ÷ Corosync CPG p99** (paced points: same rate), goal ≤ {GOAL_P99_OVER_CPG} |"
    );
    for (_, pts) in columns {
        let cell = match pair(pts) {
            Some((a, c)) if a.settings.rate.is_some() => {
                ratio(a.p99_us, c.p99_us, &|r| r <= GOAL_P99_OVER_CPG)
            }
            _ => "–".into(),
        };
        let _ = write!(m, " {cell} |");
    }
    m.push('\n');
    m
}

/// The median over repeats of `a`'s figure `key` over `b`'s in the same repeat, counting
/// repeats in which `a` verified and `b` printed a summary (raw UDP is unreliable).
fn per_repeat_ratio(a: &Point, b: &Point, key: &str) -> Option<f64> {
    let ratios: Vec<f64> = a
        .repeats
        .iter()
        .zip(&b.repeats)
        .filter(|(x, _)| x.delivered_ok)
        .filter_map(|(x, y)| {
            let (x, y) = (x.bench.as_ref()?[key].as_f64()?, y.bench.as_ref()?[key].as_f64()?);
            (y > 0.0).then_some(x / y)
        })
        .collect();
    Stat::of(ratios).map(|s| s.median)
}

fn point_get(p: &Point, param: Param) -> u64 {
    PointSpec { base: p.settings.clone(), netns: p.netns, of_peak: p.of_peak.map(|o| o.percent) }.get(param)
}

/// `64 B, 1→3`: the settings that differ between columns.
fn column_label(p: &Point, varying: &[Param]) -> String {
    let parts: Vec<String> = varying
        .iter()
        .map(|&k| {
            let v = point_get(p, k);
            match k {
                Param::Size if v >= 1024 && v % 1024 == 0 => format!("{} KB", v / 1024),
                Param::Size => format!("{v} B"),
                Param::Subscribers => format!("{}→{v}", p.settings.publishers),
                Param::Groups => format!("{v} groups"),
                Param::Publishers => format!("{v} publishers"),
                Param::LossPct => format!("{v}% loss"),
                Param::Rate if v == 0 => "unpaced".into(),
                Param::Rate => {
                    // `rate` is per publisher.
                    let rate = match p.settings.publishers {
                        1 => human_rate(v as f64),
                        n => format!("{n} × {}", human_rate(v as f64)),
                    };
                    match p.of_peak {
                        Some(o) => format!("{rate} msgs/s paced ({} % of peak)", o.percent),
                        None => format!("{rate} msgs/s paced"),
                    }
                }
                Param::RateOfPeak => format!("{v} % of peak"),
                Param::Mtu => format!("MTU {v}"),
            }
        })
        .collect();
    if parts.is_empty() {
        "base".into()
    } else {
        parts.join(", ")
    }
}

/// `1.62 (Aeron (tuned)) ✗`: the ratio, the peer it is against, and whether it meets the goal.
fn ratio_cell(argent: Option<(System, f64)>, best: Option<(System, f64)>, goal: f64) -> String {
    match (argent, best) {
        (Some((_, a)), Some((s, b))) if b > 0.0 => {
            let mark = if a / b >= goal { "✓" } else { "✗" };
            format!("{:.2} vs {} {mark}", a / b, s.label())
        }
        _ => "–".into(),
    }
}

/// `7.10 M`, `912 k`.
fn human_rate(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e4 => format!("{:.0} k", v / 1e3),
        v => format!("{v:.0}"),
    }
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
    let mtu = if s.sweep.iter().any(|w| w.param == Param::Mtu || w.set.contains_key("mtu")) {
        format!("MTU {} unless a sweep sets it", n.mtu)
    } else {
        format!("MTU {}", n.mtu)
    };
    format!(
        "netns: {} hosts on one bridge (GMS replica and publisher on host 1, subscribers spread over hosts 2..{}), {mtu}; {loss}",
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
        ("p99", "p99 latency, µs (the worst subscriber)", |p: &Point| p.p99_us),
    ] {
        if metric == "p99" && !series.points.iter().any(|p| p.p99_us.is_some()) {
            continue; // peers alone: no latency
        }
        let mut lines: Vec<(System, Vec<(f64, Stat)>)> = Vec::new();
        for p in &series.points {
            let Some(xy) = p.value.and_then(|v| Some((v as f64, get(p)?))) else { continue };
            match lines.iter_mut().find(|(s, _)| *s == p.system) {
                Some((_, pts)) => pts.push(xy),
                None => lines.push((p.system, vec![xy])),
            }
        }
        let file = format!("sweep-{}-{}-{metric}.svg", index + 1, param.name());
        draw(&out.join(&file), param.name(), label, &lines).with_context(|| format!("plotting {file}"))?;
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

/// One colour per system, in the order of `systems`.
const PALETTE: [RGBColor; 6] = [BLUE, RED, RGBColor(0, 140, 0), MAGENTA, RGBColor(230, 140, 0), CYAN];

fn draw(path: &Path, x_name: &str, y_name: &str, lines: &[(System, Vec<(f64, Stat)>)]) -> anyhow::Result<()> {
    let all = || lines.iter().flat_map(|(_, pts)| pts);
    let (lo, hi) = all().fold((f64::INFINITY, 0.0f64), |(l, h), (x, _)| (l.min(*x), h.max(*x)));
    let log = lo > 0.0 && hi / lo >= 100.0;
    let tx = |x: f64| if log { x.log10() } else { x };
    let (x0, x1) = if all().next().is_none() { (0.0, 1.0) } else { (tx(lo), tx(hi)) };
    let pad = ((x1 - x0) * 0.08).max(0.5);
    let y_max = all().map(|(_, s)| s.max).fold(0.0, f64::max).max(1.0) * 1.1;
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
    let ticks = lines.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    chart
        .configure_mesh()
        .x_desc(if log { format!("{x_name} (log scale)") } else { x_name.to_string() })
        .y_desc(y_name)
        .x_labels(ticks.clamp(2, 10))
        .x_label_formatter(&x_label)
        .y_label_formatter(&|v| human(*v))
        .draw()?;
    for (i, (system, pts)) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let xy: Vec<(f64, f64)> = pts.iter().map(|(x, s)| (tx(*x), s.median)).collect();
        let drawn = chart.draw_series(LineSeries::new(xy.iter().copied(), colour))?;
        if lines.len() > 1 {
            drawn
                .label(system.label())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        chart.draw_series(
            pts.iter()
                .map(|(x, s)| ErrorBar::new_vertical(tx(*x), s.min, s.median, s.max, colour.filled(), 10)),
        )?;
        chart.draw_series(xy.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
    }
    if lines.len() > 1 {
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}
