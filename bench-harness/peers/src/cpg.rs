//! Corosync CPG (closed process groups), the total-order peer, through the `rust-corosync`
//! bindings corosync publishes (they link Debian's libcpg; the FFI stays in the dependency).
//!
//! Every run has a corosync daemon of its own ([`Daemon`]): one node on 127.0.0.1, its
//! configuration written into a fresh temporary directory, started in the foreground
//! (`corosync -f -c FILE`) before the run's processes and stopped (SIGTERM, then SIGKILL)
//! after them; its CPU time and peak resident memory go into the run's summary. Corosync 3.1
//! always locks /var/run/corosync.pid: one daemon per host, so one run at a time, as root.
//!
//! Every process, publisher or subscriber, is a member of one group (`argent-PORT`): CPG
//! sends only to the groups a process has joined, and delivers every message to every
//! local member, the sender included. Publishers multicast with `CPG_TYPE_AGREED` (corosync
//! orders every message through Totem's single ring whatever is asked: one agreed sequence
//! of all senders' messages, the same in every member) and drain their own copies and each
//! other's on a dispatch thread; a refused send (`CS_ERR_TRY_AGAIN`: the IPC ring is full,
//! or the daemon is throttling its clients) is retried with the same bytes. Subscribers
//! verify every delivery in the deliver callback, on a dispatch thread; the main thread
//! polls the verifier every 2 ms, as Zenoh's subscribers do.
//!
//! The deliver callback is a plain `fn` (the bindings keep no closure), so the process's
//! verifier lives in a static: one role per process.

use crate::control::Control;
use crate::opts::Opts;
use crate::verify::{Generator, Verifier};
use anyhow::{bail, Context};
use argent_procs::{Proc, Signal, Spec};
use rust_corosync::cpg::{self, Guarantee, Handle, Model1Data, Model1Flags, ModelData};
use rust_corosync::{CsError, DispatchFlags, NodeId};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long joining the group and waiting for its members may take (the orchestrator
/// waits 30 s for `ready`).
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the daemon may take to accept clients and form its ring.
const DAEMON_START: Duration = Duration::from_secs(20);
/// SIGTERM, then this long for a clean shutdown before SIGKILL.
const DAEMON_GRACE: Duration = Duration::from_secs(10);
/// How often a subscriber looks at its verifier.
const POLL: Duration = Duration::from_millis(2);
/// libcpg's `cpg_dispatch` keeps a 1 MiB buffer on its stack.
const DISPATCH_STACK: usize = 8 << 20;
/// A refused send is retried at once this many times, then after a short sleep.
const SPINS: u32 = 16;
const BACKOFF: Duration = Duration::from_micros(50);

/// The group of the run (the port makes concurrent names differ).
fn group(o: &Opts) -> String {
    format!("argent-{}", o.port)
}

/// What the deliver callback feeds: the subscriber's verifier, or the count a publisher
/// drains. One per process (a static): its size does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Sink {
    Idle,
    Verify(Verifier),
    Drain { publishers: usize, ends: usize, delivered: u64 },
}

impl Sink {
    /// Every publisher's end marker has been delivered: nothing more will come.
    fn done(&self) -> bool {
        match self {
            Sink::Idle => false,
            Sink::Verify(v) => v.ended(),
            Sink::Drain { publishers, ends, .. } => ends >= publishers,
        }
    }
}

static SINK: Mutex<Sink> = Mutex::new(Sink::Idle);

fn sink() -> MutexGuard<'static, Sink> {
    SINK.lock().unwrap_or_else(PoisonError::into_inner)
}

fn deliver(_: &Handle, _group: String, _node: NodeId, _pid: u32, msg: &[u8], _len: usize) {
    match &mut *sink() {
        Sink::Idle => {}
        Sink::Verify(v) => v.check(msg),
        Sink::Drain { ends, delivered, .. } => {
            *delivered += 1;
            if let Ok(argent_verify::Message::End(_)) = argent_verify::read(msg) {
                *ends += 1;
            }
        }
    }
}

