//! GMS replicas and members on a seeded, lossy in-memory network.

use argent_core::{Instant, NodeId, ViewId};
use argent_membership::gms::{
    ClientConfig, ClientStatus, Gms, GmsClient, GmsConfig, GmsMsg, Member, Peer, View, MAX_INCARNATION,
    MAX_MEMBER_SHARDS,
};
use argent_membership::{AddressPool, GroupId};
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Addr {
    Replica(u64),
    Client(u32),
}

/// (arrival time, sequence, from, to, encoded message)
type InFlight = (u64, u64, Addr, Addr, Vec<u8>);

struct Net {
    now: Instant,
    replicas: BTreeMap<u64, Option<Gms>>,
    clients: BTreeMap<u32, GmsClient>,
    silenced: Vec<u32>,
    cut_replica: Option<u64>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: Xoshiro256PlusPlus,
    loss_pct: u64,
    installed: HashMap<u32, Vec<Arc<View>>>,
}

fn pool() -> AddressPool {
    AddressPool { base: Ipv4Addr::new(239, 9, 0, 1), count: 16, port: 7100 }
}

fn cfg(id: u64, replicas: u64) -> GmsConfig {
    let mut c = GmsConfig::new(pool());
    c.id = id;
    c.replicas = (1..=replicas).collect();
    c
}

impl Net {
    fn new(replicas: u64, loss_pct: u64, seed: u64) -> Net {
        Net::with(replicas, loss_pct, seed, |_| {})
    }

    fn with(replicas: u64, loss_pct: u64, seed: u64, tweak: impl Fn(&mut GmsConfig)) -> Net {
        let now = Instant::from_nanos(0);
        let replicas = (1..=replicas)
            .map(|id| {
                let mut c = cfg(id, replicas);
                tweak(&mut c);
                (id, Some(Gms::new(c, now).unwrap()))
            })
            .collect();
        Net {
            now,
            replicas,
            clients: BTreeMap::new(),
            silenced: Vec::new(),
            cut_replica: None,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            loss_pct,
            installed: HashMap::new(),
        }
    }

    fn add_client(&mut self, node: u32, incarnation: u64, groups: &[u32]) {
        let member = Member {
            node: NodeId(node),
            incarnation,
            addr: SocketAddr::from(([127, 0, 0, 1], 9000 + node as u16)),
            shards: 1,
            groups_version: 0,
        };
        let replicas = self.replicas.keys().copied().collect();
        let groups = groups.iter().map(|g| GroupId(*g)).collect();
        let c = GmsClient::new(member, groups, replicas, ClientConfig::default(), self.now);
        self.clients.insert(node, c);
    }

    fn send(&mut self, from: Addr, to: Addr, msg: &GmsMsg) {
        let cut = self.cut_replica.map(Addr::Replica);
        if self.rng.next_u64() % 100 < self.loss_pct || cut == Some(from) || cut == Some(to) {
            return;
        }
        let delay = 100_000 + self.rng.next_u64() % 400_000; // 0.1–0.5 ms
        self.seq += 1;
        self.queue.push(Reverse((self.now.as_nanos() + delay, self.seq, from, to, msg.encode())));
    }

    fn pump(&mut self) {
        let ids: Vec<u64> = self.replicas.keys().copied().collect();
        for id in ids {
            while let Some((peer, msg)) =
                self.replicas.get_mut(&id).unwrap().as_mut().and_then(|g| g.poll_transmit())
            {
                let to = match peer {
                    Peer::Replica(r) => Addr::Replica(r),
                    Peer::Member(n) => Addr::Client(n.0),
                };
                self.send(Addr::Replica(id), to, &msg);
            }
        }
        let nodes: Vec<u32> = self.clients.keys().copied().collect();
        for n in nodes {
            while let Some((r, msg)) = self.clients.get_mut(&n).unwrap().poll_transmit() {
                if !self.silenced.contains(&n) {
                    self.send(Addr::Client(n), Addr::Replica(r), &msg);
                }
            }
            while let Some(v) = self.clients.get_mut(&n).unwrap().poll_view() {
                self.installed.entry(n).or_default().push(v);
            }
        }
    }

