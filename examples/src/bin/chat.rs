//! A chat between processes: every line typed is posted; every post, from anyone, is printed
//! as it is delivered. The history is the same in every process (ordered by stamp).
//!
//! ```sh
//! argent obj new --class chat --group objects > chat.toml
//! cargo run -p argent-examples --bin chat -- chat.toml --name ann --config cluster.toml --id 1 --gms 127.0.0.1:7400
//! ```

use argent::objects::object::Chat;
use argent::objects::types::{Category, TypeRequirement};
use argent::Live;
use argent_examples::{load, NodeOptions};
use clap::Parser;
use std::io::BufRead;
use std::time::Duration;

/// Chat with every process that opens the same chat reference.
#[derive(Parser, Debug)]
struct Args {
    /// The chat's reference (file or argent:// URI).
    reference: String,
    /// Your name in the chat.
    #[arg(long)]
    name: String,
    /// Post this and leave (instead of reading lines from standard input).
    #[arg(long)]
    say: Option<String>,
    #[command(flatten)]
    node: NodeOptions,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let node = a.node.start()?;
    let chat: Live<Chat> = node.open(&load(&a.reference)?, &TypeRequirement::whole(Category::Chat))?;
    for p in chat.history() {
        println!("[{}] {}", p.author, p.text);
    }
    let changes = chat.watch();
    std::thread::spawn(move || {
        for c in changes {
            println!("[{}] {}", c.post.author, c.post.text);
        }
    });
    match a.say {
        Some(text) => {
            chat.post(&a.name, text)?;
            std::thread::sleep(Duration::from_millis(500)); // delivered back, and printed
        }
        None => {
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                if !line.trim().is_empty() {
                    chat.post(&a.name, line)?;
                }
            }
        }
    }
    drop(chat);
    node.shutdown();
    Ok(())
}
