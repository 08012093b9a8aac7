//! Opening and configuring the sockets both backends use.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::datagram::Via;
use crate::error::TransportError;
use crate::spec::{SocketSpec, MAX_UDP_PAYLOAD};
use crate::sys;

/// The unicast socket (index 0) and one socket per joined group (index 1 + slot). Slots
/// keep their index while the group stays joined (backends key their state by it); a slot
/// freed by [`Sockets::close`] is reused by the next join.
#[derive(Debug)]
pub(crate) struct Sockets {
    pub(crate) unicast: Socket,
    groups: Vec<Option<(SocketAddrV4, Socket)>>,
    pub(crate) local: SocketAddrV4,
    pub(crate) recv_granted: usize,
    pub(crate) send_granted: usize,
    /// What group sockets are opened with (interface, buffer sizes), for later joins.
    spec: SocketSpec,
    nonblocking: bool,
}

impl Sockets {
    /// Opens, sizes, binds and joins every socket of `spec`.
    pub(crate) fn open(spec: &SocketSpec, nonblocking: bool) -> Result<Self, TransportError> {
        let unicast = new_udp("creating the unicast socket")?;
        let recv_granted = size_buffer(&unicast, Dir::Recv, spec.recv_buffer, "unicast")?;
        let send_granted = size_buffer(&unicast, Dir::Send, spec.send_buffer, "unicast")?;
        let iface = spec.interface;
        unicast
            .set_multicast_if_v4(&iface)
            .map_err(|e| TransportError::socket(format!("setting IP_MULTICAST_IF to {iface}"), e))?;
        unicast
            .set_multicast_loop_v4(true)
            .map_err(|e| TransportError::socket("setting IP_MULTICAST_LOOP on", e))?;
        unicast
            .set_multicast_ttl_v4(spec.ttl)
            .map_err(|e| TransportError::socket(format!("setting IP_MULTICAST_TTL to {}", spec.ttl), e))?;
        enable_drop_counter(&unicast)?;
        enable_gro(&unicast, spec);
        unicast.bind(&SocketAddr::V4(spec.unicast).into()).map_err(|e| {
            TransportError::socket(format!("binding the unicast socket to {}", spec.unicast), e)
        })?;
        let local = unicast.local_addr().ok().and_then(|a| a.as_socket_ipv4()).ok_or_else(|| {
            TransportError::InvalidSpec(format!("{} did not bind to an IPv4 address", spec.unicast))
        })?;
        set_nonblocking(&unicast, nonblocking, "unicast")?;
        let mut sockets = Sockets {
            unicast,
            groups: Vec::with_capacity(spec.groups.len()),
            local,
            recv_granted,
            send_granted,
            spec: SocketSpec { groups: Vec::new(), ..spec.clone() },
            nonblocking,
        };
        for &group in &spec.groups {
            sockets.join(group)?;
        }
        tracing::debug!(%local, groups = spec.groups.len(), recv_granted, send_granted, "transport sockets open");
        Ok(sockets)
    }

    /// Open a socket for `group` and join it; returns its index, or `None` if the group is
    /// already joined.
    pub(crate) fn join(&mut self, group: SocketAddrV4) -> Result<Option<usize>, TransportError> {
        if self.index_of(group).is_some() {
            return Ok(None);
        }
        if self.groups.iter().all(Option::is_none) {
            check_interface(self.spec.interface)?;
        }
        let (socket, granted) = open_group(group, &self.spec, self.nonblocking)?;
        self.recv_granted = self.recv_granted.min(granted);
        drop_own_multicast(&socket, self.local, group)?;
        let slot = match self.groups.iter().position(Option::is_none) {
            Some(free) => {
                self.groups[free] = Some((group, socket));
                free
            }
            None => {
                self.groups.push(Some((group, socket)));
                self.groups.len() - 1
            }
        };
        Ok(Some(1 + slot))
    }

    /// The index of the socket of `group`, if joined.
    pub(crate) fn index_of(&self, group: SocketAddrV4) -> Option<usize> {
        self.groups.iter().position(|g| g.as_ref().is_some_and(|(a, _)| *a == group)).map(|slot| 1 + slot)
    }

    /// Close the group socket at `index` (leaving its group); its slot is free for reuse.
    /// The backend must no longer use the descriptor (epoll removed, receives cancelled).
    pub(crate) fn close(&mut self, index: usize) {
        if let Some(slot) = index.checked_sub(1).and_then(|s| self.groups.get_mut(s)) {
            *slot = None;
        }
        while self.groups.last().is_some_and(Option::is_none) {
            self.groups.pop();
        }
    }

