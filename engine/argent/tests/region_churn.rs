//! 10 000 regions joined and left by a running node (a view that adds a region with this
//! node as a member, then one without it, as the GMS pushes them when a group is created
//! and its last member leaves): descriptors and live heap bytes end where they started.
//! At the runtime's level (the `argent` package holds the allocation-counting tests); a test
//! binary of its own, with a counting allocator and nothing else running.

mod ports;
#[path = "../../runtime/tests/views/mod.rs"]
mod views;
use argent_runtime::{Backend, GroupId, MemberSpec, NodeId, RegionId, RegionSpec, Runtime, RuntimeConfig};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

mod counting;
use counting::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CYCLES: u32 = 10_000;

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Waits until the shard has installed (or dropped) `region`.
fn until(rt: &Runtime, region: RegionId, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.group_members(GroupId(region.0)).is_some() != present {
        assert!(Instant::now() < deadline, "region {region} never became present={present}");
        std::thread::yield_now();
    }
    // The topology says so once the view is sent; the shard applies it in its next cycle.
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.group_members(GroupId(region.0)).map(|m| !m.now().is_empty()).unwrap_or(false) != present {
        assert!(Instant::now() < deadline, "shard never installed region {region}");
        std::thread::yield_now();
    }
}

#[test]
fn ten_thousand_regions_joined_and_left_release_descriptors_and_memory() {
    let base = ports::block();
    let me = MemberSpec { id: NodeId(0), addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, base), shards: 1 };
    let group = |i: u32| {
        SocketAddrV4::new(Ipv4Addr::new(239, 251, (base % 200) as u8, (i % 200) as u8 + 1), base + 20)
    };
    let home =
        RegionSpec { region: RegionId(1), address: group(0), members: vec![me.id], groups: vec![GroupId(1)] };
    let mut rc = RuntimeConfig::new(me.id, vec![me.clone()], vec![home.clone()]);
    rc.transport = Some(Backend::Std);
    rc.pin = false;
    rc.qsm.datagram_size = 16_384;
    let rt = Runtime::start(rc).expect("runtime");
    let mut sink = rt.view_sink();
    let mut v = 1;
    let mut cycle = |i: u32| {
        // Region and group ids are never reused (the GMS numbers them on), as in production.
        let id = RegionId(10 + i);
        let r = RegionSpec {
            region: id,
            address: group(1 + i),
            members: vec![me.id],
            groups: vec![GroupId(id.0)],
        };
        v += 1;
        sink.apply(&views::view(v, std::slice::from_ref(&me), &[(home.clone(), 1), (r, v)]));
        rt.set_groups(&[GroupId(1), GroupId(id.0)]);
        until(&rt, id, true);
        v += 1;
        sink.apply(&views::view(v, std::slice::from_ref(&me), &[(home.clone(), 1)]));
        rt.set_groups(&[GroupId(1)]);
        until(&rt, id, false);
    };
    // Warm up: lazily grown tables and buffers reach their size.
    for i in 0..200 {
        cycle(i);
    }
    std::thread::sleep(Duration::from_millis(100));
    let (fds, live) = (descriptors(), counting::live());
    let started = Instant::now();
    for i in 200..200 + CYCLES {
        cycle(i);
    }
    std::thread::sleep(Duration::from_millis(100));
    let grown = counting::live() - live;
    eprintln!("{CYCLES} cycles in {:?}; live heap grew by {grown} bytes", started.elapsed());
    assert_eq!(descriptors(), fds, "descriptors where they started");
    // A few words per cycle would be 10 000 × 64 bytes and more: allow well under that.
    assert!(grown < 64 * 1024, "live heap grew by {grown} bytes over {CYCLES} cycles");
    rt.shutdown();
}
