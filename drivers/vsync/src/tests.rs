mod agree;

use crate::frame::{encode_data, encode_order, encode_report, runs_that_fit, MAX_RUN_LEN};
use crate::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn id(stream: u32, seq: u64) -> DatagramId {
    DatagramId { stream, seq }
}

#[test]
fn frames_round_trip() {
    let mut out = Vec::new();
    encode_data(b"hello", &mut out);
    assert_eq!(Frame::decode(&out), Ok(Frame::Data(b"hello")));
    let runs =
        vec![Run { stream: 7, from: 1, len: 3 }, Run { stream: 1 << 16 | 2, from: 90, len: MAX_RUN_LEN }];
    out.clear();
    encode_order(&runs, &mut out);
    assert_eq!(Frame::decode(&out), Ok(Frame::Order(runs)));
    let report = Report { from_view: 3, to_view: 9, own_end: 44, have: vec![(1, 5), (2, 0)] };
    out.clear();
    encode_report(&report, &mut out);
    assert_eq!(Frame::decode(&out), Ok(Frame::Report(report)));
    assert_eq!(runs_that_fit(3 + 16 * 4), 4);
    let relay = Relay {
        from_view: 4,
        stream: 1 << 16,
        seq: 12,
        part: 1,
        parts: 2,
        bytes: b"a piece of a datagram".to_vec(),
    };
    out.clear();
    crate::frame::encode_relay(&relay, &mut out);
    assert_eq!(Frame::decode(&out), Ok(Frame::Relay(relay)));
    out[21..23].copy_from_slice(&2u16.to_le_bytes());
    assert!(
        matches!(Frame::decode(&out), Err(FrameError::BadRelay { part: 2, parts: 2, .. })),
        "part 2 of 2"
    );
    out[13..21].copy_from_slice(&0u64.to_le_bytes());
    assert!(
        matches!(Frame::decode(&out), Err(FrameError::BadRelay { seq: 0, .. })),
        "datagram 0 does not exist"
    );
    out[13..21].copy_from_slice(&12u64.to_le_bytes());
    out[21..25].copy_from_slice(&[0, 0, 1, 4]); // part 0 of 1025
    assert!(matches!(Frame::decode(&out), Err(FrameError::BadRelay { parts: 1025, .. })), "too many parts");
    let before = crate::Before { from_view: 7, stream: 2 << 16 | 3, seq: 41 };
    out.clear();
    crate::frame::encode_before(&before, &mut out);
    assert_eq!(Frame::decode(&out), Ok(Frame::Before(before)));
    assert!(matches!(Frame::decode(&out[..out.len() - 1]), Err(FrameError::Truncated { .. })));
    out.push(0);
    assert!(matches!(Frame::decode(&out), Err(FrameError::Trailing { .. })));
    out.pop();
    out[13..21].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(Frame::decode(&out), Err(FrameError::BadBefore { .. })), "a marker names a datagram");
}

#[test]
fn decoding_refuses_what_the_network_may_not_claim() {
    let run = |stream: u32, from: u64, len: u32| {
        let mut out = Vec::new();
        encode_order(&[Run { stream: 1, from: 1, len: 1 }], &mut out);
        out[3..7].copy_from_slice(&stream.to_le_bytes());
        out[7..15].copy_from_slice(&from.to_le_bytes());
        out[15..19].copy_from_slice(&len.to_le_bytes());
        Frame::decode(&out).map(|_| ())
    };
    assert_eq!(run(1, 0, 1), Err(FrameError::BadRun { stream: 1, from: 0, len: 1 }));
    assert_eq!(run(1, 1, 0), Err(FrameError::BadRun { stream: 1, from: 1, len: 0 }));
    assert!(matches!(run(1, 1, MAX_RUN_LEN + 1), Err(FrameError::BadRun { .. })));
    assert!(matches!(run(1, u64::MAX, 2), Err(FrameError::BadRun { .. })));
    assert_eq!(run(1, 1, MAX_RUN_LEN), Ok(()));
    assert_eq!(Frame::decode(&[]), Err(FrameError::Empty));
    assert_eq!(Frame::decode(&[9]), Err(FrameError::UnknownKind(9)));
    // Counts must match the bytes exactly.
    assert!(matches!(Frame::decode(&[2, 1, 0]), Err(FrameError::Truncated { .. })));
    assert!(matches!(Frame::decode(&[2, 0, 0, 1]), Err(FrameError::Trailing { .. })));
    let mut out = Vec::new();
    encode_report(&Report { from_view: 5, to_view: 6, own_end: 0, have: vec![] }, &mut out);
    out[9..17].copy_from_slice(&5u64.to_le_bytes());
    assert_eq!(Frame::decode(&out), Err(FrameError::BadViews { from: 5, to: 5 }));
}