/// A connection to the local daemon, deliveries going to [`deliver`] (none: `quiet`).
fn connect(quiet: bool) -> Result<Handle, CsError> {
    let model = Model1Data {
        flags: Model1Flags::None,
        deliver_fn: if quiet { None } else { Some(deliver) },
        confchg_fn: None,
        totem_confchg_fn: None,
    };
    cpg::initialize(&ModelData::ModelV1(model), 0)
}

/// Retries `f` while corosync says to try again (its ring forming, its queues full).
fn retrying<T>(what: &str, mut f: impl FnMut() -> Result<T, CsError>) -> anyhow::Result<T> {
    let until = Instant::now() + SETUP_TIMEOUT;
    loop {
        match f() {
            Err(CsError::CsErrTryAgain) if Instant::now() < until => std::thread::sleep(POLL),
            r => return r.with_context(|| format!("corosync: {what}")),
        }
    }
}

/// Joins the run's group.
fn join(h: &Handle, o: &Opts) -> anyhow::Result<()> {
    let g = group(o);
    retrying(&format!("joining the group {g}"), || cpg::join(h, &g))
}

/// Waits until the group has at least `n` members, this process among them.
fn wait_members(h: &Handle, o: &Opts, n: usize) -> anyhow::Result<usize> {
    let g = group(o);
    let me = std::process::id();
    let until = Instant::now() + SETUP_TIMEOUT;
    loop {
        let members = retrying("reading the group's members", || cpg::membership_get(h, &g))?;
        if members.len() >= n && members.iter().any(|a| a.pid == me) {
            return Ok(members.len());
        }
        if Instant::now() > until {
            bail!("corosync: the group {g} has {} of {n} members after {SETUP_TIMEOUT:?}", members.len());
        }
        std::thread::sleep(POLL);
    }
}

/// A thread that dispatches deliveries one at a time until every publisher's end marker
/// has been delivered (or the connection fails).
fn dispatcher(h: &Handle) -> anyhow::Result<JoinHandle<Result<(), CsError>>> {
    let h = h.clone(); // a clone never finalizes the connection
    std::thread::Builder::new()
        .name("cpg-dispatch".into())
        .stack_size(DISPATCH_STACK)
        .spawn(move || loop {
            cpg::dispatch(&h, DispatchFlags::One)?;
            if sink().done() {
                return Ok(());
            }
        })
        .context("starting the dispatch thread")
}

/// Ends a connection: finalized once its dispatch thread is done (finalizing under a
/// thread blocked in `cpg_dispatch` is not safe); else left to the process's exit.
/// Whether the thread had finished, and its error if any.
fn close(h: Handle, t: JoinHandle<Result<(), CsError>>, wait: Duration) -> (bool, Option<String>) {
    let until = Instant::now() + wait;
    while !t.is_finished() && Instant::now() < until {
        std::thread::sleep(POLL);
    }
    if !t.is_finished() {
        std::mem::forget(h);
        return (false, None);
    }
    let error = match t.join() {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("cpg_dispatch: {e}")),
        Err(_) => Some("the dispatch thread panicked".into()),
    };
    drop(h);
    (true, error)
}

fn settings(o: &Opts, h: &Handle) -> Value {
    json!({
        "group": group(o),
        "guarantee": "agreed",
        "transport": "knet, one node on 127.0.0.1",
        "max_atomic_msgsize": cpg::max_atomic_msgsize_get(h).ok(),
        "dispatch": "a thread, cpg_dispatch(CS_DISPATCH_ONE)",
    })
}

