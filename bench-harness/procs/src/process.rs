//! A running child: its output, its readiness, what it is told, its signals and its end.

use crate::child::READY;
use crate::error::Error;
use crate::spec::Spec;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How often [`Proc::finish`] looks at a child with nothing to read.
const POLL: Duration = Duration::from_millis(20);

/// A signal to send a child (with the `kill` command, to its group if it leads one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGSTOP: pause it.
    Stop,
    /// SIGCONT: resume it.
    Cont,
    /// SIGTERM: ask it to clean up and exit.
    Term,
    /// SIGKILL.
    Kill,
}

impl Signal {
    fn flag(self) -> &'static str {
        match self {
            Signal::Stop => "-STOP",
            Signal::Cont => "-CONT",
            Signal::Term => "-TERM",
            Signal::Kill => "-KILL",
        }
    }
}

/// A started child; killed (with its group, if it leads one) if dropped while running.
#[derive(Debug)]
pub struct Proc {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its stdout lines, until its stdout closes (`None` then, and with a log file).
    lines: Option<Receiver<String>>,
    log: Option<PathBuf>,
    own_group: bool,
    /// The last stdout line that was a JSON object.
    summary: Option<Value>,
}

/// How a child ended.
#[derive(Debug)]
pub struct Finished {
    /// The child's name in errors.
    pub what: String,
    /// Its exit status; `None` if it was stopped at the deadline.
    pub status: Option<ExitStatus>,
    /// The last line of its output that is a JSON object.
    pub summary: Option<Value>,
}

impl Finished {
    /// Whether it was stopped at its deadline.
    pub fn killed(&self) -> bool {
        self.status.is_none()
    }

    /// Its summary, whatever its exit status; an error if it was stopped or printed none.
    pub fn into_summary(self) -> Result<Value, Error> {
        match (self.status, self.summary) {
            (None, _) => Err(Error::Killed { what: self.what }),
            (Some(status), None) => Err(Error::NoSummary { what: self.what, status }),
            (Some(_), Some(v)) => Ok(v),
        }
    }

    /// Its summary, if it also exited successfully.
    pub fn into_successful_summary(self) -> Result<Value, Error> {
        match self.status {
            Some(status) if !status.success() && self.summary.is_some() => {
                Err(Error::Failed { what: self.what, status })
            }
            _ => self.into_summary(),
        }
    }
}

/// The last of `lines` that is a JSON object.
fn last_json_object<'a>(lines: impl DoubleEndedIterator<Item = &'a str>) -> Option<Value> {
    lines.rev().find_map(|l| serde_json::from_str::<Value>(l.trim()).ok().filter(Value::is_object))
}

