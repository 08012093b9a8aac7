//! From `--system` to the module that runs it; systems left out of the build are errors.

use crate::control::Control;
use crate::opts::Opts;
use crate::verify::{Generator, Verifier};
use anyhow::bail;
use serde_json::Value;

/// Publishes every message of `g` with the system of `o`; returns its settings.
pub fn publish(o: &Opts, ctl: &mut Control, g: &mut Generator) -> anyhow::Result<Value> {
    match o.system {
        s if s.is_raw() => crate::raw::publish(o, ctl, g),
        #[cfg(feature = "zenoh")]
        crate::opts::System::Zenoh => crate::zenoh::publish(o, ctl, g),
        #[cfg(feature = "aeron")]
        crate::opts::System::Aeron => crate::aeron::publish(o, ctl, g),
        #[cfg(feature = "corosync-cpg")]
        crate::opts::System::CorosyncCpg => crate::cpg::publish(o, ctl, g),
        #[allow(unreachable_patterns)]
        s => bail!("{} is not in this build", s.name()),
    }
}

/// Receives and verifies into `v` with the system of `o`; returns its settings.
pub fn subscribe(o: &Opts, ctl: &mut Control, v: &mut Verifier) -> anyhow::Result<Value> {
    match o.system {
        s if s.is_raw() => crate::raw::subscribe(o, ctl, v),
        #[cfg(feature = "zenoh")]
        crate::opts::System::Zenoh => crate::zenoh::subscribe(o, ctl, v),
        #[cfg(feature = "aeron")]
        crate::opts::System::Aeron => crate::aeron::subscribe(o, ctl, v),
        #[cfg(feature = "corosync-cpg")]
        crate::opts::System::CorosyncCpg => crate::cpg::subscribe(o, ctl, v),
        #[allow(unreachable_patterns)]
        s => bail!("{} is not in this build", s.name()),
    }
}

/// A server a system needs for the whole run, started by the orchestrator before the
/// run's processes and stopped after them (Corosync's daemon); most systems have none.
#[derive(Debug)]
pub enum Service {
    None,
    #[cfg(feature = "corosync-cpg")]
    Corosync(crate::cpg::Daemon),
}

impl Service {
    /// The service of the system of `o`, started (its files derived from the run's `port`).
    pub fn start(o: &Opts, port: u16) -> anyhow::Result<Service> {
        #[cfg(feature = "corosync-cpg")]
        if o.system == crate::opts::System::CorosyncCpg {
            return Ok(Service::Corosync(crate::cpg::Daemon::start(port)?));
        }
        let _ = (o, port);
        Ok(Service::None)
    }

    /// Publishing starts now.
    pub fn mark(&mut self) {
        match self {
            Service::None => {}
            #[cfg(feature = "corosync-cpg")]
            Service::Corosync(d) => d.mark(),
        }
    }

    /// Stops it; what it used, for the summary (`None` without a service).
    pub fn stop(self) -> Option<Value> {
        match self {
            Service::None => None,
            #[cfg(feature = "corosync-cpg")]
            Service::Corosync(d) => Some(d.stop()),
        }
    }
}
