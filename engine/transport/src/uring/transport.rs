//! The io_uring transport: receive rings, the waker poll, completions, and the probe that
//! checks io_uring works here.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddrV4;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use crate::api::Transport;
use crate::backend::Backend;
use crate::datagram::{Outgoing, Received};
use crate::error::TransportError;
use crate::plan::{gso_allowed, Gso, SendPlan};
use crate::report::SendReport;
use crate::socket::Sockets;
use crate::spec::{SocketSpec, MAX_BATCH};
use crate::stats::TransportStats;
use crate::sys::{self, RECV_CMSG_SPACE, SOCKADDR_IN_LEN};
use crate::uring::pool::{BufPool, BufRing, BufSlice};
use crate::waker::Waker;

/// The one buffer group all sockets share.
const BGID: u16 = 0;
const SQ_ENTRIES: u32 = 256;
/// Sends in flight at once (the rest wait for room in the submission queue).
pub(super) const MAX_INFLIGHT_SENDS: usize = 192;
/// Bytes before the payload in a multishot receive buffer: `io_uring_recvmsg_out`, the
/// source address, the control data.
const RECV_HEADER: usize = 16 + SOCKADDR_IN_LEN as usize + RECV_CMSG_SPACE;
/// The buffer pool is sized like the socket receive buffer, but at least this large (only
/// the pages datagrams touch become resident: a 64 KiB buffer holding 8 KiB costs 8 KiB)...
const MIN_POOL_BYTES: usize = 4 << 20;
/// ...with at least this many batches of buffers...
const MIN_BATCHES: usize = 8;
/// ...and at most this many buffers.
const MAX_BUFFERS: usize = 8192;

const _: () = assert!(MAX_INFLIGHT_SENDS + MAX_BATCH / 32 < SQ_ENTRIES as usize);
const _: () = assert!(MAX_BUFFERS <= 32768 && MIN_BATCHES * MAX_BATCH <= MAX_BUFFERS);

/// What a completion belongs to (its `user_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Recv(usize),
    Send(usize),
    Wake,
    Cancel,
}

impl Op {
    pub(super) fn encode(self) -> u64 {
        match self {
            Op::Recv(i) => (1 << 56) | i as u64,
            Op::Send(i) => (2 << 56) | i as u64,
            Op::Wake => 3 << 56,
            Op::Cancel => 4 << 56,
        }
    }

    fn decode(data: u64) -> Option<Op> {
        let index = (data & ((1 << 56) - 1)) as usize;
        match data >> 56 {
            1 => Some(Op::Recv(index)),
            2 => Some(Op::Send(index)),
            3 => Some(Op::Wake),
            4 => Some(Op::Cancel),
            _ => None,
        }
    }
}

/// The `msghdr` template of the multishot receives (only the name and control lengths count).
struct RecvHdr(Box<libc::msghdr>);

// SAFETY: the header holds only lengths and null pointers; it is read by the kernel when a
// receive is submitted, from whichever thread owns the transport.
#[allow(unsafe_code)]
unsafe impl Send for RecvHdr {}

/// io_uring transport; see the documentation of the `uring` module.
pub(crate) struct UringTransport {
    ring: IoUring,
    pub(super) sockets: Sockets,
    pool: Arc<BufPool>,
    bufs: BufRing,
    /// Buffers currently provided to the kernel.
    in_ring: usize,
    recv_hdr: RecvHdr,
    /// Per socket: a multishot receive is active.
    armed: Vec<bool>,
    pending: VecDeque<Received>,
    drops_seen: Vec<u32>,
    last_recv_error: Option<i32>,
    waker: Waker,
    waker_armed: bool,
    woken: bool,
    pub(super) plan: SendPlan,
    pub(super) gso: Gso,
    /// Per planned message of the current send round: its completion result.
    pub(super) send_res: Vec<Option<i32>>,
    pub(super) inflight: usize,
    pub(super) ranges: Vec<Range<usize>>,
    cqes: Vec<(u64, i32, u32)>,
    pub(super) stats: TransportStats,
}

impl std::fmt::Debug for UringTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringTransport")
            .field("local", &self.sockets.local)
            .field("pool", &self.pool)
            .field("in_ring", &self.in_ring)
            .finish()
    }
}

impl UringTransport {
    /// Opens the sockets and the ring, after checking io_uring works here.
    pub(crate) fn open(spec: &SocketSpec) -> Result<Self, TransportError> {
        probe().map_err(TransportError::UringUnavailable)?;
        let t = Self::open_inner(spec)?;
        tracing::info!(
            backend = "uring",
            local = %t.sockets.local,
            groups = spec.groups.len(),
            recv_buffer_granted = t.stats.recv_buffer_granted,
            send_buffer_granted = t.stats.send_buffer_granted,
            buffers = t.pool.count(),
            buffer_len = t.pool.buf_len(),
            gso = t.gso.enabled,
            "transport open"
        );
        Ok(t)
    }

