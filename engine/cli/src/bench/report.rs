//! The benchmark's report: what each pass measured, summed up over its processes, compared
//! with the raw baseline and across group counts, printed as a table and as JSON.

use super::args::{BenchArgs, Perturb};
use super::pass::Pass;
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize, Default)]
pub(super) struct Report {
    delivered_ok: bool,
    /// How the cluster delivered (--driver): "qsm" or "total-order".
    driver: &'static str,
    /// With --driver total-order: whether every subscriber delivered the same sequence
    /// (equal `order_hash`; a restarted subscriber, which starts later, is left out), in
    /// every pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    order_agreed: Option<bool>,
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
    /// What each subscriber checked of every message (--verify): full or count.
    verify: crate::msg::VerifyMode,
    size: usize,
    datagram_size: usize,
    /// How long each pass's publishers publish (--duration), seconds.
    duration_secs: f64,
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
    /// With --group-churn: group changes per second asked for, in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    group_churn: Option<f64>,
    /// With --group-churn: groups the subscribers joined and left while receiving in the
    /// measured pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    group_joins: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_leaves: Option<u64>,
    /// With --group-churn: the publishers' msgs/s (all of them) in the churn-free pass and
    /// in the measured one, and the second over the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_churn_published_msgs_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    churn_published_msgs_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_to_no_churn: Option<f64>,
    /// With --group-churn: whether the churn-free pass delivered everything, verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_churn_delivered_ok: Option<bool>,
    /// How datagrams were protected in the measured pass: "none", "mac" or "aead".
    auth: &'static str,
    /// With --key-file: mean msgs/s of the unkeyed passes and of the keyed ones (the
    /// measured pass among them), the second over the first, and whether the unkeyed
    /// passes delivered everything, verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_auth_msgs_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_msgs_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_to_no_auth: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_auth_delivered_ok: Option<bool>,
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

impl Report {
    /// The report of a run with these arguments, before anything is measured.
    pub(super) fn new(a: &BenchArgs) -> Report {
        Report {
            driver: a.driver.name(),
            transport: a.transport.as_str().into(),
            verify: a.verify,
            size: a.size,
            datagram_size: a.datagram_size,
            duration_secs: a.duration,
            subscribers: a.subscribers,
            publishers: a.publishers,
            groups: a.groups,
            rate: a.rate,
            slowed_subscriber: a.slow_one.map(|_| a.subscribers - 1),
            slow_rate: a.slow_one,
            group_churn: a.group_churn,
            auth: match (&a.key_file, a.encrypt) {
                (None, _) => "none",
                (Some(_), false) => "mac",
                (Some(_), true) => "aead",
            },
            ..Report::default()
        }
    }

    /// The report of one comparison pass over `groups` groups.
    pub(super) fn of_pass(groups: u32, pass: Pass) -> Report {
        let mut r = Report { regions: pass.regions, groups, ..Report::default() };
        summarise(&mut r, pass.subs, pass.pubs);
        r
    }

    /// Whether every message was delivered, verified, in every pass (and a perturbation did
    /// what it should), and with the total-order driver in the same order everywhere.
    pub(super) fn delivered_ok(&self) -> bool {
        self.delivered_ok && self.order_agreed != Some(false)
    }

    /// The total-order driver: the order must have agreed in `others` (earlier passes) too.
    fn agree_with<'a>(&mut self, mut others: impl Iterator<Item = &'a Report>) {
        if let Some(agreed) = &mut self.order_agreed {
            *agreed &= others.all(|r| r.order_agreed != Some(false));
        }
    }

    /// The raw UDP baselines: the verified one and the kernel path alone.
    pub(super) fn set_raw(&mut self, verified: Vec<Value>, unverified: Vec<Value>) {
        self.raw = verified;
        self.raw_udp_mb_per_sec = min_over(&self.raw, "mb_per_sec");
        self.raw_unverified = unverified;
        self.raw_udp_unverified_mb_per_sec = min_over(&self.raw_unverified, "mb_per_sec");
    }