    fn next_deadline(&self) -> u64 {
        let mut t = self.queue.peek().map_or(u64::MAX, |Reverse(e)| e.0);
        for g in self.replicas.values().flatten() {
            t = t.min(g.poll_timeout().as_nanos());
        }
        for (n, c) in &self.clients {
            if !self.silenced.contains(n) {
                if let Some(d) = c.poll_timeout() {
                    t = t.min(d.as_nanos());
                }
            }
        }
        t
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now.as_nanos() + d.as_nanos() as u64;
        loop {
            self.pump();
            let t = self.next_deadline().max(self.now.as_nanos());
            if t > end {
                self.now = Instant::from_nanos(end);
                return;
            }
            self.now = Instant::from_nanos(t);
            let now = self.now;
            while self.queue.peek().is_some_and(|Reverse(e)| e.0 <= t) {
                let Reverse((_, _, from, to, bytes)) = self.queue.pop().unwrap();
                let msg = GmsMsg::decode(&bytes).expect("what we encode decodes");
                match (from, to) {
                    (_, Addr::Replica(r)) => {
                        let from = match from {
                            Addr::Replica(x) => Peer::Replica(x),
                            Addr::Client(n) => Peer::Member(NodeId(n)),
                        };
                        if let Some(g) = self.replicas.get_mut(&r).unwrap() {
                            g.handle_message(now, from, msg);
                        }
                    }
                    (Addr::Replica(r), Addr::Client(n)) if !self.silenced.contains(&n) => {
                        self.clients.get_mut(&n).unwrap().handle_message(now, r, msg);
                    }
                    _ => {}
                }
            }
            for g in self.replicas.values_mut().flatten() {
                if g.poll_timeout() <= now {
                    g.handle_timeout(now);
                }
            }
            for (n, c) in self.clients.iter_mut() {
                if !self.silenced.contains(n) && c.poll_timeout().is_some_and(|d| d <= now) {
                    c.handle_timeout(now);
                }
            }
        }
    }

    fn leader(&self) -> Option<u64> {
        self.replicas.values().flatten().find(|g| g.is_leader()).map(|g| g.id())
    }

    /// Every view id means the same view everywhere; each member installs consecutive views
    /// from its first (or its re-registration) on.
    fn check_agreement(&self) {
        let mut by_id: HashMap<ViewId, &Arc<View>> = HashMap::new();
        for (n, views) in &self.installed {
            for w in views.windows(2) {
                // A new incarnation starts afresh; the same incarnation must not skip a view.
                let inc = |v: &View| v.member(NodeId(*n)).map(|m| m.incarnation);
                let same = inc(&w[0]).is_some() && inc(&w[0]) == inc(&w[1]);
                assert!(
                    w[1].id.0 == w[0].id.0 + 1 || !same,
                    "node {n} skipped from {:?} to {:?}",
                    w[0].id,
                    w[1].id
                );
            }
            for v in views {
                let seen = by_id.entry(v.id).or_insert(v);
                assert_eq!(**seen, *v, "two contents for {:?}", v.id);
            }
        }
    }
}

#[test]
fn members_are_admitted_move_between_regions_and_agree() {
    let mut net = Net::new(1, 0, 1);
    for n in 1..=5 {
        net.add_client(n, 1, if n <= 3 { &[1, 2] } else { &[1] });
    }
    net.run_for(Duration::from_secs(1));
    for c in net.clients.values() {
        assert_eq!(c.status(), ClientStatus::Member);
    }
    let g = net.replicas[&1].as_ref().unwrap();
    let v = g.view().clone();
    assert_eq!(v.members.len(), 5);
    // Each group is carried by one region, whose members are every node that has it (and
    // no node that has none of its groups).
    let carriers = |v: &argent_membership::gms::View, g: u32| v.region_of_group(GroupId(g)).unwrap().clone();
    assert_eq!(v.group_index()[&GroupId(1)].len(), 1);
    for n in 1..=5 {
        assert!(carriers(&v, 1).members.contains(&NodeId(n)));
        if n <= 3 {
            assert!(carriers(&v, 2).members.contains(&NodeId(n)));
        }
    }
    // node 1 leaves group 2: group 2 keeps its region
    let r2 = carriers(&v, 2);
    let now = net.now;
    net.clients.get_mut(&1).unwrap().set_groups(now, vec![GroupId(1)]);
    net.run_for(Duration::from_secs(1));
    let v = net.replicas[&1].as_ref().unwrap().view().clone();
    assert_eq!(carriers(&v, 2).id, r2.id);
    let still = r2.groups.contains(&GroupId(1));
    assert_eq!(carriers(&v, 2).members.contains(&NodeId(1)), still, "in group 2's region only for group 1");
    assert_eq!(v.member(NodeId(1)).unwrap().groups_version, 1);
    for (n, views) in &net.installed {
        assert_eq!(views.last().unwrap().id, v.id, "node {n} has the latest view");
    }
    net.check_agreement();
}

