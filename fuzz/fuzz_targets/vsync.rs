//! The total-order driver's frames (argent-vsync) and a member's orderer and flush
//! agreement fed with them: arbitrary messages never panic, what decodes encodes back to the
//! same bytes, and the orderer refuses inconsistent input without panicking.

#![no_main]

use argent_qsm::NodeId;
use argent_vsync::frame::{encode_before, encode_decide, encode_order, encode_relay, encode_report, encode_state};
use argent_vsync::{Absent, Agreement, DatagramId, Frame, Orderer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| {
    // Input: records of `len (2) | message`; each message that decodes is also applied to
    // one orderer as if the sequencer or a stream had sent it.
    let mut o: Orderer<u64> = Orderer::new();
    // Node 1's agreement on a flush of survivors 0..4, fed every decision and state of
    // it (as sent by the node the message's number names), with node 0 gone.
    let mut agree: Option<Agreement> = None;
    let mut out = Vec::new();
    let mut rest = buf;
    let mut n = 0u64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let m = &rest[2..2 + len];
        rest = &rest[2 + len..];
        n += 1;
        let Ok(frame) = Frame::decode(m) else { continue };
        let mut again = Vec::new();
        match &frame {
            Frame::Data(d) => {
                // A datagram of stream (first byte) with the next sequence number it expects.
                let stream = u32::from(d.first().copied().unwrap_or(0) % 4);
                let seq = o.have().iter().find(|(s, _)| *s == stream).map_or(1, |h| h.1 + 1);
                let _ = o.hold(DatagramId { stream, seq }, n);
                again.extend_from_slice(m);
            }
            Frame::Order(runs) => {
                let _ = o.order(runs);
                encode_order(runs, &mut again);
            }
            Frame::Report(r) => encode_report(r, &mut again),
            Frame::Relay(r) => encode_relay(r, &mut again),
            Frame::Decide(d) => {
                encode_decide(d, &mut again);
                let a = agree.get_or_insert_with(|| {
                    Agreement::new(d.from_view, d.to_view, NodeId(1), (0..4).map(NodeId).collect())
                });
                a.offer(NodeId(d.ballot), d.clone());
            }
            Frame::State(st) => {
                encode_state(st, &mut again);
                let a = agree.get_or_insert_with(|| {
                    Agreement::new(st.from_view, st.to_view, NodeId(1), (0..4).map(NodeId).collect())
                });
                a.state(NodeId((n % 4) as u32), st.clone());
            }
            Frame::Before(b) => {
                // A joiner's stream start past what preceded its view.
                if o.received(b.stream).is_none() {
                    o.start_stream(b.stream, b.seq);
                }
                encode_before(b, &mut again);
            }
        }
        assert_eq!(again, m, "decoded and encoded again, a frame is the same bytes");
        while o.poll().is_some() {}
        if let Some(a) = &mut agree {
            let gone = |x: NodeId| (x == NodeId(0)).then_some(Absent::Left);
            a.step(gone, || None, &mut out);
            out.clear();
        }
    }
});
