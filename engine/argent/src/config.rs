//! The static membership file: members, their addresses, groups and their members, where
//! regions get their multicast addresses, optional protocol settings. The membership service
//! replaces it later without changing the API built on it.
//!
//! ```toml
//! interface = "127.0.0.1"          # multicast interface (default 127.0.0.1)
//! transport = "auto"               # auto | std | uring
//!
//! [multicast]                      # optional: the pool regions take addresses from
//! base = "239.255.0.1"             # first address (default 239.255.0.1)
//! count = 1024                     # addresses base, base + 1, ... (default 1024)
//! port = 47100                     # UDP port of every region (default 47100)
//!
//! [[member]]
//! id = 0
//! addr = "127.0.0.1:47000"         # unicast: tokens, repairs (shard i listens on port + i)
//! shards = 1                       # optional
//!
//! [[group]]
//! name = "bench"
//! id = 1                           # group id, carried in every message (any u32, unique)
//! members = [0, 1, 2, 3]           # who receives it
//! address = "239.255.77.1:47100"   # optional: the address of this group's region
//!
//! [protocol]                       # optional overrides of argent_qsm::Config
//! datagram_size = 65000
//!
//! [node]                           # optional: which member this process is
//! id = 1
//! ```
//!
//! **Groups → regions.** Groups are not regions: [`ClusterConfig::regions`] runs
//! [`RegionMap::compute`] over the file — a region is the set of members listed in exactly
//! the same groups — so a thousand groups with the same members are one region, one sender
//! feed and one token ring. A message to a group is multicast once in each of the group's
//! regions and carries the group id in a 4-byte tag; a subscription delivers its groups only.
//! Region ids are 1, 2, … (largest region first); the ring leader of a region is the first
//! of its members in the member list of the region's lowest-id group.
//!
//! **Addresses.** A region whose groups name an `address` uses the one of its lowest-id group
//! that names one (other groups' addresses in that region go unused). Every other region
//! takes the `[multicast]` pool address of its rank (region i: `base + i - 1`, largest region
//! first); beyond the pool, regions share its addresses and receivers drop other regions'
//! datagrams by the region id in every header. Keep explicit addresses outside the pool, and
//! give clusters that share a network different pools (or ports).

use argent_membership::{AddressPool, Addressing, Overflow, RegionMap, Subscriptions};
use argent_runtime::{GroupId, MemberSpec, NodeId, RegionSpec, RuntimeConfig};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
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
    /// The multicast address pool of regions.
    #[serde(default)]
    pub multicast: MulticastEntry,
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
    /// The cluster key: every datagram authenticated (and with `encrypt`, sealed).
    #[serde(default, skip_serializing_if = "SecurityEntry::is_default")]
    pub security: SecurityEntry,
}

/// The `[security]` section: `key_file` names a key made by `argent key new` (a relative
/// path is taken from the membership file's directory); `encrypt = true` seals bodies too.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecurityEntry {
    /// The key file; without it, traffic is not authenticated.
    pub key_file: Option<std::path::PathBuf>,
    /// AEAD: encrypt bodies as well as authenticating them.
    #[serde(default)]
    pub encrypt: bool,
}

impl SecurityEntry {
    fn is_default(&self) -> bool {
        *self == SecurityEntry::default()
    }

    /// The keys and mode this section names; `None` without a key file.
    pub fn auth(&self) -> Result<Option<argent_runtime::AuthConfig>, String> {
        let Some(path) = &self.key_file else {
            if self.encrypt {
                return Err("[security] encrypt = true needs a key_file (make one with `argent key new > cluster.key`)".into());
            }
            return Ok(None);
        };
        let keys = argent_runtime::auth::KeyRing::load(path).map_err(|e| e.to_string())?;
        let mode =
            if self.encrypt { argent_runtime::auth::Mode::Aead } else { argent_runtime::auth::Mode::Mac };
        Ok(Some(argent_runtime::AuthConfig { keys, mode }))
    }
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

/// One group. Groups with the same members share a region (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Name applications use.
    pub name: String,
    /// Group id, carried in every message to the group.
    pub id: u32,
    /// IP multicast group and port for the group's region (optional: the `[multicast]` pool
    /// gives one otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddrV4>,
    /// Member ids (the nodes that receive it).
    pub members: Vec<u32>,
}

