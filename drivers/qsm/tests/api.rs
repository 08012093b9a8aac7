//! The QSM node's public API: publishing, back-pressure, views, settings; driven by the
//! minimal in-memory harness of `common` (lossless here; the fault simulator lives in
//! `argent-sim`).

mod common;

use argent_qsm::{
    Config, ConfigError, Instant, NodeId, PublishError, QsmNode, RegionId, RegionView, ViewError, ViewId,
};
use common::{Net, R};
use std::time::Duration;

#[test]
fn published_messages_reach_everyone_in_order_including_the_sender() {
    let mut net = Net::new(4, Config::default());
    for i in 0..100u32 {
        net.nodes[3].publish(net.now, R, &i.to_le_bytes()).expect("room");
    }
    net.drive(Duration::from_millis(20));
    for (n, got) in net.delivered.iter().enumerate() {
        let got: Vec<u32> = got
            .iter()
            .map(|(s, m)| {
                assert_eq!(*s, NodeId(3));
                u32::from_le_bytes(m[..].try_into().expect("4 bytes"))
            })
            .collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>(), "node {n}");
    }
    assert!(net.nodes[3].send_drained(), "the region acknowledged everything");
    assert_eq!(net.nodes[3].send_buffered_bytes(), 0);
}

#[test]
fn claim_writes_in_place_and_uncommitted_claims_vanish() {
    let mut net = Net::new(2, Config::default());
    let now = net.now;
    {
        let mut c = net.nodes[0].claim(now, R, 5).expect("room");
        c.copy_from_slice(b"hello");
        c.commit();
    }
    {
        let mut c = net.nodes[0].claim(now, R, 7).expect("room");
        c.copy_from_slice(b"dropped");
        // not committed
    }
    net.nodes[0].publish(now, R, b"world").expect("room");
    net.drive(Duration::from_millis(5));
    let got: Vec<&[u8]> = net.delivered[1].iter().map(|(_, m)| &m[..]).collect();
    assert_eq!(got, vec![&b"hello"[..], &b"world"[..]]);
}

