//! No allocation per message on the publish and delivery paths in steady state: a counting
//! global allocator watches two nodes in this process (publisher thread, both shards,
//! subscriber thread) while 200 000 messages flow after a warm-up.

mod ports;
use argent::PublishError;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

mod common;

const SIZE: usize = 64;

/// A publisher bound to one group, or one to any group with the groups to publish to in turn.
enum Pub<'a> {
    Bound(&'a mut argent::Publisher),
    Any(&'a mut argent::AnyPublisher, &'a [argent::GroupId]),
}

impl Pub<'_> {
    fn claim(&mut self, i: u64) -> Result<argent::PubClaim<'_>, PublishError> {
        match self {
            Pub::Bound(p) => p.claim(SIZE),
            Pub::Any(p, groups) => p.claim_to(groups[i as usize % groups.len()], SIZE),
        }
    }
}

/// Publish `n` messages and receive them all at the other node; to the bound publisher's
/// group, or to the any-publisher's groups in turn through `claim_to`.
fn flow(mut p: Pub<'_>, sub: &mut argent::Subscription, n: u64) {
    let (mut sent, mut got) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < n {
        assert!(Instant::now() < deadline, "stalled at {got} of {n}");
        while sent < n {
            match p.claim(sent) {
                Ok(mut c) => {
                    c.bytes_mut()[..8].copy_from_slice(&sent.to_le_bytes());
                    c.commit();
                    sent += 1;
                }
                Err(PublishError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
        while let Some(d) = sub.try_recv() {
            for m in d.messages() {
                assert_eq!(u64::from_le_bytes(m[..8].try_into().expect("8 bytes")), got);
                got += 1;
            }
        }
        std::thread::yield_now();
    }
}

#[test]
fn steady_state_publish_and_delivery_do_not_allocate_per_message() {
    let base = ports::block();
    let (a, b) = common::pair(base, "a", 2, "datagram_size = 16384");
    let mut sub = b.subscribe("a").expect("subscribe");
    let mut p = a.publisher("a").expect("publisher");
    flow(Pub::Bound(&mut p), &mut sub, 100_000); // warm-up: rings, windows and arenas reach their size
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    const N: u64 = 200_000;
    flow(Pub::Bound(&mut p), &mut sub, N);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let per_message = allocations as f64 / N as f64;
    eprintln!("{allocations} allocations for {N} messages of {SIZE} B: {per_message:.4} per message");
    // Datagrams (about 250 messages each here), tokens and timers allocate; messages do not.
    assert!(per_message < 0.05, "{per_message} allocations per message");
    a.shutdown();
    b.shutdown();

    // Many groups in one region: one publisher to any group, one subscription to all of them.
    let groups: String =
        (1..=1000).map(|g| format!("[[group]]\nname = \"g{g}\"\nid = {g}\nmembers = [0, 1]\n")).collect();
    let (a, b) = common::nodes(base + 2, &groups, "datagram_size = 16384");
    let ids: Vec<argent::GroupId> = (1..=1000).map(argent::GroupId).collect();
    let mut sub = b.subscribe_groups(&ids).expect("subscribe");
    let mut p = a.publisher_any().expect("publisher");
    flow(Pub::Any(&mut p, &ids), &mut sub, 100_000);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    flow(Pub::Any(&mut p, &ids), &mut sub, N);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let per_message = allocations as f64 / N as f64;
    eprintln!("{allocations} allocations for {N} messages to 1000 groups: {per_message:.4} per message");
    assert!(per_message < 0.05, "{per_message} allocations per message over many groups");
    a.shutdown();
    b.shutdown();
}
