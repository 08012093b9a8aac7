//! What every `argent obj` verb shares: the target (a reference, maybe by name in a
//! directory, and the node to reach it through), its value type, opening it, and what is
//! the same for every open object whatever its kind (waiting for its own updates, printing
//! changes, settling).

use crate::args::Membership;
use anyhow::{bail, Context};
use argent::objects::object::LiveObject;
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, ObjectType, TypeRequirement};
use argent::{Directory, Live, Node, ObjectKey, OpenOptions, StateSource};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Read;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The object and the node to reach it through.
#[derive(clap::Args, Debug)]
pub(crate) struct Target {
    /// File, argent:// URI, or - for standard input; with --dir, a name in that directory.
    pub(crate) reference: String,
    /// Look the reference up by name in this directory (a file, URI or -).
    #[arg(long, value_name = "DIRECTORY")]
    pub(crate) dir: Option<String>,
    /// The object's key (a file holding 64 hexadecimal digits), for an authenticated object.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<std::path::PathBuf>,
    /// Where a durable object's replica is kept (default: $ARGENT_DATA_DIR, else
    /// $XDG_STATE_HOME/argent, else ~/.local/state/argent).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) membership: Membership,
}

pub(crate) fn load(arg: &str) -> anyhow::Result<Reference> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading the reference from standard input")?;
        s
    } else if arg.to_ascii_lowercase().starts_with("argent:") {
        arg.to_string()
    } else {
        std::fs::read_to_string(arg)
            .with_context(|| format!("reading the reference {arg} (a file, an argent:// URI, or -)"))?
    };
    Reference::parse(&text).with_context(|| format!("in the reference {arg}"))
}

/// The reference's value type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ValueType {
    I64,
    F64,
    Bool,
    String,
}

impl FromStr for ValueType {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "i64" => ValueType::I64,
            "f64" => ValueType::F64,
            "bool" => ValueType::Bool,
            "string" => ValueType::String,
            other => bail!("value_type {other:?} is not one of i64, f64, bool, string"),
        })
    }
}

