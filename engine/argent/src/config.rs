//! The static membership file: members, their addresses, groups and their multicast
//! addresses, optional protocol settings. The membership service replaces it later without
//! changing the API built on it.
//!
//! ```toml
//! interface = "127.0.0.1"          # multicast interface (default 127.0.0.1)
//! transport = "auto"               # auto | std | uring
//!
//! [[member]]
//! id = 0
//! addr = "127.0.0.1:47000"         # unicast: tokens, repairs (shard i listens on port + i)
//! shards = 1                       # optional
//!
//! [[group]]
//! name = "bench"
//! id = 1                           # region id
//! address = "239.255.77.1:47100"   # IP multicast group:port
//! members = [0, 1, 2, 3]           # the first is the ring leader
//!
//! [protocol]                       # optional overrides of argent_qsm::Config
//! datagram_size = 65000
//!
//! [node]                           # optional: which member this process is
//! id = 1
//! ```

use argent_runtime::{MemberSpec, NodeId, RegionId, RegionSpec, RuntimeConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// Largest datagram size chosen from the path MTU (loopback's 65 536 gives this).
pub const MAX_AUTO_DATAGRAM: usize = 65_000;

/// A static membership file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Interface for IP multicast.
    #[serde(default = "loopback")]
    pub interface: Ipv4Addr,
    /// `auto`, `std` or `uring`.
    #[serde(default = "auto")]
    pub transport: String,
    /// Members.
    #[serde(rename = "member", default)]
    pub members: Vec<MemberEntry>,
    /// Groups.
    #[serde(rename = "group", default)]
    pub groups: Vec<GroupEntry>,
    /// Protocol settings.
    #[serde(default)]
    pub protocol: ProtocolEntry,
    /// Which member this file is for (optional; `--id` overrides).
    #[serde(default)]
    pub node: Option<NodeEntry>,
}

fn loopback() -> Ipv4Addr {
    Ipv4Addr::LOCALHOST
}
fn auto() -> String {
    "auto".into()
}

/// One member.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// Node id.
    pub id: u32,
    /// Unicast address of its first shard.
    pub addr: SocketAddrV4,
    /// Shards (default 1).
    #[serde(default = "one")]
    pub shards: usize,
}

fn one() -> usize {
    1
}

/// One group (mapped to one region while membership is static).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Name applications use.
    pub name: String,
    /// Region id.
    pub id: u32,
    /// IP multicast group and port.
    pub address: SocketAddrV4,
    /// Member ids; the first leads the token ring.
    pub members: Vec<u32>,
}

/// Protocol overrides; anything left out keeps its default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProtocolEntry {
    /// See `argent_qsm::Config::datagram_size`.
    pub datagram_size: Option<usize>,
    /// See `argent_qsm::Config::send_buffer_bytes`.
    pub send_buffer_bytes: Option<usize>,
    /// See `argent_qsm::Config::window_datagrams`.
    pub window_datagrams: Option<u64>,
    /// See `argent_qsm::Config::partition_size`.
    pub partition_size: Option<usize>,
    /// Socket buffers requested, bytes.
    pub socket_buffer: Option<usize>,
    /// Datagrams per system call.
    pub batch: Option<usize>,
    /// Evict members silent this long, milliseconds (0: never).
    pub member_timeout_ms: Option<u64>,
    /// Initial sending rate, bytes/s.
    pub initial_rate: Option<u64>,
    /// Lowest sending rate flow control chooses, bytes/s.
    pub min_rate: Option<u64>,
    /// Pin shard threads to cores (default true).
    pub pin: Option<bool>,
}

/// The `[node]` section.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// This process's member id.
    pub id: u32,
}

/// What is wrong with a membership file.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Could not read it.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid TOML or wrong fields.
    #[error("{path}: {message}")]
    Parse {
        /// File.
        path: String,
        /// What the parser said (line, column, field).
        message: String,
    },
    /// Inconsistent contents.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// What is inconsistent and how to fix it.
        message: String,
    },
}

