//! `cargo run -p argent -- ARGS`: the command line of earlier releases, kept working.
//!
//! The `argent` command lives in the `argent-cli` crate, so that programs embedding the
//! `argent` library compile no command-line crates. This program builds that command with
//! the profile and target directory it was itself built with (cargo does nothing when it is
//! up to date), then replaces itself with it, passing every argument through. Installed
//! copies of `argent` (`cargo install --path engine/cli`) do not need it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("argent-run: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let me = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let dir = me.parent().ok_or("this executable has no directory")?;
    let command = dir.join("argent");
    build(dir)?;
    // Only returns if it could not run the command.
    let e = Command::new(&command).args(std::env::args_os().skip(1)).exec();
    Err(format!("running {}: {e}", command.display()))
}

/// `cargo build -p argent-cli` into `dir` (`<target>/<profile>`), quietly.
fn build(dir: &Path) -> Result<(), String> {
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(p) => p.to_string(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "-p", "argent-cli", "--profile", &profile])
        .arg("--manifest-path")
        .arg(&workspace);
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd.status().map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo build -p argent-cli --profile {profile}` failed ({status})"))
    }
}