#[test]
fn members_deliver_in_the_sequencers_order_as_datagrams_arrive() {
    let mut seq = Sequencer::new();
    for (s, n) in [(1, 1), (1, 2), (2, 1), (1, 3), (2, 2), (2, 3)] {
        seq.note(s, n);
    }
    let runs = seq.take(10);
    assert_eq!(
        runs,
        [
            Run { stream: 1, from: 1, len: 2 },
            Run { stream: 2, from: 1, len: 1 },
            Run { stream: 1, from: 3, len: 1 },
            Run { stream: 2, from: 2, len: 2 }
        ]
    );
    let mut m = Orderer::new();
    m.hold(id(2, 1), "b1").unwrap();
    m.hold(id(2, 2), "b2").unwrap();
    m.order(&runs).unwrap();
    assert_eq!(m.poll(), None, "1:1 comes first and is not here yet");
    m.hold(id(1, 1), "a1").unwrap();
    m.hold(id(1, 2), "a2").unwrap();
    let got: Vec<_> = std::iter::from_fn(|| m.poll()).map(|o| o.item).collect();
    assert_eq!(got, ["a1", "a2", "b1"]);
    m.hold(id(1, 3), "a3").unwrap();
    m.hold(id(2, 3), "b3").unwrap();
    let got: Vec<_> = std::iter::from_fn(|| m.poll()).map(|o| o.item).collect();
    assert_eq!(got, ["a3", "b2", "b3"]);
    assert_eq!((m.held(), m.runs_pending()), (0, 0));
}

#[test]
fn inconsistent_input_is_refused_and_changes_nothing() {
    let mut m: Orderer<()> = Orderer::new();
    m.hold(id(1, 4), ()).unwrap();
    assert_eq!(m.hold(id(1, 6), ()), Err(OrderError::NotNextHeld { stream: 1, seq: 6, expected: 5 }));
    m.order(&[Run { stream: 1, from: 4, len: 1 }]).unwrap();
    let bad = [Run { stream: 2, from: 1, len: 1 }, Run { stream: 1, from: 4, len: 1 }];
    assert_eq!(m.order(&bad), Err(OrderError::NotNextOrdered { stream: 1, from: 4, expected: 5 }));
    assert_eq!(m.runs_pending(), 1, "the refused frame added nothing");
}

#[test]
fn a_departed_senders_stream_ends_at_the_furthest_survivor() {
    // Survivors 1 and 2; stream 3 departed. 1 sealed 10 datagrams in the old view, 2 none.
    let r1 = Report { from_view: 1, to_view: 2, own_end: 10, have: vec![(2, 0), (3, 7)] };
    let r2 = Report { from_view: 1, to_view: 2, own_end: 0, have: vec![(1, 9), (3, 8)] };
    let ends = stream_ends(&[(1, &r1), (2, &r2)]);
    assert_eq!(ends, BTreeMap::from([(1, 10), (3, 8)]));
}