    /// The groups joined, in index order.
    pub(crate) fn joined(&self) -> Vec<SocketAddrV4> {
        self.groups.iter().flatten().map(|(a, _)| *a).collect()
    }

    /// Number of socket indices (unicast + group slots, free ones included).
    pub(crate) fn len(&self) -> usize {
        1 + self.groups.len()
    }

    /// The descriptor of socket `index` (0 = unicast); `None` for a free slot.
    pub(crate) fn fd(&self, index: usize) -> Option<RawFd> {
        if index == 0 {
            Some(self.unicast.as_raw_fd())
        } else {
            self.groups.get(index - 1)?.as_ref().map(|(_, s)| s.as_raw_fd())
        }
    }

    /// Which socket `index` is, as reported to the caller.
    pub(crate) fn via(index: usize) -> Via {
        if index == 0 {
            Via::Unicast
        } else {
            Via::Group(index - 1)
        }
    }

    /// Whether the kernel supports UDP GSO (`UDP_SEGMENT`) on these sockets.
    pub(crate) fn gso_supported(&self) -> bool {
        sys::getsockopt_int(self.unicast.as_raw_fd(), libc::SOL_UDP, libc::UDP_SEGMENT).is_ok()
    }
}

fn open_group(
    group: SocketAddrV4,
    spec: &SocketSpec,
    nonblocking: bool,
) -> Result<(Socket, usize), TransportError> {
    let socket = new_udp(&format!("creating the socket for group {group}"))?;
    socket
        .set_reuse_address(true)
        .map_err(|e| TransportError::socket(format!("setting SO_REUSEADDR for group {group}"), e))?;
    socket
        .set_reuse_port(true)
        .map_err(|e| TransportError::socket(format!("setting SO_REUSEPORT for group {group}"), e))?;
    let granted = size_buffer(&socket, Dir::Recv, spec.recv_buffer, &group.to_string())?;
    enable_drop_counter(&socket)?;
    enable_gro(&socket, spec);
    socket
        .bind(&SocketAddr::V4(group).into())
        .map_err(|e| TransportError::socket(format!("binding the socket of group {group}"), e))?;
    socket.join_multicast_v4(group.ip(), &spec.interface).map_err(|source| TransportError::Join {
        group: *group.ip(),
        interface: spec.interface,
        source,
    })?;
    // Deliver only the groups this socket joined, not every group joined on the host.
    socket
        .set_multicast_all_v4(false)
        .map_err(|e| TransportError::socket(format!("clearing IP_MULTICAST_ALL for group {group}"), e))?;
    set_nonblocking(&socket, nonblocking, &group.to_string())?;
    Ok((socket, granted))
}

/// Multicast loopback (needed so other processes on this host receive) also hands a
/// member its own datagrams: a socket filter drops them in the kernel, before they are
/// copied to user space. It matches the IPv4 source address and UDP source port of our
/// unicast socket, which multicasts are sent from (IP header without options).
fn drop_own_multicast(
    socket: &Socket,
    local: SocketAddrV4,
    group: SocketAddrV4,
) -> Result<(), TransportError> {
    const NET: u32 = libc::SKF_NET_OFF as u32;
    let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter { code: code as u16, jt, jf, k };
    let program = [
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, NET.wrapping_add(12)), // source address
        insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 3, u32::from(*local.ip())),
        insn(libc::BPF_LD | libc::BPF_H | libc::BPF_ABS, 0, 0, NET.wrapping_add(20)), // UDP source port
        insn(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, u32::from(local.port())),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, 0), // ours: drop
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX), // anyone else's: keep whole
    ];
    sys::attach_filter(socket.as_raw_fd(), &program)
        .map_err(|e| TransportError::socket(format!("attaching the own-datagram filter to group {group}"), e))
}

fn new_udp(what: &str) -> Result<Socket, TransportError> {
    Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| TransportError::socket(what, e))
}

fn set_nonblocking(socket: &Socket, nonblocking: bool, name: &str) -> Result<(), TransportError> {
    socket
        .set_nonblocking(nonblocking)
        .map_err(|e| TransportError::socket(format!("setting O_NONBLOCK={nonblocking} on socket {name}"), e))
}

