//! Argument groups several subcommands share: where a node finds its cluster, and the
//! transport backend.

use std::path::PathBuf;

/// Where a node finds its cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct Membership {
    /// Static membership file (TOML: [[member]] id/addr, [[group]] name/id/members, optional
    /// [multicast] base/count/port; see `argent help node`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// This process's member id (default: the file's [node] id).
    #[arg(long)]
    pub id: Option<u32>,
    /// Transport backend: auto (io_uring where allowed, else std), std or uring.
    #[arg(long, default_value = "auto")]
    pub transport: Transport,
    /// Take membership from these GMS replicas (`ADDR[,ADDR...]` in raft id order, or
    /// `1=ADDR,2=ADDR`): the file then gives only this node's address, groups and settings.
    #[arg(long, value_name = "ADDRS")]
    pub gms: Option<String>,
    /// With --gms: start once the view has this many members.
    #[arg(long, default_value_t = 1)]
    pub wait_members: usize,
    /// Interface for IP multicast (default: the file's `interface`, else 127.0.0.1); on a
    /// LAN, this host's address.
    #[arg(long)]
    pub interface: Option<std::net::Ipv4Addr>,
}

/// Transport choice on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Probe: io_uring where the kernel allows it, else std.
    Auto,
    /// socket2 + recvmmsg/sendmmsg.
    Std,
    /// io_uring.
    Uring,
}

impl Transport {
    pub fn backend(self) -> Option<argent::Backend> {
        match self {
            Transport::Auto => None,
            Transport::Std => Some(argent::Backend::Std),
            Transport::Uring => Some(argent::Backend::Uring),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Std => "std",
            Transport::Uring => "uring",
        }
    }
}

impl Membership {
    pub fn start(&self) -> anyhow::Result<argent::Node> {
        let mut b = argent::Node::builder().config_file(&self.config);
        if let Some(id) = self.id {
            b = b.id(id);
        }
        if let Some(t) = self.transport.backend() {
            b = b.transport(t);
        }
        if let Some(i) = self.interface {
            b = b.interface(i);
        }
        if let Some(list) = &self.gms {
            b = b.gms(crate::gms::parse_replicas(list)?).wait_members(self.wait_members);
        }
        Ok(b.start()?)
    }
}