pub fn publish(o: &Opts, ctl: &mut Control, g: &mut Generator) -> anyhow::Result<Value> {
    *sink() = Sink::Drain { publishers: o.publishers, ends: 0, delivered: 0 };
    let h = connect(false).context("corosync: connecting to the daemon")?;
    join(&h, o)?;
    let mut s = settings(o, &h);
    let t = dispatcher(&h)?;
    ctl.ready()?;
    // Every publisher and subscriber has joined before the clock starts: a member sees only
    // what is sent after its join.
    let members = wait_members(&h, o, o.publishers + o.subscribers)?;
    g.start();
    let (mut refused, mut slept, mut spins) = (0u64, 0u64, 0u32);
    loop {
        if let Some(wait) = g.due_in() {
            std::thread::sleep(wait);
        }
        let Some(m) = g.current() else { break };
        match cpg::mcast_joined(&h, Guarantee::TypeAgreed, m) {
            Ok(()) => {
                g.advance();
                spins = 0;
            }
            Err(CsError::CsErrTryAgain) => {
                refused += 1;
                spins += 1;
                if spins > SPINS {
                    slept += 1;
                    std::thread::sleep(BACKOFF);
                } else {
                    std::thread::yield_now();
                }
            }
            Err(e) => bail!("corosync: cpg_mcast_joined: {e}"),
        }
    }
    ctl.wait_stop()?;
    let delivered = match &*sink() {
        Sink::Drain { delivered, .. } => *delivered,
        _ => 0,
    };
    let (drained, error) = close(h, t, Duration::from_secs(5));
    if let Some(e) = error {
        bail!("corosync: publisher {}: {e}", o.index);
    }
    s["members_at_start"] = json!(members);
    s["try_again"] = json!(refused);
    s["try_again_sleeps"] = json!(slept);
    s["delivered_to_self"] = json!(delivered);
    s["drained"] = json!(drained);
    Ok(s)
}

pub fn subscribe(o: &Opts, ctl: &mut Control, v: &mut Verifier) -> anyhow::Result<Value> {
    *sink() = Sink::Verify(std::mem::take(v));
    let h = connect(false).context("corosync: connecting to the daemon")?;
    join(&h, o)?;
    wait_members(&h, o, 1)?;
    let mut s = settings(o, &h);
    let t = dispatcher(&h)?;
    ctl.ready()?;
    loop {
        let going = match &*sink() {
            Sink::Verify(v) => ctl.keep_going(v),
            _ => false,
        };
        if !going || t.is_finished() {
            break;
        }
        std::thread::sleep(POLL);
    }
    let (finished, error) = close(h, t, Duration::from_millis(200));
    if let Sink::Verify(verified) = std::mem::replace(&mut *sink(), Sink::Idle) {
        *v = verified;
    }
    if let Some(e) = &error {
        eprintln!("argent-peer corosync-cpg: subscriber {}: {e}", o.index);
    }
    s["dispatch_finished"] = json!(finished);
    s["dispatch_error"] = json!(error);
    Ok(s)
}

/// The corosync daemon of one run.
#[derive(Debug)]
pub struct Daemon {
    proc: Proc,
    dir: PathBuf,
    config: String,
    /// CPU seconds when publishing started ([`Daemon::mark`]).
    at_go: Option<f64>,
}

/// The configuration of a one-node cluster on 127.0.0.1 whose files live in `dir`. No
/// quorum section: no quorum provider, so the node is quorate (and CPG runs inquorate
/// anyway). knet carries the node's traffic to itself over its loopback link. Everything
/// else is corosync's default, `sched_rr` (the daemon at the highest round-robin real-time
/// priority) included.
fn config(port: u16, dir: &Path) -> String {
    format!(
        "# argent-peer corosync-cpg: one node on 127.0.0.1, generated for this run\n\
         totem {{\n    version: 2\n    cluster_name: argent-{port}\n    transport: knet\n    \
         crypto_cipher: none\n    crypto_hash: none\n    interface {{\n        linknumber: 0\n        \
         mcastport: {mcast}\n    }}\n}}\n\
         nodelist {{\n    node {{\n        nodeid: 1\n        name: argent\n        ring0_addr: 127.0.0.1\n    }}\n}}\n\
         logging {{\n    to_stderr: yes\n    to_syslog: no\n    to_logfile: no\n    timestamp: hires\n}}\n\
         system {{\n    state_dir: {state}\n    move_to_root_cgroup: no\n    allow_knet_handle_fallback: yes\n}}\n",
        mcast = port + 50,
        state = dir.display(),
    )
}

/// The pids of running processes named `corosync`.
fn running_daemons() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "corosync" && proc_state(*pid).is_some_and(|s| s != 'Z')
        })
        .collect()
}