    fn open_inner(spec: &SocketSpec) -> Result<Self, TransportError> {
        // Blocking sockets: io_uring then waits for writability itself instead of failing EAGAIN.
        let sockets = Sockets::open(spec, false)?;
        let waker = Waker::new().map_err(|e| TransportError::setup("creating the waker eventfd", e))?;
        let buf_len = (RECV_HEADER + spec.max_datagram).next_multiple_of(64);
        let count =
            (spec.recv_buffer.max(MIN_POOL_BYTES) / buf_len).clamp(MIN_BATCHES * spec.batch, MAX_BUFFERS);
        let entries = count.next_power_of_two() as u16;
        let cq_entries = (2 * entries as u32 + 2 * SQ_ENTRIES).next_power_of_two();
        let ring = build_ring(cq_entries)?;
        let pool = BufPool::new(count as u16, buf_len, waker.clone()).map_err(|e| {
            TransportError::setup(format!("allocating {count} receive buffers of {buf_len} bytes"), e)
        })?;
        let bufs = BufRing::new(entries)
            .map_err(|e| TransportError::setup("allocating the provided buffer ring", e))?;
        // SAFETY: the ring memory stays valid until it is unregistered (Drop) or leaked.
        #[allow(unsafe_code)]
        unsafe { ring.submitter().register_buf_ring_with_flags(bufs.addr(), bufs.entries(), BGID, 0) }
            .map_err(|e| {
                TransportError::UringUnavailable(format!(
                    "registering a provided buffer ring failed: {e} (Linux 5.19+)"
                ))
            })?;
        let mut hdr = Box::new(sys::zeroed_msghdr());
        hdr.msg_namelen = SOCKADDR_IN_LEN;
        hdr.msg_controllen = RECV_CMSG_SPACE as _;
        let n = sockets.len();
        let stats = TransportStats {
            recv_buffer_granted: sockets.recv_granted,
            send_buffer_granted: sockets.send_granted,
            ..TransportStats::default()
        };
        let gso = Gso::new(sockets.gso_supported() && gso_allowed());
        let mut t = UringTransport {
            ring,
            sockets,
            pool,
            bufs,
            in_ring: 0,
            recv_hdr: RecvHdr(hdr),
            armed: vec![false; n],
            pending: VecDeque::with_capacity(count),
            drops_seen: vec![0; n],
            last_recv_error: None,
            waker,
            waker_armed: false,
            woken: false,
            plan: SendPlan::default(),
            gso,
            send_res: Vec::new(),
            inflight: 0,
            ranges: Vec::new(),
            cqes: Vec::with_capacity(cq_entries as usize),
            stats,
        };
        t.replenish();
        Ok(t)
    }

    /// Gives every returned buffer back to the kernel.
    fn replenish(&mut self) {
        let mut n = 0;
        while let Some(bid) = self.pool.pop_free() {
            self.bufs.push(self.pool.addr(bid), self.pool.buf_len() as u32, bid);
            n += 1;
        }
        if n > 0 {
            self.bufs.publish();
            self.in_ring += n;
        }
    }