#[test]
fn a_full_send_buffer_pushes_back_then_reports_writable() {
    let cfg = Config { send_buffer_bytes: 64 << 10, datagram_size: 8192, ..Config::default() };
    let mut net = Net::new(3, cfg);
    let msg = [1u8; 1000];
    let mut accepted = 0;
    loop {
        match net.nodes[2].publish(net.now, R, &msg) {
            Ok(()) => accepted += 1,
            Err(PublishError::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted < 1000, "the buffer must push back");
    }
    assert!(net.nodes[2].send_buffered_bytes() <= 64 << 10);
    assert!((50..=65).contains(&accepted), "about 64 KiB of 1000-byte messages, got {accepted}");
    net.drive(Duration::from_millis(20));
    assert_eq!(net.writable[2], 1, "one Writable event after the acknowledgement");
    net.nodes[2].publish(net.now, R, &msg).expect("room again");
}

#[test]
fn publish_errors_name_the_problem() {
    let mut node = QsmNode::new(NodeId(0), Config::default()).expect("config");
    let e = node.publish(Instant::ZERO, RegionId(9), b"x").unwrap_err();
    assert_eq!(e, PublishError::UnknownRegion(RegionId(9)));
    let view = RegionView { region: R, id: ViewId(1), members: vec![NodeId(0)] };
    node.install_view(Instant::ZERO, view).expect("view");
    let too_big = vec![0u8; 9000];
    let e = node.publish(Instant::ZERO, R, &too_big).unwrap_err();
    assert!(matches!(e, PublishError::TooLarge { len: 9000, .. }));
    assert!(e.to_string().contains("datagram_size"));
}

#[test]
fn views_are_checked() {
    let mut node = QsmNode::new(NodeId(0), Config::default()).expect("config");
    let v = |id, members: Vec<u32>| RegionView {
        region: R,
        id: ViewId(id),
        members: members.into_iter().map(NodeId).collect(),
    };
    assert!(matches!(node.install_view(Instant::ZERO, v(1, vec![])), Err(ViewError::Empty { .. })));
    assert!(matches!(
        node.install_view(Instant::ZERO, v(1, vec![0, 1, 0])),
        Err(ViewError::Duplicate { .. })
    ));
    node.install_view(Instant::ZERO, v(2, vec![0, 1])).expect("first view");
    assert!(matches!(node.install_view(Instant::ZERO, v(2, vec![0])), Err(ViewError::Stale { .. })));
    node.install_view(Instant::ZERO, v(3, vec![0])).expect("newer view");
}

#[test]
fn a_departed_member_does_not_hold_back_acknowledgements() {
    let mut net = Net::new(4, Config::default());
    net.nodes[3].publish(net.now, R, b"before").expect("room");
    net.drive(Duration::from_millis(5));
    assert!(net.nodes[3].send_drained());
    // Node 1 disappears; until the view changes, nothing more is acknowledged.
    net.nodes.truncate(4);
    let survivors = RegionView { region: R, id: ViewId(2), members: vec![NodeId(0), NodeId(2), NodeId(3)] };
    for i in [0, 2, 3] {
        net.nodes[i].install_view(net.now, survivors.clone()).expect("view");
    }
    net.inbox[1].clear();
    net.nodes[3].publish(net.now, R, b"after").expect("room");
    for _ in 0..200 {
        net.drive(Duration::from_micros(100));
        net.inbox[1].clear(); // node 1 is gone: everything sent to it is lost
    }
    assert!(net.nodes[3].send_drained(), "survivors acknowledge without the departed member");
    for i in [0, 2] {
        assert_eq!(net.delivered[i].last().map(|(_, m)| &m[..]), Some(&b"after"[..]));
    }
}

#[test]
fn settings_are_validated() {
    let bad = |c: Config| QsmNode::new(NodeId(0), c).unwrap_err();
    assert!(matches!(bad(Config { datagram_size: 10, ..Config::default() }), ConfigError::DatagramSize(10)));
    assert!(matches!(
        bad(Config { send_buffer_bytes: 100, ..Config::default() }),
        ConfigError::SendBuffer { .. }
    ));
    assert!(matches!(bad(Config { partition_size: 0, ..Config::default() }), ConfigError::PartitionSize));
    assert!(matches!(bad(Config { min_rate: 0, ..Config::default() }), ConfigError::Rates { .. }));
    assert!(matches!(
        bad(Config { round_interval: Duration::ZERO, ..Config::default() }),
        ConfigError::ZeroDuration("round_interval")
    ));
}

#[test]
fn a_restarted_sender_is_a_new_stream_not_a_duplicate() {
    let mut net = Net::new(3, Config::default());
    net.nodes[2].publish(net.now, R, b"before restart").expect("room");
    net.drive(Duration::from_millis(10));
    // The process behind node 2 restarts: same node id, a new incarnation.
    let cfg = Config { incarnation: 7, ..Config::default() };
    let mut restarted = QsmNode::new(NodeId(2), cfg).expect("config");
    let view = RegionView { region: R, id: ViewId(1), members: (0..3).map(NodeId).collect() };
    restarted.install_view(net.now, view).expect("view");
    assert_ne!(restarted.stream(), NodeId(2));
    assert_eq!(argent_qsm::node_of(restarted.stream()), NodeId(2));
    net.nodes[2] = restarted;
    net.nodes[2].publish(net.now, R, b"after restart").expect("room");
    net.drive(Duration::from_millis(20));
    let got: Vec<&[u8]> = net.delivered[0].iter().map(|(_, m)| &m[..]).collect();
    assert_eq!(got, vec![&b"before restart"[..], &b"after restart"[..]]);
    assert!(net.nodes[2].send_drained(), "the new stream is acknowledged to the new process");
}
