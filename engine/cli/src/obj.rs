//! `argent obj`: live objects from a shell. A reference is given as a file (TOML or JSON),
//! an `argent://` URI, or `-` (standard input); the object's values are typed by its
//! reference's `value_type` parameter (i64, f64, bool or string; string by default).

use crate::args::Membership;
use crate::obj_sample::{rng, Sample};
use anyhow::{bail, Context};
use argent::objects::object::{Chat, EventStream, LiveObject, ReplicatedMap, ReplicatedVar};
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, ObjectType, TypeRequirement, AUTH_KEY, AUTH_PARAMETER};
use argent::{Directory, Live, Node, ObjectKey, OpenOptions, StateSource, DIRECTORY_ROLE};
use rand_core::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Read;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ObjArgs {
    #[command(subcommand)]
    command: ObjCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ObjCommand {
    /// Print a new reference (TOML; --uri for the URI form) with a fresh 128-bit id.
    New {
        /// replicated-var, replicated-map, chat or event-stream.
        #[arg(long)]
        class: String,
        /// The node group that carries the object (a group of the membership file). Without
        /// it, processes joined through the GMS (--gms) carry the object in a group of its
        /// own, joined when they open it and left when they close it.
        #[arg(long)]
        group: Option<String>,
        /// Type of values: i64, f64, bool or string.
        #[arg(long, default_value = "string")]
        value_type: String,
        /// A human-readable name.
        #[arg(long)]
        name: Option<String>,
        /// Print the URI form instead of TOML.
        #[arg(long)]
        uri: bool,
        /// Authenticated: every process must hold the object's key (`argent obj key`) and
        /// give it with --key-file; a wrong key is refused.
        #[arg(long)]
        auth: bool,
    },
    /// Print a new object key (64 hexadecimal digits) for authenticated objects.
    Key,
    /// A directory of references (itself a live object): new, put, get, list, remove.
    #[command(subcommand)]
    Dir(DirCommand),
    /// Show a reference: its fields, URI and type (interface, category, properties).
    Show {
        /// File, argent:// URI, or - for standard input.
        reference: String,
    },
    /// Join the object and print its state as JSON.
    Get(Target),
    /// Set a replicated variable.
    Set {
        #[command(flatten)]
        target: Target,
        /// The new value (of the reference's value_type).
        value: String,
    },
    /// Put a key of a replicated map.
    Put {
        #[command(flatten)]
        target: Target,
        key: String,
        value: String,
    },
    /// Remove a key of a replicated map.
    Remove {
        #[command(flatten)]
        target: Target,
        key: String,
    },
    /// Publish an event to an event stream (subscribers see it with `watch`).
    Publish {
        #[command(flatten)]
        target: Target,
        /// The event (of the reference's value_type).
        event: String,
    },
    /// Post to a chat.
    Post {
        #[command(flatten)]
        target: Target,
        /// Who posts.
        #[arg(long, default_value = "anonymous")]
        author: String,
        text: String,
    },
    /// Print the state, then every change as a JSON line, for --duration seconds (default:
    /// until interrupted).
    Watch {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Test driver: make --updates random updates (a variable: set; a map: put or remove),
    /// wait until the object includes --expect updates in all, and print the checkpoint's
    /// digest as JSON.
    #[command(hide = true)]
    Exercise {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 100)]
        updates: u64,
        #[arg(long)]
        expect: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Updates per second (0: as fast as they go).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Seconds to stay after settling (so that joiners can still get a checkpoint).
        #[arg(long, default_value_t = 2.0)]
        linger: f64,
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
}

#[derive(clap::Subcommand, Debug)]
enum DirCommand {
    /// Print a new directory's reference (a replicated map of names to references).
    New {
        /// The node group that carries the directory.
        #[arg(long)]
        group: String,
    },
    /// Store a reference under a name.
    Put {
        #[command(flatten)]
        dir: Target,
        name: String,
        /// The reference to store: a file, an argent:// URI, or -.
        stored: String,
    },
    /// Print the reference stored under a name (TOML).
    Get {
        #[command(flatten)]
        dir: Target,
        name: String,
    },
    /// Print every name.
    List(Target),
    /// Remove a name.
    Remove {
        #[command(flatten)]
        dir: Target,
        name: String,
    },
}

/// The object and the node to reach it through.
#[derive(clap::Args, Debug)]
struct Target {
    /// File, argent:// URI, or - for standard input; with --dir, a name in that directory.
    reference: String,
    /// Look the reference up by name in this directory (a file, URI or -).
    #[arg(long, value_name = "DIRECTORY")]
    dir: Option<String>,
    /// The object's key (a file holding 64 hexadecimal digits), for an authenticated object.
    #[arg(long, value_name = "FILE")]
    key_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    membership: Membership,
}

fn load(arg: &str) -> anyhow::Result<Reference> {
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

/// A new object id (random).
fn fresh_id() -> anyhow::Result<ObjectId> {
    argent::live::new_object_id().context("drawing a new object id from the operating system's generator")
}

pub fn run(a: ObjArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ObjCommand::Dir(d) => run_dir(d),
        ObjCommand::Key => {
            println!(
                "{}",
                ObjectKey::generate()
                    .context("drawing a key from the operating system's generator")?
                    .to_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        ObjCommand::New { class, group, value_type, name, uri, auth } => {
            ValueType::from_str(&value_type)?;
            let mut r = Reference::new(fresh_id()?, class, "qsm").with_parameter("value_type", value_type);
            if let Some(group) = group {
                r = r.with_setting("group", group);
            }
            if auth {
                r = r.with_parameter(AUTH_PARAMETER, AUTH_KEY);
            }
            if let Some(n) = name {
                r = r.with_name(n);
            }
            ObjectType::for_reference(&r)?; // a class we can open
            println!("{}", if uri { r.to_uri()? } else { r.to_toml()? });
            Ok(ExitCode::SUCCESS)
        }
        ObjCommand::Show { reference } => {
            let r = load(&reference)?;
            let t = ObjectType::for_reference(&r)?;
            let uri = r.to_uri().unwrap_or_else(|e| format!("(none: {e})"));
            println!(
                "{}\nuri: {uri}\ntype: {}, {}; driver {} provides {}, {}",
                r.to_toml()?.trim_end(),
                t.category.as_str(),
                t.interface,
                r.driver.name,
                t.properties.reliability,
                t.properties.security
            );
            Ok(ExitCode::SUCCESS)
        }
        ObjCommand::Get(t) => with_object(&t, |o| {
            let mut state = o.state()?;
            let initial = o.state_source() == StateSource::Initial;
            if let Value::Object(m) = &mut state {
                m.insert("from".into(), Value::from(if initial { "initial" } else { "checkpoint" }));
            }
            println!("{state}");
            if initial {
                eprintln!(
                    "argent: nobody holds this object: that is its initial state (keep a proxy open, e.g. \
                     `argent obj watch REF &`, for writes to last)"
                );
            }
            Ok(())
        }),
        ObjCommand::Set { target, value } => with_object(&target, |o| updated(o, Op::Set(&value))),
        ObjCommand::Put { target, key, value } => with_object(&target, |o| updated(o, Op::Put(&key, &value))),
        ObjCommand::Remove { target, key } => with_object(&target, |o| updated(o, Op::Remove(&key))),
        ObjCommand::Publish { target, event } => with_object(&target, |o| updated(o, Op::Publish(&event))),
        ObjCommand::Post { target, author, text } => {
            with_object(&target, |o| updated(o, Op::Post(&author, &text)))
        }
        ObjCommand::Watch { target, duration } => with_object(&target, |o| {
            println!("{}", o.state()?);
            o.watch_json(duration.map(Duration::from_secs_f64));
            Ok(())
        }),
        ObjCommand::Exercise { target, updates, expect, seed, rate, linger, timeout } => {
            with_object(&target, |o| {
                if rate > 0.0 {
                    let interval = Duration::from_secs_f64(1.0 / rate);
                    let start = std::time::Instant::now();
                    for i in 0..updates {
                        o.churn(1, seed.wrapping_mul(1_000_003).wrapping_add(i))?;
                        let due = start + interval.mul_f64((i + 1) as f64);
                        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
                    }
                } else {
                    o.churn(updates, seed)?;
                }
                let r = o.settled(expect, Duration::from_secs_f64(timeout))?;
                println!("{r}");
                std::thread::sleep(Duration::from_secs_f64(linger));
                Ok(())
            })
        }
    }
}

fn run_dir(d: DirCommand) -> anyhow::Result<ExitCode> {
    let with_dir = |t: &Target, f: &dyn Fn(&Directory) -> anyhow::Result<()>| -> anyhow::Result<ExitCode> {
        let node = t.membership.start()?;
        let result = Directory::open(&node, &load(&t.reference)?, OpenOptions::default())
            .map_err(anyhow::Error::from)
            .and_then(|dir| f(&dir));
        node.shutdown();
        result.map(|()| ExitCode::SUCCESS)
    };
    match d {
        DirCommand::New { group } => {
            let (k, v) = DIRECTORY_ROLE;
            let r = Reference::new(fresh_id()?, "replicated-map", "qsm")
                .with_setting("group", group)
                .with_parameter("value_type", "string")
                .with_parameter(k, v);
            println!("{}", r.to_toml()?);
            Ok(ExitCode::SUCCESS)
        }
        DirCommand::Put { dir, name, stored } => {
            let r = load(&stored)?;
            with_dir(&dir, &|d| {
                d.put(&name, &r)?;
                wait_own(d.object())
            })
        }
        DirCommand::Get { dir, name } => with_dir(&dir, &|d| {
            print!("{}", d.get(&name)?.to_toml()?);
            Ok(())
        }),
        DirCommand::List(dir) => with_dir(&dir, &|d| {
            d.names().iter().for_each(|n| println!("{n}"));
            Ok(())
        }),
        DirCommand::Remove { dir, name } => with_dir(&dir, &|d| {
            d.remove(&name)?;
            wait_own(d.object())
        }),
    }
}

/// The reference's value type.
#[derive(Debug, Clone, Copy)]
enum ValueType {
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

enum Op<'a> {
    Publish(&'a str),
    Set(&'a str),
    Put(&'a str, &'a str),
    Remove(&'a str),
    Post(&'a str, &'a str),
}

/// What the shell verbs need of an open object that depends on its kind and value type.
trait Opened: Proxied {
    /// The state as JSON.
    fn state(&self) -> anyhow::Result<Value>;
    /// Sends one update (not waiting for it to come back).
    fn update(&self, op: Op<'_>) -> anyhow::Result<()>;
    /// Sends `updates` random updates drawn from `seed`.
    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()>;
}

/// What is the same for every open object, whatever its kind.
trait Proxied {
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
}

/// Sends one update and waits until it has come back; refuses when nobody holds the
/// object, since the write would vanish when this command exits.
fn updated(o: &dyn Opened, op: Op<'_>) -> anyhow::Result<()> {
    if o.state_source() == StateSource::Initial {
        bail!(
            "nobody holds object {}: the write was not made, since it would vanish when this command exits \
             (on the qsm driver an object lives only while some process holds it). Keep a proxy open first, \
             e.g. `argent obj watch REF &`, then write",
            o.object()
        );
    }
    o.update(op)?;
    o.wait_own()
}

/// Opens the target's object on a node of its cluster, runs `f`, and leaves.
fn with_object(t: &Target, f: impl FnOnce(&dyn Opened) -> anyhow::Result<()>) -> anyhow::Result<ExitCode> {
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
    let value_type: ValueType =
        r.parameters.get("value_type").map_or(Ok(ValueType::String), |v| v.parse())?;
    let key = match &t.key_file {
        None => None,
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading the key file {}", f.display()))?;
            Some(ObjectKey::from_hex(&text).map_err(|e| anyhow::anyhow!("key file {}: {e}", f.display()))?)
        }
    };
    let o = OpenOptions { key, ..OpenOptions::default() };
    let result = match (Category::from_class(&r.class), value_type) {
        (Some(Category::ReplicatedVar), ValueType::I64) => f(&open::<ReplicatedVar<i64>>(&node, &r, &o)?),
        (Some(Category::ReplicatedVar), ValueType::F64) => f(&open::<ReplicatedVar<f64>>(&node, &r, &o)?),
        (Some(Category::ReplicatedVar), ValueType::Bool) => f(&open::<ReplicatedVar<bool>>(&node, &r, &o)?),
        (Some(Category::ReplicatedVar), ValueType::String) => {
            f(&open::<ReplicatedVar<String>>(&node, &r, &o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::I64) => {
            f(&open::<ReplicatedMap<String, i64>>(&node, &r, &o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::F64) => {
            f(&open::<ReplicatedMap<String, f64>>(&node, &r, &o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::Bool) => {
            f(&open::<ReplicatedMap<String, bool>>(&node, &r, &o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::String) => {
            f(&open::<ReplicatedMap<String, String>>(&node, &r, &o)?)
        }
        (Some(Category::Chat), _) => f(&open::<Chat>(&node, &r, &o)?),
        (Some(Category::EventStream), ValueType::I64) => f(&open::<EventStream<i64>>(&node, &r, &o)?),
        (Some(Category::EventStream), ValueType::F64) => f(&open::<EventStream<f64>>(&node, &r, &o)?),
        (Some(Category::EventStream), ValueType::Bool) => f(&open::<EventStream<bool>>(&node, &r, &o)?),
        (Some(Category::EventStream), ValueType::String) => f(&open::<EventStream<String>>(&node, &r, &o)?),
        (c, _) => bail!("objects of class {:?} ({c:?}) have no shell verbs yet", r.class),
    };
    node.shutdown();
    result.map(|()| ExitCode::SUCCESS)
}

fn open<O>(node: &Node, r: &Reference, o: &OpenOptions) -> anyhow::Result<Live<O>>
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

fn parse_value<T: FromStr>(s: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| anyhow::anyhow!("{s:?} is not a value of the object's value_type: {e}"))
}

/// Waits until the proxy has applied its own last update (so the process may leave).
fn wait_own<O: LiveObject>(o: &Live<O>) -> anyhow::Result<()> {
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
fn settle<O: LiveObject>(o: &Live<O>, expect: u64, timeout: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + timeout;
    while o.position().total() < expect {
        if Instant::now() > until {
            bail!("the object includes {} of {expect} updates after {timeout:?}", o.position().total());
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
    Ok(json!({"object": o.id().to_string(), "total": o.position().total(), "checkpoint_digest": digest(&cp),
              "checkpoint_bytes": cp.len(), "applied": o.stats().proxy.applied, "sent": o.stats().proxy.sent}))
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

impl<T> Opened for Live<ReplicatedVar<T>>
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + FromStr + Sample + Send + 'static,
    T::Err: std::fmt::Display,
{
    fn state(&self) -> anyhow::Result<Value> {
        Ok(json!({ "object": self.id().to_string(), "value": self.get() }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Set(v) => self.set(parse_value::<T>(v)?)?,
            _ => bail!("a replicated variable takes `set`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            self.set(T::sample(rng.next_u64()))?;
        }
        Ok(())
    }
}

impl<V> Opened for Live<ReplicatedMap<String, V>>
where
    V: Serialize + DeserializeOwned + Clone + PartialEq + FromStr + Sample + Send + 'static,
    V::Err: std::fmt::Display,
{
    fn state(&self) -> anyhow::Result<Value> {
        let entries: serde_json::Map<String, Value> =
            self.entries().into_iter().map(|(k, v)| (k, json!(v))).collect();
        Ok(json!({ "object": self.id().to_string(), "entries": entries }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Put(k, v) => self.put(k.to_string(), parse_value::<V>(v)?)?,
            Op::Remove(k) => self.remove(k.to_string())?,
            _ => bail!("a replicated map takes `put` and `remove`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            let r = rng.next_u64();
            let key = format!("k{}", r % 16);
            if r.is_multiple_of(5) {
                self.remove(key)?;
            } else {
                self.put(key, V::sample(r >> 8))?;
            }
        }
        Ok(())
    }
}

impl<T> Opened for Live<EventStream<T>>
where
    T: Serialize + DeserializeOwned + Clone + FromStr + Sample + Send + 'static,
    T::Err: std::fmt::Display,
{
    fn state(&self) -> anyhow::Result<Value> {
        // A stream has no state: only what is published while one watches.
        Ok(json!({ "object": self.id().to_string(), "stream": true }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Publish(e) => self.publish(parse_value::<T>(e)?)?,
            _ => bail!("an event stream takes `publish`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for _ in 0..updates {
            self.publish(T::sample(rng.next_u64()))?;
        }
        Ok(())
    }
}

impl Opened for Live<Chat> {
    fn state(&self) -> anyhow::Result<Value> {
        let history: Vec<Value> =
            self.history().into_iter().map(|p| json!({"author": p.author, "text": p.text})).collect();
        Ok(json!({ "object": self.id().to_string(), "history": history }))
    }

    fn update(&self, op: Op<'_>) -> anyhow::Result<()> {
        match op {
            Op::Post(author, text) => self.post(author, text)?,
            _ => bail!("a chat takes `post`"),
        }
        Ok(())
    }

    fn churn(&self, updates: u64, seed: u64) -> anyhow::Result<()> {
        let mut rng = rng(seed);
        for i in 0..updates {
            self.post(format!("p{}", rng.next_u64() % 8), format!("message {i}"))?;
        }
        Ok(())
    }
}
