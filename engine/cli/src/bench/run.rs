//! Running `argent bench`: the raw baselines, the argent passes in their order, the report.

use super::args::BenchArgs;
use super::baseline::raw_baseline;
use super::cluster::{base_port, cluster};
use super::pass::argent_pass;
use super::report::Report;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    a.check()?;
    // The passes' membership files. Every process reading them has exited before the
    // directory goes: each pass waits for its processes, or kills them on an error.
    let dir = tempfile::Builder::new()
        .prefix("argent-bench-")
        .tempdir()
        .context("creating a temporary directory for the membership files")?;
    let a = with_key(a, dir.path())?;
    let bar = progress(&a);
    let mut report = Report::new(&a);
    let layout = cluster(&a, 1, base_port(a.subscribers + a.publishers));
    // One warning for the whole run, not one per process and socket: the publishers and
    // subscribers inherit that it was given.
    if let Ok((name, false)) = argent_transport::interface_multicast(layout.interface) {
        tracing::warn!(
            "interface {name} ({}) lacks the MULTICAST flag: other hosts would not see this run's multicast \
             (loopback still delivers it); `ip link set {name} multicast on`",
            layout.interface
        );
    }
    std::env::set_var(argent_transport::INTERFACE_WARNED, "1");
    if !a.no_raw {
        let address = layout.regions()[0].address;
        bar.set_message("raw UDP multicast, verified");
        let verified = raw_baseline(&a, address, true)?;
        bar.set_message("raw UDP multicast, unverified");
        let unverified = raw_baseline(&a, address, false)?;
        report.set_raw(verified, unverified);
    }
    let rounds = if a.groups > 1 && a.group_churn.is_none() { a.group_rounds() } else { 0 };
    let (ones, many) = comparison(&a, rounds, dir.path(), &bar)?;
    let (calm, churned) = match a.group_churn {
        Some(rate) => churn_rounds(&a, rate, dir.path(), &bar)?,
        None => (Vec::new(), Vec::new()),
    };
    let (plain, keyed) = match a.key_path {
        Some(_) => auth_rounds(&a, dir.path(), &bar)?,
        None => (Vec::new(), Vec::new()),
    };
    bar.set_message(format!("argent, {} group(s)", a.groups));
    let pass = argent_pass(&a, a.groups, dir.path(), a.perturb(), a.group_churn)?;
    bar.finish_and_clear();
    let _ = dir.close();
    report.measured(pass, a.perturb());
    report.compare(&ones, &many);
    if a.group_churn.is_some() {
        report.compare_churn(&calm, &churned);
    }
    if a.key_path.is_some() {
        report.compare_auth(&plain, &keyed);
    }
    report.print(rounds, a.json)?;
    Ok(if report.delivered_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// With many groups: `rounds` rounds of (one-group pass, N-group pass) but the last N-group
/// pass, which is the measured one, run next; their reports, one-group and N-group.
fn comparison(
    a: &BenchArgs,
    rounds: u32,
    dir: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<(Vec<Report>, Vec<Report>)> {
    let mut ones: Vec<Report> = Vec::new();
    let mut many: Vec<Report> = Vec::new();
    if rounds > 0 {
        // The first pass of a run is often slower (caches, frequency, allocator): warm up
        // for a second, uncounted, so it does not bias the comparison.
        bar.set_message("argent, warm-up");
        let warm = BenchArgs { duration: 1.0, ..a.clone() };
        let _ = argent_pass(&warm, a.groups, dir, None, None)?;
    }
    for round in 0..rounds {
        bar.set_message(format!("argent, 1 group (round {} of {rounds})", round + 1));
        ones.push(Report::of_pass(1, argent_pass(a, 1, dir, None, None)?));
        if round + 1 < rounds {
            bar.set_message(format!("argent, {} groups (round {} of {rounds})", a.groups, round + 1));
            many.push(Report::of_pass(a.groups, argent_pass(a, a.groups, dir, None, None)?));
        }
    }
    Ok((ones, many))
}

/// With --group-churn: a warm-up, then `comparison_rounds` rounds of (churn-free pass,
/// churn pass) but the last churn pass, which is the measured one, run next; their reports.
fn churn_rounds(
    a: &BenchArgs,
    rate: f64,
    dir: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<(Vec<Report>, Vec<Report>)> {
    bar.set_message("argent, warm-up");
    let _ = argent_pass(&BenchArgs { duration: 1.0, ..a.clone() }, a.groups, dir, None, None)?;
    let rounds = a.group_rounds();
    let (mut calm, mut churned) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        bar.set_message(format!("argent, {} groups, no churn (round {} of {rounds})", a.groups, round + 1));
        calm.push(Report::of_pass(a.groups, argent_pass(a, a.groups, dir, None, None)?));
        if round + 1 < rounds {
            bar.set_message(format!("argent, {} groups, churn (round {} of {rounds})", a.groups, round + 1));
            churned.push(Report::of_pass(a.groups, argent_pass(a, a.groups, dir, None, Some(rate))?));
        }
    }
    Ok((calm, churned))
}

/// `a` with its key file resolved: `auto` makes a new key in `dir` for this run; a path
/// is made absolute (the passes' membership files live in `dir`) and checked now.
fn with_key(mut a: BenchArgs, dir: &Path) -> anyhow::Result<BenchArgs> {
    let Some(k) = &a.key_file else { return Ok(a) };
    let path = if k == "auto" {
        let p = dir.join("cluster.key");
        std::fs::write(&p, argent::auth::KeyRing::new_file()?).context("writing the run's key file")?;
        p
    } else {
        std::path::absolute(k).with_context(|| format!("--key-file {k}"))?
    };
    argent::auth::KeyRing::load(&path).with_context(|| format!("--key-file {k}"))?;
    a.key_path = Some(path);
    Ok(a)
}

/// With --key-file: a warm-up, then the passes of [`super::report::auth_order`] but the last keyed pass,
/// which is the measured one, run next; their reports, unkeyed and keyed.
fn auth_rounds(a: &BenchArgs, dir: &Path, bar: &ProgressBar) -> anyhow::Result<(Vec<Report>, Vec<Report>)> {
    bar.set_message("argent, warm-up");
    let _ = argent_pass(&BenchArgs { duration: 1.0, ..a.clone() }, a.groups, dir, None, None)?;
    let plain_args = BenchArgs { key_path: None, encrypt: false, ..a.clone() };
    let order = super::report::auth_order(a.auth_rounds());
    let (mut plain, mut keyed) = (Vec::new(), Vec::new());
    for (i, &is_keyed) in order[..order.len() - 1].iter().enumerate() {
        let what = if is_keyed { "keyed" } else { "unkeyed" };
        bar.set_message(format!("argent, {what} (pass {} of {})", i + 1, order.len()));
        if is_keyed {
            keyed.push(Report::of_pass(a.groups, argent_pass(a, a.groups, dir, None, None)?));
        } else {
            plain.push(Report::of_pass(a.groups, argent_pass(&plain_args, a.groups, dir, None, None)?));
        }
    }
    Ok((plain, keyed))
}

fn progress(a: &BenchArgs) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let raw = if a.no_raw { 0.0 } else { 2.0 * a.duration.min(3.0) };
    let passes = match (a.group_churn, a.key_path.is_some(), a.groups > 1) {
        (Some(_), _, _) => 0.4 + 2.0 * f64::from(a.group_rounds()),
        (None, true, _) => 0.4 + 2.0 * f64::from(a.auth_rounds()),
        (None, false, true) => 2.0 * f64::from(a.group_rounds()),
        (None, false, false) => 1.0,
    };
    bar.set_message(format!("about {:.0} s", raw + passes * (a.duration + 2.0)));
    bar
}
