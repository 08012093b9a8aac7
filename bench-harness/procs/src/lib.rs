//! Child processes of a benchmark run, both sides of them.
//!
//! The parent describes a child with a [`Spec`] and starts it as a [`Proc`]: its stdout
//! lines come back to the parent (or its stdout and stderr go to a log file), it may lead
//! its own process group (so that signals reach whatever it starts), and it never outlives
//! its `Proc`. The parent waits for the child's `ready` line, may tell it `go` and `stop` on
//! its stdin, may signal it, and [`Proc::finish`]es it by a deadline, with an optional grace
//! period after SIGTERM, getting its exit status and its summary: the last line of its
//! output that is a JSON object. The [`child`] module is the other side.

pub mod child;
mod error;
mod process;
mod spec;

pub use error::Error;
pub use process::{Finished, Proc, Signal};
pub use spec::Spec;
