//! Bounds that hold against a member that holds the cluster key but sends nonsense: one bad
//! token round, cleanup point, cut-off (`highest`) or join view cannot wedge a region for
//! good. Each test injects the bad value as a well-formed, correctly addressed datagram
//! (what a buggy key holder could send), then shows the region delivering everything and
//! acknowledging its senders.

mod common;

use argent_qsm::{Config, NodeId};
use argent_wire::{Heartbeat, StreamStart, Token, TokenEntry};
use bytes::Bytes;
use common::{msg, Net, R};
use std::time::Duration;

const N: u32 = 4;

/// Node `from` publishes `count` numbered messages starting at `first`, one datagram each.
fn publish(net: &mut Net, from: usize, first: u32, count: u32) {
    for n in first..first + count {
        let now = net.now;
        net.nodes[from].publish(now, R, &msg(n, 64)).expect("room");
        net.drive(Duration::from_micros(200));
    }
}

/// Every node delivered `0..count` from `from`'s stream, in order, and `from` was
/// acknowledged for all of it.
fn all_delivered(net: &Net, from: usize, count: u32) {
    let stream = net.nodes[from].stream();
    for i in (0..N as usize).filter(|i| *i != from) {
        assert_eq!(net.numbers(i, stream), (0..count).collect::<Vec<_>>(), "node {i}, stream of node {from}");
    }
    assert!(net.nodes[from].send_drained(), "node {from} is acknowledged for everything");
}

fn token(from: u32, hop: u32, round: u64, entries: Vec<TokenEntry>) -> Bytes {
    Bytes::from(Token { view: 1, round, hop, flags: 0, entries }.encode(R.0, from))
}

#[test]
fn a_token_round_at_the_top_of_the_range_does_not_wedge_the_ring() {
    let mut net = Net::new(N, Config::default());
    publish(&mut net, 0, 0, 20);
    net.drive(Duration::from_millis(300));
    all_delivered(&net, 0, 20);
    // Node 1 (ring position 1) passes node 2 a token of round u64::MAX - 5.
    net.inbox[2].push((NodeId(1), token(1, 2, u64::MAX - 5, Vec::new())));
    let completed = net.nodes[0].stats().rounds_completed;
    publish(&mut net, 0, 20, 20);
    publish(&mut net, 3, 0, 20);
    net.drive(Duration::from_millis(500));
    let rounds = net.nodes[0].stats().rounds_completed - completed;
    assert!(rounds >= 3, "rounds go on ({rounds})");
    all_delivered(&net, 0, 40);
    all_delivered(&net, 3, 20);
    assert_eq!(net.nodes[2].stats().round_leaps, 1, "refused and counted");
}

#[test]
fn a_bad_round_taken_while_cut_off_is_dropped_after_the_resync_time() {
    let mut net = Net::new(N, Config::default());
    publish(&mut net, 0, 0, 10);
    net.drive(Duration::from_millis(300));
    // Node 2 is cut off for three seconds (no membership service evicts it here), then the
    // first token it sees carries a round far ahead: taken, since it cannot tell.
    net.down[2] = true;
    net.drive(Duration::from_secs(3));
    net.down[2] = false;
    net.inbox[2].push((NodeId(1), token(1, 2, u64::MAX - 5, Vec::new())));
    net.drive(Duration::from_millis(10));
    assert_eq!(net.nodes[2].stats().round_leaps, 0, "taken: node 2 had seen no token for too long");
    // The real rounds look superseded to it for a while, then it takes them again.
    publish(&mut net, 0, 10, 10);
    net.drive(Duration::from_secs(4));
    all_delivered(&net, 0, 20);
    let completed = net.nodes[0].stats().rounds_completed;
    publish(&mut net, 3, 0, 10);
    net.drive(Duration::from_millis(500));
    assert!(net.nodes[0].stats().rounds_completed > completed, "rounds complete again");
    all_delivered(&net, 3, 10);
}

#[test]
fn cleanup_and_cut_off_past_local_state_are_clamped() {
    let cfg = Config { window_datagrams: 16, ..Config::default() };
    let mut net = Net::new(N, cfg);
    publish(&mut net, 0, 0, 8);
    net.drive(Duration::from_millis(300));
    let stream = net.nodes[0].stream().0;
    // Node 0's own node claims it sent up to u64::MAX (a buggy sender); node 1 passes node
    // 2 a token claiming everything is cleaned up and known.
    let hb = argent_wire::encode_heartbeat(R.0, 0, &Heartbeat { sender: stream, highest: u64::MAX });
    for i in 1..N as usize {
        net.inbox[i].push((NodeId(0), Bytes::from(hb.clone())));
    }
    let entry = TokenEntry {
        sender: stream,
        cutoff: u64::MAX,
        cleanup: u64::MAX,
        max_seen: u64::MAX,
        min_contiguous: u64::MAX,
        part_contiguous: u64::MAX,
        rate_min: u32::MAX,
        ..TokenEntry::default()
    };
    net.drive(Duration::from_millis(1));
    net.inbox[2].push((NodeId(1), token(1, 2, 1 << 20, vec![entry])));
    net.drive(Duration::from_millis(1));
    // The phantom gap is at most one window: once the sender has sent a window more, it is
    // all real data, and the region goes back to idle rounds.
    publish(&mut net, 0, 8, 40);
    net.drive(Duration::from_millis(800));
    all_delivered(&net, 0, 48);
    let busy = net.nodes[0].stats().rounds_completed;
    net.drive(Duration::from_secs(2));
    let idle = net.nodes[0].stats().rounds_completed - busy;
    assert!(idle <= 12, "{idle} rounds in 2 s of silence: the region is still busy");
    let clamped: u64 = (1..N as usize).map(|i| net.nodes[i].stats().clamped).sum();
    assert!(clamped >= 3, "every receiver clamps the cut-off ({clamped})");
}

#[test]
fn a_join_point_views_ahead_is_refused() {
    let mut net = Net::new(N, Config::default());
    net.drive(Duration::from_millis(10));
    let before = net.nodes[1].stats().clamped;
    let start = StreamStart { view: 1 + 65, sender: 7, base: 0, flags: argent_wire::STREAM_BEGINS };
    net.inbox[1].push((NodeId(7), Bytes::from(argent_wire::encode_stream_start(R.0, 7, &start))));
    net.drive(Duration::from_millis(1));
    assert_eq!(net.nodes[1].stats().clamped, before + 1);
    assert!(!net.nodes[1].tracks_stream(R, NodeId(7)));
    publish(&mut net, 2, 0, 10);
    net.drive(Duration::from_millis(300));
    all_delivered(&net, 2, 10);
}
