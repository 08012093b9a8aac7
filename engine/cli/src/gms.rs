//! `argent gms` (run a membership service replica) and `argent status` (show a replica's view).

use anyhow::{bail, Context};
use argent_membership::gms::{GmsConfig, StatusReport};
use argent_membership::service::{query_status_keyed, GmsService, ServiceConfig};
use argent_membership::{AddressPool, Addressing, Overflow};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// Settings of the multicast address pool and failure detection, shared by `argent gms` and
/// the GMS that `argent bench` embeds.
#[derive(clap::Args, Debug, Clone)]
pub struct GmsSettings {
    /// First multicast address regions get (one address per region while the pool lasts).
    #[arg(long, default_value = "239.255.60.1")]
    pub multicast_base: Ipv4Addr,
    /// Addresses in the pool.
    #[arg(long, default_value_t = 256)]
    pub multicast_count: u32,
    /// UDP port of every region address.
    #[arg(long, default_value_t = 7600)]
    pub multicast_port: u16,
    /// Regions beyond the pool: share an address (members filter by region id) or unicast
    /// fan-out.
    #[arg(long, value_enum, default_value = "share")]
    pub overflow: OverflowArg,
    /// A member silent this long is suspected (probed, shown by `argent status`).
    #[arg(long, default_value_t = 1000)]
    pub suspect_ms: u64,
    /// A member silent this long is evicted from the view.
    #[arg(long, default_value_t = 3000)]
    pub evict_ms: u64,
    /// raft tick; an election takes 10 ticks (plus 3 per replica rank).
    #[arg(long, default_value_t = 100)]
    pub tick_ms: u64,
}

/// `--overflow`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowArg {
    /// Share an address.
    Share,
    /// Unicast fan-out.
    Unicast,
}

impl GmsSettings {
    /// The replica configuration for raft id `id` of `replicas`.
    pub fn config(&self, id: u64, replicas: Vec<u64>) -> anyhow::Result<GmsConfig> {
        if !self.multicast_base.is_multicast() {
            bail!("--multicast-base {} is not an IPv4 multicast address (224.0.0.0/4)", self.multicast_base);
        }
        let pool =
            AddressPool { base: self.multicast_base, count: self.multicast_count, port: self.multicast_port };
        let mut c = GmsConfig::new(pool);
        c.id = id;
        c.replicas = replicas;
        c.overflow = match self.overflow {
            OverflowArg::Share => Overflow::Share,
            OverflowArg::Unicast => Overflow::Unicast,
        };
        c.tick = Duration::from_millis(self.tick_ms.max(1));
        c.suspect_after = Duration::from_millis(self.suspect_ms);
        c.evict_after = Duration::from_millis(self.evict_ms);
        c.push_retry = c.tick.max(Duration::from_millis(50));
        c.validate().map_err(|e| anyhow::anyhow!("{e} (check --suspect-ms, --evict-ms, --tick-ms)"))?;
        Ok(c)
    }
}

/// `HOST:PORT` or `IP:PORT` as a socket address (a host name is looked up; its first IPv4
/// address is taken, else its first address).
pub fn resolve_addr(s: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    use std::net::ToSocketAddrs;
    let found: Vec<SocketAddr> = s
        .to_socket_addrs()
        .with_context(|| {
            format!("{s:?} is not HOST:PORT or IP:PORT (e.g. 127.0.0.1:7400 or gms.example:7400)")
        })?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .with_context(|| format!("the host name in {s:?} has no address"))
}

/// Replica addresses on the command line: `ADDR[,ADDR...]` (raft ids 1, 2, ... in order) or
/// `1=ADDR,2=ADDR,...`; an address is `IP:PORT` or `HOST:PORT`.
pub fn parse_replicas(s: &str) -> anyhow::Result<BTreeMap<u64, SocketAddr>> {
    let mut out = BTreeMap::new();
    for (i, item) in s.split(',').map(str::trim).filter(|x| !x.is_empty()).enumerate() {
        let (id, addr) = match item.split_once('=') {
            Some((id, addr)) => {
                let id: u64 =
                    id.parse().with_context(|| format!("replica id {id:?} in {item:?} is not a number"))?;
                (id, addr)
            }
            None => (i as u64 + 1, item),
        };
        if id == 0 {
            bail!("replica ids start at 1 (got {item:?})");
        }
        let addr = resolve_addr(addr)?;
        if out.insert(id, addr).is_some() {
            bail!("replica id {id} given twice in {s:?}");
        }
    }
    if out.is_empty() {
        bail!("no GMS replica address given (e.g. --gms 127.0.0.1:7400)");
    }
    Ok(out)
}

