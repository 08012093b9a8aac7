//! `argent obj`: live objects from a shell. A reference is given as a file (TOML or JSON),
//! an `argent://` URI, or `-` (standard input); the object's values are typed by its
//! reference's `value_type` parameter (i64, f64, bool or string; string by default).

use crate::obj_common::{load, open, reach, refuse_vanishing, wait_own, Op, Opened, Target, ValueType};
use anyhow::{bail, Context};
use argent::objects::object::{Chat, EventStream, ReplicatedMap, ReplicatedVar};
use argent::objects::reference::{ObjectId, Reference};
use argent::objects::types::{Category, ObjectType, TypeRequirement, AUTH_KEY, AUTH_PARAMETER};
use argent::{Directory, Node, ObjectKey, OpenOptions, StateSource, DIRECTORY_ROLE};
use serde_json::Value;
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
        /// replicated-var, replicated-map, chat or event-stream; or, needing the total-order
        /// driver, replicated-log, counter or lock.
        #[arg(long)]
        class: String,
        /// The driver that carries it: qsm, or total-order (for nodes started with
        /// [protocol] driver = "total-order"). Default: total-order for the classes that need
        /// it, else qsm.
        #[arg(long)]
        driver: Option<String>,
        /// Durable: the nodes that hold it keep its state on disk (a checkpoint and a log,
        /// fsynced, under --data-dir), and an open after every holder closed or crashed
        /// restores it.
        #[arg(long)]
        durable: bool,
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
        /// Start updating at this wall-clock time (ms since the Unix epoch), once open, so
        /// that processes started apart update together; elapsed_ms counts from it.
        #[arg(long)]
        epoch_ms: Option<u64>,
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    #[command(flatten)]
    Ordered(crate::obj_ordered::OrderedCommand),
}

#[derive(clap::Subcommand, Debug)]
enum DirCommand {
    /// Print a new directory's reference (a replicated map of names to references).
    New {
        /// The node group that carries the directory.
        #[arg(long)]
        group: String,
        /// Durable: its entries outlive its last holder (see `argent obj new --durable`).
        #[arg(long)]
        durable: bool,
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
        ObjCommand::New { class, driver, durable, group, value_type, name, uri, auth } => {
            ValueType::from_str(&value_type)?;
            let category = Category::from_class(&class);
            let driver = driver.unwrap_or_else(|| crate::obj_ordered::default_driver(category).into());
            let mut r = Reference::new(fresh_id()?, class, driver);
            if category.is_some_and(|c| !matches!(c, Category::Counter | Category::Lock)) {
                r = r.with_parameter("value_type", value_type);
            }
            if durable {
                r = r.durable();
            }
            if let Some(group) = group {
                r = r.with_setting("group", group);
            }
            if auth {
                r = r.with_parameter(AUTH_PARAMETER, AUTH_KEY);
            }
            if let Some(n) = name {
                r = r.with_name(n);
            }
            // A class we can open, on a driver that gives what it needs.
            let t = ObjectType::for_reference(&r)?;
            argent::objects::types::check(&TypeRequirement::new(t.category), &t)?;
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
        ObjCommand::Ordered(c) => crate::obj_ordered::run(c),
        ObjCommand::Get(t) => with_object(&t, |o| {
            let mut state = o.state()?;
            let initial = o.state_source() == StateSource::Initial;
            let from = match o.state_source() {
                StateSource::Initial => "initial",
                StateSource::Stored => "disk",
                _ => "checkpoint",
            };
            if let Value::Object(m) = &mut state {
                m.insert("from".into(), Value::from(from));
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
        ObjCommand::Exercise { target, updates, expect, seed, rate, linger, timeout, epoch_ms } => {
            with_object(&target, |o| {
                if let Some(at) = epoch_ms {
                    let at = std::time::UNIX_EPOCH + Duration::from_millis(at);
                    std::thread::sleep(at.duration_since(std::time::SystemTime::now()).unwrap_or_default());
                }
                let start = Instant::now();
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
                let mut r = o.settled(expect, Duration::from_secs_f64(timeout))?;
                // From the first update sent to every update applied (and synced, if durable).
                r["elapsed_ms"] = Value::from(start.elapsed().as_secs_f64() * 1e3);
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
        DirCommand::New { group, durable } => {
            let (k, v) = DIRECTORY_ROLE;
            let mut r = Reference::new(fresh_id()?, "replicated-map", "qsm")
                .with_setting("group", group)
                .with_parameter("value_type", "string")
                .with_parameter(k, v);
            if durable {
                r = r.durable();
            }
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

/// Sends one update and waits until it has come back; refuses when nobody holds the
/// object, since the write would vanish when this command exits.
fn updated(o: &dyn Opened, op: Op<'_>) -> anyhow::Result<()> {
    refuse_vanishing(o)?;
    o.update(op)?;
    o.wait_own()
}

/// Opens the target's object on a node of its cluster, runs `f`, and leaves.
fn with_object(t: &Target, f: impl FnOnce(&dyn Opened) -> anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    let (node, r, o) = reach(t)?;
    let value_type: ValueType =
        r.parameters.get("value_type").map_or(Ok(ValueType::String), |v| v.parse())?;
    let result = open_dyn(&node, &r, &o, value_type).and_then(|opened| f(&*opened));
    node.shutdown();
    result.map(|()| ExitCode::SUCCESS)
}

/// Opens `r` as the kind its class and value type say.
fn open_dyn(node: &Node, r: &Reference, o: &OpenOptions, vt: ValueType) -> anyhow::Result<Box<dyn Opened>> {
    Ok(match (Category::from_class(&r.class), vt) {
        (Some(Category::ReplicatedVar), ValueType::I64) => Box::new(open::<ReplicatedVar<i64>>(node, r, o)?),
        (Some(Category::ReplicatedVar), ValueType::F64) => Box::new(open::<ReplicatedVar<f64>>(node, r, o)?),
        (Some(Category::ReplicatedVar), ValueType::Bool) => {
            Box::new(open::<ReplicatedVar<bool>>(node, r, o)?)
        }
        (Some(Category::ReplicatedVar), ValueType::String) => {
            Box::new(open::<ReplicatedVar<String>>(node, r, o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::I64) => {
            Box::new(open::<ReplicatedMap<String, i64>>(node, r, o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::F64) => {
            Box::new(open::<ReplicatedMap<String, f64>>(node, r, o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::Bool) => {
            Box::new(open::<ReplicatedMap<String, bool>>(node, r, o)?)
        }
        (Some(Category::ReplicatedMap), ValueType::String) => {
            Box::new(open::<ReplicatedMap<String, String>>(node, r, o)?)
        }
        (Some(Category::Chat), _) => Box::new(open::<Chat>(node, r, o)?),
        (Some(Category::EventStream), ValueType::I64) => Box::new(open::<EventStream<i64>>(node, r, o)?),
        (Some(Category::EventStream), ValueType::F64) => Box::new(open::<EventStream<f64>>(node, r, o)?),
        (Some(Category::EventStream), ValueType::Bool) => Box::new(open::<EventStream<bool>>(node, r, o)?),
        (Some(Category::EventStream), ValueType::String) => {
            Box::new(open::<EventStream<String>>(node, r, o)?)
        }
        (Some(c), vt) => match crate::obj_ordered::open_dyn(node, r, o, c, vt)? {
            Some(opened) => opened,
            None => bail!("objects of class {:?} have no shell verbs yet", r.class),
        },
        (None, _) => bail!("objects of class {:?} have no shell verbs", r.class),
    })
}