    /// Queues a submission, submitting first if the queue is full.
    pub(super) fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry's pointers (receive header, send plan and batch, eventfd)
            // stay valid until its completion is reaped: receives live as long as the
            // transport (Drop cancels them), sends are reaped before `send` returns.
            #[allow(unsafe_code)]
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return Ok(());
            }
            self.enter(Some(Duration::ZERO), 0)?;
        }
    }

    /// Arms a multishot receive on every socket without one (if buffers are available) and
    /// the waker poll.
    fn arm(&mut self) -> io::Result<()> {
        for idx in 0..self.armed.len() {
            if !self.armed[idx] && self.in_ring > 0 {
                let Some(fd) = self.sockets.fd(idx) else { continue }; // a free slot
                let fd = types::Fd(fd);
                let entry = opcode::RecvMsgMulti::new(fd, &*self.recv_hdr.0, BGID).build();
                self.push(entry.user_data(Op::Recv(idx).encode()))?;
                self.armed[idx] = true;
            }
        }
        if !self.waker_armed {
            let entry = opcode::PollAdd::new(types::Fd(self.waker.raw_fd()), libc::POLLIN as u32).build();
            self.push(entry.user_data(Op::Wake.encode()))?;
            self.waker_armed = true;
        }
        Ok(())
    }

    /// Submits what is queued and waits up to `timeout` (None = forever) for `want` completions.
    pub(super) fn enter(&mut self, timeout: Option<Duration>, want: usize) -> io::Result<()> {
        let result = match timeout {
            _ if want == 0 => self.ring.submit(),
            None => self.ring.submit_and_wait(want),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(want, &args)
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Handles every completion available (flushing an overflowed completion queue).
    pub(super) fn reap(&mut self) {
        loop {
            self.cqes.clear();
            let cq = self.ring.completion();
            self.cqes.extend(cq.map(|e| (e.user_data(), e.result(), e.flags())));
            for i in 0..self.cqes.len() {
                let (data, res, flags) = self.cqes[i];
                match Op::decode(data) {
                    Some(Op::Recv(idx)) => self.on_recv(idx, res, flags),
                    Some(Op::Send(k)) => {
                        if let Some(slot) = self.send_res.get_mut(k) {
                            *slot = Some(res);
                        }
                        self.inflight = self.inflight.saturating_sub(1);
                    }
                    Some(Op::Wake) => {
                        self.waker_armed = false;
                        if res >= 0 {
                            self.waker.drain();
                            self.woken = true;
                            self.stats.wakeups += 1;
                        }
                    }
                    Some(Op::Cancel) | None => {}
                }
            }
            if !self.ring.submission().cq_overflow() {
                return;
            }
            // Completions the kernel kept aside: an enter with GETEVENTS flushes them.
            self.stats.cq_overflows += 1;
            let _ = self.ring.submit();
        }
    }

    fn on_recv(&mut self, idx: usize, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            if let Some(a) = self.armed.get_mut(idx) {
                *a = false;
            }
        }
        let bid = cqueue::buffer_select(flags);
        if bid.is_some() {
            self.in_ring -= 1;
        }
        if res < 0 {
            if let Some(bid) = bid {
                self.pool.release(bid);
            }
            match -res {
                libc::ENOBUFS => self.stats.recv_buffer_exhausted += 1,
                libc::ECANCELED => {}
                errno => {
                    self.last_recv_error = Some(errno);
                    tracing::warn!(socket = idx, error = %io::Error::from_raw_os_error(errno), "io_uring receive failed; re-arming");
                }
            }
            return;
        }
        let Some(bid) = bid else { return };
        let Some(got) = self.parse(bid, res as usize) else {
            self.pool.release(bid);
            return;
        };
        if let (Some(count), Some(seen)) = (got.drops, self.drops_seen.get_mut(idx)) {
            self.stats.recv_drops += count.wrapping_sub(*seen) as u64;
            *seen = count;
        }
        if got.truncated {
            self.stats.recv_truncated += 1;
            self.pool.release(bid);
            return;
        }
        // Readers (caches, delivery rings) may keep datagrams for a long time: once half the
        // pool is lent out, copy instead, so receiving never stalls on buffers held elsewhere.
        let whole = if self.pool.lent() >= self.pool.count() as usize / 2 {
            // SAFETY: the completion handed buffer `bid` to us; released right after the copy.
            #[allow(unsafe_code)]
            let buf = unsafe { self.pool.filled(bid, got.offset + got.len) };
            let copy = Bytes::copy_from_slice(&buf[got.offset..]);
            self.pool.release(bid);
            self.stats.recv_copied += 1;
            copy
        } else {
            Bytes::from_owner(BufSlice::new(self.pool.clone(), bid, got.offset, got.len))
        };
        let via = Sockets::via(idx);
        match got.segment.filter(|&g| g < whole.len()) {
            // UDP GRO: several datagrams of `segment` bytes (the last may be shorter), each a
            // slice of the one buffer.
            Some(segment) => {
                self.stats.gro_buffers += 1;
                let mut at = 0;
                while at < whole.len() {
                    let n = segment.min(whole.len() - at);
                    self.pending.push_back(Received { data: whole.slice(at..at + n), from: got.from, via });
                    at += n;
                }
            }
            None => self.pending.push_back(Received { data: whole, from: got.from, via }),
        }
    }

    /// Reads the layout of a completed multishot receive in buffer `bid` (which we own).
    fn parse(&self, bid: u16, len: usize) -> Option<Parsed> {
        // SAFETY: the completion handed buffer `bid` to us; `len` is clamped to its size.
        #[allow(unsafe_code)]
        let buf = unsafe { self.pool.filled(bid, len.min(self.pool.buf_len())) };
        let msg = types::RecvMsgOut::parse(buf, &self.recv_hdr.0).ok()?;
        let payload = msg.payload_data();
        let control = sys::recv_control(msg.control_data());
        Some(Parsed {
            drops: control.drops,
            segment: control.segment,
            truncated: msg.is_payload_truncated(),
            from: sys::from_sockaddr_bytes(msg.name_data()),
            offset: payload.as_ptr() as usize - buf.as_ptr() as usize,
            len: payload.len(),
        })
    }

    fn deliver(&mut self, max: usize, out: &mut Vec<Received>) -> usize {
        let n = max.min(self.pending.len());
        for r in self.pending.drain(..n) {
            self.stats.bytes_received += r.data.len() as u64;
            out.push(r);
        }
        self.stats.datagrams_received += n as u64;
        self.woken = false;
        n
    }
}

