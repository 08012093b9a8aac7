//! A datagram is delivered only once the receiver has installed the region view it was
//! sent in: the receiving side of a group's join point (a member that joins a group of a
//! region it is in already receives the group's messages sent in the join view or later).

use argent_qsm::{
    Config, Destination, Event, Instant, NodeId, Protocol, QsmNode, RegionId, RegionView, ViewId,
};
use std::time::Duration;

const R: RegionId = RegionId(7);

fn view(id: u64) -> RegionView {
    RegionView { region: R, id: ViewId(id), members: vec![NodeId(0), NodeId(1)] }
}

fn deliveries(node: &mut QsmNode) -> Vec<(ViewId, u64)> {
    let mut out = Vec::new();
    while let Some(ev) = node.poll_event() {
        if let Event::Deliver(d) = ev {
            out.push((d.view, d.seq));
        }
    }
    out
}

/// View 2 as a new ring (`install_view`) or as a cut of ring 1 (`install_cut`: the same
/// members, one of whom joined or left a group the region carries).
fn install_2(node: &mut QsmNode, now: Instant, cut: bool) {
    if cut {
        node.install_cut(R, ViewId(2)).expect("cut 2");
    } else {
        node.install_view(now, view(2)).expect("view 2");
    }
}

#[test]
fn a_datagram_sent_in_a_newer_view_waits_until_the_receiver_installs_it() {
    gate(false);
}

#[test]
fn a_datagram_sent_after_a_cut_waits_until_the_receiver_installs_the_cut() {
    gate(true);
}

fn gate(cut: bool) {
    let now = Instant::ZERO;
    let mut a = QsmNode::new(NodeId(0), Config::default()).expect("config");
    let mut b = QsmNode::new(NodeId(1), Config::default()).expect("config");
    for n in [&mut a, &mut b] {
        n.install_view(now, view(1)).expect("view 1");
    }
    // The sender is in view 2 first; the receiver has not heard of it yet.
    a.publish(now, R, b"sent in view 1").expect("room");
    install_2(&mut a, now, cut); // seals the first datagram
    a.publish(now, R, b"sent in view 2").expect("room");
    let later = now + Duration::from_millis(50);
    a.handle_timeout(later); // seals and sends what is open
    let mut data = Vec::new();
    while let Some(t) = a.poll_transmit(later) {
        if t.dest == Destination::Region && argent_wire::message_count(&t.payload) > 0 {
            data.push(t.payload);
        }
    }
    let sent: Vec<u64> = data.iter().map(|d| argent_wire::view_of(d)).collect();
    assert!(sent.contains(&1) && sent.contains(&2), "datagrams sent in views {sent:?}");
    for d in data {
        b.handle_datagram(later, d);
    }
    let _ = deliveries(&mut b); // the join points (the stream starts) may come first
    let got: Vec<(ViewId, u64)> = {
        let mut got = deliveries(&mut b);
        // Give the receiver what it asked for: the sender's answers to its join-point request.
        while let Some(t) = b.poll_transmit(later) {
            if t.dest == Destination::Node(NodeId(0)) {
                a.handle_datagram(later, t.payload);
            }
        }
        while let Some(t) = a.poll_transmit(later) {
            b.handle_datagram(later, t.payload);
        }
        got.extend(deliveries(&mut b));
        got
    };
    assert!(got.iter().all(|(v, _)| *v == ViewId(1)), "before installing view 2, only view 1's: {got:?}");
    assert_eq!(got.len(), 1, "{got:?}");
    install_2(&mut b, later, cut);
    assert_eq!(deliveries(&mut b), vec![(ViewId(2), 2)], "delivered once the view is installed");
    if cut {
        assert_eq!(
            b.install_cut(R, ViewId(2)),
            Err(argent_qsm::ViewError::Stale { region: R, current: ViewId(2), new: ViewId(2) })
        );
        assert!(matches!(
            b.install_cut(RegionId(99), ViewId(3)),
            Err(argent_qsm::ViewError::UnknownRegion { .. })
        ));
    }
}
