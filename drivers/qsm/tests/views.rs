//! View changes: members joining mid-stream, members leaving, senders departing and
//! restarting — under loss, with the harness of `common`.

mod common;

use argent_qsm::{
    stream_id, Config, NodeId, Protocol, PublishError, QsmNode, ViewId, MAX_STREAMS_PER_REGION,
};
use argent_wire::{Frame, FrameKind, STREAM_BEGINS};
use bytes::Bytes;
use common::{msg, view, Net, FENCE, R};
use std::time::Duration;

/// Small datagrams (several messages each), so streams run to thousands of datagrams.
fn cfg() -> Config {
    Config { datagram_size: 512, ..Config::default() }
}

const MSG_LEN: usize = 60;

/// An application publishing numbered messages at node `node`, a few per step.
struct Feed {
    node: usize,
    next: u32,
    upto: u32,
}

impl Feed {
    fn new(node: usize, upto: u32) -> Self {
        Feed { node, next: 0, upto }
    }

    /// Publish up to `n` messages, stopping at back-pressure.
    fn pump(&mut self, net: &mut Net, n: u32) {
        for _ in 0..n {
            if self.next == self.upto {
                return;
            }
            match net.nodes[self.node].publish(net.now, R, &msg(self.next, MSG_LEN)) {
                Ok(()) => self.next += 1,
                Err(PublishError::WouldBlock) => return,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// Drive for `span`, publishing from `feeds` between steps.
fn run(net: &mut Net, feeds: &mut [&mut Feed], span: Duration) {
    let end = net.now + span;
    while net.now < end {
        for f in feeds.iter_mut() {
            f.pump(net, 1);
        }
        net.step();
    }
}

fn kind(d: &Bytes) -> Option<u8> {
    d.get(3).copied()
}

/// A member joins while node 3 streams: it delivers exactly what node 3 published after
/// installing the join view, in order, once; the old members get everything; node 3's buffer
/// drains. Node 1 published only before the join: the joiner learns of its stream from the
/// token alone and delivers nothing of it.
fn joiner_mid_stream(joiner_first: bool) {
    let mut net = Net::idle(5, cfg());
    let old = [0, 1, 2, 3];
    for i in old {
        net.nodes[i].install_view(net.now, view(1, &[0, 1, 2, 3])).expect("view 1");
    }
    net.loss = 0.05;
    let total = 6000;
    let mut sender = Feed::new(3, total);
    let mut early = Feed::new(1, 50);
    run(&mut net, &mut [&mut sender, &mut early], Duration::from_millis(15));
    assert_eq!(early.next, 50, "node 1 published all it had before the join");
    assert!(sender.next > 500 && sender.next < 3000, "mid-stream: {} published", sender.next);

    // View 2 adds node 4; members install it over 3 ms, the sender in the middle, the joiner
    // first or last.
    let v2 = view(2, &[0, 1, 2, 3, 4]);
    let order: Vec<usize> = if joiner_first { vec![4, 0, 3, 1, 2] } else { vec![0, 1, 3, 2, 4] };
    let mut join_point = None;
    for i in order {
        net.nodes[i].install_view(net.now, v2.clone()).expect("view 2");
        if i == 3 {
            join_point = Some(sender.next);
        }
        run(&mut net, &mut [&mut sender], Duration::from_micros(750));
    }
    let join_point = join_point.expect("the sender installed view 2");
    assert!(join_point < total - 1000, "the stream goes on well after the join");

    run(&mut net, &mut [&mut sender], Duration::from_millis(400));
    assert_eq!(sender.next, total, "everything was published");
    net.drive(Duration::from_millis(200));

    let all: Vec<u32> = (0..total).collect();
    for i in 0..3 {
        assert_eq!(net.numbers(i, NodeId(3)), all, "old member {i}: everything, in order, once");
    }
    assert_eq!(net.numbers(0, NodeId(1)), (0..50).collect::<Vec<_>>());
    let got = net.numbers(4, NodeId(3));
    assert_eq!(got.first().copied(), Some(join_point), "the joiner starts at its join point");
    assert_eq!(got, (join_point..total).collect::<Vec<_>>(), "then everything, in order, once");
    assert!(net.numbers(4, NodeId(1)).is_empty(), "nothing node 1 published before the join");
    assert!(net.nodes[4].tracks_stream(R, NodeId(1)), "node 1's stream is known from the token");
    let stats = net.nodes[4].stats();
    if !joiner_first {
        // The senders' announcements of view 2 came before the joiner had the region.
        assert!(stats.start_requests >= 2, "the joiner asked both senders: {stats:?}");
    }
    assert_eq!(stats.streams_retired, 0);
    for i in [1, 3] {
        assert!(net.nodes[i].send_drained(), "node {i}'s buffer drains with the joiner in the view");
        assert_eq!(net.nodes[i].send_buffered_bytes(), 0);
    }
    for (i, node) in net.nodes.iter().enumerate() {
        assert_eq!(node.receive_held_bytes(), 0, "node {i} cleaned up");
        assert!(node.max_receive_held_bytes() <= cfg().receive_bound_bytes());
    }
}

#[test]
fn a_joiner_that_installs_the_view_first_delivers_from_its_join_point() {
    joiner_mid_stream(true);
}

#[test]
fn a_joiner_that_installs_the_view_last_delivers_from_its_join_point() {
    joiner_mid_stream(false);
}

/// Until the joiner knows where a stream starts for it, the region does not acknowledge that
/// stream: the sender keeps what the joiner may need.
#[test]
fn an_unanchored_joiner_holds_the_acknowledgement_back() {
    let mut net = Net::idle(4, cfg());
    for i in 0..3 {
        net.nodes[i].install_view(net.now, view(1, &[0, 1, 2])).expect("view 1");
    }
    let mut sender = Feed::new(2, 200);
    run(&mut net, &mut [&mut sender], Duration::from_millis(5));
    assert_eq!(sender.next, 200);
    // The joiner's questions, and the join points announced to it, are lost until the filter
    // is lifted.
    net.filter = Some(|from, to, d| {
        let k = kind(d);
        !(from == 3 && k == Some(FrameKind::StartRequest as u8)
            || to == 3 && k == Some(FrameKind::StreamStart as u8))
    });
    for i in [3, 0, 1, 2] {
        net.nodes[i].install_view(net.now, view(2, &[0, 1, 2, 3])).expect("view 2");
    }
    sender.upto = 400;
    run(&mut net, &mut [&mut sender], Duration::from_millis(60));
    assert_eq!(sender.next, 400);
    assert!(!net.nodes[2].send_drained(), "nothing past the joiner's join point is acknowledged");
    assert!(net.nodes[3].stats().start_requests >= 5, "the joiner keeps asking");
    assert!(net.numbers(3, NodeId(2)).is_empty(), "nor delivered before the join point is known");
    assert!(net.nodes[3].receive_held_bytes() > 0, "it holds what it received meanwhile");
    assert_eq!(net.numbers(0, NodeId(2)).len(), 400, "old members are not held back");

    net.filter = None;
    net.drive(Duration::from_millis(100));
    assert_eq!(net.numbers(3, NodeId(2)), (200..400).collect::<Vec<_>>());
    assert!(net.nodes[2].send_drained());
}

/// A stream that begins is announced ahead of its first datagram: members deliver at once,
/// without asking. If the announcement is lost, they ask.
#[test]
fn a_stream_that_begins_is_announced() {
    let mut net = Net::new(4, cfg());
    let mut sender = Feed::new(3, 100);
    run(&mut net, &mut [&mut sender], Duration::from_millis(10));
    for i in 0..3 {
        assert_eq!(net.numbers(i, NodeId(3)), (0..100).collect::<Vec<_>>());
        assert_eq!(net.nodes[i].stats().start_requests, 0, "node {i} did not need to ask");
    }

    let mut net = Net::new(4, cfg());
    // Announcements are lost (answers to requests are not).
    net.filter = Some(|_, _, d| match argent_wire::decode(d) {
        Ok((_, Frame::StreamStart(s))) => s.flags & STREAM_BEGINS == 0,
        _ => true,
    });
    let mut sender = Feed::new(3, 100);
    run(&mut net, &mut [&mut sender], Duration::from_millis(20));
    for i in 0..3 {
        assert_eq!(net.numbers(i, NodeId(3)), (0..100).collect::<Vec<_>>());
        assert!(net.nodes[i].stats().start_requests >= 1, "node {i} asked");
    }
    assert!(net.nodes[3].send_drained());
}

/// A member that leaves the region frees its state and takes no further part; the others
/// go on without it.
#[test]
fn a_member_that_leaves_frees_its_state() {
    let mut net = Net::new(4, cfg());
    net.loss = 0.05;
    let mut sender = Feed::new(3, 300);
    run(&mut net, &mut [&mut sender], Duration::from_millis(40));
    assert_eq!(net.numbers(2, NodeId(3)).len(), 300);
    assert_eq!(net.nodes[2].receive_streams(R), 1);

    assert!(net.nodes[2].leave_region(R));
    assert!(!net.nodes[2].leave_region(R), "already gone");
    let me = &net.nodes[2];
    assert!(!me.is_member(R) && me.receive_streams(R) == 0);
    assert_eq!((me.receive_held_bytes(), me.send_buffered_bytes()), (0, 0));
    for i in [0, 1, 3] {
        net.nodes[i].install_view(net.now, view(2, &[0, 1, 3])).expect("view 2");
    }
    let ignored = net.nodes[2].stats().ignored;
    let mut sender = Feed { upto: 600, ..sender };
    run(&mut net, &mut [&mut sender], Duration::from_millis(80));
    assert_eq!(net.numbers(2, NodeId(3)).len(), 300, "nothing more is delivered to it");
    assert!(net.nodes[2].stats().ignored > ignored, "its region's traffic is ignored");
    assert_eq!(net.nodes[2].receive_held_bytes(), 0);
    for i in [0, 1] {
        assert_eq!(net.numbers(i, NodeId(3)), (0..600).collect::<Vec<_>>());
    }
    assert!(net.nodes[3].send_drained());
}

/// A view without this node makes it a non-member: receive state dropped, sending allowed.
/// Leaving and joining again later, its stream continues where it ended.
#[test]
fn a_member_removed_from_the_view_may_still_send_and_rejoin() {
    let mut net = Net::new(4, cfg());
    net.loss = 0.05;
    let mut a = Feed::new(1, 100);
    let mut b = Feed::new(3, 100);
    run(&mut net, &mut [&mut a, &mut b], Duration::from_millis(30));
    for i in 0..4 {
        net.nodes[i].install_view(net.now, view(2, &[0, 2, 3])).expect("view 2");
    }
    let n1 = &net.nodes[1];
    assert!(!n1.is_member(R) && n1.receive_streams(R) == 0 && n1.receive_held_bytes() == 0);
    // Node 1 goes on sending as a non-member; node 3 too.
    let mut a = Feed { upto: 200, ..a };
    let mut b = Feed { upto: 200, ..b };
    run(&mut net, &mut [&mut a, &mut b], Duration::from_millis(60));
    assert_eq!(net.numbers(1, NodeId(3)).len(), 100, "a non-member delivers nothing more");
    assert!(net.nodes[1].send_drained());
    // It leaves altogether, then joins again in view 3 and sends: the stream continues.
    assert!(net.nodes[1].leave_region(R));
    for i in [0, 2, 3, 1] {
        net.nodes[i].install_view(net.now, view(3, &[0, 1, 2, 3])).expect("view 3");
    }
    let join_point = b.next;
    let mut a = Feed { upto: 300, ..a };
    let mut b = Feed { upto: 300, ..b };
    run(&mut net, &mut [&mut a, &mut b], Duration::from_millis(80));
    net.drive(Duration::from_millis(50));
    for i in [0, 2, 3] {
        assert_eq!(net.numbers(i, NodeId(1)), (0..300).collect::<Vec<_>>(), "node {i}");
    }
    assert_eq!(net.numbers(1, NodeId(3)), (0..100).chain(join_point..300).collect::<Vec<_>>());
    assert!(net.nodes[1].send_drained() && net.nodes[3].send_drained());
}

/// A sender crashes with datagrams only some survivors got: the survivors repair among
/// themselves what one of them holds, send nothing more to the departed node, then retire its
/// stream and count what nobody can deliver.
#[test]
fn a_crashed_senders_stream_is_retired_at_survivors() {
    let mut net = Net::new(4, cfg());
    let mut sender = Feed::new(3, 100);
    run(&mut net, &mut [&mut sender], Duration::from_millis(20));
    assert!(net.nodes[3].send_drained());
    // Three more datagrams: A reaches node 0 only, B nobody, C node 1 only. Then node 3 dies.
    let routes = [vec![0usize], vec![], vec![1]];
    for (k, route) in routes.iter().enumerate() {
        // Node 3's own clock moves on, so its pacer lets each datagram out at once.
        let at = net.now + Duration::from_millis(k as u64 + 1);
        net.nodes[3].publish(at, R, &msg(100 + k as u32, MSG_LEN)).expect("room");
        let data = std::iter::from_fn(|| net.nodes[3].poll_transmit(at))
            .find(|t| kind(&t.payload) == Some(FrameKind::Data as u8))
            .expect("the datagram goes out");
        for to in route {
            net.inbox[*to].push((NodeId(3), data.payload.clone()));
        }
    }
    net.down[3] = true;
    for i in 0..3 {
        net.nodes[i].remove_node(NodeId(3));
        net.nodes[i].install_view(net.now, view(2, &[0, 1, 2])).expect("view 2");
    }
    let to_departed = net.unicasts_to[3];
    net.drive(Duration::from_millis(300));
    assert_eq!(net.unicasts_to[3], to_departed, "no NAK, acknowledgement or request to a departed node");
    for i in 0..3 {
        assert_eq!(net.numbers(i, NodeId(3)), (0..101).collect::<Vec<_>>(), "node {i} got A from node 0");
        let node = &net.nodes[i];
        assert!(!node.tracks_stream(R, NodeId(3)), "node {i} retired the stream");
        assert_eq!(node.receive_streams(R), 0);
        assert_eq!(node.receive_held_bytes(), 0, "node {i} freed what it held");
        let s = node.stats();
        assert_eq!((s.streams_retired, s.retired_undelivered), (1, 2), "node {i}: B and C undelivered");
    }
    // A stray copy of the retired stream does not bring it back.
    let mut stray = argent_wire::DataBuilder::new(R.0, 3, 103, 512);
    stray.push(&msg(103, MSG_LEN));
    net.inbox[0].push((NodeId(3), stray.finish()));
    net.drive(Duration::from_millis(10));
    assert!(!net.nodes[0].tracks_stream(R, NodeId(3)));
}

/// A publisher restarting over and over is a new stream each time; retiring the old ones
/// keeps the region far from its stream limit.
#[test]
fn publisher_restarts_beyond_the_stream_limit() {
    let mut net = Net::new(3, Config::default());
    net.loss = 0.05;
    let restarts = 2 * MAX_STREAMS_PER_REGION as u16;
    net.nodes[2].publish(net.now, R, &msg(0, 8)).expect("room");
    for inc in 1..=restarts {
        // Everything the old process sent reached everyone (the region acknowledged it).
        for _ in 0..200 {
            if net.nodes[2].send_drained() {
                break;
            }
            net.drive(Duration::from_millis(1));
        }
        assert!(net.nodes[2].send_drained(), "incarnation {}: acknowledged", inc - 1);
        let old = net.nodes[2].stream();
        let mut node =
            QsmNode::new(NodeId(2), Config { incarnation: inc, ..Config::default() }).expect("config");
        node.install_view(net.now, view(1, &[0, 1, 2])).expect("view");
        assert_eq!(node.stream(), stream_id(NodeId(2), inc));
        net.nodes[2] = node;
        net.inbox[2].clear();
        for i in 0..2 {
            net.nodes[i].retire_stream(old);
        }
        net.nodes[2].publish(net.now, R, &msg(u32::from(inc), 8)).expect("room");
    }
    net.drive(Duration::from_millis(50));
    for i in 0..2 {
        let got: Vec<u32> = net.delivered[i].iter().map(|(_, m)| common::number(m)).collect();
        assert_eq!(
            got,
            (0..=u32::from(restarts)).collect::<Vec<_>>(),
            "node {i}: one message per incarnation"
        );
        let node = &net.nodes[i];
        assert!(node.receive_streams(R) <= 3, "node {i} tracks {} streams", node.receive_streams(R));
        assert_eq!(node.stats().streams_retired, u64::from(restarts));
        assert_eq!(node.stats().retired_undelivered, 0);
    }
    assert!(net.nodes[2].send_drained());
}

/// A node that learns of an earlier incarnation's stream (here: a restarted member seeing the
/// old stream in the token) never tracks it; a member asking a restarted node about its old
/// stream is told it is gone and retires it.
#[test]
fn a_restarted_node_disowns_its_old_stream() {
    let mut net = Net::new(3, cfg());
    net.nodes[2].publish(net.now, R, &msg(1, MSG_LEN)).expect("room");
    net.drive(Duration::from_millis(10));
    // Node 2 restarts; node 1 restarts too and so asks about every stream it hears of.
    for n in [1usize, 2] {
        let c = Config { incarnation: 9, ..cfg() };
        let mut node = QsmNode::new(NodeId(n as u32), c).expect("config");
        node.install_view(net.now, view(2, &[0, 1, 2])).expect("view");
        net.nodes[n] = node;
    }
    net.nodes[0].install_view(net.now, view(2, &[0, 1, 2])).expect("view");
    net.drive(Duration::from_millis(30));
    assert!(!net.nodes[2].tracks_stream(R, NodeId(2)), "its own earlier incarnation");
    assert!(!net.nodes[1].tracks_stream(R, NodeId(2)), "told it is gone");
    assert_eq!(net.nodes[1].stats().streams_retired, 1);
    assert!(net.nodes[0].tracks_stream(R, NodeId(2)), "node 0 keeps it until told");
    net.nodes[0].retire_stream(NodeId(2));
    net.drive(Duration::from_millis(60));
    assert!(!net.nodes[0].tracks_stream(R, NodeId(2)));
    assert_eq!(net.nodes[0].stats().retired_undelivered, 0);
}

#[test]
fn a_fence_follows_everything_its_member_sent_before_the_request() {
    let mut net = Net::new(3, cfg());
    net.loss = 0.1;
    let (mut a, mut b) = (Feed::new(1, 50), Feed::new(2, 50));
    run(&mut net, &mut [&mut a, &mut b], Duration::from_millis(20));
    assert_eq!((a.next, b.next), (50, 50));
    // The request is multicast once, unreliably: ask again until every member has fenced.
    let mut nonce = 0;
    let fenced = |net: &Net, nonce: u64| {
        (0..3u32).all(|s| net.numbers(0, stream_id(NodeId(s), 0)).contains(&(FENCE + nonce as u32)))
    };
    while nonce == 0 || !fenced(&net, nonce) {
        nonce += 1;
        assert!(nonce < 20, "no fences after 19 requests at 10% loss");
        assert!(net.nodes[0].request_fences(R, 9, nonce));
        net.flush(0);
        let (mut a, mut b) = (Feed::new(1, 0), Feed::new(2, 0));
        run(&mut net, &mut [&mut a, &mut b], Duration::from_millis(20));
    }
    let (mut a, mut b) = (Feed { next: 50, ..Feed::new(1, 100) }, Feed { next: 50, ..Feed::new(2, 100) });
    run(&mut net, &mut [&mut a, &mut b], Duration::from_millis(50));
    net.drive(Duration::from_millis(200));
    assert!(net.nodes[0].stats().fence_requests >= 1 && net.nodes[1].stats().fences_asked >= 1);
    for at in 0..3 {
        for s in 1..3u32 {
            // Each member's fences lie after its first 50 messages and before the next 50.
            let got = net.numbers(at, stream_id(NodeId(s), 0));
            let plain: Vec<u32> = got.iter().copied().filter(|n| *n < FENCE).collect();
            assert_eq!(plain, (0..100).collect::<Vec<u32>>(), "node {at}, stream {s}");
            let first = got.iter().position(|n| *n >= FENCE).expect("a fence");
            let last = got.iter().rposition(|n| *n >= FENCE).expect("a fence");
            assert_eq!((first, got[last + 1]), (50, 50), "node {at}, stream {s}: {got:?}");
        }
    }
}

#[test]
fn without_a_membership_service_a_silent_member_is_evicted_by_every_survivor() {
    let timeout = argent_qsm::MIN_MEMBER_TIMEOUT;
    let mut net = Net::new(4, Config { member_timeout: Some(timeout), ..cfg() });
    net.nodes[0].publish(net.now, R, b"before").expect("room");
    net.drive(Duration::from_millis(300));
    assert!(net.evicted.iter().all(Vec::is_empty), "everyone is heard (Alive frames, data, tokens)");
    // Node 3 crashes; the others stay quiet but for their Alive frames and rounds.
    net.down[3] = true;
    net.drive(timeout + 2 * argent_qsm::ALIVE_INTERVAL);
    for i in 0..3 {
        assert_eq!(net.evicted[i], vec![(NodeId(3), ViewId(2))], "node {i}");
    }
    // The ring re-formed without it: what node 0 publishes now is delivered and acknowledged.
    net.nodes[0].publish(net.now, R, b"after").expect("room");
    net.drive(Duration::from_millis(300));
    for i in 1..3 {
        assert!(net.delivered[i].iter().any(|(_, m)| &m[..] == b"after"), "node {i}");
    }
    assert!(net.nodes[0].send_drained(), "acknowledged without node 3");
    assert_eq!(net.nodes[0].stats().evictions, 1);
}

#[test]
fn a_member_timeout_too_short_for_slow_members_is_refused() {
    let cfg = Config { member_timeout: Some(Duration::from_millis(500)), ..cfg() };
    let e = QsmNode::new(NodeId(0), cfg).unwrap_err();
    assert!(e.to_string().contains("must be at least 1s"), "{e}");
}