impl Proc {
    /// Starts the child `spec` describes.
    pub fn spawn(spec: Spec) -> Result<Proc, Error> {
        let Spec { program, args, what, log, stdin, own_group, env } = spec;
        let mut cmd = Command::new(&program);
        cmd.args(&args).envs(env).stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        if let Some(path) = &log {
            let file =
                std::fs::File::create(path).map_err(|source| Error::Log { path: path.clone(), source })?;
            let copy = file.try_clone().map_err(|source| Error::Log { path: path.clone(), source })?;
            cmd.stdout(copy).stderr(file);
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        }
        if own_group {
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|source| Error::Start { what: what.clone(), source })?;
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let stdin = child.stdin.take();
        Ok(Proc { what, child, stdin, lines, log, own_group, summary: None })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its name in errors.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Keeps `line` if it is a JSON object (the summary so far).
    fn keep(&mut self, line: &str) {
        if let Some(v) = last_json_object(std::iter::once(line)) {
            self.summary = Some(v);
        }
    }

    /// Waits for its `ready` line (other lines are passed over).
    ///
    /// Panics if its output goes to a log file (a caller's bug: there are no lines to read).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        assert!(self.log.is_none(), "{}: wait_ready needs its stdout lines, not a log file", self.what);
        let until = Instant::now() + timeout;
        loop {
            let Some(lines) = &self.lines else {
                return Err(Error::ExitedBeforeReady { what: self.what.clone() });
            };
            match lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(l) if l.trim() == READY => return Ok(()),
                Ok(l) => self.keep(&l),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Error::NotReady { what: self.what.clone(), timeout });
                }
                Err(RecvTimeoutError::Disconnected) => self.lines = None,
            }
        }
    }

    /// Tells it `word` on a line of its stdin ([`Spec::talk`]).
    pub fn say(&mut self, word: &str) -> Result<(), Error> {
        let error = |source| Error::Say { what: self.what.clone(), word: word.into(), source };
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(error(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "its stdin is not a pipe",
            )));
        };
        writeln!(stdin, "{word}").and_then(|()| stdin.flush()).map_err(error)
    }

    /// Sends it `signal` (its whole group, if it leads one); whether `kill` succeeded.
    pub fn signal(&self, signal: Signal) -> std::io::Result<bool> {
        let pid = self.child.id().to_string();
        let mut kill = Command::new("kill");
        kill.arg(signal.flag());
        if self.own_group {
            kill.args(["--", &format!("-{pid}")]); // the group id is the leader's pid
        } else {
            kill.arg(&pid);
        }
        Ok(kill.stdout(Stdio::null()).stderr(Stdio::null()).status()?.success())
    }

    /// Kills it (SIGKILL, its group too) and reaps it.
    pub fn kill(&mut self) {
        if self.own_group {
            let _ = self.signal(Signal::Kill);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Reads what is left of its output, for up to `wait`.
    fn drain_rest(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.drain(POLL.min(wait)) {}
    }

    /// Reads what it printed for up to `wait`; whether its output is complete.
    fn drain(&mut self, wait: Duration) -> bool {
        let Some(lines) = &self.lines else {
            std::thread::sleep(wait);
            return true;
        };
        match lines.recv_timeout(wait) {
            Ok(l) => {
                let mut more = vec![l];
                more.extend(lines.try_iter());
                more.iter().for_each(|l| self.keep(l));
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.lines = None;
                true
            }
        }
    }

    /// Waits for it to exit and its output to end. At `deadline` it is stopped: with
    /// `grace`, SIGTERM then SIGKILL once `grace` has passed; without, SIGKILL at once. A
    /// child that exits during its grace counts as stopped.
    pub fn finish(&mut self, deadline: Instant, grace: Option<Duration>) -> Finished {
        let mut terminated: Option<Instant> = None;
        let status = loop {
            let complete = self.drain(POLL);
            // Looked at every time: a grandchild may hold the output open after it exits.
            if let Ok(Some(s)) = self.child.try_wait() {
                if !complete {
                    self.drain_rest(Duration::from_millis(200));
                }
                break terminated.is_none().then_some(s);
            }
            if Instant::now() < deadline {
                continue;
            }
            match (grace, terminated) {
                (Some(_), None) => {
                    let _ = self.signal(Signal::Term);
                    terminated = Some(Instant::now());
                }
                (Some(g), Some(t)) if t.elapsed() <= g => {}
                _ => {
                    self.kill();
                    break None;
                }
            }
        };
        if let Some(path) = &self.log {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            self.summary = last_json_object(text.lines());
        }
        Finished { what: self.what.clone(), status, summary: self.summary.take() }
    }
}

impl Drop for Proc {
    /// A child never outlives its `Proc` (on an early error, say), nor do the members of
    /// its own process group (the group id stays reserved while any of them lives).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        } else if self.own_group {
            let _ = self.signal(Signal::Kill);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, what: &str) -> Spec {
        Spec::new("/bin/sh", what).args(["-c", script])
    }

    #[test]
    fn ready_go_summary() {
        let script = "echo noise; echo ready; read w; echo \"{\\\"heard\\\":\\\"$w\\\"}\"; echo done";
        let mut p = Proc::spawn(sh(script, "child").talk()).unwrap();
        p.wait_ready(Duration::from_secs(10)).unwrap();
        p.say("go").unwrap();
        let f = p.finish(Instant::now() + Duration::from_secs(10), None);
        assert!(f.status.is_some_and(|s| s.success()), "{f:?}");
        assert_eq!(f.into_summary().unwrap()["heard"], "go");
    }

    #[test]
    fn errors_name_the_child() {
        let mut p = Proc::spawn(sh("exit 3", "subscriber 1")).unwrap();
        let e = p.wait_ready(Duration::from_secs(10)).unwrap_err();
        assert_eq!(e.to_string(), "subscriber 1 exited before it was ready");
        let f = p.finish(Instant::now() + Duration::from_secs(10), None);
        assert!(f.into_summary().unwrap_err().to_string().contains("printed no summary"));
        let p = Proc::spawn(sh("echo '{\"a\":1}'; exit 1", "pub")).unwrap().finish(far(), None);
        assert!(p.into_successful_summary().unwrap_err().to_string().starts_with("pub exited with"));
        let e = Proc::spawn(Spec::new("/nonexistent/program", "x")).unwrap_err();
        assert_eq!(e.to_string(), "starting x");
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn a_late_child_is_killed_at_its_deadline() {
        let mut p = Proc::spawn(sh("echo ready; sleep 30", "sleeper")).unwrap();
        p.wait_ready(Duration::from_secs(10)).unwrap();
        let started = Instant::now();
        let f = p.finish(Instant::now() + Duration::from_millis(200), None);
        assert!(f.killed() && started.elapsed() < Duration::from_secs(10), "{f:?}");
        assert_eq!(f.into_summary().unwrap_err().to_string(), "sleeper did not finish in time (killed)");
    }

    #[test]
    fn a_group_gets_sigterm_and_its_grace_and_the_log_keeps_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("graceful.log");
        let script = "echo '{\"x\":2}'; trap 'echo cleaned up; exit 3' TERM; sleep 30 & wait";
        let mut p = Proc::spawn(sh(script, "sh").log(&log).own_group()).unwrap();
        let started = Instant::now();
        let f = p.finish(Instant::now() + Duration::from_millis(300), Some(Duration::from_secs(10)));
        assert!(f.killed() && started.elapsed() < Duration::from_secs(10), "{f:?}");
        assert_eq!(f.summary.as_ref().map(|s| s["x"].clone()), Some(2.into()));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("cleaned up"), "{text}");
    }

    #[test]
    fn stop_and_cont_reach_the_child() {
        let p = Proc::spawn(sh("echo ready; sleep 30", "sleeper")).unwrap();
        assert!(p.signal(Signal::Stop).unwrap());
        assert!(p.signal(Signal::Cont).unwrap());
    } // dropped: killed
}
