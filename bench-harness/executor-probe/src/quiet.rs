//! How busy the machine is: other processes' CPU time, and waiting for a quiet machine.

use std::time::{Duration, Instant};

/// CPU ticks (utime+stime+cutime+cstime) of every process but this probe's (and ksoftirqd): other people's
/// work on the machine (a compiler finished and reaped during a run shows in its parent).
pub fn foreign_cpu_ticks() -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
        // ksoftirqd runs the loopback delivery this probe causes: not someone else's work.
        if comm.starts_with("argent-executor") || comm.starts_with("ksoftirqd") {
            continue;
        }
        // Fields after "comm)": state is field 3, utime 14 .. cstime 17.
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        total += f[11..15].iter().filter_map(|x| x.parse::<u64>().ok()).sum::<u64>();
    }
    total
}

/// Busy (non-idle, non-iowait) jiffies of all CPUs, from /proc/stat.
fn busy_jiffies() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let l = s.lines().next().unwrap_or("");
    let f: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum()
}

/// Waits (at most `max`) until the machine has been nearly idle (< 0.1 core busy) for a second.
pub fn wait_quiet(max: Duration) -> bool {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let t0 = Instant::now();
    while t0.elapsed() < max {
        let b0 = busy_jiffies();
        std::thread::sleep(Duration::from_secs(1));
        if (busy_jiffies() - b0) as f64 / tick < 0.1 {
            return true;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    false
}