#[derive(clap::Args, Debug)]
pub struct GmsArgs {
    /// This replica's raft id.
    #[arg(long, default_value_t = 1)]
    id: u64,
    /// Every replica as `1=ADDR,2=ADDR,3=ADDR` (or addresses in id order). Default: this one
    /// alone, on --listen.
    #[arg(long)]
    replicas: Option<String>,
    /// Address to listen on when running alone.
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: SocketAddr,
    #[command(flatten)]
    settings: GmsSettings,
    /// Keep the raft log, hard state and snapshots here, so this replica can be restarted
    /// under the same id after a crash (default: memory only — a crashed replica must not
    /// come back under its id).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop once the view has had no member for this many seconds (the local service that
    /// `argent sub`/`pub`/`obj` start by themselves runs with 60).
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<f64>,
    #[command(flatten)]
    key: ServiceKey,
}

/// The cluster key of the membership service's traffic.
#[derive(clap::Args, Debug)]
pub struct ServiceKey {
    /// The cluster key (`argent key new > cluster.key`): requests, answers and raft traffic
    /// are authenticated; without the key nothing is taken, and refusals are counted.
    #[arg(long = "key-file", value_name = "FILE")]
    key_file: Option<std::path::PathBuf>,
    /// With --key-file: encrypt as well (every member must use the same mode).
    #[arg(long, requires = "key_file")]
    encrypt: bool,
}

impl ServiceKey {
    pub fn auth(&self) -> anyhow::Result<Option<argent::AuthConfig>> {
        let s = argent::config::SecurityEntry { key_file: self.key_file.clone(), encrypt: self.encrypt };
        s.auth().map_err(|e| anyhow::anyhow!(e))
    }
}

