//! `argent regions`: how a workload's groups are laid onto regions, multicast addresses
//! and recovery rings, what that costs per message and per node, and how long computing it
//! takes; or, with `--config`, the regions of a membership file.

use argent_membership::gms::{Command, GmsState, Member};
use argent_membership::layout::{plan, Budget, Cost};
use argent_membership::{zipf_subscriptions, AddressPool, Addressing, GroupId, Overflow, RegionMap};
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
    /// Regions beyond the pool: share addresses (receivers filter) or unicast fan-out
    /// ("share" takes, region by region, whichever of the two costs less).
    #[arg(long, default_value = "share", value_parser = ["share", "unicast"])]
    overflow: String,
    /// The most regions (recovery rings) one node may take part in; regions merge to
    /// stay within it, paid for in unwanted copies.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    rings_per_node: u32,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    json: bool,
}

/// Every message is weighted by its group's traffic: the group of popularity rank r sends
/// r^-zipf of the messages (traffic follows popularity).
#[derive(Serialize)]
struct Report {
    nodes: u32,
    groups: u32,
    zipf: f64,
    memberships: usize,
    // The planned layout (decision 008).
    regions: usize,
    addresses_used: usize,
    shared_regions: usize,
    unicast_regions: usize,
    max_regions_per_group: usize,
    largest_region: usize,
    compute_ms: f64,
    sends_per_message: f64,
    unwanted_per_message: f64,
    rings_per_node_mean: f64,
    rings_per_node_max: usize,
    rings_budget: u32,
    merges: usize,
    /// Regions of identical group sets (QSM's definition, what the GMS forms today).
    group_sets: Alternative,
    /// The same workload through the GMS state machine (each node registering in turn, as
    /// committed raft entries are applied): regions, addresses, and the time to apply all.
    gms_regions: usize,
    gms_addresses_own: u32,
    gms_addresses_shared: u32,
    gms_apply_ms: f64,
}

/// Another layout of the same workload, measured the same way.
#[derive(Serialize)]
struct Alternative {
    regions: usize,
    addresses_used: usize,
    compute_ms: f64,
    sends_per_message: f64,
    unwanted_per_message: f64,
    rings_per_node_mean: f64,
    rings_per_node_max: usize,
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
    let traffic = |g: GroupId| f64::from(g.0).powf(-a.zipf);
    let started = Instant::now();
    let budget = Budget { pool, rings_per_node: a.rings_per_node as usize, overflow };
    let planned = plan(&subs, budget, traffic);
    let compute_ms = started.elapsed().as_secs_f64() * 1e3;
    let cost = Cost::of(&subs, planned.regions(), traffic);
    let started = Instant::now();
    let map = RegionMap::compute(&subs, pool, overflow);
    let sets_ms = started.elapsed().as_secs_f64() * 1e3;
    let sets = Cost::of(&subs, map.regions(), traffic);
    let group_sets = Alternative {
        regions: sets.regions,
        addresses_used: sets.addresses_used,
        compute_ms: sets_ms,
        sends_per_message: sets.sends_per_message,
        unwanted_per_message: sets.unwanted_per_message,
        rings_per_node_mean: sets.rings_per_node_mean,
        rings_per_node_max: sets.rings_per_node_max,
    };
    let count = |f: fn(&Addressing) -> bool| planned.regions().iter().filter(|r| f(&r.addressing)).count();
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
        regions: cost.regions,
        addresses_used: cost.addresses_used,
        shared_regions: count(|a| matches!(a, Addressing::Shared(_))),
        unicast_regions: count(|a| *a == Addressing::Unicast),
        max_regions_per_group: usize::from(!planned.regions().is_empty()),
        largest_region: planned.regions().iter().map(|r| r.members.len()).max().unwrap_or(0),
        compute_ms,
        sends_per_message: cost.sends_per_message,
        unwanted_per_message: cost.unwanted_per_message,
        rings_per_node_mean: cost.rings_per_node_mean,
        rings_per_node_max: cost.rings_per_node_max,
        rings_budget: a.rings_per_node,
        merges: planned.merges(),
        group_sets,
        gms_regions: gv.regions.len(),
        gms_addresses_own: gv.addresses.own_address,
        gms_addresses_shared: gv.addresses.shared_address,
        gms_apply_ms,
    };
    println!(
        "{} nodes × {} groups (Zipf {}): {} memberships → {} regions in {:.1} ms ({} merges for at most {} \
         rings per node); {} multicast addresses used, {} regions sharing one, {} reached by unicast; \
         largest region {} nodes",
        r.nodes,
        r.groups,
        r.zipf,
        r.memberships,
        r.regions,
        r.compute_ms,
        r.merges,
        r.rings_budget,
        r.addresses_used,
        r.shared_regions,
        r.unicast_regions,
        r.largest_region
    );
    println!(
        "per message (weighted by traffic, rank r sends r^-{}): {:.3} datagrams sent, {:.3} unwanted copies; \
         rings per node {:.2} mean, {} max",
        r.zipf, r.sends_per_message, r.unwanted_per_message, r.rings_per_node_mean, r.rings_per_node_max
    );
    let g = &r.group_sets;
    println!(
        "regions of identical group sets instead: {} regions, {} addresses, {:.3} datagrams sent and {:.3} \
         unwanted copies per message, rings per node {:.2} mean, {} max",
        g.regions,
        g.addresses_used,
        g.sends_per_message,
        g.unwanted_per_message,
        g.rings_per_node_mean,
        g.rings_per_node_max
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