impl ClusterConfig {
    /// Read and check a membership file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        let cfg: ClusterConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: p.clone(), message: e.to_string() })?;
        cfg.check().map_err(|message| ConfigError::Invalid { path: p, message })?;
        Ok(cfg)
    }

    /// Consistency checks; the message names the offending entry.
    pub fn check(&self) -> Result<(), String> {
        if self.members.is_empty() {
            return Err("no [[member]] entries: list every node with its id and addr".into());
        }
        let mut ids = HashSet::new();
        let mut addrs = HashSet::new();
        for m in &self.members {
            if m.id > u32::from(u16::MAX) {
                return Err(format!("member id {} is too large: use ids below 65536", m.id));
            }
            if !ids.insert(m.id) {
                return Err(format!("member id {} is listed twice", m.id));
            }
            if !addrs.insert(m.addr) {
                return Err(format!("member {} reuses address {} of another member", m.id, m.addr));
            }
            if m.shards == 0 {
                return Err(format!("member {}: shards must be at least 1", m.id));
            }
        }
        let mut names = HashSet::new();
        let mut regions = HashSet::new();
        for g in &self.groups {
            if !names.insert(&g.name) {
                return Err(format!("group {:?} is listed twice", g.name));
            }
            if !regions.insert(g.id) {
                return Err(format!("group {:?}: id {} is used by another group", g.name, g.id));
            }
            if !g.address.ip().is_multicast() {
                return Err(format!(
                    "group {:?}: address {} is not an IPv4 multicast address (use 224.0.0.0/4, e.g. 239.255.x.y)",
                    g.name, g.address
                ));
            }
            if g.members.is_empty() {
                return Err(format!("group {:?} has no members", g.name));
            }
            if let Some(m) = g.members.iter().find(|m| !ids.contains(*m)) {
                return Err(format!("group {:?} lists member {m}, which has no [[member]] entry", g.name));
            }
        }
        match self.transport.as_str() {
            "auto" | "std" | "uring" => Ok(()),
            other => Err(format!("transport {other:?} is not one of auto, std, uring")),
        }
    }

    /// The region of a group.
    pub fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Runtime settings for member `me`.
    pub fn runtime(&self, me: u32) -> Result<RuntimeConfig, String> {
        if !self.members.iter().any(|m| m.id == me) {
            return Err(format!("node {me} has no [[member]] entry"));
        }
        let members = self
            .members
            .iter()
            .map(|m| MemberSpec { id: NodeId(m.id), addr: m.addr, shards: m.shards })
            .collect();
        let regions = self
            .groups
            .iter()
            .map(|g| RegionSpec {
                region: RegionId(g.id),
                group: g.address,
                members: g.members.iter().map(|m| NodeId(*m)).collect(),
            })
            .collect();
        let mut rc = RuntimeConfig::new(NodeId(me), members, regions);
        rc.interface = self.interface;
        rc.transport = match self.transport.as_str() {
            "std" => Some(argent_runtime::Backend::Std),
            "uring" => Some(argent_runtime::Backend::Uring),
            _ => None,
        };
        let p = &self.protocol;
        // Datagrams as large as the path carries without fragmentation (large on loopback),
        // unless the file says otherwise.
        rc.qsm.datagram_size = match p.datagram_size {
            Some(v) => v,
            None => argent_transport::path_datagram(self.interface)
                .map_or(rc.qsm.datagram_size, |d| d.clamp(argent_qsm::MIN_DATAGRAM, MAX_AUTO_DATAGRAM)),
        };
        if let Some(v) = p.send_buffer_bytes {
            rc.qsm.send_buffer_bytes = v;
        }
        if let Some(v) = p.window_datagrams {
            rc.qsm.window_datagrams = v;
        }
        if let Some(v) = p.partition_size {
            rc.qsm.partition_size = v;
        }
        if let Some(v) = p.initial_rate {
            rc.qsm.initial_rate = v;
        }
        if let Some(v) = p.min_rate {
            rc.qsm.min_rate = v;
        }
        if let Some(v) = p.pin {
            rc.pin = v;
        }
        if let Some(v) = p.socket_buffer {
            rc.socket_buffer = v;
        }
        if let Some(v) = p.batch {
            rc.batch = v;
        }
        if let Some(v) = p.member_timeout_ms {
            rc.member_timeout = (v > 0).then(|| Duration::from_millis(v));
        }
        rc.qsm.validate().map_err(|e| format!("[protocol]: {e}"))?;
        Ok(rc)
    }
}