struct Parsed {
    drops: Option<u32>,
    segment: Option<usize>,
    truncated: bool,
    from: SocketAddrV4,
    offset: usize,
    len: usize,
}

fn build_ring(cq_entries: u32) -> Result<IoUring, TransportError> {
    // Cooperative task running avoids interrupting the thread for each completion (5.19+).
    let coop = IoUring::builder()
        .setup_cqsize(cq_entries)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(SQ_ENTRIES);
    coop.or_else(|_| IoUring::builder().setup_cqsize(cq_entries).build(SQ_ENTRIES))
        .map_err(|e| TransportError::UringUnavailable(format!("io_uring_setup failed: {e}")))
}

impl Transport for UringTransport {
    fn backend(&self) -> Backend {
        Backend::Uring
    }

    fn local_addr(&self) -> SocketAddrV4 {
        self.sockets.local
    }

    fn recv(&mut self, timeout: Option<Duration>, max: usize, out: &mut Vec<Received>) -> io::Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut waited = false;
        loop {
            self.reap();
            if !self.pending.is_empty() || self.woken {
                // Give freed buffers back to the kernel before handing datagrams out, so it
                // does not run dry (and end the multishot receives) while we are busy.
                self.replenish();
                self.arm()?;
                return Ok(self.deliver(max, out));
            }
            self.replenish();
            self.arm()?;
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if waited && remaining == Some(Duration::ZERO) {
                return Ok(self.deliver(max, out));
            }
            if self.in_ring == 0 && !self.pool.set_starved() {
                continue; // a buffer came back meanwhile: provide it and look again
            }
            let want = if remaining == Some(Duration::ZERO) { 0 } else { 1 };
            if want == 0 {
                self.stats.recv_syscalls += 1;
            } else {
                self.stats.wait_syscalls += 1;
            }
            self.enter(remaining, want)?;
            waited = true;
        }
    }

    fn send(&mut self, batch: &mut Vec<Outgoing>) -> io::Result<SendReport> {
        self.send_batch(batch)
    }

    fn waker(&self) -> Waker {
        self.waker.clone()
    }

    fn stats(&self) -> TransportStats {
        self.stats
    }

    fn join(&mut self, group: SocketAddrV4) -> Result<(), TransportError> {
        let Some(idx) = self.sockets.join(group)? else { return Ok(()) };
        let n = self.sockets.len();
        if self.armed.len() < n {
            self.armed.resize(n, false);
            self.drops_seen.resize(n, 0);
        }
        self.drops_seen[idx] = 0;
        // Its multishot receive is armed by the next `recv`.
        tracing::debug!(%group, socket = idx, "group joined");
        Ok(())
    }

    fn leave(&mut self, group: SocketAddrV4) -> Result<bool, TransportError> {
        let Some(idx) = self.sockets.index_of(group) else { return Ok(false) };
        let what = || format!("cancelling the receive of group {group}");
        if self.armed.get(idx) == Some(&true) {
            let entry =
                opcode::AsyncCancel::new(Op::Recv(idx).encode()).build().user_data(Op::Cancel.encode());
            self.push(entry).map_err(|e| TransportError::setup(what(), e))?;
            // The socket may close only once the kernel ended the receive (its last
            // completion), so that no completion of it can name a reused slot.
            let deadline = Instant::now() + Duration::from_secs(1);
            while self.armed[idx] {
                let now = Instant::now();
                if now >= deadline {
                    let e = io::Error::new(io::ErrorKind::TimedOut, "the receive did not end within 1 s");
                    return Err(TransportError::setup(what(), e));
                }
                self.enter(Some((deadline - now).min(Duration::from_millis(10))), 1)
                    .map_err(|e| TransportError::setup(what(), e))?;
                self.reap();
            }
        }
        self.sockets.close(idx);
        self.armed.truncate(self.sockets.len());
        self.drops_seen.truncate(self.sockets.len());
        tracing::debug!(%group, socket = idx, "group left");
        Ok(true)
    }

    fn groups(&self) -> Vec<SocketAddrV4> {
        self.sockets.joined()
    }
}