fn enable_drop_counter(socket: &Socket) -> Result<(), TransportError> {
    sys::setsockopt_int(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
        .map_err(|e| TransportError::socket("setting SO_RXQ_OVFL", e))
}

/// UDP GRO on receive (`UDP_GRO`): a run of datagrams a sender gave the kernel as one GSO
/// message (or that a NIC coalesced) arrives as one buffer with its segment size, split by the
/// backends; one completion or `recvmmsg` slot instead of up to 64. Only when every receive
/// buffer holds the largest UDP payload (a coalesced buffer would be truncated otherwise), and
/// unless `ARGENT_TRANSPORT_GRO=0`. Kernels without it (before 5.0) receive datagram by
/// datagram as before.
fn enable_gro(socket: &Socket, spec: &SocketSpec) {
    if !gro_wanted(spec) {
        return;
    }
    if let Err(e) = sys::setsockopt_int(socket.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO, 1) {
        tracing::debug!(error = %e, "UDP_GRO unavailable; receiving datagram by datagram");
    }
}

/// Whether receive sockets of `spec` ask for UDP GRO (see [`enable_gro`]).
pub(crate) fn gro_wanted(spec: &SocketSpec) -> bool {
    spec.gro
        && spec.max_datagram >= crate::spec::MAX_UDP_PAYLOAD
        && std::env::var("ARGENT_TRANSPORT_GRO").map_or(true, |v| v != "0")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Recv,
    Send,
}

/// Requests `size` bytes of socket buffer (forcing past the sysctl cap when permitted) and
/// returns what the kernel granted, as `getsockopt` reports it (twice the usable payload).
fn size_buffer(socket: &Socket, dir: Dir, size: usize, name: &str) -> Result<usize, TransportError> {
    let (force, option, sysctl) = match dir {
        Dir::Recv => (libc::SO_RCVBUFFORCE, "SO_RCVBUF", "net.core.rmem_max"),
        Dir::Send => (libc::SO_SNDBUFFORCE, "SO_SNDBUF", "net.core.wmem_max"),
    };
    let request = size.min(i32::MAX as usize / 2);
    if request > 0
        && sys::setsockopt_int(socket.as_raw_fd(), libc::SOL_SOCKET, force, request as i32).is_err()
    {
        let set = match dir {
            Dir::Recv => socket.set_recv_buffer_size(request),
            Dir::Send => socket.set_send_buffer_size(request),
        };
        set.map_err(|e| {
            TransportError::socket(format!("setting {option} to {request} on socket {name}"), e)
        })?;
    }
    let granted = match dir {
        Dir::Recv => socket.recv_buffer_size(),
        Dir::Send => socket.send_buffer_size(),
    }
    .map_err(|e| TransportError::socket(format!("reading {option} of socket {name}"), e))?;
    if granted < request {
        tracing::warn!(
            socket = name,
            requested = request,
            granted,
            "{option} capped by the kernel: raise {sysctl} or run with CAP_NET_ADMIN"
        );
    } else {
        tracing::info!(socket = name, requested = request, granted, "{option} granted");
    }
    Ok(granted)
}

/// Set in the environment of processes started by one that has already checked the
/// interface's MULTICAST flag (and warned if it lacks it): they do not warn again.
pub const INTERFACE_WARNED: &str = "ARGENT_INTERFACE_WARNED";

/// The name of the interface that has address `addr`, and whether its MULTICAST flag is set.
pub fn interface_multicast(addr: Ipv4Addr) -> Result<(String, bool), TransportError> {
    match sys::interface_by_addr(addr) {
        Ok(Some((name, flags))) => Ok((name, flags & libc::IFF_MULTICAST as u32 != 0)),
        Ok(None) => Err(TransportError::NoSuchInterface(addr)),
        Err(e) => Err(TransportError::setup("listing network interfaces (getifaddrs)", e)),
    }
}

/// The largest UDP payload that crosses the interface with address `addr` without IP
/// fragmentation: its MTU less the IPv4 and UDP headers, at most [`crate::MAX_UDP_PAYLOAD`].
/// `None` if the interface or its MTU cannot be found.
pub fn path_datagram(addr: Ipv4Addr) -> Option<usize> {
    let (name, _) = interface_multicast(addr).ok()?;
    let mtu: usize =
        std::fs::read_to_string(format!("/sys/class/net/{name}/mtu")).ok()?.trim().parse().ok()?;
    Some(mtu.saturating_sub(28).min(MAX_UDP_PAYLOAD))
}

fn check_interface(addr: Ipv4Addr) -> Result<(), TransportError> {
    if addr.is_unspecified() {
        return Ok(()); // the kernel picks the interface
    }
    let (name, multicast) = interface_multicast(addr)?;
    // Once per process, and not at all in a process whose parent said it already warned
    // ([`INTERFACE_WARNED`]: a benchmark's publishers and subscribers).
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let said = std::env::var_os(INTERFACE_WARNED).is_some();
    if !multicast && !said && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        // Linux still loops multicast back on such an interface, but other hosts never see it.
        tracing::warn!(
            interface = %name,
            %addr,
            "interface lacks the MULTICAST flag: run `ip link set {name} multicast on`"
        );
    }
    Ok(())
}
