//! Thin, checked wrappers over the system calls the backends use. Every `unsafe` block of
//! the std backend's I/O lives here.

use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// `sizeof(struct sockaddr_in)`.
pub(crate) const SOCKADDR_IN_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// Control-message space reserved per received datagram: one `SO_RXQ_OVFL` counter (u32)
/// and one `UDP_GRO` segment size (int).
pub(crate) const RECV_CMSG_SPACE: usize =
    cmsg_space(mem::size_of::<u32>()) + cmsg_space(mem::size_of::<i32>());

/// Control-message space per sent GSO message: one `UDP_SEGMENT` size (u16).
pub(crate) const SEND_CMSG_SPACE: usize = cmsg_space(mem::size_of::<u16>());

const CMSG_HDR: usize = mem::size_of::<libc::cmsghdr>();
const CMSG_ALIGN: usize = mem::size_of::<usize>();

const fn cmsg_align(len: usize) -> usize {
    (len + CMSG_ALIGN - 1) & !(CMSG_ALIGN - 1)
}

/// `CMSG_SPACE(len)`.
pub(crate) const fn cmsg_space(len: usize) -> usize {
    cmsg_align(CMSG_HDR) + cmsg_align(len)
}

/// An aligned control-message buffer, large enough for either direction.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct CmsgBuf(pub [u8; CMSG_BUF]);

impl Default for CmsgBuf {
    fn default() -> Self {
        CmsgBuf([0; CMSG_BUF])
    }
}

const CMSG_BUF: usize = 48;
const _: () = assert!(RECV_CMSG_SPACE <= CMSG_BUF && SEND_CMSG_SPACE <= CMSG_BUF);

impl CmsgBuf {
    /// Writes one `UDP_SEGMENT` control message and returns the control length to use.
    pub(crate) fn write_udp_segment(&mut self, segment: u16) -> usize {
        let len = cmsg_align(CMSG_HDR) + mem::size_of::<u16>();
        self.0 = [0; CMSG_BUF];
        self.0[..mem::size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
        let level_at = mem::size_of::<usize>();
        self.0[level_at..level_at + 4].copy_from_slice(&libc::SOL_UDP.to_ne_bytes());
        self.0[level_at + 4..level_at + 8].copy_from_slice(&libc::UDP_SEGMENT.to_ne_bytes());
        let data_at = cmsg_align(CMSG_HDR);
        self.0[data_at..data_at + 2].copy_from_slice(&segment.to_ne_bytes());
        SEND_CMSG_SPACE
    }
}

/// What the kernel said of a received datagram in its control messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RecvControl {
    /// The `SO_RXQ_OVFL` counter: datagrams the socket dropped so far.
    pub(crate) drops: Option<u32>,
    /// `UDP_GRO`: the payload is several datagrams of this size (the last may be shorter).
    pub(crate) segment: Option<usize>,
}

/// Reads the control messages of a received datagram; malformed ones end the reading.
pub(crate) fn recv_control(mut control: &[u8]) -> RecvControl {
    let header = cmsg_align(CMSG_HDR);
    let mut out = RecvControl::default();
    let word = |b: &[u8], at: usize| b.get(at..at + 4).and_then(|w| w.try_into().ok());
    while control.len() >= header {
        let Ok(len) = control[..CMSG_ALIGN].try_into().map(usize::from_ne_bytes) else { break };
        let (Some(level), Some(kind)) = (word(control, CMSG_ALIGN), word(control, CMSG_ALIGN + 4)) else {
            break;
        };
        let (level, kind) = (i32::from_ne_bytes(level), i32::from_ne_bytes(kind));
        if len < header || len > control.len() {
            break;
        }
        if len >= header + 4 {
            let value = word(control, header).map(u32::from_ne_bytes);
            match (level, kind) {
                (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => out.drops = value,
                (libc::SOL_UDP, libc::UDP_GRO) => out.segment = value.map(|v| v as usize).filter(|&v| v > 0),
                _ => {}
            }
        }
        control = &control[cmsg_align(len).min(control.len())..];
    }
    out
}

/// `sockaddr_in` for an IPv4 address.
pub(crate) fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(addr.ip().octets()) },
        sin_zero: [0; 8],
    }
}

/// The IPv4 address in a `sockaddr_in` filled by the kernel.
pub(crate) fn from_sockaddr_in(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()), u16::from_be(sa.sin_port))
}

