//! Micro-benchmarks of the publish ring, the wait-free path from an application thread to its
//! shard: messages written in place (reserve, write, commit) and drained in order, on one
//! thread (the per-message cost) and across two threads (the hand-off the runtime does).
//! `cargo bench -p argent-runtime` (criterion; results in target/criterion).

use argent_runtime::pubring::{commit_entry, drain, payload, reserve};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// The runtime's publish ring size (1 MiB).
const RING: usize = 1 << 20;
/// Messages per measured iteration.
const BATCH: u64 = 4096;

fn write_one(p: &mut rtrb::Producer<u8>, msg: &[u8]) -> bool {
    let Some((mut chunk, skip)) = reserve(p, msg.len()) else { return false };
    payload(&mut chunk, skip, msg.len()).copy_from_slice(msg);
    commit_entry(chunk, skip, msg.len());
    true
}

fn same_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish ring, one thread");
    for size in [64usize, 1024] {
        g.throughput(Throughput::Elements(BATCH));
        let msg = vec![0x5au8; size];
        let (mut p, mut cons) = rtrb::RingBuffer::<u8>::new(RING);
        g.bench_function(format!("{size}B write then drain"), |b| {
            b.iter(|| {
                let mut sum = 0usize;
                for _ in 0..BATCH {
                    if !write_one(&mut p, black_box(&msg)) {
                        drain(&mut cons, |m| {
                            sum += m.len();
                            true
                        });
                        write_one(&mut p, &msg);
                    }
                }
                drain(&mut cons, |m| {
                    sum += m.len();
                    true
                });
                black_box(sum)
            })
        });
    }
    g.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish ring, producer and consumer threads");
    g.sample_size(20);
    for size in [64usize, 1024] {
        g.throughput(Throughput::Elements(BATCH * 16));
        let msg = vec![0x5au8; size];
        g.bench_function(format!("{size}B"), |b| {
            b.iter(|| {
                let (mut p, mut cons) = rtrb::RingBuffer::<u8>::new(RING);
                let total = BATCH * 16;
                let consumer = std::thread::spawn(move || {
                    let mut got = 0u64;
                    while got < total {
                        got += drain(&mut cons, |m| !black_box(m).is_empty()) as u64;
                        std::hint::spin_loop();
                    }
                    got
                });
                let mut sent = 0u64;
                while sent < total {
                    if write_one(&mut p, &msg) {
                        sent += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                black_box(consumer.join().expect("consumer"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, same_thread, two_threads);
criterion_main!(benches);
