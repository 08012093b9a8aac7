//! The receivers' measurement window and the `RESULT role=recv` line.

use crate::os::{
    memlock_limit, process_cpu_ns, softnet_drops, thread_cpu_ns, udp_rcvbuf_errors, vm_locked_pinned,
};
use std::time::{Duration, Instant};

/// What a receiver counted within its window.
#[derive(Debug, Default, Clone)]
pub struct RxStats {
    pub count: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bad_size: u64,
    pub wall_s: f64,
    pub thread_cpu_ns: u64,
    pub process_cpu_ns: u64,
    pub rcvbuf_errors: u64,
    pub backlog_drops: u64,
    pub recv_calls: u64,
    pub waits: u64,
}

/// Bookkeeping shared by the receivers: a warm-up of `WARMUP` starts at the first datagram
/// (start-up faults and the first wake-up are not measured); the window opens at the first
/// datagram after it and closes `secs` later. Loss is inferred from the sender's sequence
/// numbers.
const WARMUP: Duration = Duration::from_millis(300);

/// A receiver's measurement window: warm-up, then `secs` of counting.
pub struct Window {
    secs: Duration,
    warm_until: Option<Instant>,
    size: usize,
    pub st: RxStats,
    t0: Option<Instant>,
    cpu0: u64,
    pcpu0: u64,
    rcvbuf0: u64,
    backlog0: u64,
}

impl Window {
    /// A window of `secs` for datagrams of `size` bytes, not yet open.
    pub fn new(secs: f64, size: usize) -> Self {
        Window {
            secs: Duration::from_secs_f64(secs),
            warm_until: None,
            size,
            st: RxStats::default(),
            t0: None,
            cpu0: 0,
            pcpu0: 0,
            rcvbuf0: 0,
            backlog0: 0,
        }
    }
    /// Counts one datagram (or, until the warm-up is over, ignores it).
    #[inline]
    pub fn on_datagram(&mut self, data: &[u8]) {
        let seq = u64::from_le_bytes(data[..8].try_into().unwrap());
        if self.t0.is_none() {
            let now = Instant::now();
            let warm_until = *self.warm_until.get_or_insert(now + WARMUP);
            if now < warm_until {
                return;
            }
            self.t0 = Some(Instant::now());
            self.cpu0 = thread_cpu_ns();
            self.pcpu0 = process_cpu_ns();
            self.rcvbuf0 = udp_rcvbuf_errors();
            self.backlog0 = softnet_drops();
            self.st.first_seq = seq;
            // Count calls and waits from here on (the call that delivered this one included).
            self.st.recv_calls = 1;
            self.st.waits = 0;
        }
        if data.len() != self.size {
            self.st.bad_size += 1;
        }
        self.st.count += 1;
        self.st.bytes += data.len() as u64;
        self.st.last_seq = self.st.last_seq.max(seq);
    }
    /// True once the window has closed (checked after each datagram or batch).
    #[inline]
    pub fn done(&mut self) -> bool {
        match self.t0 {
            Some(t0) if t0.elapsed() >= self.secs => {
                self.st.wall_s = t0.elapsed().as_secs_f64();
                self.st.thread_cpu_ns = thread_cpu_ns() - self.cpu0;
                self.st.process_cpu_ns = process_cpu_ns() - self.pcpu0;
                self.st.rcvbuf_errors = udp_rcvbuf_errors() - self.rcvbuf0;
                self.st.backlog_drops = softnet_drops() - self.backlog0;
                true
            }
            _ => false,
        }
    }
}

/// Prints the `RESULT role=recv` line of `st`.
pub fn print_rx(via: &str, size: usize, st: &RxStats) {
    let expected = st.last_seq.saturating_sub(st.first_seq) + 1;
    let lost = expected.saturating_sub(st.count);
    let (vmlck, vmpin) = vm_locked_pinned();
    println!(
        "RESULT role=recv via={via} size={size} count={} bytes={} wall_s={:.3} dps={:.0} mbps={:.1} \
         offered_dps={:.0} cpu_ns_per_dgram={:.0} proc_cpu_ns_per_dgram={:.0} cpu_util={:.3} \
         loss_pct={:.2} rcvbuf_errors={} backlog_drops={} bad_size={} recv_calls={} dgrams_per_call={:.2} waits={} \
         vmlck_kb={vmlck} vmpin_kb={vmpin} memlock={}",
        st.count,
        st.bytes,
        st.wall_s,
        st.count as f64 / st.wall_s,
        st.bytes as f64 / st.wall_s / 1e6,
        expected as f64 / st.wall_s,
        st.thread_cpu_ns as f64 / st.count.max(1) as f64,
        st.process_cpu_ns as f64 / st.count.max(1) as f64,
        st.thread_cpu_ns as f64 / 1e9 / st.wall_s,
        100.0 * lost as f64 / expected as f64,
        st.rcvbuf_errors,
        st.backlog_drops,
        st.bad_size,
        st.recv_calls,
        st.count as f64 / st.recv_calls.max(1) as f64,
        st.waits,
        memlock_limit(),
    );
}
