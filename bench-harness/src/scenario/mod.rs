//! Scenario files: what to run, as TOML (the format is documented in README.md).
//!
//! `types` is the file's TOML, `validate` reads and checks a file, `sweep` expands the sweeps
//! into series of points (`point`), and `command` gives the program arguments of a point.

mod command;
mod point;
mod sweep;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use point::PointSpec;
pub use types::{Base, Driver, Netns, Param, Scenario, System, Topology};