#[test]
fn closing_a_view_waits_for_relays_then_truncates_the_order_at_the_ends() {
    let mut m = Orderer::new();
    for s in 1..=6 {
        m.hold(id(1, s), s).unwrap();
    }
    m.hold(id(3, 1), 31).unwrap();
    // The sequencer saw 3:2 (which no survivor holds), then more of stream 1.
    m.order(&[
        Run { stream: 1, from: 1, len: 2 },
        Run { stream: 3, from: 1, len: 2 },
        Run { stream: 1, from: 3, len: 2 },
    ])
    .unwrap();
    let early: Vec<_> = std::iter::from_fn(|| m.poll()).map(|o| o.item).collect();
    assert_eq!(early, [1, 2, 31]);
    let ends = BTreeMap::from([(1, 7), (3, 1)]);
    assert_eq!(m.missing(&ends), [(1, 7, 7)]);
    assert!(matches!(m.finish_view(&ends), Err(OrderError::Missing { stream: 1, seq: 7 })));
    m.hold(id(1, 7), 7).unwrap(); // relayed
    let end = m.finish_view(&ends).unwrap();
    let rest: Vec<_> = end.delivered.iter().map(|o| o.item).collect();
    assert_eq!(rest, [3, 4, 5, 6, 7], "truncated at 3:2, past stream 3's end: the rest by stream and number");
    assert_eq!(end.dropped, 0);
    assert_eq!(m.held(), 0);
}

#[test]
fn streams_continue_across_views_including_those_silent_in_one() {
    let mut m = Orderer::new();
    m.start_stream(2, 1); // a joiner: stream 2 from its join point on
    for (s, n) in [(1, 1), (1, 2), (2, 2)] {
        m.hold(id(s, n), (s, n)).unwrap();
    }
    m.order(&[Run { stream: 2, from: 2, len: 1 }, Run { stream: 1, from: 1, len: 2 }]).unwrap();
    assert_eq!(std::iter::from_fn(|| m.poll()).count(), 3);
    // View 1 ends; stream 1 sent nothing more; stream 2 sends 3 and 4 in view 2.
    assert_eq!(m.finish_view(&BTreeMap::from([(1, 2), (2, 2)])).unwrap().delivered, []);
    m.hold(id(2, 3), (2, 3)).unwrap();
    m.hold(id(2, 4), (2, 4)).unwrap();
    assert!(m.order(&[Run { stream: 1, from: 2, len: 1 }]).is_err(), "stream 1 was ordered up to 2");
    m.order(&[Run { stream: 2, from: 3, len: 1 }]).unwrap();
    assert_eq!(m.poll().map(|o| o.item), Some((2, 3)));
    let end = m.finish_view(&BTreeMap::from([(1, 2), (2, 4)])).unwrap();
    assert_eq!(end.delivered.iter().map(|o| o.item).collect::<Vec<_>>(), [(2, 4)]);
    m.hold(id(1, 3), (1, 3)).unwrap();
    assert_eq!(m.have(), [(1, 3), (2, 4)]);
}

/// One view of the model, drawn from a seed: per stream, how many datagrams its sender
/// sealed; the sequencer's arrival order (a merge of the streams) and the records it
/// published (`per_record` runs each); per survivor, how far it received each stream and the
/// records; which senders departed, the sequencer included.
#[derive(Debug, Clone)]
struct Model {
    sealed: Vec<u64>,
    per_record: usize,
    survivors: usize,
    sequencer_departed: bool,
    seed: u64,
}

fn model() -> impl Strategy<Value = Model> {
    (prop::collection::vec(0u64..12, 1..5), 1usize..4, 1usize..4, any::<bool>(), any::<u64>()).prop_map(
        |(sealed, per_record, survivors, sequencer_departed, seed)| Model {
            sealed,
            per_record,
            survivors,
            sequencer_departed,
            seed,
        },
    )
}

