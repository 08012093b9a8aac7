//! Micro-benchmarks of the wire codec: aggregating small messages into a datagram, decoding
//! a data datagram and walking its messages, and a full token's encode and decode.
//! `cargo bench -p argent-wire` (criterion; results in target/criterion).

use argent_wire::{decode, messages_of, DataBuilder, Frame, SeqRange, Token, TokenEntry};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const DATAGRAM: usize = 65_000;

fn full_datagram(msg: usize) -> (bytes::Bytes, u64) {
    let mut b = DataBuilder::new(1, 7, 42, DATAGRAM);
    let payload = vec![0xabu8; msg];
    let mut n = 0;
    while b.push(&payload) {
        n += 1;
    }
    (b.finish(), n)
}

fn aggregation(c: &mut Criterion) {
    let mut g = c.benchmark_group("aggregate");
    for msg in [64usize, 1024] {
        let (_, n) = full_datagram(msg);
        g.throughput(Throughput::Elements(n));
        let payload = vec![0xabu8; msg];
        g.bench_function(format!("{msg}B messages into a 65000 B datagram"), |b| {
            b.iter(|| {
                let mut d = DataBuilder::new(1, 7, 42, DATAGRAM);
                while d.push(black_box(&payload)) {}
                black_box(d.finish())
            })
        });
    }
    g.finish();
}

fn decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for msg in [64usize, 1024] {
        let (d, n) = full_datagram(msg);
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("data datagram of {msg}B messages, every message visited"), |b| {
            b.iter(|| {
                let (_, frame) = decode(black_box(&d)).expect("valid");
                assert!(matches!(frame, Frame::Data(_)));
                let mut bytes = 0usize;
                for m in messages_of(&d) {
                    bytes += m.len();
                }
                black_box(bytes)
            })
        });
    }
    g.finish();
}

fn tokens(c: &mut Criterion) {
    // 4 senders, each with 20 missing ranges and 5 partitions: a large token.
    let ranges: Vec<SeqRange> =
        (0..20).map(|i| SeqRange { start: 1000 + i * 10, end: 1003 + i * 10 }).collect();
    let entry = |s: u32| TokenEntry {
        sender: s,
        cutoff: 5000,
        cleanup: 900,
        max_seen: 5000,
        min_contiguous: 999,
        part_contiguous: 999,
        rate_min: 100_000,
        rate_max: 200_000,
        rate_sum: 1_000_000,
        rate_count: 5,
        prev_missing: ranges.clone(),
        isect: Some(ranges[..5].to_vec()),
        partitions: vec![999; 5],
    };
    let token = Token { view: 3, round: 77, hop: 4, flags: 0, entries: (0..4).map(entry).collect() };
    let bytes = token.encode(1, 2);
    let mut g = c.benchmark_group("token");
    g.bench_function(format!("encode ({} B)", bytes.len()), |b| b.iter(|| black_box(token.encode(1, 2))));
    g.bench_function("decode and walk entries and ranges", |b| {
        b.iter(|| {
            let (_, frame) = decode(black_box(&bytes)).expect("valid");
            let Frame::Token(t) = frame else { panic!("a token") };
            let mut n = 0u64;
            for e in t.entries() {
                n += e.prev_missing.len() as u64 + e.partitions().count() as u64;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, aggregation, decoding, tokens);
criterion_main!(benches);
