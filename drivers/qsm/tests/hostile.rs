//! Whatever arrives from the network, a node neither panics nor lets it break the stream:
//! random bytes, mutated frames, and well-formed frames with hostile values.

use argent_qsm::{Config, Event, Instant, NodeId, Protocol, QsmNode, RegionId, RegionView, SeqRange, ViewId};
use argent_wire::{
    Ack, DataBuilder, Heartbeat, StartRequest, StreamStart, Token, TokenAck, TokenEntry, STREAM_GONE,
};
use bytes::Bytes;
use proptest::prelude::*;
use std::time::Duration;

const R: RegionId = RegionId(3);

fn member(me: u32) -> QsmNode {
    let mut node = QsmNode::new(NodeId(me), Config::default()).expect("config");
    let view = RegionView { region: R, id: ViewId(1), members: (0..6).map(NodeId).collect() };
    node.install_view(Instant::ZERO, view).expect("view");
    node
}

/// Drive a node through its outputs and timers for a while, so hostile state gets used.
fn exercise(node: &mut QsmNode, from: Instant) {
    let mut now = from;
    for _ in 0..50 {
        now += Duration::from_millis(1);
        node.handle_timeout(now);
        while node.poll_transmit(now).is_some() {}
        while node.poll_event().is_some() {}
    }
}

fn valid_frames() -> Vec<Vec<u8>> {
    let mut data = DataBuilder::new(R.0, 5, 1, 1400);
    data.push(b"payload");
    let entry = TokenEntry {
        sender: 5,
        cutoff: u64::MAX,
        cleanup: u64::MAX - 3,
        max_seen: u64::MAX,
        min_contiguous: u64::MAX,
        part_contiguous: 0,
        rate_min: u32::MAX,
        rate_max: u32::MAX,
        rate_sum: u64::MAX,
        rate_count: u32::MAX,
        prev_missing: vec![SeqRange { start: u64::MAX - 2, end: u64::MAX }],
        isect: Some(vec![SeqRange { start: u64::MAX - 1, end: u64::MAX }]),
        partitions: vec![u64::MAX; 3],
    };
    let token = |hop, round| Token { view: 1, round, hop, flags: 0, entries: vec![entry.clone()] };
    let huge = [SeqRange { start: 1, end: u64::MAX }];
    vec![
        data.finish().to_vec(),
        token(2, u64::MAX).encode(R.0, 1),
        token(0, 5).encode(R.0, 5),
        token(6, u64::MAX).encode(R.0, 5),
        argent_wire::encode_token_ack(R.0, 2, &TokenAck { view: 1, round: u64::MAX, hop: u32::MAX }),
        argent_wire::encode_ack(
            R.0,
            0,
            &Ack {
                view: 1,
                round: 9,
                sender: 2,
                stable: u64::MAX,
                max_seen: u64::MAX,
                rate_min: 1,
                rate_avg: 1,
                rate_max: 1,
            },
        ),
        argent_wire::encode_heartbeat(R.0, 5, &Heartbeat { sender: 5, highest: u64::MAX }),
        argent_wire::encode_request(R.0, 1, false, 5, &huge),
        argent_wire::encode_request(R.0, 1, true, 2, &huge),
        argent_wire::encode_start_request(R.0, 5, &StartRequest { view: u64::MAX, sender: 2 }),
        argent_wire::encode_start_request(R.0, 5, &StartRequest { view: 1, sender: 2 | 7 << 16 }),
        argent_wire::encode_stream_start(
            R.0,
            5,
            &StreamStart { view: 1, sender: 5, base: u64::MAX, flags: 0 },
        ),
        argent_wire::encode_stream_start(R.0, 5, &StreamStart { view: 1, sender: 5, base: 0, flags: 0xFF }),
    ]
}

#[test]
fn hostile_values_in_well_formed_frames() {
    for frame in valid_frames() {
        for me in [0, 2] {
            let mut node = member(me);
            node.publish(Instant::ZERO, R, b"mine").expect("room");
            for _ in 0..4 {
                // Repeated: duplicates of hostile frames change nothing more.
                node.handle_datagram(Instant::ZERO, Bytes::from(frame.clone()));
            }
            exercise(&mut node, Instant::ZERO);
            assert!(node.max_receive_held_bytes() <= Config::default().receive_bound_bytes());
        }
    }
}

