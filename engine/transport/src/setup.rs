//! Setting up a transport: validating the spec and choosing the backend.

use crate::api::Transport;
use crate::backend::Backend;
use crate::error::TransportError;
use crate::spec::SocketSpec;
use crate::std_backend::StdTransport;
use crate::uring::{self, UringTransport};

/// Opens a transport. `None` probes: io_uring if it works here, else the portable backend.
pub fn open(backend: Option<Backend>, spec: &SocketSpec) -> Result<Box<dyn Transport>, TransportError> {
    spec.validate()?;
    let backend = match backend {
        Some(b) => b,
        None => match probe_uring() {
            Ok(()) => {
                tracing::info!(backend = "uring", "transport backend: io_uring works here");
                Backend::Uring
            }
            Err(why) => {
                tracing::info!(backend = "std", reason = %why, "transport backend: io_uring unavailable");
                Backend::Std
            }
        },
    };
    match backend {
        Backend::Std => Ok(Box::new(StdTransport::open(spec)?)),
        Backend::Uring => Ok(Box::new(UringTransport::open(spec)?)),
    }
}

/// Checks that io_uring works here with everything the uring backend needs (ring setup,
/// the opcodes, timed waits, a provided buffer ring, multishot receive). Says why not.
pub fn probe_uring() -> Result<(), String> {
    uring::probe()
}