    /// The measured pass, run with `perturb`.
    pub(super) fn measured(&mut self, pass: Pass, perturb: Option<Perturb>) {
        let report = self;
        report.regions = pass.regions;
        report.gms_views = pass.views;
        let done = pass.perturbed;
        report.killed_subscriber = done.killed;
        report.evicted_after_ms = done.evicted_after.map(|d| d.as_secs_f64() * 1e3);
        report.paused_subscriber = done.paused.map(|(s, _)| s);
        report.paused_ms = done.paused.map(|(_, d)| d.as_secs_f64() * 1e3);
        report.restarted_subscriber = done.restarted;
        summarise(report, pass.subs, pass.pubs);
        if report.driver != "total-order" {
            report.order_agreed = None;
        }
        let evicted = report.evicted_after_ms.is_some();
        match perturb {
            // The killed subscriber must have been evicted (and, restarted, verified its part).
            Some(Perturb::Kill { .. } | Perturb::Restart { .. }) if !evicted => report.delivered_ok = false,
            Some(Perturb::Pause { .. }) if report.paused_ms.is_none() => report.delivered_ok = false,
            _ => {}
        }
    }

    /// With many groups: the means of the one-group passes (`ones`) and of the N-group ones
    /// (`many` and the measured one), and every pass in the order run.
    pub(super) fn compare(&mut self, ones: &[Report], many: &[Report]) {
        if ones.is_empty() {
            return;
        }
        let report = self;
        let one = mean(ones.iter().map(|r| r.msgs_per_sec));
        let mut ns: Vec<f64> = many.iter().map(|r| r.msgs_per_sec).collect();
        ns.push(report.msgs_per_sec);
        let n = mean(ns);
        report.groups_1_msgs_per_sec = Some(one);
        report.groups_n_msgs_per_sec = Some(n);
        report.ratio_to_groups_1 = Some(if one > 0.0 { n / one } else { 0.0 });
        // Every pass must deliver everything, verified.
        report.delivered_ok &= ones.iter().chain(many).all(|r| r.delivered_ok);
        report.agree_with(ones.iter().chain(many));
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
                "groups": report.groups, "msgs_per_sec": report.msgs_per_sec, "delivered_ok": report.delivered_ok
            })))
            .collect();
    }

    /// With --key-file: the unkeyed passes (`plain`) against the keyed ones (`keyed` and
    /// the measured one), as means of msgs/s, alternated so that drift on a busy host
    /// affects both alike. Every pass must verify.
    pub(super) fn compare_auth(&mut self, plain: &[Report], keyed: &[Report]) {
        let without = mean(plain.iter().map(|r| r.msgs_per_sec));
        let with = mean(keyed.iter().map(|r| r.msgs_per_sec).chain([self.msgs_per_sec]));
        self.no_auth_msgs_per_sec = Some(without);
        self.auth_msgs_per_sec = Some(with);
        self.ratio_to_no_auth = Some(if without > 0.0 { with / without } else { 0.0 });
        let plain_ok = plain.iter().all(|r| r.delivered_ok);
        self.no_auth_delivered_ok = Some(plain_ok);
        self.delivered_ok &= plain_ok && keyed.iter().all(|r| r.delivered_ok);
        self.agree_with(plain.iter().chain(keyed));
        // In the order they ran (see `run::auth_order`); the measured pass is the last.
        let (mut p, mut k) = (plain.iter(), keyed.iter());
        let passes = auth_order((plain.len() + keyed.len() + 1) as u32 / 2)
            .into_iter()
            .map(|is_keyed| {
                let (auth, r) = if is_keyed { (self.auth, k.next().unwrap_or(self)) } else { ("none", p.next().unwrap_or(self)) };
                serde_json::json!({"auth": auth, "msgs_per_sec": r.msgs_per_sec, "delivered_ok": r.delivered_ok})
            })
            .collect();
        self.comparison_passes = passes;
    }

    /// With --group-churn: the churn-free passes (`calm`) against the churn passes
    /// (`churned` and the measured one), as means of the publishers' msgs/s, alternated so
    /// that drift on a busy host affects both alike. Every pass must verify.
    pub(super) fn compare_churn(&mut self, calm: &[Report], churned: &[Report]) {
        let before = mean(calm.iter().map(Report::published_rate));
        let during = mean(churned.iter().map(Report::published_rate).chain([self.published_rate()]));
        self.no_churn_published_msgs_per_sec = Some(before);
        self.churn_published_msgs_per_sec = Some(during);
        self.ratio_to_no_churn = Some(if before > 0.0 { during / before } else { 0.0 });
        let calm_ok = calm.iter().all(|r| r.delivered_ok);
        self.no_churn_delivered_ok = Some(calm_ok);
        self.delivered_ok &= calm_ok && churned.iter().all(|r| r.delivered_ok);
        self.comparison_passes = calm
            .iter()
            .zip(churned.iter().map(Some).chain(std::iter::once(None)))
            .flat_map(|(c, m)| {
                let churn =
                    m.map_or((self.published_rate(), self.delivered_ok), |m| (m.published_rate(), m.delivered_ok));
                [
                    serde_json::json!({"group_churn": 0.0, "published_msgs_per_sec": c.published_rate(), "delivered_ok": c.delivered_ok}),
                    serde_json::json!({"group_churn": self.group_churn, "published_msgs_per_sec": churn.0, "delivered_ok": churn.1}),
                ]
            })
            .collect();
    }

    /// The publishers' msgs/s, all of them.
    fn published_rate(&self) -> f64 {
        self.per_publisher.iter().map(|p| num(p, "msgs_per_sec")).sum()
    }

    /// Prints the table, the comparison over `rounds` rounds if any, and with `json` the
    /// report as one JSON object on the last line.
    pub(super) fn print(&self, rounds: u32, json: bool) -> anyhow::Result<()> {
        let report = self;
        print_table(report);
        if let (Some(one), Some(n)) = (report.groups_1_msgs_per_sec, report.groups_n_msgs_per_sec) {
            println!(
                "{} alternating rounds: one group {:.0} msgs/s, {} groups in {} region(s) {:.0} msgs/s (means), ratio {:.3}",
                rounds,
                one,
                report.groups,
                report.regions,
                n,
                report.ratio_to_groups_1.unwrap_or(0.0)
            );
        }
        if let (Some(rate), Some(ratio)) = (report.group_churn, report.ratio_to_no_churn) {
            println!(
                "group churn: {rate} changes/s asked for, {} joins and {} leaves made while receiving (measured pass); \
                 publishers {:.0} msgs/s with churn, {:.0} without (means of alternating passes, ratio {ratio:.3}); \
                 without churn verified: {}",
                report.group_joins.unwrap_or(0),
                report.group_leaves.unwrap_or(0),
                report.churn_published_msgs_per_sec.unwrap_or(0.0),
                report.no_churn_published_msgs_per_sec.unwrap_or(0.0),
                report.no_churn_delivered_ok.unwrap_or(false)
            );
        }
        if let (Some(ratio), Some(with), Some(without)) =
            (report.ratio_to_no_auth, report.auth_msgs_per_sec, report.no_auth_msgs_per_sec)
        {
            println!(
                "authentication ({}): {with:.0} msgs/s keyed, {without:.0} unkeyed (means of alternating passes), \
                 ratio {ratio:.3}; unkeyed verified: {}",
                report.auth,
                report.no_auth_delivered_ok.unwrap_or(false)
            );
        }
        if json {
            println!("{}", serde_json::to_string(report)?);
        }
        Ok(())
    }
}