pub(crate) enum Op<'a> {
    Publish(&'a str),
    Set(&'a str),
    Put(&'a str, &'a str),
    Remove(&'a str),
    Post(&'a str, &'a str),
}

/// What the shell verbs need of an open object that depends on its kind and value type.
pub(crate) trait Opened: Proxied {
    /// The state as JSON.
    fn state(&self) -> anyhow::Result<Value>;
    /// Sends one update (not waiting for it to come back).
    fn update(&self, op: Op<'_>) -> anyhow::Result<()>;
    /// Sends `updates` random updates drawn from `seed`.
    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()>;
}

/// What is the same for every open object, whatever its kind.
pub(crate) trait Proxied {
    /// Waits until the proxy has applied its own updates (so the process may leave).
    fn wait_own(&self) -> anyhow::Result<()>;
    /// Prints every change as a JSON line, for `duration` (or until interrupted).
    fn watch_json(&self, duration: Option<Duration>);
    /// Waits until the object includes `expect` updates; its checkpoint's digest as JSON.
    fn settled(&self, expect: u64, timeout: Duration) -> anyhow::Result<Value>;
    /// Where the state the proxy joined with came from.
    fn state_source(&self) -> StateSource;
    /// The object's id.
    fn object(&self) -> ObjectId;
    /// Whether its state is kept on disk (then a write lasts with nobody holding it).
    fn durable(&self) -> bool;
}

impl<O: LiveObject> Proxied for Live<O>
where
    O::Change: Serialize,
{
    fn wait_own(&self) -> anyhow::Result<()> {
        wait_own(self)
    }

    fn watch_json(&self, duration: Option<Duration>) {
        watch_changes(self.watch(), duration);
    }

    fn settled(&self, expect: u64, timeout: Duration) -> anyhow::Result<Value> {
        exercised(self, expect, timeout)
    }

    fn state_source(&self) -> StateSource {
        Live::state_source(self)
    }

    fn object(&self) -> ObjectId {
        self.id()
    }

    fn durable(&self) -> bool {
        self.durable_stats().is_some()
    }
}

/// Refuses a write to an object nobody holds unless it is durable: it would vanish when
/// this command exits.
pub(crate) fn refuse_vanishing(o: &dyn Proxied) -> anyhow::Result<()> {
    if o.state_source() == StateSource::Initial && !o.durable() {
        bail!(
            "nobody holds object {}: the write was not made, since it would vanish when this command exits \
             (on the qsm driver an object lives only while some process holds it). Keep a proxy open first, \
             e.g. `argent obj watch REF &`, then write",
            o.object()
        );
    }
    Ok(())
}

/// Starts a node of the target's cluster and finds the full reference (by name in a
/// directory, dereferenced), with the options to open it (its key, the data directory).
pub(crate) fn reach(t: &Target) -> anyhow::Result<(Node, Reference, OpenOptions)> {
    // A reference file is checked before any traffic (a misspelt key names itself).
    let direct = match &t.dir {
        None => {
            let r = load(&t.reference)?;
            ObjectType::for_reference(&r)?;
            Some(r)
        }
        Some(_) => None,
    };
    let node = t.membership.start()?;
    let r = match &t.dir {
        None => direct.expect("loaded above"),
        Some(dir) => {
            let d = Directory::open(&node, &load(dir)?, OpenOptions::default())?;
            d.get(&t.reference)?
        }
    };
    // A stub whose description names a directory entry: its kind and value type are the
    // stored reference's.
    let r = node.dereference(&r)?;
    let key = match &t.key_file {
        None => None,
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading the key file {}", f.display()))?;
            Some(ObjectKey::from_hex(&text).map_err(|e| anyhow::anyhow!("key file {}: {e}", f.display()))?)
        }
    };
    let o = OpenOptions { key, data_dir: t.data_dir.clone(), ..OpenOptions::default() };
    Ok((node, r, o))
}

pub(crate) fn open<O>(node: &Node, r: &Reference, o: &OpenOptions) -> anyhow::Result<Live<O>>
where
    O: LiveObject + 'static,
    O::State: Send,
    O::Op: Send,
    O::Change: Clone + Send,
{
    let category = Category::from_class(&r.class).context("unknown class")?;
    node.open_with::<O>(r, &TypeRequirement::whole(category), o.clone())
        .with_context(|| format!("opening object {}", r.id))
}

pub(crate) fn parse_value<T: FromStr>(s: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| anyhow::anyhow!("{s:?} is not a value of the object's value_type: {e}"))
}

/// Waits until the proxy has applied its own last update (so the process may leave).
pub(crate) fn wait_own<O: LiveObject>(o: &Live<O>) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(10);
    let sent = o.stats().proxy.sent;
    while o.position().mark(o.origin()).map_or(0, |m| m.seq) < sent {
        if Instant::now() > until {
            bail!("the update was sent but not delivered back within 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Waits until the object includes `expect` updates.
/// A durable object's, on this node's disk too.
fn settle<O: LiveObject>(o: &Live<O>, expect: u64, timeout: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + timeout;
    let synced = || o.durable_stats().map_or(u64::MAX, |d| d.synced);
    while o.position().total() < expect || synced() < expect {
        if Instant::now() > until {
            bail!(
                "the object includes {} of {expect} updates after {timeout:?} ({} on disk)",
                o.position().total(),
                synced()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn digest(bytes: &[u8]) -> String {
    // BLAKE3, its first 8 bytes as 16 hex digits: equal checkpoints give equal digests.
    blake3::hash(bytes).to_hex()[..16].to_string()
}

fn exercised<O: LiveObject>(o: &Live<O>, expect: u64, timeout: Duration) -> anyhow::Result<Value> {
    settle(o, expect, timeout)?;
    let cp = o.checkpoint()?;
    let durable = o.durable_stats().map(|d| json!({"synced": d.synced, "records": d.records, "bases": d.bases,
                                                     "syncs": d.syncs, "bytes": d.bytes, "restored": d.restored}));
    Ok(json!({"object": o.id().to_string(), "total": o.position().total(), "checkpoint_digest": digest(&cp),
              "checkpoint_bytes": cp.len(), "applied": o.stats().proxy.applied, "sent": o.stats().proxy.sent,
              "durable": durable}))
}

fn watch_changes<C: Serialize>(rx: std::sync::mpsc::Receiver<C>, duration: Option<Duration>) {
    let until = duration.map(|d| Instant::now() + d);
    loop {
        let left = until.map_or(Duration::from_millis(200), |u| u.saturating_duration_since(Instant::now()));
        if until.is_some() && left.is_zero() {
            return;
        }
        if let Ok(c) = rx.recv_timeout(left.min(Duration::from_millis(200))) {
            println!("{}", json!({ "change": c }));
        }
    }
}