#[test]
fn a_silent_member_is_suspected_then_evicted_and_can_rejoin() {
    let mut net = Net::new(1, 2, 7);
    for n in 1..=4 {
        net.add_client(n, 1, &[1]);
    }
    net.run_for(Duration::from_secs(1));
    net.silenced.push(4);
    net.run_for(Duration::from_millis(1500));
    let g = net.replicas[&1].as_ref().unwrap();
    assert_eq!(g.suspects(), vec![NodeId(4)], "suspected after 1 s, not yet evicted");
    assert!(g.view().member(NodeId(4)).is_some());
    net.run_for(Duration::from_secs(2));
    let g = net.replicas[&1].as_ref().unwrap();
    assert!(g.view().member(NodeId(4)).is_none(), "evicted after 3 s");
    assert_eq!(g.state().stats().evicted, 1);
    // it comes back: told it is unknown, it registers as a new incarnation
    net.silenced.clear();
    net.run_for(Duration::from_millis(500));
    assert_eq!(net.clients[&4].status(), ClientStatus::Evicted);
    let now = net.now;
    net.clients.get_mut(&4).unwrap().rejoin(now, 2);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.clients[&4].status(), ClientStatus::Member);
    let v = net.replicas[&1].as_ref().unwrap().view().clone();
    assert_eq!(v.member(NodeId(4)).unwrap().incarnation, 2);
    assert_eq!(v.regions[0].members.last(), Some(&NodeId(4)), "a rejoiner is appended to the ring");
    net.check_agreement();
}

#[test]
fn three_replicas_survive_the_leader_crash_and_admit_a_joiner() {
    for seed in 0..5 {
        let mut net = Net::new(3, 5, seed);
        for n in 1..=6 {
            net.add_client(n, 1, &[1]);
        }
        net.run_for(Duration::from_secs(4));
        let leader = net.leader().expect("a leader is elected");
        assert_eq!(net.replicas[&leader].as_ref().unwrap().view().members.len(), 6, "seed {seed}");
        net.replicas.insert(leader, None);
        net.run_for(Duration::from_secs(3));
        let new_leader = net.leader().expect("a new leader is elected");
        assert_ne!(new_leader, leader);
        let now = net.now;
        net.add_client(7, 1, &[1]);
        let _ = now;
        net.run_for(Duration::from_secs(3));
        assert_eq!(net.clients[&7].status(), ClientStatus::Member, "seed {seed}: joiner admitted");
        let v = net.replicas[&new_leader].as_ref().unwrap().view().clone();
        assert_eq!(v.members.len(), 7, "seed {seed}: no live member evicted by the failover");
        for (n, c) in &net.clients {
            assert_eq!(c.status(), ClientStatus::Member, "seed {seed}: node {n}");
            assert_eq!(net.installed[n].last().unwrap().id, v.id, "seed {seed}: node {n} current");
        }
        net.check_agreement();
    }
}

#[test]
fn leaving_is_a_view_change() {
    let mut net = Net::new(1, 0, 3);
    for n in 1..=3 {
        net.add_client(n, 1, &[5]);
    }
    net.run_for(Duration::from_secs(1));
    let now = net.now;
    net.clients.get_mut(&2).unwrap().leave(now);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.clients[&2].status(), ClientStatus::Left);
    let g = net.replicas[&1].as_ref().unwrap();
    assert!(g.view().member(NodeId(2)).is_none());
    assert_eq!(g.state().stats().left, 1);
    net.check_agreement();
}