/// The mean of `v` (0 for none).
fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = v.into_iter().fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
    sum / f64::from(n.max(1))
}

fn min_over(v: &[Value], k: &str) -> f64 {
    let m = v.iter().map(|r| num(r, k)).fold(f64::INFINITY, f64::min);
    if m.is_finite() {
        m
    } else {
        0.0
    }
}

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn summarise(r: &mut Report, subs: Vec<Value>, pubs: Vec<Value>) {
    r.published = pubs.iter().map(|p| num(p, "published") as u64).sum();
    let all_acked = pubs.iter().all(|p| p.get("acknowledged").and_then(Value::as_bool) == Some(true));
    // Every subscriber verified; all but a restarted one (verified from its join point on,
    // `late`) and those changing groups (verified per group from each join to its leave)
    // received everything.
    let churn = subs.iter().any(|s| s.get("group_joins").is_some());
    if churn {
        let sum = |k: &str| subs.iter().map(|s| num(s, k) as u64).sum::<u64>();
        r.group_joins = Some(sum("group_joins"));
        r.group_leaves = Some(sum("group_leaves"));
    }
    let all_verified = subs.iter().all(|s| {
        let late = r
            .restarted_subscriber
            .is_some_and(|v| s.get("node").and_then(Value::as_u64) == Some(u64::from(v)));
        s.get("verified").and_then(Value::as_bool) == Some(true)
            && (num(s, "received") as u64 == r.published || (late || churn) && num(s, "received") > 0.0)
    });
    r.delivered_ok = all_acked && all_verified && !subs.is_empty();
    // Every subscriber present throughout must have delivered the same sequence.
    let hashes: Vec<&str> = subs
        .iter()
        .filter(|s| s.get("node").and_then(Value::as_u64) != r.restarted_subscriber.map(u64::from))
        .filter_map(|s| s.get("order_hash").and_then(Value::as_str))
        .collect();
    let present = subs.len() - usize::from(r.restarted_subscriber.is_some()).min(subs.len());
    r.order_agreed = Some(hashes.len() == present && hashes.windows(2).all(|w| w[0] == w[1]));
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
        "argent bench: {} B messages (+{} B group tag), {} publisher(s) -> {} subscriber(s), {} group(s) in {} region(s), {} driver, {} transport, {} B datagrams; {:.1} s of publishing per pass",
        r.size, argent::GROUP_TAG_LEN, r.publishers, r.subscribers, r.groups, r.regions, r.driver, r.transport, r.datagram_size, r.duration_secs
    );
    println!(
        "{:<28} {:>12} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}  verified",
        "process", "msgs/s", "MB/s", "p50 µs", "p99 µs", "p999 µs", "repairs", "retx", "CPU s"
    );
    for s in &r.per_subscriber {
        println!(
            "{:<28} {:>12.0} {:>10.1} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8.2}  {}",
            format!("argent sub {}", num(s, "node")),
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
            "{:<28} {:>12.0} {:>10.1} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8.2}  acknowledged: {}",
            format!("argent pub {}", num(p, "node")),
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
    for (label, xs) in [("same work", &r.raw), ("kernel only", &r.raw_unverified)] {
        for (i, x) in xs.iter().enumerate() {
            let name = format!("raw UDP recv {i} ({label})");
            println!("{:<28} {:>12} {:>10.1} {:>62.2}", name, "-", num(x, "mb_per_sec"), num(x, "cpu_secs"));
        }
    }
    println!(
        "delivered (min over subscribers): {:.0} msgs/s, {:.1} MB/s, verified: {}",
        r.msgs_per_sec, r.mb_per_sec, r.delivered_ok
    );
    if let Some(agreed) = r.order_agreed {
        let hashes: Vec<&str> =
            r.per_subscriber.iter().filter_map(|s| s.get("order_hash").and_then(Value::as_str)).collect();
        println!(
            "total order: every subscriber delivered the same sequence: {agreed} (hashes {})",
            hashes.join(", ")
        );
    }
    if !r.raw.is_empty() {
        println!(
            "raw UDP multicast with the same datagrams and per-byte work: {:.1} MB/s (ratio {:.2}); kernel path alone: {:.1} MB/s (ratio {:.2})",
            r.raw_udp_mb_per_sec, r.ratio_to_raw, r.raw_udp_unverified_mb_per_sec, r.ratio_to_unverified_raw
        );
        println!(
            "ratio = argent's MB/s over raw UDP's (minimum over receivers, same run). Raw UDP is unpaced and \
             never recovers a loss: its receivers count only what they took, so a ratio above 1 means argent's \
             paced, repaired stream delivered more than the unpaced blast did."
        );
    }
    println!(
        "Figures vary from run to run (about ±15 % on a 2-core host): compare ratios within one run, or take \
         medians of repeats with argent-bench (bench-harness/README.md)."
    );
}

/// The order of the passes of `rounds` auth comparison rounds, `true` for keyed; the last is
/// keyed (the measured pass). Rounds alternate (keyed, unkeyed) and (unkeyed, keyed), so with
/// an even count (the default 2: keyed, unkeyed, unkeyed, keyed) a drift of the host's speed
/// over the run weighs on both sides alike, not on the side that runs later.
pub(super) fn auth_order(rounds: u32) -> Vec<bool> {
    let mut order: Vec<bool> =
        (0..rounds).flat_map(|r| if r % 2 == 0 { [true, false] } else { [false, true] }).collect();
    if order.last() == Some(&false) {
        let n = order.len();
        order.swap(n - 2, n - 1);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::auth_order;

    #[test]
    fn auth_passes_are_balanced_and_end_with_the_measured_keyed_one() {
        assert_eq!(auth_order(1), vec![false, true]);
        assert_eq!(auth_order(2), vec![true, false, false, true]);
        assert_eq!(auth_order(4), vec![true, false, false, true, true, false, false, true]);
        for rounds in 1..=10 {
            let order = auth_order(rounds);
            assert_eq!(order.len(), 2 * rounds as usize);
            assert_eq!(order.iter().filter(|k| **k).count(), rounds as usize);
            assert_eq!(order.last(), Some(&true));
        }
    }
}
