//! Periodic timer wake-ups on one core: glommio's `timer::sleep` against `epoll_pwait2`.

use crate::args::{arg, Args};
use crate::os::{pin_current, thread_cpu_ns};
use std::time::{Duration, Instant};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Periodic timer: sleep `period` repeatedly for `secs`, record how late each wake-up is.
pub fn run(a: &Args) {
    let via = a.get("via").cloned().unwrap_or_else(|| "loop".into());
    let secs: f64 = arg(a, "secs", 2.0);
    let core: usize = arg(a, "core", 1);
    let period = Duration::from_micros(arg(a, "period-us", 100));
    // Linux delays a sleeping thread's timers by its timer slack (50 µs by default);
    // a duty-cycle loop can lower it. 0 = leave the default.
    let slack_ns: u64 = arg(a, "slack-ns", 0);
    let (mut late_us, cpu_ns, wall) = match via.as_str() {
        "glommio" => glommio_timer(core, secs, period, slack_ns),
        "loop" => loop_timer(core, secs, period, slack_ns),
        other => panic!("--via glommio|loop, not {other}"),
    };
    let n = late_us.len();
    let mean = late_us.iter().sum::<f64>() / n as f64;
    println!(
        "RESULT role=timer via={via} period_us={} slack_ns={slack_ns} wakes={n} wakes_per_s={:.0} late_mean_us={mean:.1} \
         late_p50_us={:.1} late_p99_us={:.1} cpu_ns_per_wake={:.0}",
        period.as_micros(),
        n as f64 / wall,
        percentile(&mut late_us, 0.5),
        percentile(&mut late_us, 0.99),
        cpu_ns as f64 / n as f64
    );
}

/// Wake-up lateness (µs, one per wake-up), thread CPU ns and wall seconds of a timer run.
type Wakes = (Vec<f64>, u64, f64);

/// Sets the calling thread's timer slack to `slack_ns` (0: leaves the default).
fn set_slack(slack_ns: u64) {
    if slack_ns > 0 {
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, slack_ns as libc::c_ulong, 0, 0, 0) };
    }
}

/// glommio: `timer::sleep(period)` in a loop, on an executor pinned to `core`.
fn glommio_timer(core: usize, secs: f64, period: Duration, slack_ns: u64) -> Wakes {
    use glommio::{LocalExecutorBuilder, Placement};
    LocalExecutorBuilder::new(Placement::Fixed(core))
        .spawn(move || async move {
            set_slack(slack_ns);
            let cpu0 = thread_cpu_ns();
            let start = Instant::now();
            let mut late = Vec::with_capacity(100_000);
            while start.elapsed().as_secs_f64() < secs {
                let due = Instant::now() + period;
                glommio::timer::sleep(period).await;
                late.push(Instant::now().saturating_duration_since(due).as_secs_f64() * 1e6);
            }
            (late, thread_cpu_ns() - cpu0, start.elapsed().as_secs_f64())
        })
        .unwrap()
        .join()
        .unwrap()
}

/// The duty-cycle loop: `epoll_pwait2` with a nanosecond deadline, on a thread pinned to `core`.
fn loop_timer(core: usize, secs: f64, period: Duration, slack_ns: u64) -> Wakes {
    std::thread::spawn(move || {
        pin_current(core);
        set_slack(slack_ns);
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let mut late = Vec::with_capacity(100_000);
        while start.elapsed().as_secs_f64() < secs {
            let due = Instant::now() + period;
            // The duty-cycle loop's park: epoll with a nanosecond deadline.
            let ts = libc::timespec { tv_sec: 0, tv_nsec: period.as_nanos() as i64 };
            unsafe { libc::epoll_pwait2(ep, events.as_mut_ptr(), 8, &ts, std::ptr::null()) };
            late.push(Instant::now().saturating_duration_since(due).as_secs_f64() * 1e6);
        }
        unsafe { libc::close(ep) };
        (late, thread_cpu_ns() - cpu0, start.elapsed().as_secs_f64())
    })
    .join()
    .unwrap()
}