#[test]
fn decoding_garbage_never_panics() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let sample = GmsMsg::Heartbeat { node: NodeId(3), incarnation: 9, view: ViewId(4) }.encode();
    for i in 0..20_000 {
        let mut b = if i % 2 == 0 { sample.clone() } else { vec![1u8; (rng.next_u64() % 64) as usize] };
        for _ in 0..(rng.next_u64() % 4) {
            if !b.is_empty() {
                let at = (rng.next_u64() as usize) % b.len();
                b[at] = rng.next_u64() as u8;
            }
        }
        let _ = GmsMsg::decode(&b);
    }
    assert_eq!(
        GmsMsg::decode(&sample).unwrap(),
        GmsMsg::Heartbeat { node: NodeId(3), incarnation: 9, view: ViewId(4) }
    );
    assert!(GmsMsg::decode(&[]).is_err());
    assert!(GmsMsg::decode(&[9, 0]).is_err());
}

#[test]
fn a_lagging_replica_catches_up_from_a_snapshot_after_compaction() {
    let mut net = Net::with(3, 0, 11, |c| c.compact_every = 4);
    for n in 1..=3 {
        net.add_client(n, 1, &[1]);
    }
    net.run_for(Duration::from_secs(3));
    let leader = net.leader().unwrap();
    let lagging = (1..=3).find(|r| *r != leader).unwrap();
    net.cut_replica = Some(lagging);
    for i in 1..=20u32 {
        let now = net.now;
        net.clients.get_mut(&1).unwrap().set_groups(now, vec![GroupId(1), GroupId(100 + i)]);
        net.run_for(Duration::from_millis(400));
    }
    let target = net.replicas[&leader].as_ref().unwrap().view().clone();
    assert!(net.replicas[&leader].as_ref().unwrap().stats().compactions > 0);
    assert!(net.replicas[&lagging].as_ref().unwrap().view().id < target.id);
    net.cut_replica = None;
    net.run_for(Duration::from_secs(2));
    let caught_up = net.replicas[&lagging].as_ref().unwrap().view().clone();
    assert_eq!(caught_up, target, "the lagging replica installed the leader's state from a snapshot");
    // and it can take over
    net.replicas.insert(leader, None);
    net.add_client(9, 1, &[1]);
    net.run_for(Duration::from_secs(4));
    assert_eq!(net.clients[&9].status(), ClientStatus::Member);
    net.check_agreement();
}

#[test]
fn a_restored_replica_has_the_view_it_had() {
    use argent_membership::service::Disk;
    for compact_every in [1000, 3] {
        // A fresh directory each round, not yet created, inside one removed on drop.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gms");
        let mut net = Net::with(1, 0, 21, |c| {
            c.persist = true;
            c.compact_every = compact_every;
        });
        for n in 1..=5 {
            net.add_client(n, 1, &[n % 2]);
        }
        net.run_for(Duration::from_secs(1));
        let (mut disk, _) = Disk::open(&dir).unwrap();
        let g = net.replicas.get_mut(&1).unwrap().as_mut().unwrap();
        while let Some(op) = g.poll_persist() {
            disk.write(op).unwrap();
        }
        let before = g.view().clone();
        assert_eq!(before.members.len(), 5);
        drop(disk);
        let (_, restored) = Disk::open(&dir).unwrap();
        let mut c = cfg(1, 1);
        c.persist = true;
        let back = Gms::restore(c, Instant::from_nanos(0), restored).unwrap();
        assert_eq!(**back.view(), *before, "compact_every {compact_every}: same view after a restart");
    }
}

