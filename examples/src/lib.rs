//! What the examples share: the node options (a membership file and a GMS, as `argent obj`
//! takes them) and loading a reference.

use anyhow::Context;
use argent::objects::reference::Reference;
use argent::Node;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How an example process joins its cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeOptions {
    /// The membership file (members, and the group that carries the objects).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// This process's member id.
    #[arg(long)]
    pub id: u32,
    /// The GMS replica to join through (`argent gms --listen ADDR`).
    #[arg(long, value_name = "ADDR")]
    pub gms: SocketAddr,
}

impl NodeOptions {
    /// Starts the node.
    pub fn start(&self) -> anyhow::Result<Node> {
        Node::builder()
            .config_file(&self.config)
            .id(self.id)
            .pin(false)
            .gms([(1, self.gms)].into())
            .start()
            .with_context(|| format!("starting member {} of {}", self.id, self.config.display()))
    }
}

/// A reference from a file (TOML or JSON) or an `argent://` URI.
pub fn load(arg: &str) -> anyhow::Result<Reference> {
    let text = if arg.to_ascii_lowercase().starts_with("argent:") {
        arg.to_string()
    } else {
        std::fs::read_to_string(arg).with_context(|| format!("reading the reference {arg}"))?
    };
    Reference::parse(&text).with_context(|| format!("in the reference {arg}"))
}
