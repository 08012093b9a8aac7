//! The multicast wire format: decode arbitrary bytes and walk every borrowed view of
//! whatever decodes.
//!
//! Beyond "never panics", this checks that the encoding is canonical: a datagram that
//! decodes re-encodes to exactly the same bytes.

#![no_main]

use argent_wire::{
    decode, encode_ack, encode_alive, encode_data_copy, encode_fence_request, encode_heartbeat,
    encode_request, encode_start_request, encode_stream_start, encode_token_ack, Frame, FrameKind, SeqRange,
    DATA_PREFIX_LEN, HEADER_LEN, MAX_REQUEST_RANGES, MAX_TOKEN_RANGES, MESSAGE_OVERHEAD,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| walk(buf));

fn walk(buf: &[u8]) {
    let Ok((h, frame)) = decode(buf) else { return };
    match frame {
        Frame::Data(d) => {
            assert!(h.kind.is_data());
            assert!(d.seq > 0);
            let mut count = 0;
            let mut payload = 0;
            for m in d.messages() {
                count += 1;
                payload += MESSAGE_OVERHEAD + m.len();
            }
            assert!(count > 0);
            assert_eq!(count, usize::from(d.count));
            assert_eq!(HEADER_LEN + d.body().len(), DATA_PREFIX_LEN + payload);
            assert_eq!(encode_data_copy(h.kind, h.region, h.from, d.body()), buf);
        }
        Frame::Alive => assert_eq!(encode_alive(h.region, h.from), buf),
        Frame::StartRequest(req) => assert_eq!(encode_start_request(h.region, h.from, &req), buf),
        Frame::StreamStart(start) => assert_eq!(encode_stream_start(h.region, h.from, &start), buf),
        Frame::FenceRequest(req) => assert_eq!(encode_fence_request(h.region, h.from, &req), buf),
        Frame::Heartbeat(hb) => assert_eq!(encode_heartbeat(h.region, h.from, &hb), buf),
        Frame::TokenAck(ack) => assert_eq!(encode_token_ack(h.region, h.from, &ack), buf),
        Frame::Ack(ack) => assert_eq!(encode_ack(h.region, h.from, &ack), buf),
        Frame::Pull(req) | Frame::Nak(req) => {
            let nak = h.kind == FrameKind::Nak;
            let ranges: Vec<SeqRange> = req.ranges.iter().collect();
            assert_eq!(ranges.len(), req.ranges.len());
            assert_eq!(ranges.is_empty(), req.ranges.is_empty());
            assert!(ranges.len() <= MAX_REQUEST_RANGES);
            for r in &ranges {
                assert!(r.start >= 1 && r.end >= r.start && r.len() <= u64::from(u32::MAX));
            }
            assert_eq!(encode_request(h.region, h.from, nak, req.sender, &ranges), buf);
        }
        Frame::Token(tf) => {
            let mut entries = 0;
            for e in tf.entries() {
                entries += 1;
                for list in std::iter::once(e.prev_missing).chain(e.isect) {
                    assert!(list.len() <= MAX_TOKEN_RANGES);
                    assert_eq!(list.iter().count(), list.len());
                    assert_eq!(list.is_empty(), list.iter().next().is_none());
                    for r in list.iter() {
                        assert!(r.start > e.cleanup && r.end >= r.start);
                        assert!(r.start - e.cleanup <= u64::from(u32::MAX));
                    }
                }
                for p in e.partitions() {
                    std::hint::black_box(p);
                }
                assert_eq!(e.to_entry().sender, e.sender);
            }
            let token = tf.to_token();
            assert_eq!(token.entries.len(), entries);
            assert_eq!(token.encode(h.region, h.from), buf);
        }
    }
}