#[test]
fn registrations_out_of_bounds_are_refused_and_change_nothing() {
    let mut net = Net::new(1, 0, 3);
    net.add_client(1, 1, &[1]);
    net.add_client(2, 1, &[1]);
    net.run_for(Duration::from_secs(1));
    let before = net.replicas[&1].as_ref().unwrap().view().clone();
    assert_eq!(before.members.len(), 2);
    let member = |node: u32, incarnation: u64, addr: SocketAddr, shards: u16| Member {
        node: NodeId(node),
        incarnation,
        addr,
        shards,
        groups_version: 0,
    };
    let v4 = |node: u32| SocketAddr::from(([127, 0, 0, 1], 9000 + node as u16));
    let bad = [
        // An incarnation pushed to the top: it would keep node 3's real starts out for good.
        (3, member(3, u64::MAX, v4(3), 1)),
        (3, member(3, MAX_INCARNATION + 1, v4(3), 1)),
        // Families and addresses a peer cannot send to: every later node would fail to start.
        (4, member(4, 5, "[::1]:9004".parse().unwrap(), 1)),
        (4, member(4, 5, SocketAddr::from(([239, 1, 1, 1], 9004)), 1)),
        (4, member(4, 5, SocketAddr::from(([0, 0, 0, 0], 9004)), 1)),
        (4, member(4, 5, SocketAddr::from(([127, 0, 0, 1], 0)), 1)),
        // Shard counts the runtime cannot run.
        (5, member(5, 5, v4(5), 0)),
        (5, member(5, 5, v4(5), MAX_MEMBER_SHARDS + 1)),
        // Speaking for another node: node 2 registers node 6.
        (2, member(6, 5, v4(6), 1)),
        // Speaking for a member that exists, with a higher incarnation: evicts it otherwise.
        (2, member(1, 7, v4(1), 1)),
    ];
    for (from, m) in &bad {
        let msg = GmsMsg::Register { member: m.clone(), groups: vec![GroupId(1)] };
        net.send(Addr::Client(*from), Addr::Replica(1), &msg);
    }
    net.run_for(Duration::from_secs(1));
    let g = net.replicas[&1].as_ref().unwrap();
    assert_eq!(g.stats().refused_registrations, bad.len() as u64, "every one refused");
    let after = g.view().clone();
    assert_eq!(after.members.len(), 2, "nobody was added");
    assert_eq!(after.member(NodeId(1)).unwrap().incarnation, 1, "node 1 was not replaced");
    // The ids the refusals named still work for real starts.
    net.add_client(3, 10, &[1]);
    net.add_client(4, 10, &[1]);
    net.add_client(5, 10, &[1]);
    net.run_for(Duration::from_secs(1));
    let v = net.replicas[&1].as_ref().unwrap().view().clone();
    assert_eq!(v.members.len(), 5);
    for c in net.clients.values() {
        assert_eq!(c.status(), ClientStatus::Member);
    }
    net.check_agreement();
}

#[test]
fn key_epochs_are_handed_out_in_every_view_once_each_ascending() {
    use argent_membership::gms::{KeyEpoch, MAX_KEY_EPOCHS, WRAPPED_KEY_LEN};
    let mut net = Net::new(3, 0, 11);
    for n in 1..=3 {
        net.add_client(n, 1, &[1]);
    }
    net.run_for(Duration::from_secs(1));
    let key = |epoch: u16, under: u16| KeyEpoch { epoch, under, wrapped: vec![epoch as u8; WRAPPED_KEY_LEN] };
    let leader = net.leader().expect("a leader");
    // Node 2 asks; so does a replay of the same request, a lower epoch, one not wrapped
    // under an older epoch, and a malformed one: only the first changes anything.
    for k in [key(2, 1), key(2, 1), key(1, 1), key(3, 3), KeyEpoch { wrapped: vec![0; 3], ..key(4, 1) }] {
        net.send(Addr::Client(2), Addr::Replica(leader), &GmsMsg::AddKey(k));
    }
    net.run_for(Duration::from_secs(1));
    for n in 1..=3 {
        let last = net.installed[&n].last().expect("views").clone();
        assert_eq!(last.keys, vec![key(2, 1)], "node {n}");
    }
    // Epochs go on ascending; the oldest beyond MAX_KEY_EPOCHS goes.
    for e in 3..=(MAX_KEY_EPOCHS as u16 + 3) {
        net.send(Addr::Client(1), Addr::Replica(net.leader().unwrap()), &GmsMsg::AddKey(key(e, e - 1)));
        net.run_for(Duration::from_millis(200));
    }
    let v = net.replicas[&net.leader().unwrap()].as_ref().unwrap().view().clone();
    let epochs: Vec<u16> = v.keys.iter().map(|k| k.epoch).collect();
    assert_eq!(epochs, (4..=(MAX_KEY_EPOCHS as u16 + 3)).collect::<Vec<_>>());
    net.check_agreement();
}
