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
        #[allow(unreachable_patterns)]
        s => bail!("{} is not in this build", s.name()),
    }
}
