//! The child's side: say `ready` on stdout, hear `go` and `stop` on stdin, report CPU time.

use std::io::{BufRead, Write};

/// What a child prints once it is set up.
pub const READY: &str = "ready";
/// What the parent says when a child may start (a publisher starts its clock).
pub const GO: &str = "go";
/// What the parent says when a child may end (every subscriber has finished).
pub const STOP: &str = "stop";

/// Tells the parent this process is set up: [`READY`] on its own stdout line.
pub fn ready() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}")?;
    out.flush()
}

/// The parent's next word on stdin, trimmed; `None` at the end of input.
pub fn hear() -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

/// User plus system CPU seconds used by this process so far (every thread).
#[allow(unsafe_code)]
pub fn cpu_secs() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer we pass, which points to
    // memory of the right size and alignment; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: getrusage returned 0, so it initialised the structure.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_grows_with_work() {
        let before = super::cpu_secs();
        let mut x = 1u64;
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 50 {
            x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
        }
        assert!(super::cpu_secs() > before);
    }
}