/// In a keyed cluster the sender is the key that sealed the datagram, not a header field: a
/// member that seals with its own key but names another node in the header (the leader, to
/// acknowledge; a sender, to substitute its data or heartbeat; a ring predecessor, to pass
/// a token) is refused before the protocol sees anything, and counted.
#[test]
fn forged_header_ids_are_refused_by_the_guard() {
    use argent_auth::{AuthConfig, ClusterKey, KeyRing, Mode, TRAILER};
    use argent_qsm::{Destination, Guard};
    for mode in [Mode::Mac, Mode::Aead] {
        let auth = AuthConfig { keys: KeyRing::single(ClusterKey::from_bytes(1, [5; 32])), mode };
        let mut receiver = Guard::new(&auth, NodeId(2), Some(1));
        let mut node = member(2);
        node.publish(Instant::ZERO, R, b"mine").expect("room");
        while node.poll_transmit(Instant::ZERO).is_some() {}
        // Node 4 seals every hostile frame under its own key, whichever node the header names.
        let mut attacker = Guard::new(&auth, NodeId(4), Some(1));
        let mut seal = |frame: &[u8]| {
            let mut d = frame.to_vec();
            d.extend_from_slice(&[0; TRAILER]);
            attacker.seal_in_place(Guard::channel(0, Destination::Node(NodeId(2))), &mut d);
            d
        };
        let mut refused = 0;
        for frame in valid_frames() {
            let (header, _) = argent_wire::decode(&frame).expect("valid");
            let from = header.from & 0xFFFF;
            let mut d = seal(&frame);
            match receiver.open(&mut d) {
                Some(passed) => {
                    assert_eq!(
                        (from, passed.sender),
                        (4, NodeId(4)),
                        "only a header naming the sealer passes"
                    );
                    node.handle_datagram(Instant::ZERO, Bytes::copy_from_slice(&d[..passed.len]));
                }
                None => {
                    assert_ne!(from, 4, "a frame naming its sealer passes");
                    refused += 1;
                }
            }
        }
        assert!(refused >= 10, "{refused}");
        assert_eq!(receiver.stats().wrong_from, refused);
        assert_eq!(receiver.stats().open.refused(), 0, "the seals themselves were good");
        // The acknowledgement named the leader (node 0): the send buffer is still held.
        assert!(!node.send_drained());
        // The same frames naming node 4 itself pass the guard: identity is the key's.
        let ack = Ack {
            view: 1,
            round: 9,
            sender: 2,
            stable: 1,
            max_seen: 1,
            rate_min: 1,
            rate_avg: 1,
            rate_max: 1,
        };
        let mut d = seal(&argent_wire::encode_ack(R.0, 4, &ack));
        assert!(receiver.open(&mut d).is_some());
    }
}

#[test]
fn a_forged_acknowledgement_does_not_free_the_send_buffer() {
    let mut node = member(2);
    node.publish(Instant::ZERO, R, b"mine").expect("room");
    while node.poll_transmit(Instant::ZERO).is_some() {}
    let forged =
        Ack { view: 1, round: 9, sender: 2, stable: 1, max_seen: 1, rate_min: 1, rate_avg: 1, rate_max: 1 };
    // From a non-leader: ignored.
    node.handle_datagram(Instant::ZERO, Bytes::from(argent_wire::encode_ack(R.0, 4, &forged)));
    assert!(!node.send_drained());
    // From the leader, but for another view: ignored.
    let stale = Ack { view: 7, ..forged };
    node.handle_datagram(Instant::ZERO, Bytes::from(argent_wire::encode_ack(R.0, 0, &stale)));
    assert!(!node.send_drained());
    assert_eq!(node.stats().ignored, 2);
}

#[test]
fn streams_per_region_are_bounded() {
    let mut node = member(0);
    for sender in 10..(10 + 2 * argent_qsm::MAX_STREAMS_PER_REGION as u32) {
        let mut d = DataBuilder::new(R.0, sender, 2, 256);
        d.push(b"x");
        node.handle_datagram(Instant::ZERO, d.finish());
    }
    assert_eq!(node.stats().ignored, argent_qsm::MAX_STREAMS_PER_REGION as u64);
    exercise(&mut node, Instant::ZERO);
}

