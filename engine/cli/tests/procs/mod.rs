//! Helpers of the tests that run `argent` processes.

use std::process::{Child, Command, Output};

/// The JSON summary a child printed last, once it exited.
#[allow(dead_code)]
pub fn last_json(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("printed {stdout:?}: {e}"))
}

/// The stdout of a command that must have succeeded (`what` names it if not).
#[allow(dead_code)]
pub fn ok(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

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