/// splitmix64: the model's choices from its seed.
fn next(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every survivor's whole delivery sequence of the view (what it delivered before the flush,
/// then what closing the view delivered), and the ends.
fn run_model(m: &Model) -> (Vec<Vec<DatagramId>>, BTreeMap<u32, u64>) {
    let mut rng = m.seed;
    let streams = m.sealed.len();
    // The sequencer's arrival order: a random merge of the streams, each in order.
    let mut left = m.sealed.clone();
    let mut arrival = Vec::new();
    while left.iter().any(|&n| n > 0) {
        let live: Vec<usize> = (0..streams).filter(|&s| left[s] > 0).collect();
        let s = live[(next(&mut rng) % live.len() as u64) as usize];
        arrival.push(id(s as u32 + 1, m.sealed[s] - left[s] + 1));
        left[s] -= 1;
    }
    let mut sequencer = Sequencer::new();
    for d in &arrival {
        sequencer.note(d.stream, d.seq);
    }
    let mut records = Vec::new();
    while sequencer.pending() > 0 {
        records.push(sequencer.take(m.per_record));
    }
    // Survivors: a random prefix of each stream and of the records; survivor i is the sender
    // of stream i + 1 if that sender did not depart (then it holds all it sealed). The
    // sequencer, if it survives, is one more survivor holding everything.
    struct Member {
        stream: Option<u32>,
        have: Vec<u64>,
        records: usize,
    }
    let mut members: Vec<Member> = (0..m.survivors)
        .map(|i| {
            let stream = (i < streams && next(&mut rng).is_multiple_of(2)).then_some(i as u32 + 1);
            let have = (0..streams)
                .map(|s| {
                    if stream == Some(s as u32 + 1) {
                        m.sealed[s]
                    } else {
                        next(&mut rng) % (m.sealed[s] + 1)
                    }
                })
                .collect();
            Member { stream, have, records: (next(&mut rng) % (records.len() as u64 + 1)) as usize }
        })
        .collect();
    if !m.sequencer_departed {
        members.push(Member { stream: Some(0), have: m.sealed.clone(), records: records.len() });
    }
    let mut orderers: Vec<Orderer<()>> = Vec::new();
    let mut delivered: Vec<Vec<DatagramId>> = Vec::new();
    let mut reports = Vec::new();
    for (i, mb) in members.iter().enumerate() {
        let mut o = Orderer::new();
        for (s, &h) in mb.have.iter().enumerate() {
            for n in 1..=h {
                o.hold(id(s as u32 + 1, n), ()).unwrap();
            }
        }
        for r in &records[..mb.records] {
            o.order(r).unwrap();
        }
        delivered.push(std::iter::from_fn(|| o.poll()).map(|d| d.id).collect());
        let mut have = o.have();
        have.push((0, mb.records as u64)); // stream 0: the sequencer's records
        let own_end = match mb.stream {
            Some(0) => records.len() as u64,
            Some(s) => m.sealed[s as usize - 1],
            None => 0,
        };
        reports
            .push((mb.stream.unwrap_or(1000 + i as u32), Report { from_view: 1, to_view: 2, own_end, have }));
        orderers.push(o);
    }
    let refs: Vec<(u32, &Report)> = reports.iter().map(|(s, r)| (*s, r)).collect();
    let mut ends = stream_ends(&refs);
    let record_end = ends.remove(&0).unwrap_or(0) as usize;
    ends.retain(|s, _| *s < 1000);
    for (o, mb) in orderers.iter_mut().zip(&members) {
        // Relays: datagrams up to the ends, records up to the sequencer's end.
        for (stream, from, to) in o.missing(&ends) {
            for n in from..=to {
                o.hold(id(stream, n), ()).unwrap();
            }
        }
        for r in &records[mb.records.min(record_end)..record_end] {
            o.order(r).unwrap();
        }
    }
    for (o, d) in orderers.iter_mut().zip(&mut delivered) {
        let end = o.finish_view(&ends).expect("everything within the ends is held after relays");
        d.extend(end.delivered.iter().map(|x| x.id));
    }
    (delivered, ends)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever each survivor received and delivered before the view changed, and whichever
    /// senders (the sequencer included) departed, every survivor delivers the same sequence
    /// in the view, and it holds each datagram within the ends exactly once.
    #[test]
    fn survivors_deliver_the_same_sequence(m in model()) {
        let (all, ends) = run_model(&m);
        for d in &all[1..] {
            prop_assert_eq!(d, &all[0]);
        }
        let mut sorted = all[0].clone();
        sorted.sort();
        let want: Vec<DatagramId> =
            ends.iter().flat_map(|(&s, &e)| (1..=e).map(move |n| id(s, n))).collect();
        prop_assert_eq!(sorted, want, "each datagram within the ends, exactly once");
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn order_frames_round_trip(runs in prop::collection::vec((any::<u32>(), 1u64..u64::MAX / 2, 1u32..=MAX_RUN_LEN), 0..50)) {
        let runs: Vec<Run> = runs.into_iter().map(|(stream, from, len)| Run { stream, from, len }).collect();
        let mut out = Vec::new();
        encode_order(&runs, &mut out);
        prop_assert_eq!(Frame::decode(&out), Ok(Frame::Order(runs)));
    }
}

mod layer {
    use crate::frame::data;
    use crate::{Output, TotalOrder};
    use argent_qsm::{
        Config, Event, Instant, NodeId, Protocol, PublishError, QsmNode, RegionId, RegionView, ViewId,
    };

    /// Hand the layer what QSM delivers, and let it publish, until neither has anything.
    fn pump(qsm: &mut QsmNode, to: &mut TotalOrder) -> Vec<Output> {
        let mut out = Vec::new();
        loop {
            to.flush(qsm, Instant::ZERO);
            while qsm.poll_transmit(Instant::ZERO).is_some() {} // sealed: delivered locally
            let mut any = false;
            while let Some(ev) = qsm.poll_event() {
                if let Event::Deliver(d) = ev {
                    to.deliver(d);
                    any = true;
                }
            }
            out.extend(std::iter::from_fn(|| to.poll()));
            if !any {
                return out;
            }
        }
    }

    /// A node's QSM and layer in `view` (installed), and what its layer released.
    type Member = (QsmNode, TotalOrder, Vec<Output>);

    fn member(n: u32, view: &RegionView) -> Member {
        let mut q = QsmNode::new(NodeId(n), Config::default()).unwrap();
        q.install_view(Instant::ZERO, view.clone()).unwrap();
        (q, TotalOrder::new(view.clone(), NodeId(n)), Vec::new())
    }

    /// A datagram of `sender` sealed in `view`, holding `frames`, as QSM would deliver it.
    fn datagram(sender: u32, seq: u64, view: u64, frames: &[Vec<u8>]) -> argent_qsm::Delivery {
        let mut b = argent_wire::DataBuilder::in_view(1, sender, seq, view, 8192);
        for f in frames {
            assert!(b.push(f));
        }
        argent_qsm::Delivery {
            region: RegionId(1),
            sender: NodeId(sender),
            seq,
            view: ViewId(view),
            count: frames.len() as u16,
            datagram: b.finish(),
        }
    }

    fn data_frame(byte: u8) -> Vec<u8> {
        let mut f = Vec::new();
        crate::frame::encode_data(&[byte; 20], &mut f);
        f
    }

    fn order_frame(runs: &[crate::Run]) -> Vec<u8> {
        let mut f = Vec::new();
        crate::frame::encode_order(runs, &mut f);
        f
    }

    /// The application bytes (first byte of each message) a layer released, and the views.
    fn released(out: &[Output]) -> (Vec<u8>, Vec<u64>) {
        let mut msgs = Vec::new();
        let mut views = Vec::new();
        for o in out {
            match o {
                Output::Deliver(d) => msgs.extend(d.item.messages().filter_map(data).map(|m| m[0])),
                Output::View { id, .. } => views.push(id.0),
                Output::Writable => {}
            }
        }
        (msgs, views)
    }

    #[test]
    fn survivors_close_a_view_alike_when_the_sequencer_and_a_sender_depart() {
        // View 1: 0 (the sequencer), 1, 2, 3; view 2: 1 and 2. Node 3 sent a, b, then a
        // datagram without application messages; node 0 ordered a, then b. Survivor 1 holds
        // all of 3's stream but only the first record; survivor 2 both records but not 3:3.
        // Each must get the other's part by relay and deliver a, b, then begin view 2.
        let region = RegionId(1);
        let v1 = RegionView { region, id: ViewId(1), members: (0..4).map(NodeId).collect() };
        let v2 = RegionView { region, id: ViewId(2), members: vec![NodeId(1), NodeId(2)] };
        let run = |stream, from| crate::Run { stream, from, len: 1 };
        let mut report = Vec::new();
        crate::frame::encode_report(
            &crate::Report { from_view: 0, to_view: 1, own_end: 0, have: vec![] },
            &mut report,
        );
        let d3 = [
            datagram(3, 1, 1, &[data_frame(b'a')]),
            datagram(3, 2, 1, &[data_frame(b'b')]),
            datagram(3, 3, 1, &[report]),
        ];
        let d0 = [
            datagram(0, 1, 1, &[order_frame(&[run(3, 1)])]),
            datagram(0, 2, 1, &[order_frame(&[run(3, 2)])]),
        ];
        let mut nodes: Vec<Member> = [1, 2].map(|n| member(n, &v1)).into();
        for d in [&d3[0], &d3[1], &d3[2], &d0[0]] {
            nodes[0].1.deliver(d.clone());
        }
        for d in [&d3[0], &d3[1], &d0[0], &d0[1]] {
            nodes[1].1.deliver(d.clone());
        }
        for (_, to, out) in &mut nodes {
            out.extend(std::iter::from_fn(|| to.poll()));
        }
        assert_eq!(released(&nodes[0].2).0, b"a", "1 has the first record only");
        assert_eq!(released(&nodes[1].2).0, b"ab");
        for (q, to, _) in &mut nodes {
            to.install_view(q, Instant::ZERO, v2.clone()).unwrap();
        }
        // Each survivor's reports and relays, sealed by its QSM, reach both (its own too).
        exchange(&mut nodes, 10);
        for (i, (_, to, out)) in nodes.iter().enumerate() {
            assert_eq!(released(out), (b"ab".to_vec(), vec![2]), "survivor {}: {:?}", i + 1, to.stats());
            assert!(!to.flush_waiting());
        }
        assert_eq!(nodes[0].1.stats().relayed_in, 1, "1 took 0:2 from 2");
        assert_eq!(nodes[1].1.stats().relayed_in, 1, "2 took 3:3 from 1");
    }

    /// Every QSM-sealed datagram of every node reaches every layer (no network: the sealed
    /// copy QSM delivers to its own node stands for all), `rounds` times over.
    fn exchange(nodes: &mut [Member], rounds: usize) {
        for _ in 0..rounds {
            let mut sent = Vec::new();
            for (q, to, out) in nodes.iter_mut() {
                to.flush(q, Instant::ZERO);
                out.extend(std::iter::from_fn(|| to.poll()));
                while q.poll_transmit(Instant::ZERO).is_some() {}
                while let Some(ev) = q.poll_event() {
                    if let Event::Deliver(d) = ev {
                        sent.push(d);
                    }
                }
            }
            for d in sent {
                for (_, to, out) in nodes.iter_mut() {
                    to.deliver(d.clone());
                    out.extend(std::iter::from_fn(|| to.poll()));
                }
            }
        }
    }

    #[test]
    fn a_joiner_that_becomes_the_sequencer_orders_the_new_view() {
        // View 1: 1 (the sequencer) and 2; view 2 adds node 0, the lowest id: the joiner
        // orders view 2. Node 2 publishes a in view 1 and b in view 2. The members of both
        // views deliver a, begin view 2, then b; the joiner starts at view 2 and delivers b.
        let region = RegionId(1);
        let v1 = RegionView { region, id: ViewId(1), members: vec![NodeId(1), NodeId(2)] };
        let v2 = RegionView { region, id: ViewId(2), members: vec![NodeId(0), NodeId(1), NodeId(2)] };
        let mut nodes: Vec<Member> = [1, 2].map(|n| member(n, &v1)).into();
        let (q2, to2, _) = &mut nodes[1];
        to2.publish_with(q2, Instant::ZERO, 20, |b| b.fill(b'a')).unwrap();
        exchange(&mut nodes, 4);
        for (q, to, _) in &mut nodes {
            to.install_view(q, Instant::ZERO, v2.clone()).unwrap();
        }
        nodes.insert(0, member(0, &v2));
        let (q2, to2, _) = &mut nodes[2];
        to2.publish_with(q2, Instant::ZERO, 20, |b| b.fill(b'b')).unwrap();
        exchange(&mut nodes, 8);
        assert_eq!(released(&nodes[0].2), (b"b".to_vec(), vec![]), "the joiner: {:?}", nodes[0].1.stats());
        for (_, to, out) in &nodes[1..] {
            assert_eq!(released(out), (b"ab".to_vec(), vec![2]), "{:?}", to.stats());
        }
        for (_, to, _) in &nodes {
            assert_eq!(
                (to.held(), to.flush_waiting(), to.stats().refused),
                (0, false, 0),
                "{:?}",
                to.stats()
            );
        }
    }

    #[test]
    fn views_installed_during_a_flush_are_closed_one_after_another() {
        // View 1: 1 and 2; view 2 adds node 3; view 3 is a cut (the same members: a group
        // joined). Both changes reach 1 and 2 before any report does, with a sent in view 1
        // and b in view 3. Every member of a view delivers the same: a, views 2 and 3, b for
        // 1 and 2; view 3, then b for the joiner.
        let region = RegionId(1);
        let v1 = RegionView { region, id: ViewId(1), members: vec![NodeId(1), NodeId(2)] };
        let v2 = RegionView { region, id: ViewId(2), members: vec![NodeId(1), NodeId(2), NodeId(3)] };
        let mut nodes: Vec<Member> = [1, 2].map(|n| member(n, &v1)).into();
        let (q2, to2, _) = &mut nodes[1];
        to2.publish_with(q2, Instant::ZERO, 20, |b| b.fill(b'a')).unwrap();
        for (q, to, _) in &mut nodes {
            to.install_view(q, Instant::ZERO, v2.clone()).unwrap();
            to.install_cut(q, ViewId(3)).unwrap();
        }
        nodes.push(member(3, &v2));
        let (q3, to3, _) = &mut nodes[2];
        to3.install_cut(q3, ViewId(3)).unwrap();
        let (q1, to1, _) = &mut nodes[0];
        to1.publish_with(q1, Instant::ZERO, 20, |b| b.fill(b'b')).unwrap();
        exchange(&mut nodes, 10);
        for (_, to, out) in &nodes[..2] {
            assert_eq!(released(out), (b"ab".to_vec(), vec![2, 3]), "{:?}", to.stats());
        }
        assert_eq!(released(&nodes[2].2), (b"b".to_vec(), vec![3]), "the joiner: {:?}", nodes[2].1.stats());
        for ((_, to, _), flushes) in nodes.iter().zip([2, 2, 1]) {
            assert_eq!((to.view(), to.held(), to.flush_waiting()), (ViewId(3), 0, false), "{:?}", to.stats());
            assert_eq!(to.stats().flushes, flushes);
        }
    }

    #[test]
    fn a_sender_waits_for_its_messages_to_be_ordered_past_its_window() {
        // Node 0 is the sequencer and the sender; node 1 never answers (no network here).
        let region = RegionId(1);
        let view = RegionView { region, id: ViewId(1), members: vec![NodeId(0), NodeId(1)] };
        let mut qsm = QsmNode::new(NodeId(0), Config::default()).unwrap();
        qsm.install_view(Instant::ZERO, view.clone()).unwrap();
        let mut to = TotalOrder::new(view, NodeId(0)).with_window(1000);
        for i in 0..10u8 {
            to.publish_with(&mut qsm, Instant::ZERO, 100, |b| b.fill(i)).unwrap();
        }
        assert_eq!(to.publish_with(&mut qsm, Instant::ZERO, 100, |_| {}), Err(PublishError::WouldBlock));
        // Sealed, noted by the sequencer, ordered by its records, delivered here: room again.
        let out = pump(&mut qsm, &mut to);
        let got: Vec<u8> = out
            .iter()
            .filter_map(|o| match o {
                Output::Deliver(d) => {
                    Some(d.item.messages().filter_map(data).map(|m| m[0]).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        assert!(matches!(out.last(), Some(Output::Writable)), "{out:?}");
        to.publish_with(&mut qsm, Instant::ZERO, 100, |_| {}).unwrap();
    }
}
