//! Helpers of the tests that run `argent` processes.

use std::process::{Child, Command};

/// The `argent` binary of this build.
pub fn argent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_argent"))
}

/// Kills the child if the test fails before it is waited for.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
