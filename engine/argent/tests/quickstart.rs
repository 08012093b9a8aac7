//! The README's one-minute start, run as written: the lines of its quick-start block, in
//! order, through `sh`, with real processes and no configuration file (the first process
//! starts the local membership service on 127.0.0.1:7400, which stops by itself after 60 s
//! without members). A line ending in `&` runs in the background (and is stopped at the
//! end); the build line is replaced by this test's own build of the command. So the README
//! cannot drift from what works.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The lines of the README's quick-start block.
fn quickstart_lines() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let start = text.find("<!-- quickstart:").expect("the README marks its quick-start block");
    let block = &text[start..];
    let open = block.find("```sh\n").expect("a sh block follows the marker") + "```sh\n".len();
    let close = block[open..].find("```").expect("the block ends") + open;
    block[open..close].lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// A directory whose `argent` is this build's command (the `argent-run` launcher, which
/// builds the `argent-cli` command next to itself and runs it).
fn bin_dir(scratch: &Path) -> PathBuf {
    let dir = scratch.join("bin");
    std::fs::create_dir_all(&dir).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_argent-run"), dir.join("argent")).expect("symlink");
    dir
}

fn sh(line: &str, cwd: &Path, path: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(line).current_dir(cwd).env("PATH", path).env_remove("ARGENT_GMS");
    c
}

fn read_all(mut f: std::fs::File) -> String {
    let mut s = String::new();
    f.read_to_string(&mut s).expect("read");
    s
}

#[test]
fn the_readme_quick_start_works_as_written() {
    let lines = quickstart_lines();
    assert!(lines.len() >= 5, "the quick start has its commands: {lines:?}");
    let scratch = tempfile::tempdir().expect("tempdir");
    let path = format!("{}:{}", bin_dir(scratch.path()).display(), std::env::var("PATH").unwrap_or_default());
    // Build the command once before the timed lines (the first run of the launcher does).
    let built = sh("argent --version", scratch.path(), &path).output().expect("argent runs");
    assert!(built.status.success(), "argent --version: {}", String::from_utf8_lossy(&built.stderr));
    let mut background: Vec<(String, Child, PathBuf)> = Vec::new();
    let mut last_out = String::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.split(" #").next().unwrap_or(raw).trim();
        if line.starts_with("cargo build") {
            continue; // done above, for this build
        }
        if let Some(cmd) = line.strip_suffix('&') {
            let out = scratch.path().join(format!("bg{i}.out"));
            let child = sh(&format!("exec {}", cmd.trim()), scratch.path(), &path)
                .stdout(std::fs::File::create(&out).expect("out file"))
                .stderr(Stdio::inherit())
                .spawn()
                .expect("background line starts");
            background.push((line.to_string(), child, out));
            // As a person would type the next line: once the process has joined.
            std::thread::sleep(Duration::from_secs(3));
            continue;
        }
        let out = sh(line, scratch.path(), &path).stderr(Stdio::inherit()).output().expect("line runs");
        assert!(
            out.status.success(),
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        last_out = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    // What the README says each step shows.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sub_out =
        &background.iter().find(|(l, ..)| l.starts_with("argent sub")).expect("a subscriber line").2;
    let watch_out =
        &background.iter().find(|(l, ..)| l.starts_with("argent obj watch")).expect("a watch line").2;
    loop {
        let sub = read_all(std::fs::File::open(sub_out).expect("sub output"));
        let watch = read_all(std::fs::File::open(watch_out).expect("watch output"));
        if sub.lines().any(|l| l.ends_with(": hello")) && watch.contains("\"new\":42") {
            break;
        }
        assert!(Instant::now() < deadline, "subscriber printed {sub:?}; watcher printed {watch:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(last_out.contains("\"value\":42"), "get printed {last_out:?}");
    for (_, mut child, _) in background {
        let _ = child.kill();
        let _ = child.wait();
    }
}
