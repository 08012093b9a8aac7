//! Setup errors that name what failed and what to do about it.

use std::io;
use std::net::Ipv4Addr;

/// Why a transport could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The spec asks for something impossible.
    #[error("invalid socket spec: {0}")]
    InvalidSpec(String),
    /// A backend name that is neither "std" nor "uring".
    #[error("unknown transport backend {0:?}: expected \"std\" or \"uring\"")]
    UnknownBackend(String),
    /// Creating, configuring or binding a socket failed.
    #[error("{what} failed: {source}{hint}")]
    Socket {
        /// The operation, with the address or option (e.g. "binding 127.0.0.1:7000").
        what: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
        /// What to do about it (empty or starting with " (").
        hint: String,
    },
    /// Joining a multicast group failed.
    #[error("joining {group} on {interface} failed: {source} (is multicast enabled on that interface? on loopback: `ip link set lo multicast on`; is {interface} an address of this host?)")]
    Join {
        /// The group.
        group: Ipv4Addr,
        /// The interface address.
        interface: Ipv4Addr,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// No interface of this host has the address given as `SocketSpec::interface`.
    #[error("no network interface has address {0} (SocketSpec::interface must be an address of this host, e.g. 127.0.0.1 on loopback)")]
    NoSuchInterface(Ipv4Addr),
    /// io_uring was asked for but does not work here.
    #[error(
        "io_uring backend unavailable: {0} (use the std backend, or leave the backend unset to fall back)"
    )]
    UringUnavailable(String),
    /// A system facility the transport needs (epoll, eventfd, the ring) could not be set up.
    #[error("{what} failed: {source}")]
    Setup {
        /// What was being set up.
        what: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}

impl TransportError {
    pub(crate) fn socket(what: impl Into<String>, source: io::Error) -> Self {
        let hint = match source.raw_os_error() {
            Some(libc::EADDRINUSE) => {
                " (another socket holds this address without SO_REUSEPORT; pick another port or stop it)"
            }
            Some(libc::EADDRNOTAVAIL) => {
                " (the address is not one of this host's; check SocketSpec::unicast/interface)"
            }
            Some(libc::EACCES) | Some(libc::EPERM) => {
                " (permission denied: ports below 1024 need CAP_NET_BIND_SERVICE)"
            }
            Some(libc::EMFILE) | Some(libc::ENFILE) => " (too many open files: raise `ulimit -n`)",
            _ => "",
        };
        TransportError::Socket { what: what.into(), source, hint: hint.to_owned() }
    }

    pub(crate) fn setup(what: impl Into<String>, source: io::Error) -> Self {
        TransportError::Setup { what: what.into(), source }
    }
}