pub fn run(a: GmsArgs) -> anyhow::Result<ExitCode> {
    let peers = match &a.replicas {
        Some(list) => parse_replicas(list)?,
        None => BTreeMap::from([(a.id, a.listen)]),
    };
    if !peers.contains_key(&a.id) {
        bail!("--id {} is not among the --replicas ids {:?}", a.id, peers.keys().collect::<Vec<_>>());
    }
    let cfg = a.settings.config(a.id, peers.keys().copied().collect())?;
    let service = GmsService::start_keyed(
        ServiceConfig { gms: cfg, peers: peers.clone(), data_dir: a.data_dir.clone() },
        a.key.auth()?,
    )?;
    eprintln!(
        "GMS replica {} of {} listening on {} (members join with --gms {})",
        a.id,
        peers.len(),
        service.local_addr(),
        peers.values().map(|a| a.to_string()).collect::<Vec<_>>().join(",")
    );
    let started = std::time::Instant::now();
    let mut shown = None;
    let mut occupied = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let s = service.status();
        if !s.report.view.members.is_empty() {
            occupied = std::time::Instant::now();
        } else if a.idle_exit.is_some_and(|d| occupied.elapsed().as_secs_f64() >= d) {
            eprintln!("no member for {:.0} s: stopping", occupied.elapsed().as_secs_f64());
            service.shutdown();
            return Ok(ExitCode::SUCCESS);
        }
        let key = (s.report.view.id, s.report.leader);
        if shown != Some(key) {
            shown = Some(key);
            let v = &s.report.view;
            eprintln!(
                "view {}: {} members, {} regions; leader replica {}",
                v.id.0,
                v.members.len(),
                v.regions.len(),
                s.report.leader.map_or("unknown".into(), |l| l.to_string())
            );
            if s.stats.refused_registrations > 0 {
                eprintln!(
                    "refused {} registrations out of bounds (IPv6 or non-unicast address, incarnation above 2^53, \
                     shards outside 1..=64, or for another node)",
                    s.stats.refused_registrations
                );
            }
            if s.auth.refused() + s.wrong_sender > 0 {
                eprintln!(
                    "refused {} datagrams without a valid seal ({} forged, {} replayed), {} messages from a sender that may not send them",
                    s.auth.refused(),
                    s.auth.forged,
                    s.auth.replay,
                    s.wrong_sender
                );
            }
        }
        if a.duration.is_some_and(|d| started.elapsed().as_secs_f64() >= d) {
            service.shutdown();
            return Ok(ExitCode::SUCCESS);
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// GMS replicas to ask (`ADDR[,ADDR...]`); the leader's answer is shown.
    #[arg(long, default_value = "127.0.0.1:7400")]
    gms: String,
    /// Ring partition size the nodes use (for the ring layout shown).
    #[arg(long, default_value_t = 5)]
    partition_size: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    key: ServiceKey,
}

pub fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let replicas = parse_replicas(&a.gms)?;
    let auth = a.key.auth()?;
    let mut reports: Vec<StatusReport> = Vec::new();
    for addr in replicas.values() {
        if let Some(r) = query_status_keyed(*addr, Duration::from_secs(2), auth.as_ref())? {
            reports.push(r);
        }
    }
    let Some(report) = pick(&reports) else {
        bail!("no GMS replica answered at {} (is `argent gms` running there?)", a.gms);
    };
    let v = &report.view;
    let regions: Vec<serde_json::Value> = v
        .regions
        .iter()
        .map(|r| {
            let (kind, address) = match r.addressing {
                Addressing::Multicast(a) => ("multicast", Some(a.to_string())),
                Addressing::Shared(a) => ("shared", Some(a.to_string())),
                Addressing::Unicast => ("unicast", None),
            };
            let partitions = argent_qsm::ring_partitions(&r.members, a.partition_size.max(1));
            serde_json::json!({
                "id": r.id.0,
                "addressing": kind,
                "address": address,
                "groups": r.groups.len(),
                "first_groups": r.groups.iter().take(16).map(|g| g.0).collect::<Vec<_>>(),
                "members": r.members.iter().map(|m| m.0).collect::<Vec<_>>(),
                "leader": r.members.first().map(|m| m.0),
                "ring_partitions": partitions.iter().map(|p| p.iter().map(|m| m.0).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let members: Vec<serde_json::Value> = v
        .members
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.node.0, "incarnation": m.incarnation, "addr": m.addr.to_string(), "shards": m.shards,
                "region": v.region_of_node(m.node).map(|r| r.id.0),
                "suspected": report.suspects.contains(&m.node),
            })
        })
        .collect();
    if a.json {
        let out = serde_json::json!({
            "replica": report.replica,
            "leader": report.leader,
            "replicas_answering": reports.len(),
            "view": v.id.0,
            "members": members,
            "regions": regions,
            "addresses": {"own": v.addresses.own_address, "shared": v.addresses.shared_address, "unicast": v.addresses.unicast},
            "key_epochs": v.keys.iter().map(|k| k.epoch).collect::<Vec<_>>(),
            "refused": serde_json::to_value(&report.refusals)?,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "view {} (from replica {}, leader {}; {} of {} replicas answered)",
        v.id.0,
        report.replica,
        report.leader.map_or("unknown".into(), |l| l.to_string()),
        reports.len(),
        replicas.len()
    );
    let f = &report.refusals;
    if *f != Default::default() {
        println!(
            "replica {} refused: {} unsealed, {} forged, {} replayed, {} of an unknown key epoch, {} from a sender that may not send them, {} registrations out of bounds, {} malformed",
            report.replica, f.unsealed, f.forged, f.replayed, f.unknown_epoch, f.wrong_sender, f.registrations, f.malformed
        );
    }
    if let Some(k) = v.keys.last() {
        println!("key epochs handed out: up to {} (argent key rotate)", k.epoch);
    }
    println!("members ({}):", v.members.len());
    for m in &members {
        println!(
            "  n{:<5} incarnation {:<20} {:<22} shards {}  region {}{}",
            m["id"],
            m["incarnation"],
            m["addr"].as_str().unwrap_or(""),
            m["shards"],
            m["region"],
            if m["suspected"].as_bool() == Some(true) { "  SUSPECTED" } else { "" }
        );
    }
    println!(
        "regions ({}; addresses: {} own, {} shared, {} unicast):",
        v.regions.len(),
        v.addresses.own_address,
        v.addresses.shared_address,
        v.addresses.unicast
    );
    for r in &regions {
        println!(
            "  r{:<4} {} {}  {} groups {}  members {}  ring {}",
            r["id"],
            r["addressing"].as_str().unwrap_or(""),
            r["address"].as_str().unwrap_or("-"),
            r["groups"],
            r["first_groups"],
            r["members"],
            r["ring_partitions"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The leader's own report if it answered, else the most recent view.
fn pick(reports: &[StatusReport]) -> Option<&StatusReport> {
    reports.iter().find(|r| r.leader == Some(r.replica)).or_else(|| reports.iter().max_by_key(|r| r.view.id))
}