#[test]
fn join_point_answers_are_checked() {
    let stream = |n: u32| NodeId(n);
    let data = |seq: u64| {
        let mut d = DataBuilder::new(R.0, 5, seq, 256);
        d.push(b"x");
        d.finish()
    };
    let start = |from: u32, view: u64, base: u64, flags: u8| {
        let s = StreamStart { view, sender: 5, base, flags };
        Bytes::from(argent_wire::encode_stream_start(R.0, from, &s))
    };
    let mut node = member(0);
    node.handle_datagram(Instant::ZERO, data(3));
    assert_eq!(node.stats().start_requests, 1, "a new stream: its sender is asked");
    // Not from the sender's node, or for another join view: ignored.
    node.handle_datagram(Instant::ZERO, start(4, 1, 2, 0));
    node.handle_datagram(Instant::ZERO, start(5, 9, 2, 0));
    assert_eq!(node.stats().ignored, 2);
    assert!(node.poll_event().is_none(), "still waiting for the join point");
    node.handle_datagram(Instant::ZERO, start(5, 1, 2, 0));
    let Some(Event::Deliver(d)) = node.poll_event() else { panic!("datagram 3 follows the join point") };
    assert_eq!(d.seq, 3);
    // A second answer changes nothing; a "gone" answer for an anchored stream neither.
    node.handle_datagram(Instant::ZERO, start(5, 1, 0, 0));
    node.handle_datagram(Instant::ZERO, start(5, 1, 0, STREAM_GONE));
    assert!(node.tracks_stream(R, stream(5)));
    assert_eq!(node.stats().streams_retired, 0);
    exercise(&mut node, Instant::ZERO);

    // Anchored at the top of the sequence space: nothing breaks, nothing is delivered.
    let mut node = member(0);
    node.handle_datagram(Instant::ZERO, data(3));
    node.handle_datagram(Instant::ZERO, start(5, 1, u64::MAX, 0));
    node.handle_datagram(Instant::ZERO, data(u64::MAX));
    exercise(&mut node, Instant::ZERO);
    assert!(node.poll_event().is_none());
    assert_eq!(node.receive_held_bytes(), 0);
}

#[test]
fn a_node_answers_only_for_its_own_stream() {
    let mut node = member(2);
    let ask = |sender: u32, view: u64| {
        Bytes::from(argent_wire::encode_start_request(R.0, 4, &StartRequest { view, sender }))
    };
    node.handle_datagram(Instant::ZERO, ask(3, 1)); // another node's stream
    node.handle_datagram(Instant::ZERO, ask(2, 5)); // a view not installed here yet
    assert!(node.poll_transmit(Instant::ZERO).is_none());
    node.handle_datagram(Instant::ZERO, ask(2, 1));
    node.handle_datagram(Instant::ZERO, ask(2 | 3 << 16, 1)); // an earlier incarnation
    let answers: Vec<StreamStart> = std::iter::from_fn(|| node.poll_transmit(Instant::ZERO))
        .filter_map(|t| match argent_wire::decode(&t.payload) {
            Ok((_, argent_wire::Frame::StreamStart(s))) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            StreamStart { view: 1, sender: 2, base: 0, flags: 0 },
            StreamStart { view: 1, sender: 2 | 3 << 16, base: 0, flags: STREAM_GONE }
        ]
    );
    // Removing itself or retiring its own stream does nothing.
    node.remove_node(NodeId(2));
    node.retire_stream(node.stream());
    node.publish(Instant::ZERO, R, b"still here").expect("room");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut node = member(1);
        node.handle_datagram(Instant::ZERO, Bytes::from(bytes));
        exercise(&mut node, Instant::ZERO);
    }

    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..13,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        me in 0u32..6,
    ) {
        let mut frame = valid_frames()[which].clone();
        for (at, byte) in edits {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let mut node = member(me);
        node.publish(Instant::ZERO, R, b"mine").expect("room");
        node.handle_datagram(Instant::ZERO, Bytes::from(frame));
        exercise(&mut node, Instant::ZERO);
        while let Some(ev) = node.poll_event() {
            if let Event::Deliver(d) = ev {
                for m in d.messages() {
                    prop_assert!(m.len() <= 1400);
                }
            }
        }
    }
}
