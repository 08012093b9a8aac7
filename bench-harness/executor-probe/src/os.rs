//! What the kernel reports about this process and host (CPU time, UDP drops, locked
//! memory), and pinning a thread to a core.

fn rusage_ns(who: libc::c_int) -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User plus system CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    rusage_ns(libc::RUSAGE_THREAD)
}

/// User plus system CPU time of this process, ns.
pub fn process_cpu_ns() -> u64 {
    rusage_ns(libc::RUSAGE_SELF)
}

/// Packets dropped because a CPU's input backlog was full (column 2 of /proc/net/softnet_stat).
pub fn softnet_drops() -> u64 {
    let s = std::fs::read_to_string("/proc/net/softnet_stat").unwrap_or_default();
    s.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|x| u64::from_str_radix(x, 16).ok())
        .sum()
}

/// `Udp: ... RcvbufErrors` from /proc/net/snmp (host-wide; only this probe uses UDP here).
pub fn udp_rcvbuf_errors() -> u64 {
    let s = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(h), Some(v)) = (lines.next(), lines.next()) else { return 0 };
    let idx = h.split_whitespace().position(|w| w == "RcvbufErrors");
    idx.and_then(|i| v.split_whitespace().nth(i)).and_then(|x| x.parse().ok()).unwrap_or(0)
}

/// VmLck and VmPin (kB) of this process: memory locked or pinned (io_uring registered buffers).
pub fn vm_locked_pinned() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    (get("VmLck:"), get("VmPin:"))
}

/// The RLIMIT_MEMLOCK soft limit, `unlimited` or in KiB.
pub fn memlock_limit() -> String {
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
    if r.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        format!("{}KiB", r.rlim_cur / 1024)
    }
}

/// Pins the calling thread to `core`; panics if it cannot.
pub fn pin_current(core: usize) {
    let ids = core_affinity::get_core_ids().expect("core ids");
    let id = ids.into_iter().find(|c| c.id == core).expect("no such core");
    assert!(core_affinity::set_for_current(id), "pinning to core {core} failed");
}

/// Panics with `what` and the last OS error.
pub fn os_err(what: &str) -> ! {
    panic!("{what}: {}", std::io::Error::last_os_error())
}
