//! A child process of a run: publish or subscribe, then print the JSON summary.

use crate::control::Control;
use crate::opts::{Opts, Role};
use crate::systems::{publish, subscribe};
use crate::verify::{Generator, Verifier};
use argent_procs::child::cpu_secs;
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

/// A child process: publish or subscribe, then print the summary.
pub fn run(o: &Opts, role: Role) -> anyhow::Result<ExitCode> {
    let mut ctl = Control::new(o, role);
    let summary = match role {
        Role::Pub => {
            let mut g = Generator::new(o.size, Duration::from_secs_f64(o.duration))
                .with_rate(o.rate)
                .with_sender(o.index as u32);
            let settings = publish(o, &mut ctl, &mut g)?;
            let secs = g.elapsed().as_secs_f64();
            json!({
                "role": "pub",
                "index": o.index,
                "sent": g.sent(),
                "secs": secs,
                "msgs_per_sec": g.sent() as f64 / secs.max(1e-9),
                "cpu_secs": cpu_secs(),
                "settings": settings,
            })
        }
        Role::Sub => {
            let mut v = Verifier::new(o.size)
                .counting(o.verify == crate::opts::VerifyMode::Count)
                .publishers(o.publishers)
                .ordering(o.system.total_order());
            let settings = subscribe(o, &mut ctl, &mut v)?;
            let secs = v.secs();
            let per_sec = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
            let mut s = serde_json::to_value(&v)?;
            s["role"] = json!("sub");
            s["index"] = json!(o.index);
            s["complete"] = json!(v.complete());
            s["secs"] = json!(secs);
            s["msgs_per_sec"] = json!(per_sec(v.received));
            s["mb_per_sec"] = json!(per_sec(v.bytes) / 1e6);
            let [p50, p99, p999, max] = v.latency_us();
            s["p50_us"] = json!(p50);
            s["p99_us"] = json!(p99);
            s["p999_us"] = json!(p999);
            s["max_us"] = json!(max);
            s["cpu_secs"] = json!(cpu_secs());
            if let Some(h) = v.order_hash() {
                s["order_hash"] = json!(h);
            }
            s["settings"] = settings;
            s
        }
    };
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
