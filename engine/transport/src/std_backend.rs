//! The portable backend: non-blocking sockets, `recvmmsg`/`sendmmsg` in batches, UDP GSO for
//! runs of equal-sized datagrams, level-triggered `epoll` over every socket and the waker.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::api::{Transport, SEND_WAIT_BUDGET};
use crate::arena::RecvArena;
use crate::backend::Backend;
use crate::datagram::{Outgoing, Received};
use crate::error::TransportError;
use crate::plan::{gso_allowed, Gso, SendPlan};
use crate::report::SendReport;
use crate::socket::Sockets;
use crate::spec::SocketSpec;
use crate::stats::TransportStats;
use crate::sys::{self, CmsgBuf, Epoll, RECV_CMSG_SPACE, SOCKADDR_IN_LEN};
use crate::waker::Waker;

/// The epoll token of the waker (sockets use their index).
const WAKER_TOKEN: u64 = u64::MAX;
/// Receive arenas are at least this large.
const MIN_ARENA: usize = 4 << 20;
/// Pause before retrying after ENOBUFS (the socket may look writable while the device is not).
const ENOBUFS_PAUSE: Duration = Duration::from_micros(200);

/// `recvmmsg` headers and the buffers they point at (except the data, in the arena).
struct RecvScratch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_in>,
    ctrls: Vec<CmsgBuf>,
    /// Per datagram kept: where it is in the arena's spare capacity, and who sent it.
    pieces: Vec<(usize, usize)>,
    froms: Vec<SocketAddrV4>,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` are rewritten by `prepare` before every use
// and point only into this struct and the transport's arena.
#[allow(unsafe_code)]
unsafe impl Send for RecvScratch {}

impl RecvScratch {
    fn new(batch: usize) -> Self {
        RecvScratch {
            hdrs: vec![sys::zeroed_mmsghdr(); batch],
            iovs: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; batch],
            names: vec![sys::sockaddr_in(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)); batch],
            ctrls: vec![CmsgBuf::default(); batch],
            pieces: Vec::with_capacity(batch),
            froms: Vec::with_capacity(batch),
        }
    }

    /// Points headers `0..k` at slots of `slot` bytes from `base`.
    fn prepare(&mut self, base: *mut u8, k: usize, slot: usize) {
        for i in 0..k {
            self.iovs[i] = libc::iovec { iov_base: base.wrapping_add(i * slot).cast(), iov_len: slot };
            let h = &mut self.hdrs[i];
            h.msg_len = 0;
            h.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in).cast();
            h.msg_hdr.msg_namelen = SOCKADDR_IN_LEN;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.ctrls[i].0.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = RECV_CMSG_SPACE as _;
            h.msg_hdr.msg_flags = 0;
        }
    }
}

/// The std transport.
pub(crate) struct StdTransport {
    sockets: Sockets,
    epoll: Epoll,
    waker: Waker,
    /// Per socket: may have data (level-triggered epoll said so, and it was not drained since).
    ready: Vec<bool>,
    next_group: usize,
    woken: bool,
    arena: RecvArena,
    slot: usize,
    batch: usize,
    rx: RecvScratch,
    drops_seen: Vec<u32>,
    plan: SendPlan,
    gso: Gso,
    stats: TransportStats,
}

impl std::fmt::Debug for StdTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdTransport").field("local", &self.sockets.local).field("gso", &self.gso).finish()
    }
}

impl StdTransport {
    pub(crate) fn open(spec: &SocketSpec) -> Result<Self, TransportError> {
        let sockets = Sockets::open(spec, true)?;
        let waker = Waker::new().map_err(|e| TransportError::setup("creating the waker eventfd", e))?;
        let mut epoll =
            Epoll::new(sockets.len() + 1).map_err(|e| TransportError::setup("creating the epoll set", e))?;
        for idx in 0..sockets.len() {
            if let Some(fd) = sockets.fd(idx) {
                epoll
                    .add(fd, idx as u64)
                    .map_err(|e| TransportError::setup("adding a socket to epoll", e))?;
            }
        }
        epoll
            .add(waker.raw_fd(), WAKER_TOKEN)
            .map_err(|e| TransportError::setup("adding the waker to epoll", e))?;
        let slot = spec.max_datagram;
        let arena_size = MIN_ARENA.max(4 * spec.batch * slot);
        let gso = Gso::new(sockets.gso_supported() && gso_allowed());
        let stats = TransportStats {
            recv_buffer_granted: sockets.recv_granted,
            send_buffer_granted: sockets.send_granted,
            ..TransportStats::default()
        };
        let n = sockets.len();
        tracing::info!(
            backend = "std",
            local = %sockets.local,
            groups = spec.groups.len(),
            recv_buffer_granted = sockets.recv_granted,
            send_buffer_granted = sockets.send_granted,
            arena = arena_size,
            gso = gso.enabled,
            "transport open"
        );
        Ok(StdTransport {
            sockets,
            epoll,
            waker,
            ready: vec![true; n],
            next_group: 0,
            woken: false,
            arena: RecvArena::new(arena_size),
            slot,
            batch: spec.batch,
            rx: RecvScratch::new(spec.batch),
            drops_seen: vec![0; n],
            plan: SendPlan::default(),
            gso,
            stats,
        })
    }

    /// Receives up to `max` datagrams from sockets marked ready: unicast first, then the
    /// groups round-robin. A socket that returns fewer than asked is drained: unmarked.
    fn drain(&mut self, max: usize, out: &mut Vec<Received>) -> io::Result<usize> {
        let n = self.sockets.len();
        let groups = n - 1;
        let mut got = 0;
        for k in 0..n {
            let idx = if k == 0 { 0 } else { 1 + (self.next_group + k - 1) % groups };
            while self.ready[idx] && got < max {
                let want = self.batch.min(max - got);
                let (messages, delivered) = self.recv_batch(idx, want, out)?;
                got += delivered;
                if messages < want {
                    self.ready[idx] = false;
                }
            }
        }
        if groups > 0 {
            self.next_group = (self.next_group + 1) % groups;
        }
        Ok(got)
    }

    /// One `recvmmsg` of up to `k` datagrams from socket `idx` into the arena. Returns the
    /// messages received and the datagrams delivered (truncated ones are dropped).
    fn recv_batch(&mut self, idx: usize, k: usize, out: &mut Vec<Received>) -> io::Result<(usize, usize)> {
        let slot = self.slot;
        if self.arena.reserve(k * slot) {
            self.stats.recv_buffer_exhausted += 1;
        }
        let base = self.arena.spare_ptr();
        self.rx.prepare(base, k, slot);
        let Some(fd) = self.sockets.fd(idx) else {
            self.ready[idx] = false; // a group left since epoll reported it
            return Ok((0, 0));
        };
        let messages = sys::recvmmsg(fd, &mut self.rx.hdrs[..k])?;
        self.stats.recv_syscalls += 1;
        self.rx.pieces.clear();
        self.rx.froms.clear();
        let mut end = 0;
        for i in 0..messages {
            let h = &self.rx.hdrs[i];
            let len = h.msg_len as usize;
            let control = &self.rx.ctrls[i].0[..sys::controllen(&h.msg_hdr).min(RECV_CMSG_SPACE)];
            let control = sys::recv_control(control);
            if let Some(count) = control.drops {
                self.stats.recv_drops += count.wrapping_sub(self.drops_seen[idx]) as u64;
                self.drops_seen[idx] = count;
            }
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.stats.recv_truncated += 1;
                continue;
            }
            // Compact: move a datagram down when that at least halves the space it wastes.
            let src = i * slot;
            let at = if len > 0 && src >= end + len {
                self.arena.move_down(src, end, len);
                end
            } else {
                src
            };
            let from = sys::from_sockaddr_in(&self.rx.names[i]);
            // UDP GRO: several datagrams of `segment` bytes (the last may be shorter).
            let segment = control.segment.filter(|&g| g < len).unwrap_or(len.max(1));
            self.stats.gro_buffers += u64::from(segment < len);
            let mut piece = at;
            loop {
                let n = segment.min(at + len - piece);
                self.rx.pieces.push((piece, n));
                self.rx.froms.push(from);
                piece += n;
                if piece >= at + len {
                    break; // an empty datagram is one piece too
                }
            }
            end = at + len;
        }
        let via = Sockets::via(idx);
        let froms = &self.rx.froms;
        let mut j = 0;
        let mut bytes = 0;
        self.arena.take(&self.rx.pieces, |data| {
            bytes += data.len() as u64;
            out.push(Received { data, from: froms[j], via });
            j += 1;
        });
        self.stats.datagrams_received += j as u64;
        self.stats.bytes_received += bytes;
        Ok((messages, j))
    }

    /// Waits for readiness up to `timeout`; marks ready sockets and notes a wake-up.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stats.wait_syscalls += 1;
        let mut woke = false;
        for token in self.epoll.wait(timeout)? {
            if token == WAKER_TOKEN {
                woke = true;
            } else if let Some(r) = self.ready.get_mut(token as usize) {
                *r = true;
            }
        }
        if woke {
            self.waker.drain();
            self.woken = true;
            self.stats.wakeups += 1;
        }
        Ok(())
    }

    fn send_all(&mut self, batch: &[Outgoing], report: &mut SendReport) -> io::Result<()> {
        let fd = self.sockets.unicast.as_raw_fd();
        let n = batch.len();
        let mut deadline: Option<Instant> = None;
        let mut d = 0;
        'plans: while d < n {
            let covered = self.plan.build(batch, std::slice::from_ref(&(d..n)), &self.gso, self.batch);
            let mut m = 0;
            while m < self.plan.spans.len() {
                self.stats.send_syscalls += 1;
                let error = match sys::sendmmsg(fd, &mut self.plan.msgs[m..]) {
                    Ok(k) => {
                        for span in &self.plan.spans[m..m + k] {
                            report.sent += span.count();
                            report.bytes += span.bytes;
                            self.stats.gso_messages += (span.segment > 0) as u64;
                        }
                        m += k;
                        continue;
                    }
                    Err(e) => e,
                };
                let span = self.plan.spans[m];
                match error.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN | libc::ENOBUFS) => {
                        let dl = *deadline.get_or_insert_with(|| Instant::now() + SEND_WAIT_BUDGET);
                        let now = Instant::now();
                        if now >= dl {
                            report.unsent += n - span.start;
                            return Ok(());
                        }
                        report.retries += 1;
                        self.stats.wait_syscalls += 1;
                        if error.raw_os_error() == Some(libc::ENOBUFS) {
                            std::thread::sleep(ENOBUFS_PAUSE.min(dl - now));
                        } else {
                            sys::wait_writable(fd, dl - now)?;
                        }
                    }
                    Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT) => return Err(error),
                    _ if self.gso.learn(&span, &error) => {
                        d = span.start;
                        continue 'plans;
                    }
                    _ => {
                        let first = &batch[span.start];
                        report.reject(first.to, first.len(), span.count(), error);
                        m += 1;
                    }
                }
            }
            d += covered;
        }
        Ok(())
    }
}

impl Transport for StdTransport {
    fn backend(&self) -> Backend {
        Backend::Std
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
            let got = self.drain(max, out)?;
            if got > 0 || self.woken {
                self.woken = false;
                return Ok(got);
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if waited && remaining == Some(Duration::ZERO) {
                return Ok(0);
            }
            self.wait(remaining)?;
            waited = true;
        }
    }

    fn send(&mut self, batch: &mut Vec<Outgoing>) -> io::Result<SendReport> {
        let mut report = SendReport::default();
        let result = self.send_all(batch, &mut report);
        batch.clear();
        self.stats.account_send(&report);
        result.map(|()| report)
    }

    fn waker(&self) -> Waker {
        self.waker.clone()
    }

    fn stats(&self) -> TransportStats {
        self.stats
    }

    fn join(&mut self, group: SocketAddrV4) -> Result<(), TransportError> {
        let Some(idx) = self.sockets.join(group)? else { return Ok(()) };
        let fd = self.sockets.fd(idx).expect("just opened");
        if let Err(e) = self.epoll.add(fd, idx as u64) {
            self.sockets.close(idx);
            return Err(TransportError::setup(format!("adding the socket of group {group} to epoll"), e));
        }
        self.epoll.reserve(self.sockets.len() + 1);
        if self.ready.len() < self.sockets.len() {
            self.ready.resize(self.sockets.len(), false);
            self.drops_seen.resize(self.sockets.len(), 0);
        }
        self.ready[idx] = true;
        self.drops_seen[idx] = 0;
        tracing::debug!(%group, socket = idx, "group joined");
        Ok(())
    }

    fn leave(&mut self, group: SocketAddrV4) -> Result<bool, TransportError> {
        let Some(idx) = self.sockets.index_of(group) else { return Ok(false) };
        if let Some(fd) = self.sockets.fd(idx) {
            self.epoll.delete(fd).map_err(|e| {
                TransportError::setup(format!("removing the socket of group {group} from epoll"), e)
            })?;
        }
        self.sockets.close(idx);
        self.ready.truncate(self.sockets.len());
        self.drops_seen.truncate(self.sockets.len());
        if let Some(r) = self.ready.get_mut(idx) {
            *r = false;
        }
        tracing::debug!(%group, socket = idx, "group left");
        Ok(true)
    }

    fn groups(&self) -> Vec<SocketAddrV4> {
        self.sockets.joined()
    }
}
