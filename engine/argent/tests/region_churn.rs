//! 10 000 regions joined and left by a running node (a view that adds a region with this
//! node as a member, then one without it, as the GMS pushes them when a group is created
//! and its last member leaves): descriptors and live heap bytes end where they started.
//! At the runtime's level (the `argent` package holds the allocation-counting tests); a test
//! binary of its own, with a counting allocator and nothing else running.

use argent_membership::gms::{AddressStats, Member, RegionInfo, View};
use argent_membership::Addressing;
use argent_runtime::{Backend, GroupId, MemberSpec, NodeId, RegionId, RegionSpec, Runtime, RuntimeConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

struct Counting;
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: delegates to the system allocator; only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CYCLES: u32 = 10_000;

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn view(id: u64, me: &MemberSpec, regions: &[(RegionSpec, u64)]) -> View {
    View {
        id: argent_core::ViewId(id),
        members: vec![Member {
            node: me.id,
            incarnation: 1,
            addr: SocketAddr::V4(me.addr),
            shards: me.shards as u16,
            groups_version: 0,
        }],
        regions: regions
            .iter()
            .map(|(r, since)| RegionInfo {
                id: r.region,
                groups: r.groups.clone(),
                members: r.members.clone(),
                addressing: Addressing::Multicast(r.address),
                since: argent_core::ViewId(*since),
            })
            .collect(),
        addresses: AddressStats::default(),
    }
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
    let base = 22_000 + (std::process::id() % 200) as u16 * 40;
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
        sink.apply(&view(v, &me, &[(home.clone(), 1), (r, v)]));
        rt.set_groups(&[GroupId(1), GroupId(id.0)]);
        until(&rt, id, true);
        v += 1;
        sink.apply(&view(v, &me, &[(home.clone(), 1)]));
        rt.set_groups(&[GroupId(1)]);
        until(&rt, id, false);
    };
    // Warm up: lazily grown tables and buffers reach their size.
    for i in 0..200 {
        cycle(i);
    }
    std::thread::sleep(Duration::from_millis(100));
    let (fds, live) = (descriptors(), LIVE.load(Ordering::Relaxed));
    let started = Instant::now();
    for i in 200..200 + CYCLES {
        cycle(i);
    }
    std::thread::sleep(Duration::from_millis(100));
    let grown = LIVE.load(Ordering::Relaxed) - live;
    eprintln!("{CYCLES} cycles in {:?}; live heap grew by {grown} bytes", started.elapsed());
    assert_eq!(descriptors(), fds, "descriptors where they started");
    // A few words per cycle would be 10 000 × 64 bytes and more: allow well under that.
    assert!(grown < 64 * 1024, "live heap grew by {grown} bytes over {CYCLES} cycles");
    rt.shutdown();
}
