//! The choice of socket backend, by name.

use std::fmt;
use std::str::FromStr;

use crate::error::TransportError;

/// Which socket backend a transport uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Portable: `recvmmsg`/`sendmmsg`/GSO with `epoll`.
    Std,
    /// `io_uring`: multishot receive into a provided buffer ring, batched submissions.
    Uring,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Std => "std",
            Backend::Uring => "uring",
        })
    }
}

impl FromStr for Backend {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "std" => Ok(Backend::Std),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            _ => Err(TransportError::UnknownBackend(s.to_owned())),
        }
    }
}
