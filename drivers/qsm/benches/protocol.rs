//! Micro-benchmarks of the protocol core, in process and without sockets: a sender and
//! three receivers in one region; each iteration publishes a batch of messages at the sender,
//! carries every datagram (data, tokens, acknowledgements) to its destinations and drains
//! the deliveries, advancing virtual time so token rounds run. Per-message cost of
//! aggregation, sequencing, receive feeds, token processing and delivery together.
//! `cargo bench -p argent-qsm`.

use argent_qsm::{
    Config, Destination, Event, Instant, NodeId, Protocol, PublishError, QsmNode, RegionId, RegionView,
    ViewId,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

const R: RegionId = RegionId(1);
const BATCH: u64 = 10_000;

struct Cluster {
    nodes: Vec<QsmNode>,
    now: Instant,
    delivered: u64,
}

impl Cluster {
    fn new(n: u32) -> Cluster {
        let cfg = Config { datagram_size: 65_000, ..Config::default() };
        let view = RegionView { region: R, id: ViewId(1), members: (0..n).map(NodeId).collect() };
        let nodes = (0..n)
            .map(|i| {
                let mut q = QsmNode::new(NodeId(i), cfg.clone()).expect("config");
                q.install_view(Instant::ZERO, view.clone()).expect("view");
                q
            })
            .collect();
        Cluster { nodes, now: Instant::ZERO, delivered: 0 }
    }

    /// Move every queued datagram, fire due timers, count deliveries.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit(self.now) {
                    moved = true;
                    match t.dest {
                        Destination::Node(to) => {
                            self.nodes[to.0 as usize].handle_datagram(self.now, t.payload);
                        }
                        Destination::Region => {
                            for j in (0..self.nodes.len()).filter(|j| *j != i) {
                                self.nodes[j].handle_datagram(self.now, t.payload.clone());
                            }
                        }
                    }
                }
                while let Some(ev) = self.nodes[i].poll_event() {
                    if let Event::Deliver(d) = ev {
                        self.delivered += d.messages().count() as u64;
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn tick(&mut self, step: Duration) {
        self.now += step;
        for q in &mut self.nodes {
            if q.poll_timeout().is_some_and(|t| t <= self.now) {
                q.handle_timeout(self.now);
            }
        }
    }
}

fn publish_and_deliver(c: &mut Criterion) {
    let mut g = c.benchmark_group("qsm");
    for size in [64usize, 1024] {
        g.throughput(Throughput::Elements(BATCH));
        g.bench_function(format!("1 sender -> 3 receivers, {size} B messages"), |b| {
            let mut cl = Cluster::new(4);
            let msg = vec![7u8; size];
            b.iter(|| {
                let target = cl.delivered + 3 * BATCH;
                let mut sent = 0;
                while sent < BATCH {
                    match cl.nodes[0].publish(cl.now, R, black_box(&msg)) {
                        Ok(()) => sent += 1,
                        Err(PublishError::WouldBlock) => {
                            cl.pump();
                            cl.tick(Duration::from_micros(200));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                while cl.delivered < target {
                    cl.pump();
                    cl.tick(Duration::from_micros(200));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, publish_and_deliver);
criterion_main!(benches);
