//! A composite object: a room made of a chat, a map of where everyone stands, and a topic
//! (a replicated variable). The room's reference embeds its parts' references; joining the
//! room opens each part, each joined with state transfer.
//!
//! ```sh
//! cargo run -p argent-examples --bin room -- new --group objects > room.toml
//! cargo run -p argent-examples --bin room -- join room.toml --name ann --config cluster.toml --id 1 --gms 127.0.0.1:7400
//! ```
//! In a room, type text to chat, `/topic TEXT` to set the topic, `/move X Y` to move,
//! `/look` to see the room.

use anyhow::Context;
use argent::live::new_object_id;
use argent::objects::object::{Chat, ReplicatedMap, ReplicatedVar};
use argent::objects::reference::Reference;
use argent::objects::types::{Category, TypeRequirement};
use argent::{Live, Node};
use argent_examples::{load, NodeOptions};
use clap::{Parser, Subcommand};
use std::io::BufRead;

/// A room: chat + positions + topic, one composite reference.
#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a new room's reference (TOML) with its three parts.
    New {
        /// The node group that carries the room's objects.
        #[arg(long)]
        group: String,
    },
    /// Enter the room and read commands from standard input.
    Join {
        reference: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        node: NodeOptions,
    },
}

struct Room {
    chat: Live<Chat>,
    positions: Live<ReplicatedMap<String, (i32, i32)>>,
    topic: Live<ReplicatedVar<String>>,
}

fn part<'r>(room: &'r Reference, name: &str) -> anyhow::Result<&'r Reference> {
    room.parts.get(name).with_context(|| format!("the room's reference has no part {name:?}"))
}

impl Room {
    fn open(node: &Node, room: &Reference) -> anyhow::Result<Room> {
        Ok(Room {
            chat: node.open(part(room, "chat")?, &TypeRequirement::whole(Category::Chat))?,
            positions: node
                .open(part(room, "positions")?, &TypeRequirement::whole(Category::ReplicatedMap))?,
            topic: node.open(part(room, "topic")?, &TypeRequirement::whole(Category::ReplicatedVar))?,
        })
    }

    fn look(&self) {
        println!("topic: {}", self.topic.get().unwrap_or_else(|| "(none)".into()));
        for (who, (x, y)) in self.positions.entries() {
            println!("  {who} at ({x}, {y})");
        }
        for p in self.chat.history().iter().rev().take(5).rev() {
            println!("  [{}] {}", p.author, p.text);
        }
    }
}

fn new_room(group: &str) -> anyhow::Result<String> {
    let part = |class: &str| -> anyhow::Result<Reference> {
        Ok(Reference::new(new_object_id()?, class, "qsm").with_setting("group", group))
    };
    let room = part("composite")?
        .with_name("room")
        .with_part("chat", part("chat")?)
        .with_part("positions", part("replicated-map")?)
        .with_part("topic", part("replicated-var")?);
    Ok(room.to_toml()?)
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::New { group } => print!("{}", new_room(&group)?),
        Command::Join { reference, name, node } => {
            let node = node.start()?;
            let room = Room::open(&node, &load(&reference)?)?;
            room.positions.put(name.clone(), (0, 0))?;
            let chat = room.chat.watch();
            std::thread::spawn(move || {
                for c in chat {
                    println!("[{}] {}", c.post.author, c.post.text);
                }
            });
            room.look();
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                let mut words = line.split_whitespace();
                match words.next() {
                    Some("/topic") => room.topic.set(words.collect::<Vec<_>>().join(" "))?,
                    Some("/move") => {
                        let mut n = words.filter_map(|w| w.parse::<i32>().ok());
                        let (x, y) = (n.next().unwrap_or(0), n.next().unwrap_or(0));
                        room.positions.put(name.clone(), (x, y))?;
                    }
                    Some("/look") => room.look(),
                    Some(_) => room.chat.post(&name, line.trim())?,
                    None => {}
                }
            }
            room.positions.remove(name)?;
            drop(room);
            node.shutdown();
        }
    }
    Ok(())
}
