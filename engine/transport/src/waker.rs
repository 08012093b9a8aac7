//! Cross-thread wake-up of a blocked `recv`, through an eventfd the transport waits on.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::sys;

/// Makes a blocked (or the next) `Transport::recv` return early. Cheap to clone; Send + Sync.
#[derive(Clone)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Waker { fd: Arc::new(sys::eventfd()?) })
    }

    /// Wakes the transport. Wake-ups before the transport waits are kept (coalesced) until its
    /// next `recv`.
    pub fn wake(&self) {
        sys::eventfd_signal(self.fd.as_raw_fd());
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Resets the eventfd; true if a wake-up was pending.
    pub(crate) fn drain(&self) -> bool {
        sys::eventfd_drain(self.fd.as_raw_fd())
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker").field("eventfd", &self.fd.as_raw_fd()).finish()
    }
}
