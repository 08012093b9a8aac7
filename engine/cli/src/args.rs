//! Argument groups several subcommands share: where a node finds its cluster, and the
//! transport backend.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Where the membership service is looked for when neither `--config` nor `--gms` (nor
/// `ARGENT_GMS`) says: on this host, started by the first process that finds none.
pub const LOCAL_GMS: &str = "127.0.0.1:7400";
/// How long the local membership service started by a process lives without members.
const LOCAL_GMS_IDLE_SECS: u32 = 60;

/// Where a node finds its cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct Membership {
    /// Static membership file (TOML: [[member]] id/addr, [[group]] name/id/members, optional
    /// [multicast] base/count/port; README.md shows a complete one). Without it (and without
    /// --gms), the node joins the membership service in ARGENT_GMS, else the one on this
    /// host at 127.0.0.1:7400 — started in the background if none runs (it stops after 60 s
    /// without members; its log is in the temporary directory) — which gives it an id.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This process's member id (default: the file's [node] id; with the GMS and no file,
    /// one the GMS gives).
    #[arg(long)]
    pub id: Option<u32>,
    /// Transport backend: auto (io_uring where allowed, else std), std or uring.
    #[arg(long, default_value = "auto")]
    pub transport: Transport,
    /// Take membership from these GMS replicas (`ADDR[,ADDR...]` in raft id order, or
    /// `1=ADDR,2=ADDR`; an address is IP:PORT or HOST:PORT): a file then gives only this
    /// node's address, groups and settings; without one, the GMS gives the id and the node
    /// takes a free port on the interface that reaches the GMS. Default: ARGENT_GMS.
    #[arg(long, value_name = "ADDRS")]
    pub gms: Option<String>,
    /// With --gms: start once the view has this many members.
    #[arg(long, default_value_t = 1)]
    pub wait_members: usize,
    /// Interface for IP multicast (default: the file's `interface`, else 127.0.0.1); on a
    /// LAN, this host's address.
    #[arg(long)]
    pub interface: Option<std::net::Ipv4Addr>,
    /// The cluster key (a file made by `argent key new`; overrides the membership file's
    /// [security] key_file): every datagram is authenticated, and datagrams without the key
    /// are refused and counted. `node`, `pub` and `sub` take it as --key-file too.
    #[arg(long = "cluster-key", value_name = "FILE")]
    pub cluster_key: Option<PathBuf>,
    /// With a cluster key: encrypt message bodies as well (AES-256-GCM).
    #[arg(long)]
    pub encrypt: bool,
}

/// `--key-file` of the node verbs (`node`, `pub`, `sub`): the cluster key, as
/// [`Membership::cluster_key`] (object verbs use `--key-file` for an object's own key).
#[derive(clap::Args, Debug, Clone)]
pub struct KeyFile {
    /// The cluster key (a file made by `argent key new > cluster.key`): every datagram is
    /// authenticated, and datagrams without the key are refused and counted.
    #[arg(long = "key-file", value_name = "FILE", conflicts_with = "cluster_key")]
    pub key_file: Option<PathBuf>,
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
    /// Starts the node, with `key` as the cluster key if given.
    pub fn start_keyed(&self, key: &KeyFile) -> anyhow::Result<argent::Node> {
        let mut m = self.clone();
        if key.key_file.is_some() {
            m.cluster_key.clone_from(&key.key_file);
        }
        m.start()
    }

    pub fn start(&self) -> anyhow::Result<argent::Node> {
        let mut b = argent::Node::builder();
        if let Some(path) = &self.config {
            b = b.config_file(path);
        }
        if let Some(id) = self.id {
            b = b.id(id);
        }
        if let Some(t) = self.transport.backend() {
            b = b.transport(t);
        }
        if let Some(i) = self.interface {
            b = b.interface(i);
        }
        if let Some(k) = &self.cluster_key {
            b = b.key_file(k);
        }
        if self.encrypt {
            b = b.encrypt(true);
        }
        let gms = match (&self.gms, std::env::var("ARGENT_GMS").ok().filter(|s| !s.is_empty())) {
            (Some(list), _) => Some(crate::gms::parse_replicas(list)?),
            (None, Some(list)) if self.config.is_none() => {
                Some(crate::gms::parse_replicas(&list).context("ARGENT_GMS")?)
            }
            (None, _) if self.config.is_none() => Some(local_gms(self.cluster_key.as_deref(), self.encrypt)?),
            (None, _) => None,
        };
        if let Some(replicas) = gms {
            b = b.gms(replicas).wait_members(self.wait_members);
        }
        Ok(b.start()?)
    }
}

/// The membership service on this host ([`LOCAL_GMS`]), started in the background if none
/// answers.
fn local_gms(key: Option<&std::path::Path>, encrypt: bool) -> anyhow::Result<BTreeMap<u64, SocketAddr>> {
    let addr: SocketAddr = LOCAL_GMS.parse().expect("literal");
    let security = argent::config::SecurityEntry { key_file: key.map(std::path::Path::to_path_buf), encrypt };
    let auth = security.auth().map_err(|e| anyhow::anyhow!(e))?;
    let answers = |wait| {
        argent_membership::service::query_status_keyed(addr, wait, auth.as_ref()).ok().flatten().is_some()
    };
    if !answers(Duration::from_millis(300)) {
        let log = std::env::temp_dir().join(format!("argent-gms-{}.log", addr.port()));
        if std::net::UdpSocket::bind(addr).is_err() {
            bail!(
                "a process holds {LOCAL_GMS} but gave no status{}: a membership service with {} runs there; \
                 use the same key, or name another service with --gms or ARGENT_GMS",
                if key.is_some() { " sealed with this cluster key" } else { "" },
                if key.is_some() { "another key, or none," } else { "a cluster key" }
            );
        }
        let exe = std::env::current_exe().context("finding the argent executable to start the GMS")?;
        let err = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["gms", "--listen", LOCAL_GMS, "--idle-exit", &LOCAL_GMS_IDLE_SECS.to_string()]);
        if let Some(k) = key {
            // The service takes only sealed requests: it needs the same key (an absolute
            // path, since it may outlive this directory).
            cmd.arg("--key-file").arg(std::path::absolute(k)?);
            if encrypt {
                cmd.arg("--encrypt");
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        // Its own process group: a signal to this process's group (Ctrl-C, `timeout`)
        // leaves it running for the other processes.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.spawn().context("starting the local membership service (argent gms)")?;
        eprintln!(
            "argent: started the local membership service on {LOCAL_GMS} (it stops after {LOCAL_GMS_IDLE_SECS} s \
             without members; log: {})",
            log.display()
        );
        if !answers(Duration::from_secs(5)) {
            bail!(
                "the local membership service did not answer on {LOCAL_GMS} (see {}); start one with `argent gms`, \
                 or name one with --gms or ARGENT_GMS",
                log.display()
            );
        }
    }
    Ok(BTreeMap::from([(1, addr)]))
}