impl Drop for UringTransport {
    fn drop(&mut self) {
        if !self.shutdown() {
            tracing::error!("io_uring transport did not quiesce; leaking its receive buffers");
            self.bufs.leak();
            std::mem::forget(self.pool.clone());
        }
    }
}

impl UringTransport {
    /// Cancels the receives and the waker poll and waits for their last completions, so the
    /// kernel no longer writes into the buffers; then unregisters the buffer ring.
    fn shutdown(&mut self) -> bool {
        let mut ops: Vec<Op> = (0..self.armed.len()).filter(|&i| self.armed[i]).map(Op::Recv).collect();
        if self.waker_armed {
            ops.push(Op::Wake);
        }
        for op in ops {
            let entry = opcode::AsyncCancel::new(op.encode()).build().user_data(Op::Cancel.encode());
            if self.push(entry).is_err() {
                return false;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.armed.iter().any(|&a| a) || self.waker_armed || self.inflight > 0 {
            let now = Instant::now();
            if now >= deadline
                || self.enter(Some((deadline - now).min(Duration::from_millis(10))), 1).is_err()
            {
                return false;
            }
            self.reap();
        }
        self.pending.clear();
        self.ring.submitter().unregister_buf_ring(BGID).is_ok()
    }
}

/// Checks (once per process) that io_uring works here for this backend.
pub(crate) fn probe() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe_now).clone()
}

fn probe_now() -> Result<(), String> {
    let ring = IoUring::new(8).map_err(|e| {
        format!("io_uring_setup failed: {e} (needs Linux 5.1+; kernel.io_uring_disabled, seccomp or a container may block it)")
    })?;
    if !ring.params().is_feature_ext_arg() {
        return Err("the kernel lacks IORING_FEAT_EXT_ARG (timed waits, Linux 5.11+)".into());
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| format!("IORING_REGISTER_PROBE failed: {e}"))?;
    let needed = [
        (opcode::RecvMsg::CODE, "RECVMSG"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ];
    if let Some((_, name)) = needed.iter().find(|(code, _)| !probe.is_supported(*code)) {
        return Err(format!("the kernel does not support IORING_OP_{name}"));
    }
    drop(ring);
    self_test().map_err(|e| format!("io_uring self-test on 127.0.0.1 failed: {e}"))
}

/// Sends a datagram to itself through a minimal transport and receives it. The datagram is
/// sent again every [`PROBE_RESEND`] until one arrives: a packet filter that drops some UDP
/// (loss injected with nftables, say) must not fail the probe, nor make it take 2 s.
fn self_test() -> Result<(), String> {
    let spec =
        SocketSpec { batch: 1, max_datagram: 64, recv_buffer: 0, send_buffer: 0, ..SocketSpec::default() };
    let mut t = UringTransport::open_inner(&spec).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut resend = Instant::now();
    let mut sent = 0u32;
    let mut out = Vec::new();
    while out.is_empty() && Instant::now() < deadline {
        if Instant::now() >= resend {
            let mut batch = vec![Outgoing::new(t.local_addr(), Bytes::from_static(b"argent-probe"))];
            let report = t.send(&mut batch).map_err(|e| format!("SendMsg: {e}"))?;
            if report.sent != 1 {
                return Err(format!("SendMsg did not send: {report:?}"));
            }
            sent += 1;
            resend = Instant::now() + PROBE_RESEND;
        }
        let left = resend.min(deadline).saturating_duration_since(Instant::now());
        t.recv(Some(left), 1, &mut out).map_err(|e| format!("waiting: {e}"))?;
        if let Some(errno) = t.last_recv_error {
            let e = io::Error::from_raw_os_error(errno);
            return Err(format!("multishot RecvMsg with a provided buffer ring: {e} (Linux 6.0+)"));
        }
    }
    match out.first() {
        Some(r) if &r.data[..] == b"argent-probe" && r.from == t.local_addr() => Ok(()),
        Some(r) => Err(format!("received {:?} from {} instead of the probe datagram", r.data, r.from)),
        None => Err(format!("multishot RecvMsg delivered none of {sent} datagrams within 2 s")),
    }
}

/// How often the self-test sends its datagram again until one arrives.
const PROBE_RESEND: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for op in [Op::Recv(0), Op::Recv(77), Op::Send(1234), Op::Wake, Op::Cancel] {
            assert_eq!(Op::decode(op.encode()), Some(op));
        }
        assert_eq!(Op::decode(0), None);
    }
}