/// The `[multicast]` section: the addresses regions take, `base`, `base + 1`, … on one port.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MulticastEntry {
    /// First address of the pool (default 239.255.0.1).
    #[serde(default = "pool_base")]
    pub base: Ipv4Addr,
    /// Addresses in the pool (default 1024).
    #[serde(default = "pool_count")]
    pub count: u32,
    /// UDP port of every region address from the pool (default 47100).
    #[serde(default = "pool_port")]
    pub port: u16,
}

impl Default for MulticastEntry {
    fn default() -> Self {
        MulticastEntry { base: pool_base(), count: pool_count(), port: pool_port() }
    }
}

fn pool_base() -> Ipv4Addr {
    Ipv4Addr::new(239, 255, 0, 1)
}
fn pool_count() -> u32 {
    1024
}
fn pool_port() -> u16 {
    47_100
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
    /// How regions deliver: "qsm" (default; reliable, each sender's order) or
    /// "total-order" (every member delivers the same sequence from all senders, with virtual
    /// synchrony; decision 014). Every member of the cluster must use the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

impl ProtocolEntry {
    /// The driver `driver` names (QSM's if none).
    pub fn driver(&self) -> Result<argent_runtime::Driver, String> {
        match self.driver.as_deref() {
            None => Ok(argent_runtime::Driver::Qsm),
            Some(name) => argent_runtime::Driver::from_name(name).ok_or_else(|| {
                format!(
                    "[protocol] driver = {name:?} is not a driver: use \"qsm\" (reliable, each sender's order) or \"total-order\" (one order for all senders, virtual synchrony)"
                )
            }),
        }
    }
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
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, path)
    }

    /// Parse and check a membership file's text; `path` names it in errors, and relative
    /// paths inside it are taken from its directory. Never panics on any input.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let mut cfg: ClusterConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: p.clone(), message: e.to_string() })?;
        if let (Some(k), Some(dir)) = (&cfg.security.key_file, path.parent()) {
            if k.is_relative() {
                cfg.security.key_file = Some(dir.join(k));
            }
        }
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
            if m.shards == 0 || m.shards > argent_runtime::MAX_SHARDS {
                return Err(format!(
                    "member {}: shards = {} is out of bounds: use 1 to {} (one thread each)",
                    m.id,
                    m.shards,
                    argent_runtime::MAX_SHARDS
                ));
            }
        }
        let pool = &self.multicast;
        if !pool.base.is_multicast() {
            return Err(format!(
                "[multicast] base {} is not an IPv4 multicast address (use 224.0.0.0/4, e.g. 239.255.0.1)",
                pool.base
            ));
        }
        if pool.count == 0 {
            return Err("[multicast] count must be at least 1".into());
        }
        self.protocol.driver()?;
        let last = u32::from(pool.base).checked_add(pool.count - 1).map(Ipv4Addr::from);
        if !last.is_some_and(|l| l.is_multicast()) {
            return Err(format!(
                "[multicast] count {} from base {} runs past 239.255.255.255: lower count or base",
                pool.count, pool.base
            ));
        }
        if pool.port == 0 {
            return Err("[multicast] port must not be 0".into());
        }
        let mut names = HashSet::new();
        let mut group_ids = HashSet::new();
        for g in &self.groups {
            if !names.insert(&g.name) {
                return Err(format!("group {:?} is listed twice", g.name));
            }
            if !group_ids.insert(g.id) {
                return Err(format!("group {:?}: id {} is used by another group", g.name, g.id));
            }
            if let Some(address) = g.address {
                if !address.ip().is_multicast() {
                    return Err(format!(
                        "group {:?}: address {} is not an IPv4 multicast address (use 224.0.0.0/4, e.g. 239.255.x.y)",
                        g.name, address
                    ));
                }
                if address.port() == 0 {
                    return Err(format!("group {:?}: address {address} has port 0", g.name));
                }
            }
            if g.members.is_empty() {
                return Err(format!("group {:?} has no members", g.name));
            }
            if let Some(m) = g.members.iter().find(|m| !ids.contains(*m)) {
                return Err(format!("group {:?} lists member {m}, which has no [[member]] entry", g.name));
            }
            let mut seen = HashSet::new();
            if let Some(m) = g.members.iter().find(|m| !seen.insert(**m)) {
                return Err(format!("group {:?} lists member {m} twice", g.name));
            }
        }
        match self.transport.as_str() {
            "auto" | "std" | "uring" => Ok(()),
            other => Err(format!("transport {other:?} is not one of auto, std, uring")),
        }
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The regions of the file's groups (run [`ClusterConfig::check`] first): the members
    /// listed in exactly the same groups form a region, computed by [`RegionMap::compute`];
    /// addresses as the module docs say. Deterministic: every member computes the same.
    pub fn regions(&self) -> Vec<RegionSpec> {
        let mut per_node: HashMap<u32, Vec<GroupId>> = HashMap::new();
        for g in &self.groups {
            for m in &g.members {
                per_node.entry(*m).or_default().push(GroupId(g.id));
            }
        }
        let mut subs = Subscriptions::new();
        for m in &self.members {
            if let Some(groups) = per_node.remove(&m.id) {
                subs.set(NodeId(m.id), groups);
            }
        }
        let pool =
            AddressPool { base: self.multicast.base, count: self.multicast.count, port: self.multicast.port };
        let map = RegionMap::compute(&subs, pool, Overflow::Share);
        let by_id: HashMap<u32, &GroupEntry> = self.groups.iter().map(|g| (g.id, g)).collect();
        map.regions()
            .iter()
            .map(|r| {
                // Groups are ascending: the first naming an address is the lowest-id one.
                let explicit = r.groups.iter().find_map(|g| by_id.get(&g.0).and_then(|e| e.address));
                let address = explicit.unwrap_or(match r.addressing {
                    Addressing::Multicast(a) | Addressing::Shared(a) => a,
                    // Overflow::Share with a pool of at least one address never gets here.
                    Addressing::Unicast => SocketAddrV4::new(pool.base, pool.port),
                });
                let inside: HashSet<NodeId> = r.members.iter().copied().collect();
                let members = match r.groups.first().and_then(|g| by_id.get(&g.0)) {
                    Some(lowest) => {
                        lowest.members.iter().map(|m| NodeId(*m)).filter(|m| inside.contains(m)).collect()
                    }
                    None => r.members.clone(),
                };
                RegionSpec { region: r.id, address, members, groups: r.groups.clone() }
            })
            .collect()
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
        let regions = self.regions();
        let mut rc = RuntimeConfig::new(NodeId(me), members, regions);
        rc.interface = self.interface;
        rc.auth = self.security.auth()?;
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
        // By default as many datagrams as the send buffer holds (see `window_for_buffer`);
        // the builder fits it again if it picks the datagram size from another interface.
        rc.qsm.window_datagrams = p.window_datagrams.unwrap_or_else(|| rc.qsm.window_for_buffer());
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
        rc.driver = p.driver()?;
        if let Some(v) = p.socket_buffer {
            rc.socket_buffer = v;
        }
        if let Some(v) = p.batch {
            rc.batch = v;
        }
        if let Some(v) = p.member_timeout_ms {
            rc.qsm.member_timeout = (v > 0).then(|| Duration::from_millis(v));
        }
        rc.qsm.validate().map_err(|e| format!("[protocol]: {e}"))?;
        Ok(rc)
    }
}
