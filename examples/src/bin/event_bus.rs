//! An event bus between processes with topics created at run time: `listen` joins topics
//! (creating those nobody has) and prints every event with its topic; `publish` sends
//! numbered events to a topic once someone listens to it. Each listener checks that it gets
//! every event from its join on, once each and in order.
//!
//! ```sh
//! target/release/event_bus $N --id 1 listen --topic prices --topic news &
//! target/release/event_bus $N --id 2 publish --topic prices --count 100000
//! target/release/event_bus $N --id 3 publish --topic news --count 10
//! ```

use anyhow::{bail, Context};
use argent::{GroupId, Node};
use argent_examples::NodeOptions;
use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    node: NodeOptions,
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Join topics (created if nobody has them) and print their events.
    Listen {
        /// A topic (repeat for several).
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
        /// Print every event (else one line per second per topic).
        #[arg(long)]
        verbose: bool,
        /// Stop after this many seconds (default: run until killed).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Publish numbered events to a topic, once someone listens to it.
    Publish {
        #[arg(long)]
        topic: String,
        /// Events to publish.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Bytes per event (at least 16).
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let node = a.node.start()?;
    let result = match a.role {
        Role::Listen { topics, verbose, seconds } => listen(&node, &topics, verbose, seconds),
        Role::Publish { topic, count, size } => publish(&node, &topic, count, size),
    };
    node.shutdown();
    result
}

fn listen(node: &Node, topics: &[String], verbose: bool, seconds: Option<u64>) -> anyhow::Result<()> {
    let mut names = HashMap::new();
    for t in topics {
        let id = node.join(t).with_context(|| format!("joining topic {t}"))?;
        names.insert(id, t.clone());
        println!("joined {t} (group {})", id.0);
    }
    let ids: Vec<GroupId> = names.keys().copied().collect();
    let mut sub = node.subscribe_groups(&ids)?;
    // Per (topic, sender): the next event number expected once the first one arrived.
    let mut next: HashMap<(GroupId, u64), u64> = HashMap::new();
    let mut counts: HashMap<GroupId, u64> = HashMap::new();
    let until = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut report = Instant::now() + Duration::from_secs(1);
    while until.map_or(true, |u| Instant::now() < u) {
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(200)) {
            for (group, m) in d.group_messages() {
                let (sender, seq) = parse(m).context("an event that is not ours")?;
                let expected = next.entry((group, sender)).or_insert(seq);
                if seq != *expected {
                    bail!(
                        "topic {}: event {seq} of sender {sender:x} where {} was due",
                        names[&group],
                        *expected
                    );
                }
                *expected += 1;
                *counts.entry(group).or_default() += 1;
                if verbose {
                    println!("{}: event {seq} from {sender:x}", names[&group]);
                }
            }
        }
        if Instant::now() >= report {
            report += Duration::from_secs(1);
            for (g, n) in &counts {
                println!("{}: {n} events, in order", names[g]);
            }
        }
    }
    for t in topics {
        node.leave(t)?;
    }
    Ok(())
}

fn publish(node: &Node, topic: &str, count: u64, size: usize) -> anyhow::Result<()> {
    if size < 16 {
        bail!("--size must be at least 16 (a sender id and an event number)");
    }
    // The topic exists once a listener joined it and this node installed that view.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut publisher = loop {
        match node.publisher(topic) {
            Ok(p) => break p,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e).context(format!("nobody listens to topic {topic} after 30 s")),
        }
    };
    let sender = u64::from(node.id().0) << 32 | u64::from(std::process::id());
    let mut event = vec![0u8; size];
    let started = Instant::now();
    for seq in 0..count {
        event[..8].copy_from_slice(&sender.to_le_bytes());
        event[8..16].copy_from_slice(&seq.to_le_bytes());
        publisher.publish_blocking(&event)?;
    }
    while !publisher.is_drained() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = started.elapsed().as_secs_f64();
    println!("published {count} events to {topic} in {secs:.2} s ({:.0}/s)", count as f64 / secs);
    std::thread::sleep(Duration::from_millis(300)); // acknowledgements before leaving
    Ok(())
}

fn parse(m: &[u8]) -> Option<(u64, u64)> {
    let sender = u64::from_le_bytes(m.get(..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(m.get(8..16)?.try_into().ok()?);
    Some((sender, seq))
}