/// The IPv4 address in raw `sockaddr_in` bytes (as io_uring's multishot receive lays them out).
pub(crate) fn from_sockaddr_bytes(name: &[u8]) -> SocketAddrV4 {
    if name.len() < 8 {
        return SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    }
    let port = u16::from_be_bytes([name[2], name[3]]);
    SocketAddrV4::new(Ipv4Addr::new(name[4], name[5], name[6], name[7]), port)
}

/// An all-zero `msghdr` (its layout has private padding on some targets).
pub(crate) fn zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is plain old data (integers and raw pointers); all-zero is a valid value
    // (null pointers, zero lengths).
    unsafe { mem::zeroed() }
}

/// The control length the kernel left in a received `msghdr` (its type varies by libc).
#[allow(clippy::unnecessary_cast)]
pub(crate) fn controllen(h: &libc::msghdr) -> usize {
    h.msg_controllen as usize
}

/// An all-zero `mmsghdr`.
pub(crate) fn zeroed_mmsghdr() -> libc::mmsghdr {
    libc::mmsghdr { msg_hdr: zeroed_msghdr(), msg_len: 0 }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `setsockopt` with an `int` value.
pub(crate) fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int for the duration of the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt` of an `int` value.
/// Lower the calling thread's timer slack to 1 ns, so timed waits wake when asked rather
/// than up to the default 50 µs later.
pub(crate) fn lower_timer_slack() -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and touches no memory.
    cvt(unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) }).map(|_| ())
}

/// Attach a classic BPF program to a socket (`SO_ATTACH_FILTER`).
pub(crate) fn attach_filter(fd: RawFd, program: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let prog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // SAFETY: `prog` points to `program`, which outlives the call; the kernel copies it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&prog as *const libc::sock_fprog).cast(),
            mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub(crate) fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are live, writable and correctly sized for the call.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut libc::c_int).cast(), &mut len) })?;
    Ok(value)
}

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: fd was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter (EAGAIN means it is already signalled: fine).
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Resets an eventfd; true if it had been signalled.
pub(crate) fn eventfd_drain(fd: RawFd) -> bool {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64.
    let n = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
    n == 8
}

/// An epoll set with a reusable event buffer.
pub(crate) struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
    /// `epoll_pwait2` (nanosecond timeouts) is available; else `epoll_wait` (milliseconds).
    pwait2: bool,
}

impl Epoll {
    pub(crate) fn new(capacity: usize) -> io::Result<Self> {
        // SAFETY: no pointers; a non-negative result is a new descriptor we own.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fd was just returned by epoll_create1 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let events = vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)];
        Ok(Epoll { fd, events, pwait2: true })
    }

    /// Watches `fd` for readability (level-triggered), reporting `token`.
    pub(crate) fn add(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: ev is a live epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(drop)
    }

    /// Stops watching `fd`.
    pub(crate) fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: ev is a live epoll_event (ignored by EPOLL_CTL_DEL, required by old kernels).
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) }).map(drop)
    }

    /// Room for reporting `descriptors` ready at once.
    pub(crate) fn reserve(&mut self, descriptors: usize) {
        if self.events.len() < descriptors {
            self.events.resize(descriptors, libc::epoll_event { events: 0, u64: 0 });
        }
    }

    /// Waits up to `timeout` (None = forever) and returns the tokens of ready descriptors.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<impl Iterator<Item = u64> + '_> {
        let max = self.events.len() as libc::c_int;
        let ptr = self.events.as_mut_ptr();
        let n = loop {
            let ret = if self.pwait2 {
                let ts = timeout.map(|t| libc::timespec {
                    tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: t.subsec_nanos() as libc::c_long,
                });
                let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
                // SAFETY: ptr/max describe our event buffer; tsp is null or a live timespec.
                unsafe { libc::epoll_pwait2(self.fd.as_raw_fd(), ptr, max, tsp, std::ptr::null()) }
            } else {
                let ms = timeout.map_or(-1, |t| {
                    // Round up so a sub-millisecond timeout does not spin.
                    let ms = t.as_nanos().div_ceil(1_000_000);
                    ms.min(i32::MAX as u128) as libc::c_int
                });
                // SAFETY: ptr/max describe our event buffer.
                unsafe { libc::epoll_wait(self.fd.as_raw_fd(), ptr, max, ms) }
            };
            match cvt(ret) {
                Ok(n) => break n as usize,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => break 0,
                Err(e) if self.pwait2 && e.raw_os_error() == Some(libc::ENOSYS) => self.pwait2 = false,
                Err(e) => return Err(e),
            }
        };
        Ok(self.events[..n].iter().map(|e: &libc::epoll_event| e.u64))
    }
}

/// Waits until `fd` is writable or `timeout` passes; true if writable.
pub(crate) fn wait_writable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: pfd and ts are live for the call; no signal mask.
    match cvt(unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `recvmmsg` without blocking. The headers must point at live, writable buffers.
pub(crate) fn recvmmsg(fd: RawFd, msgs: &mut [libc::mmsghdr]) -> io::Result<usize> {
    loop {
        // SAFETY: the caller filled every header with pointers to live buffers of the lengths
        // given (name, iovecs, control), which stay valid for the call.
        let ret = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        match cvt(ret) {
            Ok(n) => return Ok(n as usize),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        }
    }
}

/// `sendmmsg` without blocking. The headers must point at live buffers.
pub(crate) fn sendmmsg(fd: RawFd, msgs: &mut [libc::mmsghdr]) -> io::Result<usize> {
    // SAFETY: the caller filled every header with pointers to live buffers of the lengths given
    // (destination, iovecs, control), which stay valid for the call.
    let ret =
        unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as libc::c_uint, libc::MSG_DONTWAIT) };
    cvt(ret).map(|n| n as usize)
}

/// The name and flags (`IFF_*`) of the interface that has address `addr`, if any.
pub(crate) fn interface_by_addr(addr: Ipv4Addr) -> io::Result<Option<(String, u32)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of at least sa_family's size.
        let family = unsafe { (*ifa.ifa_addr).sa_family };
        if family as libc::c_int != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        if *from_sockaddr_in(sin).ip() == addr {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
            found = Some((name, ifa.ifa_flags));
            break;
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        let a = SocketAddrV4::new(Ipv4Addr::new(239, 1, 2, 3), 4567);
        let sa = sockaddr_in(a);
        assert_eq!(from_sockaddr_in(&sa), a);
        // SAFETY: sockaddr_in is plain data; viewing it as bytes is fine.
        let bytes: [u8; 16] = unsafe { mem::transmute(sa) };
        assert_eq!(from_sockaddr_bytes(&bytes), a);
    }

    #[test]
    fn cmsg_parsing() {
        let mut buf = [0u8; 48];
        let header = cmsg_align(CMSG_HDR);
        buf[..8].copy_from_slice(&(header + 4).to_ne_bytes());
        buf[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        buf[12..16].copy_from_slice(&libc::SO_RXQ_OVFL.to_ne_bytes());
        buf[header..header + 4].copy_from_slice(&7u32.to_ne_bytes());
        let drops = |b: &[u8]| recv_control(b).drops;
        assert_eq!(drops(&buf[..RECV_CMSG_SPACE]), Some(7));
        assert_eq!(drops(&buf[..4]), None);
        assert_eq!(drops(&[0u8; 24]), None);
        // Then a UDP_GRO segment size.
        let second = cmsg_space(4);
        buf[second..second + 8].copy_from_slice(&(header + 4).to_ne_bytes());
        buf[second + 8..second + 12].copy_from_slice(&libc::SOL_UDP.to_ne_bytes());
        buf[second + 12..second + 16].copy_from_slice(&libc::UDP_GRO.to_ne_bytes());
        buf[second + header..second + header + 4].copy_from_slice(&1472i32.to_ne_bytes());
        assert_eq!(
            recv_control(&buf[..RECV_CMSG_SPACE]),
            RecvControl { drops: Some(7), segment: Some(1472) }
        );
        // A length running past the buffer ends the reading: what came before stays.
        buf[second..second + 8].copy_from_slice(&100usize.to_ne_bytes());
        assert_eq!(recv_control(&buf[..RECV_CMSG_SPACE]), RecvControl { drops: Some(7), segment: None });
        let mut c = CmsgBuf::default();
        assert_eq!(c.write_udp_segment(1200), 24);
        assert_eq!(u16::from_ne_bytes([c.0[16], c.0[17]]), 1200);
    }
}
