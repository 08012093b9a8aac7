//! `argent regions`: how many regions and multicast addresses a workload needs, and how long
//! computing the mapping takes; or, with `--config`, the regions of a membership file.

use argent_membership::gms::{Command, GmsState, Member};
use argent_membership::{zipf_subscriptions, AddressPool, Overflow, RegionMap};
use serde::Serialize;
use std::net::SocketAddr;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RegionsArgs {
    /// Show the regions of this membership file (its [[group]] entries) instead of a
    /// synthetic workload.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: u32,
    /// Groups (popularity rank 1..=groups).
    #[arg(long, default_value_t = 10_000)]
    groups: u32,
    /// Zipf exponent of group popularity: group r has nodes / r^exponent members.
    #[arg(long, default_value_t = 1.5)]
    zipf: f64,
    /// Multicast addresses in the pool.
    #[arg(long, default_value_t = 1024)]
    pool: u32,
    /// Regions beyond the pool: share addresses (receivers filter) or unicast fan-out.
    #[arg(long, default_value = "share", value_parser = ["share", "unicast"])]
    overflow: String,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    nodes: u32,
    groups: u32,
    zipf: f64,
    memberships: usize,
    regions: usize,
    addresses_used: usize,
    shared_regions: usize,
    unicast_regions: usize,
    max_regions_per_group: usize,
    largest_region: usize,
    compute_ms: f64,
    /// The same workload through the GMS state machine (each node registering in turn, as
    /// committed raft entries are applied): regions, addresses, and the time to apply all.
    gms_regions: usize,
    gms_addresses_own: u32,
    gms_addresses_shared: u32,
    gms_apply_ms: f64,
}

/// One region of a membership file.
#[derive(Serialize)]
struct FileRegion {
    region: u32,
    address: SocketAddrV4,
    members: Vec<u32>,
    groups: Vec<u32>,
}

pub fn run(a: RegionsArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &a.config {
        return from_file(path, a.json);
    }
    if a.nodes == 0 || a.groups == 0 || !(a.zipf.is_finite() && a.zipf >= 0.0) {
        anyhow::bail!("--nodes and --groups must be at least 1 and --zipf a non-negative number");
    }
    let subs = zipf_subscriptions(a.nodes, a.groups, a.zipf, a.seed);
    let memberships = subs.iter().map(|(_, g)| g.len()).sum();
    let overflow = if a.overflow == "unicast" { Overflow::Unicast } else { Overflow::Share };
    let pool = AddressPool { base: Ipv4Addr::new(239, 192, 0, 1), count: a.pool, port: 47_000 };
    let started = Instant::now();
    let map = RegionMap::compute(&subs, pool, overflow);
    let compute_ms = started.elapsed().as_secs_f64() * 1e3;
    let s = map.stats();
    let mut state = GmsState::new(pool, overflow);
    let commands: Vec<Command> = subs
        .iter()
        .map(|(node, groups)| Command::Register {
            member: Member {
                node,
                incarnation: 1,
                addr: SocketAddr::from(([127, 0, 0, 1], 7000)),
                shards: 1,
                groups_version: 0,
            },
            groups: groups.to_vec(),
        })
        .collect();
    let started = Instant::now();
    for c in &commands {
        state.apply(std::slice::from_ref(c));
    }
    let gms_apply_ms = started.elapsed().as_secs_f64() * 1e3;
    let gv = state.view().clone();
    let r = Report {
        nodes: a.nodes,
        groups: a.groups,
        zipf: a.zipf,
        memberships,
        regions: s.regions,
        addresses_used: s.addresses_used,
        shared_regions: s.shared_regions,
        unicast_regions: s.unicast_regions,
        max_regions_per_group: s.max_regions_per_group,
        largest_region: map.regions().first().map_or(0, |r| r.members.len()),
        compute_ms,
        gms_regions: gv.regions.len(),
        gms_addresses_own: gv.addresses.own_address,
        gms_addresses_shared: gv.addresses.shared_address,
        gms_apply_ms,
    };
    println!(
        "{} nodes × {} groups (Zipf {}): {} memberships → {} regions in {:.1} ms; {} multicast addresses used, \
         {} regions sharing, {} by unicast; a group spans at most {} regions; largest region {} nodes",
        r.nodes,
        r.groups,
        r.zipf,
        r.memberships,
        r.regions,
        r.compute_ms,
        r.addresses_used,
        r.shared_regions,
        r.unicast_regions,
        r.max_regions_per_group,
        r.largest_region
    );
    println!(
        "through the GMS state machine (one registration per committed entry): {} regions, {} own addresses, \
         {} sharing, applied in {:.1} ms",
        r.gms_regions, r.gms_addresses_own, r.gms_addresses_shared, r.gms_apply_ms
    );
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The regions `argent node` would run with for this file.
fn from_file(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let cluster = argent::ClusterConfig::load(path)?;
    let names: std::collections::HashMap<u32, &str> =
        cluster.groups.iter().map(|g| (g.id, g.name.as_str())).collect();
    let regions: Vec<FileRegion> = cluster
        .regions()
        .into_iter()
        .map(|r| FileRegion {
            region: r.region.0,
            address: r.address,
            members: r.members.iter().map(|m| m.0).collect(),
            groups: r.groups.iter().map(|g| g.0).collect(),
        })
        .collect();
    println!("{}: {} groups → {} regions", path.display(), cluster.groups.len(), regions.len());
    for r in &regions {
        const SHOWN: usize = 8;
        let mut groups: Vec<&str> =
            r.groups.iter().take(SHOWN).map(|g| names.get(g).copied().unwrap_or("?")).collect();
        let more = r.groups.len().saturating_sub(SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        groups.sort_unstable();
        println!(
            "  region {} at {}: members {:?} (the first leads the ring); {} group(s): {}{more}",
            r.region,
            r.address,
            r.members,
            r.groups.len(),
            groups.join(", ")
        );
    }
    if json {
        println!("{}", serde_json::to_string(&serde_json::json!({ "regions": regions }))?);
    }
    Ok(ExitCode::SUCCESS)
}