/// A process's state letter (R, S, Z, ...), from /proc/PID/stat.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// A process's CPU seconds, user and system, all threads (/proc/PID/stat, in clock ticks).
fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime field 14, stime field 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, Linux's usual value, if that fails).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// A field of /proc/PID/status in kB (`VmHWM`: peak resident memory).
fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// The last lines of the daemon's log, for an error.
fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("corosync.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

impl Daemon {
    /// Starts the run's daemon and waits until a client can join a group on it.
    pub fn start(port: u16) -> anyhow::Result<Daemon> {
        if !is_root() {
            bail!(
                "corosync-cpg needs root: corosync locks /var/run/corosync.pid and accepts clients \
                 of uid or gid 0 only"
            );
        }
        if let Some(pid) = running_daemons().first() {
            bail!(
                "a corosync daemon (pid {pid}) is already running: corosync 3.1 runs one daemon per \
                 host (lock /var/run/corosync.pid), and a run starts its own; stop it (e.g. \
                 `systemctl disable --now corosync`, or the run that started it) and try again"
            );
        }
        let dir = std::env::temp_dir().join(format!("argent-corosync-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join("corosync.conf");
        let config = config(port, &dir);
        std::fs::write(&file, &config).with_context(|| format!("writing {}", file.display()))?;
        let spec = Spec::new("corosync", "the corosync daemon")
            .args(["-f".to_string(), "-c".to_string(), file.display().to_string()])
            .log(dir.join("corosync.log"));
        let proc =
            Proc::spawn(spec).context("starting corosync (cluster-scripts/install-peer-deps installs it)")?;
        let mut d = Daemon { proc, dir, config, at_go: None };
        if let Err(e) = d.wait_ready() {
            let tail = log_tail(&d.dir);
            d.stop();
            return Err(e.context(format!("corosync's log ends:\n{tail}")));
        }
        Ok(d)
    }

    /// Waits until a client connects and sees itself in a group of its own.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let pid = self.proc.pid();
        let until = Instant::now() + DAEMON_START;
        let probe = format!("argent-probe-{}", std::process::id());
        loop {
            if proc_state(pid).is_none_or(|s| s == 'Z') {
                bail!("corosync exited while starting");
            }
            if let Ok(h) = connect(true) {
                let joined = retrying("joining a probe group", || cpg::join(&h, &probe));
                let seen = || {
                    cpg::membership_get(&h, &probe)
                        .is_ok_and(|m| m.iter().any(|a| a.pid == std::process::id()))
                };
                while joined.is_ok() && !seen() && Instant::now() < until {
                    std::thread::sleep(POLL);
                }
                if joined.is_ok() && seen() {
                    let _ = cpg::leave(&h, &probe);
                    return Ok(());
                }
            }
            if Instant::now() > until {
                bail!("corosync accepted no client in {DAEMON_START:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Publishing starts now: the daemon's CPU time is counted from here.
    pub fn mark(&mut self) {
        self.at_go = proc_cpu_secs(self.proc.pid());
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after a grace), removes its files and the
    /// shared memory of its connections; what it used, for the summary.
    pub fn stop(mut self) -> Value {
        let pid = self.proc.pid();
        let total = proc_cpu_secs(pid);
        let hwm = proc_status_kb(pid, "VmHWM");
        let _ = self.proc.signal(Signal::Term);
        let f = self.proc.finish(Instant::now() + DAEMON_GRACE, None);
        let tail = log_tail(&self.dir);
        // libqb's shared memory of each client connection: /dev/shm/qb-DAEMONPID-...
        // (removed by a clean shutdown, left by a killed daemon).
        let prefix = format!("qb-{pid}-");
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for e in entries.filter_map(Result::ok) {
                if e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
                    let p = e.path();
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let clean = f.status.is_some_and(|s| s.success());
        json!({
            "pid": pid,
            "cpu_secs": total.zip(self.at_go).map(|(t, g)| t - g),
            "cpu_secs_total": total,
            "vm_hwm_kb": hwm,
            "clean_exit": clean,
            "log_tail": if clean { Value::Null } else { json!(tail) },
            "config": self.config,
        })
    }
}
