//! Encode every frame kind and decode it back; typed errors for malformed datagrams.

use argent_wire::{
    decode, encode_ack, encode_alive, encode_data_copy, encode_fence_request, encode_heartbeat,
    encode_request, encode_start_request, encode_stream_start, encode_token_ack, Ack, DataBuilder,
    DecodeError, FenceRequest, Frame, FrameKind, Header, Heartbeat, SeqRange, StartRequest, StreamStart,
    Token, TokenAck, TokenEntry, DATA_PREFIX_LEN, HEADER_LEN, MAGIC, MAX_DATAGRAM, MAX_REQUEST_RANGES,
    MAX_TOKEN_RANGES, MESSAGE_OVERHEAD, STREAM_GONE, VERSION,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Hand-rolled little-endian datagram writer for malformed inputs.
#[derive(Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn header(kind: u8, region: u32, from: u32) -> Self {
        Raw::default().bytes(&MAGIC).u8(VERSION).u8(kind).u32(region).u32(from)
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn u8(self, v: u8) -> Self {
        self.bytes(&[v])
    }
    fn u16(self, v: u16) -> Self {
        self.bytes(&v.to_le_bytes())
    }
    fn u32(self, v: u32) -> Self {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_le_bytes())
    }
    /// A token entry's fixed part: everything up to and including the three counts.
    fn entry_fixed(self, cleanup: u64, n_prev: u8, n_isect: u8, n_parts: u16) -> Self {
        self.u32(7) // sender
            .u64(100) // cutoff
            .u64(cleanup)
            .u64(90) // max_seen
            .u64(80) // min_contiguous
            .u64(70) // part_contiguous
            .u32(1) // rate_min
            .u32(2) // rate_max
            .u64(3) // rate_sum
            .u32(4) // rate_count
            .u8(n_prev)
            .u8(n_isect)
            .u16(n_parts)
    }
    fn token_prefix(entries: u16) -> Self {
        Raw::header(FrameKind::Token as u8, 1, 2).u64(3).u64(4).u32(5).u8(0).u16(entries)
    }
    fn done(self) -> Vec<u8> {
        self.0
    }
}

fn r(start: u64, end: u64) -> SeqRange {
    SeqRange { start, end }
}

fn sample_data() -> Vec<u8> {
    let mut b = DataBuilder::new(11, 22, 33, 1400);
    assert!(b.push(b"hello"));
    assert!(b.push(b""));
    assert!(b.push(&[0xAB; 300]));
    b.finish().to_vec()
}

fn sample_token() -> Token {
    Token {
        view: 0x0102_0304_0506_0708,
        round: u64::MAX,
        hop: 3,
        flags: 0xA5,
        entries: vec![
            TokenEntry {
                sender: 1,
                cutoff: 500,
                cleanup: 100,
                max_seen: 510,
                min_contiguous: 120,
                part_contiguous: 130,
                rate_min: 10,
                rate_max: u32::MAX,
                rate_sum: u64::MAX,
                rate_count: 7,
                prev_missing: vec![
                    r(101, 101),
                    r(150, 160),
                    r(100 + u64::from(u32::MAX), 105 + u64::from(u32::MAX)),
                ],
                isect: Some(vec![r(200, 210)]),
                partitions: vec![0, 5, u64::MAX],
            },
            TokenEntry { sender: 2, isect: Some(vec![]), ..TokenEntry::default() },
            TokenEntry {
                sender: u32::MAX,
                cleanup: u64::MAX - 10,
                prev_missing: vec![r(u64::MAX - 9, u64::MAX)],
                isect: None,
                ..TokenEntry::default()
            },
        ],
    }
}

fn sample_ack() -> Ack {
    Ack {
        view: 1,
        round: 2,
        sender: 3,
        stable: 4,
        max_seen: u64::MAX,
        rate_min: 0,
        rate_avg: 77,
        rate_max: u32::MAX,
    }
}

/// One valid datagram of every kind.
fn valid_datagrams() -> Vec<(FrameKind, Vec<u8>)> {
    let data = sample_data();
    let body = match decode(&data).unwrap().1 {
        Frame::Data(d) => d.body().to_vec(),
        other => panic!("expected data, got {other:?}"),
    };
    let ranges = [r(1, 1), r(10, 20), r(u64::MAX - 1, u64::MAX)];
    vec![
        (FrameKind::Data, data),
        (FrameKind::Retransmit, encode_data_copy(FrameKind::Retransmit, 11, 44, &body)),
        (FrameKind::Forward, encode_data_copy(FrameKind::Forward, 11, 55, &body)),
        (FrameKind::Heartbeat, encode_heartbeat(1, 2, &Heartbeat { sender: 3, highest: 4 })),
        (FrameKind::Token, sample_token().encode(1, 2)),
        (FrameKind::TokenAck, encode_token_ack(1, 2, &TokenAck { view: 3, round: 4, hop: 5 })),
        (FrameKind::Ack, encode_ack(1, 2, &sample_ack())),
        (FrameKind::Pull, encode_request(1, 2, false, 3, &ranges)),
        (FrameKind::Nak, encode_request(1, 2, true, 3, &ranges)),
        (FrameKind::Alive, encode_alive(1, 2)),
        (FrameKind::StartRequest, encode_start_request(1, 2, &StartRequest { view: 3, sender: 4 })),
        (
            FrameKind::StreamStart,
            encode_stream_start(1, 2, &StreamStart { view: 3, sender: 4, base: 5, flags: 0 }),
        ),
        (FrameKind::FenceRequest, encode_fence_request(1, 2, &FenceRequest { key: 3, nonce: 4 })),
    ]
}

fn frame_name(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Data => "data",
        FrameKind::Retransmit => "retransmit",
        FrameKind::Forward => "forward",
        FrameKind::Heartbeat => "heartbeat",
        FrameKind::Alive => "alive",
        FrameKind::Token => "token",
        FrameKind::TokenAck => "token ack",
        FrameKind::Ack => "ack",
        FrameKind::Pull => "pull",
        FrameKind::Nak => "nak",
        FrameKind::StartRequest => "start request",
        FrameKind::StreamStart => "stream start",
        FrameKind::FenceRequest => "fence request",
    }
}

/// Encode, decode and copy back into the owned form.
fn reencoded(token: &Token) -> Token {
    let buf = token.encode(1, 2);
    match decode(&buf).unwrap().1 {
        Frame::Token(tf) => tf.to_token(),
        other => panic!("expected token, got {other:?}"),
    }
}

fn messages_of(buf: &[u8]) -> Vec<Vec<u8>> {
    match decode(buf).unwrap().1 {
        Frame::Data(d) => d.messages().map(<[u8]>::to_vec).collect(),
        other => panic!("expected data, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Data frames
// ---------------------------------------------------------------------------------------------

#[test]
fn data_push_roundtrip() {
    let msgs: Vec<Vec<u8>> =
        vec![b"first".to_vec(), vec![], vec![0u8; 1], (0..=255).collect(), vec![7; 1000]];
    let mut b = DataBuilder::new(0xDEAD_BEEF, 42, u64::MAX, MAX_DATAGRAM);
    assert!(b.is_empty());
    assert_eq!(b.count(), 0);
    assert_eq!(b.len(), DATA_PREFIX_LEN);
    let mut expect_len = DATA_PREFIX_LEN;
    for m in &msgs {
        assert!(b.fits(m.len()));
        assert!(b.push(m));
        expect_len += MESSAGE_OVERHEAD + m.len();
        assert_eq!(b.len(), expect_len);
    }
    assert!(!b.is_empty());
    assert_eq!(b.count(), msgs.len() as u16);
    let built = b.finish();
    assert_eq!(built.len(), expect_len);

    let (header, frame) = decode(&built).unwrap();
    assert_eq!(header, Header { kind: FrameKind::Data, region: 0xDEAD_BEEF, from: 42 });
    let Frame::Data(d) = frame else { panic!("expected data, got {frame:?}") };
    assert_eq!(d.sender, 42);
    assert_eq!(d.seq, u64::MAX);
    assert_eq!(d.count, msgs.len() as u16);
    let got: Vec<&[u8]> = d.messages().collect();
    assert_eq!(got, msgs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(d.messages().size_hint(), (0, Some(msgs.len())));
    assert_eq!(d.body(), &built[HEADER_LEN..]);
    // The iterator is fused by its count.
    let mut it = d.messages();
    for _ in 0..msgs.len() {
        assert!(it.next().is_some());
    }
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

#[test]
fn data_claim_writes_in_place() {
    let mut b = DataBuilder::new(1, 2, 3, 200);
    let dst = b.claim(4).expect("fits");
    assert_eq!(dst, &[0, 0, 0, 0]);
    dst.copy_from_slice(b"abcd");
    let dst = b.claim(0).expect("empty message fits");
    assert!(dst.is_empty());
    b.claim(3).expect("fits").copy_from_slice(b"xyz");
    assert_eq!(b.count(), 3);
    assert_eq!(messages_of(&b.finish()), vec![b"abcd".to_vec(), vec![], b"xyz".to_vec()]);
}

#[test]
fn data_unclaim_removes_last_claim() {
    let mut b = DataBuilder::new(1, 2, 3, 200);
    assert!(b.push(b"keep"));
    let len_before = b.len();
    b.claim(10).expect("fits").fill(0xEE);
    assert_eq!(b.count(), 2);
    b.unclaim(10);
    assert_eq!(b.count(), 1);
    assert_eq!(b.len(), len_before);
    // Claim-unclaim of an empty message too.
    b.claim(0).expect("fits");
    b.unclaim(0);
    assert_eq!(b.len(), len_before);
    b.claim(2).expect("fits").copy_from_slice(b"ok");
    assert_eq!(messages_of(&b.finish()), vec![b"keep".to_vec(), b"ok".to_vec()]);
}

#[test]
fn data_unclaim_back_to_empty_then_reuse() {
    let mut b = DataBuilder::new(1, 2, 3, 100);
    b.claim(5).expect("fits");
    b.unclaim(5);
    assert!(b.is_empty());
    assert_eq!(b.len(), DATA_PREFIX_LEN);
    assert!(b.push(b"x"));
    assert_eq!(messages_of(&b.finish()), vec![b"x".to_vec()]);
}

#[test]
fn data_fits_respects_limit_exactly() {
    for limit in [DATA_PREFIX_LEN + MESSAGE_OVERHEAD + 1, 64, 1400, MAX_DATAGRAM] {
        let max = DataBuilder::max_message_len(limit);
        assert_eq!(max, limit - DATA_PREFIX_LEN - MESSAGE_OVERHEAD);
        let mut b = DataBuilder::new(1, 2, 3, limit);
        assert!(b.fits(max), "limit {limit}");
        assert!(!b.fits(max + 1), "limit {limit}");
        assert!(b.claim(max + 1).is_none());
        assert!(!b.push(&vec![0; max + 1]));
        assert!(b.is_empty(), "a refused push leaves the builder unchanged");
        assert_eq!(b.len(), DATA_PREFIX_LEN);
        assert!(b.push(&vec![9; max]));
        assert_eq!(b.len(), limit);
        assert!(!b.fits(0), "full datagram has no room even for an empty message");
        assert!(!b.push(b""));
        let built = b.finish();
        assert_eq!(built.len(), limit);
        assert_eq!(messages_of(&built), vec![vec![9; max]]);
    }
}

#[test]
fn data_fill_until_full() {
    let limit = 1000;
    let mut b = DataBuilder::new(1, 2, 3, limit);
    let mut pushed = Vec::new();
    let mut i = 0u8;
    loop {
        let msg = vec![i; usize::from(i % 37)];
        if !b.fits(msg.len()) {
            assert!(!b.push(&msg));
            break;
        }
        assert!(b.push(&msg));
        pushed.push(msg);
        i = i.wrapping_add(1);
    }
    assert!(b.len() <= limit);
    let built = b.finish();
    assert!(built.len() <= limit);
    assert_eq!(messages_of(&built), pushed);
}

#[test]
fn data_max_message_len_bounds() {
    assert_eq!(DataBuilder::max_message_len(0), 0);
    assert_eq!(DataBuilder::max_message_len(DATA_PREFIX_LEN + MESSAGE_OVERHEAD), 0);
    assert_eq!(DataBuilder::max_message_len(MAX_DATAGRAM), MAX_DATAGRAM - DATA_PREFIX_LEN - MESSAGE_OVERHEAD);
    assert_eq!(DataBuilder::max_message_len(usize::MAX), usize::from(u16::MAX));
    // A message longer than a u16 never fits, whatever the limit.
    let b = DataBuilder::new(1, 2, 3, 1 << 20);
    assert!(b.fits(usize::from(u16::MAX)));
    assert!(!b.fits(usize::from(u16::MAX) + 1));
}

#[test]
fn data_message_count_limit() {
    let mut b = DataBuilder::new(1, 2, 3, usize::from(u16::MAX) * MESSAGE_OVERHEAD + DATA_PREFIX_LEN + 10);
    for _ in 0..u16::MAX {
        assert!(b.push(b""));
    }
    assert_eq!(b.count(), u16::MAX);
    assert!(!b.fits(0), "count is a u16");
    assert!(!b.push(b""));
    let built = b.finish();
    let (_, frame) = decode(&built).unwrap();
    let Frame::Data(d) = frame else { panic!("expected data") };
    assert_eq!(d.count, u16::MAX);
    assert_eq!(d.messages().count(), usize::from(u16::MAX));
    assert!(d.messages().all(<[u8]>::is_empty));
}

#[test]
#[should_panic(expected = "sequence numbers start at 1")]
fn data_builder_rejects_zero_seq() {
    let _ = DataBuilder::new(1, 2, 0, 1400);
}

#[test]
#[should_panic(expected = "datagram limit too small")]
fn data_builder_rejects_tiny_limit() {
    let _ = DataBuilder::new(1, 2, 3, DATA_PREFIX_LEN + MESSAGE_OVERHEAD);
}

#[test]
#[should_panic(expected = "at least one message")]
fn data_builder_rejects_empty_finish() {
    let _ = DataBuilder::new(1, 2, 3, 1400).finish();
}

#[test]
fn data_copy_retransmit_and_forward() {
    let original = sample_data();
    let (_, frame) = decode(&original).unwrap();
    let Frame::Data(d) = frame else { panic!("expected data") };
    let want: Vec<&[u8]> = d.messages().collect();
    for (kind, region, from) in [(FrameKind::Retransmit, 11, 22), (FrameKind::Forward, 99, 77)] {
        let copy = encode_data_copy(kind, region, from, d.body());
        assert_eq!(copy.len(), original.len());
        assert_eq!(&copy[HEADER_LEN..], &original[HEADER_LEN..]);
        let (h, f) = decode(&copy).unwrap();
        assert_eq!(h, Header { kind, region, from });
        assert!(h.kind.is_data());
        let Frame::Data(c) = f else { panic!("expected data for {kind:?}") };
        assert_eq!(c.sender, d.sender);
        assert_eq!(c.seq, d.seq);
        assert_eq!(c.count, d.count);
        assert_eq!(c.body(), d.body());
        assert_eq!(c.messages().collect::<Vec<_>>(), want);
    }
    // Re-framing as plain data reproduces the original datagram exactly.
    assert_eq!(encode_data_copy(FrameKind::Data, 11, 22, d.body()), original);
}

#[test]
fn frame_kind_is_data() {
    for (kind, _) in valid_datagrams() {
        let expect = matches!(kind, FrameKind::Data | FrameKind::Retransmit | FrameKind::Forward);
        assert_eq!(kind.is_data(), expect, "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed-size frames
// ---------------------------------------------------------------------------------------------

#[test]
fn heartbeat_roundtrip() {
    for hb in [
        Heartbeat { sender: 0, highest: 0 },
        Heartbeat { sender: 5, highest: 12345 },
        Heartbeat { sender: u32::MAX, highest: u64::MAX },
    ] {
        let buf = encode_heartbeat(7, 8, &hb);
        assert_eq!(buf.len(), HEADER_LEN + 12);
        let (h, f) = decode(&buf).unwrap();
        assert_eq!(h, Header { kind: FrameKind::Heartbeat, region: 7, from: 8 });
        assert_eq!(f, Frame::Heartbeat(hb));
    }
}

#[test]
fn start_request_roundtrip() {
    for req in [
        StartRequest { view: 0, sender: 0 },
        StartRequest { view: 7, sender: 0x0003_0002 },
        StartRequest { view: u64::MAX, sender: u32::MAX },
    ] {
        let buf = encode_start_request(9, 10, &req);
        assert_eq!(buf.len(), HEADER_LEN + 12);
        let (h, f) = decode(&buf).unwrap();
        assert_eq!(h, Header { kind: FrameKind::StartRequest, region: 9, from: 10 });
        assert_eq!(f, Frame::StartRequest(req));
    }
}

#[test]
fn stream_start_roundtrip() {
    for start in [
        StreamStart { view: 0, sender: 0, base: 0, flags: 0 },
        StreamStart { view: 3, sender: 4, base: 5, flags: STREAM_GONE },
        StreamStart { view: u64::MAX, sender: u32::MAX, base: u64::MAX, flags: 0xFF },
    ] {
        let buf = encode_stream_start(u32::MAX, 1, &start);
        assert_eq!(buf.len(), HEADER_LEN + 21);
        let (h, f) = decode(&buf).unwrap();
        assert_eq!(h, Header { kind: FrameKind::StreamStart, region: u32::MAX, from: 1 });
        let Frame::StreamStart(got) = f else { panic!("expected stream start, got {f:?}") };
        // Field by field: view and base are both u64 and must not be swapped.
        assert_eq!(
            (got.view, got.sender, got.base, got.flags),
            (start.view, start.sender, start.base, start.flags)
        );
    }
}

#[test]
fn token_ack_roundtrip() {
    for ack in [
        TokenAck { view: 0, round: 0, hop: 0 },
        TokenAck { view: 1, round: 2, hop: 3 },
        TokenAck { view: u64::MAX, round: u64::MAX, hop: u32::MAX },
    ] {
        let buf = encode_token_ack(u32::MAX, 0, &ack);
        assert_eq!(buf.len(), HEADER_LEN + 20);
        let (h, f) = decode(&buf).unwrap();
        assert_eq!(h, Header { kind: FrameKind::TokenAck, region: u32::MAX, from: 0 });
        assert_eq!(f, Frame::TokenAck(ack));
    }
}

#[test]
fn ack_roundtrip() {
    let zero =
        Ack { view: 0, round: 0, sender: 0, stable: 0, max_seen: 0, rate_min: 0, rate_avg: 0, rate_max: 0 };
    for ack in [zero, sample_ack()] {
        let buf = encode_ack(3, 4, &ack);
        assert_eq!(buf.len(), HEADER_LEN + 48);
        let (h, f) = decode(&buf).unwrap();
        assert_eq!(h, Header { kind: FrameKind::Ack, region: 3, from: 4 });
        let Frame::Ack(got) = f else { panic!("expected ack, got {f:?}") };
        assert_eq!(got, ack);
        // Field by field, so a swapped pair of equal-typed fields is caught by distinct values.
        assert_eq!(
            (got.view, got.round, got.sender, got.stable, got.max_seen),
            (ack.view, ack.round, ack.sender, ack.stable, ack.max_seen)
        );
        assert_eq!((got.rate_min, got.rate_avg, got.rate_max), (ack.rate_min, ack.rate_avg, ack.rate_max));
    }
}

// ---------------------------------------------------------------------------------------------
// Pull and NAK
// ---------------------------------------------------------------------------------------------

fn decode_request(buf: &[u8]) -> (Header, u32, Vec<SeqRange>, bool) {
    let (h, f) = decode(buf).unwrap();
    let (req, nak) = match f {
        Frame::Pull(req) => (req, false),
        Frame::Nak(req) => (req, true),
        other => panic!("expected pull or nak, got {other:?}"),
    };
    let ranges: Vec<SeqRange> = req.ranges.iter().collect();
    assert_eq!(req.ranges.len(), ranges.len());
    assert_eq!(req.ranges.is_empty(), ranges.is_empty());
    (h, req.sender, ranges, nak)
}

#[test]
fn pull_and_nak_roundtrip() {
    let ranges = vec![
        r(1, 1),
        r(2, 10),
        r(1000, 1000 + u64::from(u32::MAX) - 1), // longest expressible range
        r(u64::MAX, u64::MAX),
        r(u64::MAX - 100, u64::MAX),
    ];
    for nak in [false, true] {
        let buf = encode_request(5, 6, nak, 77, &ranges);
        assert_eq!(buf.len(), HEADER_LEN + 6 + 12 * ranges.len());
        let (h, sender, got, got_nak) = decode_request(&buf);
        let kind = if nak { FrameKind::Nak } else { FrameKind::Pull };
        assert_eq!(h, Header { kind, region: 5, from: 6 });
        assert_eq!(sender, 77);
        assert_eq!(got, ranges);
        assert_eq!(got_nak, nak);
        for (g, want) in got.iter().zip(&ranges) {
            assert_eq!(g.len(), want.len());
            assert!(!g.is_empty());
            assert!(g.contains(want.start) && g.contains(want.end));
            assert!(want.start == 1 || !g.contains(want.start - 1));
            assert!(want.end == u64::MAX || !g.contains(want.end + 1));
        }
    }
}

#[test]
fn request_with_no_ranges() {
    for nak in [false, true] {
        let (_, sender, got, got_nak) = decode_request(&encode_request(1, 2, nak, 3, &[]));
        assert_eq!((sender, got, got_nak), (3, vec![], nak));
    }
}

#[test]
fn request_keeps_first_max_ranges() {
    let ranges: Vec<SeqRange> = (1..=MAX_REQUEST_RANGES as u64 + 10).map(|i| r(i * 10, i * 10 + 1)).collect();
    let (_, _, got, _) = decode_request(&encode_request(1, 2, true, 3, &ranges));
    assert_eq!(got, ranges[..MAX_REQUEST_RANGES]);
}

#[test]
fn request_truncates_overlong_range() {
    let ranges = [r(1, u64::MAX), r(5, 5 + u64::from(u32::MAX))];
    let (_, _, got, _) = decode_request(&encode_request(1, 2, false, 3, &ranges));
    assert_eq!(got, vec![r(1, u64::from(u32::MAX)), r(5, 5 + u64::from(u32::MAX) - 1)]);
}

// ---------------------------------------------------------------------------------------------
// Token
// ---------------------------------------------------------------------------------------------

#[test]
fn token_roundtrip() {
    let token = sample_token();
    let buf = token.encode(0xAAAA, 0xBBBB);
    let (h, f) = decode(&buf).unwrap();
    assert_eq!(h, Header { kind: FrameKind::Token, region: 0xAAAA, from: 0xBBBB });
    let Frame::Token(tf) = f else { panic!("expected token, got {f:?}") };
    assert_eq!((tf.view, tf.round, tf.hop, tf.flags), (token.view, token.round, token.hop, token.flags));
    assert_eq!(tf.to_token(), token);

    // The borrowed views agree with the owned form, field by field.
    let entries: Vec<_> = tf.entries().collect();
    assert_eq!(entries.len(), token.entries.len());
    for (e, want) in entries.iter().zip(&token.entries) {
        assert_eq!(e.sender, want.sender);
        assert_eq!(e.cutoff, want.cutoff);
        assert_eq!(e.cleanup, want.cleanup);
        assert_eq!(e.max_seen, want.max_seen);
        assert_eq!(e.min_contiguous, want.min_contiguous);
        assert_eq!(e.part_contiguous, want.part_contiguous);
        assert_eq!(e.rate_min, want.rate_min);
        assert_eq!(e.rate_max, want.rate_max);
        assert_eq!(e.rate_sum, want.rate_sum);
        assert_eq!(e.rate_count, want.rate_count);
        assert_eq!(e.prev_missing.len(), want.prev_missing.len());
        assert_eq!(e.prev_missing.is_empty(), want.prev_missing.is_empty());
        assert_eq!(e.prev_missing.iter().collect::<Vec<_>>(), want.prev_missing);
        assert_eq!(e.isect.map(|i| i.iter().collect::<Vec<_>>()), want.isect);
        assert_eq!(e.isect.map(|i| i.len()), want.isect.as_ref().map(Vec::len));
        assert_eq!(e.partitions().collect::<Vec<_>>(), want.partitions);
        assert_eq!(&e.to_entry(), want);
    }
    // Re-encoding the decoded token reproduces the datagram byte for byte.
    assert_eq!(tf.to_token().encode(0xAAAA, 0xBBBB), buf);
}

#[test]
fn token_without_entries() {
    let token = Token { view: 9, round: 1, hop: 0, flags: 0, entries: vec![] };
    let buf = token.encode(1, 2);
    assert_eq!(buf.len(), HEADER_LEN + 23);
    let Frame::Token(tf) = decode(&buf).unwrap().1 else { panic!("expected token") };
    assert_eq!(tf.entries().count(), 0);
    assert_eq!(tf.to_token(), token);
}

#[test]
fn token_max_ranges_and_many_partitions() {
    let full: Vec<SeqRange> = (0..MAX_TOKEN_RANGES as u64).map(|i| r(10 + i * 3, 11 + i * 3)).collect();
    let entry = TokenEntry {
        sender: 4,
        cleanup: 9,
        prev_missing: full.clone(),
        isect: Some(full),
        partitions: (0..1000).collect(),
        ..TokenEntry::default()
    };
    let token = Token { view: 1, round: 2, hop: 3, flags: 4, entries: vec![entry; 3] };
    let buf = token.encode(1, 2);
    let Frame::Token(tf) = decode(&buf).unwrap().1 else { panic!("expected token") };
    assert_eq!(tf.to_token(), token);
}

#[test]
fn token_encode_drops_or_clips_unencodable_ranges() {
    let cleanup = 1000;
    let too_far = cleanup + (1u64 << 32);
    let entry = TokenEntry {
        cleanup,
        prev_missing: vec![
            r(10, 20),                    // entirely at or below cleanup: dropped
            r(cleanup, cleanup),          // at cleanup: dropped
            r(990, 1005),                 // straddles cleanup: clipped
            r(cleanup + 1, cleanup + 1),  // smallest encodable
            r(too_far, too_far + 5),      // offset does not fit a u32: dropped
            r(too_far - 1, too_far + 5),  // largest offset: kept
            r(2000, 2000 + (1u64 << 33)), // too long: length truncated
        ],
        isect: Some(vec![r(1, cleanup)]), // nothing encodable: empty, but still present
        ..TokenEntry::default()
    };
    let token = Token { entries: vec![entry], ..Token::default() };
    let got = reencoded(&token).entries.remove(0);
    assert_eq!(
        got.prev_missing,
        vec![
            r(cleanup + 1, 1005),
            r(cleanup + 1, cleanup + 1),
            r(too_far - 1, too_far + 5),
            r(2000, 2000 + u64::from(u32::MAX) - 1),
        ]
    );
    assert_eq!(got.isect, Some(vec![]));
}

#[test]
fn token_encode_keeps_first_max_ranges() {
    let many: Vec<SeqRange> = (1..=MAX_TOKEN_RANGES as u64 + 5).map(|i| r(i * 2, i * 2)).collect();
    let entry = TokenEntry { prev_missing: many.clone(), isect: Some(many.clone()), ..TokenEntry::default() };
    let token = Token { entries: vec![entry], ..Token::default() };
    let got = reencoded(&token).entries.remove(0);
    assert_eq!(got.prev_missing, many[..MAX_TOKEN_RANGES]);
    assert_eq!(got.isect.unwrap(), many[..MAX_TOKEN_RANGES]);
}

#[test]
fn token_encode_with_cleanup_at_u64_max() {
    // Nothing lies above u64::MAX, so every range is left out; encoding must not overflow.
    let entry = TokenEntry {
        cleanup: u64::MAX,
        prev_missing: vec![r(5, 6), r(u64::MAX, u64::MAX)],
        isect: Some(vec![r(u64::MAX - 1, u64::MAX)]),
        ..TokenEntry::default()
    };
    let token = Token { entries: vec![entry], ..Token::default() };
    let got = reencoded(&token).entries.remove(0);
    assert_eq!(got.cleanup, u64::MAX);
    assert!(got.prev_missing.is_empty());
    assert_eq!(got.isect, Some(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Typed errors
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_magic() {
    for (_, mut buf) in valid_datagrams() {
        buf[0] = b'X';
        assert_eq!(decode(&buf), Err(DecodeError::BadMagic([b'X', b'G'])));
        buf[0] = b'A';
        buf[1] = b'g';
        assert_eq!(decode(&buf), Err(DecodeError::BadMagic([b'A', b'g'])));
    }
    assert_eq!(decode(b"GA"), Err(DecodeError::BadMagic(*b"GA")));
    assert_eq!(decode(&[0; 64]), Err(DecodeError::BadMagic([0, 0])));
}

#[test]
fn unsupported_version() {
    for v in [0, 1, 3, 0x7F, 0xFF] {
        for (_, mut buf) in valid_datagrams() {
            buf[2] = v;
            assert_eq!(decode(&buf), Err(DecodeError::UnsupportedVersion(v)));
        }
    }
    // The version is checked before the datagram is known to be long enough.
    assert_eq!(decode(b"AG\x01"), Err(DecodeError::UnsupportedVersion(1)));
}

#[test]
fn fence_request_roundtrip() {
    for req in [FenceRequest { key: 0, nonce: 0 }, FenceRequest { key: u64::MAX, nonce: 7 }] {
        let buf = encode_fence_request(9, 10, &req);
        assert_eq!(buf.len(), HEADER_LEN + 16);
        let (h, f) = decode(&buf).unwrap();
        assert_eq!(h, Header { kind: FrameKind::FenceRequest, region: 9, from: 10 });
        let Frame::FenceRequest(got) = f else { panic!("expected fence request, got {f:?}") };
        // Field by field: both are u64 and must not be swapped.
        assert_eq!((got.key, got.nonce), (req.key, req.nonce));
    }
}

#[test]
fn unknown_kind() {
    for k in [0, 14, 15, 0x80, 0xFF] {
        for (_, mut buf) in valid_datagrams() {
            buf[3] = k;
            assert_eq!(decode(&buf), Err(DecodeError::UnknownKind(k)));
        }
    }
    assert_eq!(decode(b"AG\x02\x00"), Err(DecodeError::UnknownKind(0)));
}

#[test]
fn every_kind_is_covered() {
    let kinds: Vec<u8> = valid_datagrams().iter().map(|(k, _)| *k as u8).collect();
    assert_eq!(kinds, (1..=13).collect::<Vec<u8>>());
    for (kind, buf) in valid_datagrams() {
        let (h, f) = decode(&buf).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(h.kind, kind);
        let matches = match f {
            Frame::Data(_) => kind.is_data(),
            Frame::Heartbeat(_) => kind == FrameKind::Heartbeat,
            Frame::Token(_) => kind == FrameKind::Token,
            Frame::TokenAck(_) => kind == FrameKind::TokenAck,
            Frame::Ack(_) => kind == FrameKind::Ack,
            Frame::Pull(_) => kind == FrameKind::Pull,
            Frame::Nak(_) => kind == FrameKind::Nak,
            Frame::Alive => kind == FrameKind::Alive,
            Frame::StartRequest(_) => kind == FrameKind::StartRequest,
            Frame::StreamStart(_) => kind == FrameKind::StreamStart,
            Frame::FenceRequest(_) => kind == FrameKind::FenceRequest,
        };
        assert!(matches, "{kind:?} decoded as {f:?}");
    }
}

#[test]
fn truncated_at_every_prefix() {
    for (kind, buf) in valid_datagrams() {
        assert!(decode(&buf).is_ok());
        for n in 0..buf.len() {
            match decode(&buf[..n]) {
                Err(DecodeError::Truncated { frame, need, have }) => {
                    assert!(need > have, "{kind:?} prefix {n}: need {need} have {have}");
                    let expect = if n < HEADER_LEN {
                        "header"
                    } else if kind.is_data() {
                        "data"
                    } else {
                        frame_name(kind)
                    };
                    assert_eq!(frame, expect, "{kind:?} prefix {n}");
                }
                other => {
                    panic!("{kind:?} prefix of {n}/{} bytes: expected Truncated, got {other:?}", buf.len())
                }
            }
        }
    }
}

#[test]
fn trailing_bytes() {
    for (kind, buf) in valid_datagrams() {
        for extra in [1usize, 2, 100] {
            let mut long = buf.clone();
            long.resize(buf.len() + extra, 0);
            assert_eq!(
                decode(&long),
                Err(DecodeError::TrailingBytes { frame: frame_name(kind), extra }),
                "{kind:?} + {extra}"
            );
        }
    }
}

#[test]
fn zero_sequence() {
    for kind in [FrameKind::Data, FrameKind::Retransmit, FrameKind::Forward] {
        let buf = Raw::header(kind as u8, 1, 2).u32(3).u64(0).u64(0).u16(1).u16(1).u8(0xAA).done();
        assert_eq!(decode(&buf), Err(DecodeError::ZeroSequence));
        // Same datagram with sequence 1 is fine.
        let ok = Raw::header(kind as u8, 1, 2).u32(3).u64(1).u64(0).u16(1).u16(1).u8(0xAA).done();
        assert_eq!(messages_of(&ok), vec![vec![0xAA]]);
    }
}

#[test]
fn empty_data() {
    for kind in [FrameKind::Data, FrameKind::Retransmit, FrameKind::Forward] {
        let buf = Raw::header(kind as u8, 1, 2).u32(3).u64(4).u64(0).u16(0).done();
        assert_eq!(decode(&buf), Err(DecodeError::EmptyData));
    }
}

#[test]
fn data_message_overruns_datagram() {
    // Count says two messages, only one is present.
    let buf = Raw::header(1, 1, 2).u32(3).u64(4).u64(0).u16(2).u16(1).u8(0xAA).done();
    assert!(matches!(decode(&buf), Err(DecodeError::Truncated { frame: "data", .. })));
    // A message length past the end.
    let buf = Raw::header(1, 1, 2).u32(3).u64(4).u64(0).u16(1).u16(5).bytes(b"abc").done();
    assert_eq!(decode(&buf), Err(DecodeError::Truncated { frame: "data", need: 5, have: 3 }));
}

#[test]
fn request_too_many_ranges() {
    for (kind, name) in [(FrameKind::Pull, "pull"), (FrameKind::Nak, "nak")] {
        let count = MAX_REQUEST_RANGES as u16 + 1;
        let mut raw = Raw::header(kind as u8, 1, 2).u32(3).u16(count);
        for i in 0..count {
            raw = raw.u64(u64::from(i) + 1).u32(1);
        }
        assert_eq!(
            decode(&raw.done()),
            Err(DecodeError::TooManyRanges {
                frame: name,
                count: usize::from(count),
                max: MAX_REQUEST_RANGES
            })
        );
        // The count is checked before the ranges are read.
        let buf = Raw::header(kind as u8, 1, 2).u32(3).u16(u16::MAX).done();
        assert_eq!(
            decode(&buf),
            Err(DecodeError::TooManyRanges {
                frame: name,
                count: usize::from(u16::MAX),
                max: MAX_REQUEST_RANGES
            })
        );
        // Exactly the maximum is accepted.
        let mut raw = Raw::header(kind as u8, 1, 2).u32(3).u16(MAX_REQUEST_RANGES as u16);
        for i in 0..MAX_REQUEST_RANGES as u64 {
            raw = raw.u64(i + 1).u32(1);
        }
        assert!(decode(&raw.done()).is_ok());
    }
}

#[test]
fn request_bad_range() {
    for (kind, name) in [(FrameKind::Pull, "pull"), (FrameKind::Nak, "nak")] {
        let cases: [(u64, u32); 4] = [(0, 1), (5, 0), (u64::MAX, 2), (u64::MAX - 10, u32::MAX)];
        for (start, len) in cases {
            // The bad range comes after a good one.
            let buf = Raw::header(kind as u8, 1, 2).u32(3).u16(2).u64(1).u32(1).u64(start).u32(len).done();
            assert_eq!(
                decode(&buf),
                Err(DecodeError::BadRange { frame: name, start, len: u64::from(len) }),
                "{kind:?} start {start} len {len}"
            );
        }
        // Ending exactly at u64::MAX is fine.
        let buf = Raw::header(kind as u8, 1, 2).u32(3).u16(1).u64(u64::MAX - 9).u32(10).done();
        let (_, _, got, _) = decode_request(&buf);
        assert_eq!(got, vec![r(u64::MAX - 9, u64::MAX)]);
    }
}

#[test]
fn token_too_many_ranges() {
    let n = MAX_TOKEN_RANGES as u8 + 1;
    for (n_prev, n_isect) in [(n, 0), (0, n), (n, 0xFF), (0xFE, 0xFF), (0, 0xFE)] {
        let mut raw = Raw::token_prefix(1).entry_fixed(0, n_prev, n_isect, 0);
        let total = usize::from(n_prev) + if n_isect == 0xFF { 0 } else { usize::from(n_isect) };
        for i in 0..total as u32 {
            raw = raw.u32(i + 1).u32(1);
        }
        let bad = if n_prev > MAX_TOKEN_RANGES as u8 { n_prev } else { n_isect };
        assert_eq!(
            decode(&raw.done()),
            Err(DecodeError::TooManyRanges {
                frame: "token",
                count: usize::from(bad),
                max: MAX_TOKEN_RANGES
            }),
            "prev {n_prev} isect {n_isect}"
        );
    }
    // 0xFF means "no intersection", not 255 ranges.
    let buf = Raw::token_prefix(1).entry_fixed(0, 0, 0xFF, 0).done();
    let Frame::Token(tf) = decode(&buf).unwrap().1 else { panic!("expected token") };
    assert_eq!(tf.entries().next().unwrap().isect, None);
}

#[test]
fn token_bad_range() {
    // (cleanup, offset, len, in isect?)
    let cases: [(u64, u32, u32, bool); 6] = [
        (0, 0, 1, false),
        (0, 1, 0, false),
        (u64::MAX, 1, 1, false),
        (u64::MAX - 5, 3, 4, false),
        (100, 0, 5, true),
        (u64::MAX - 1, 1, 2, true),
    ];
    for (cleanup, off, len, in_isect) in cases {
        let (n_prev, n_isect) = if in_isect { (1, 1) } else { (1, 0xFF) };
        let mut raw = Raw::token_prefix(1).entry_fixed(cleanup, n_prev, n_isect, 0);
        if in_isect {
            raw = raw.u32(1).u32(1); // a good prev range first
        }
        let buf = raw.u32(off).u32(len).done();
        assert_eq!(
            decode(&buf),
            Err(DecodeError::BadRange { frame: "token", start: u64::from(off), len: u64::from(len) }),
            "cleanup {cleanup} off {off} len {len} isect {in_isect}"
        );
    }
    // Ending exactly at u64::MAX is fine.
    let buf = Raw::token_prefix(1).entry_fixed(u64::MAX - 3, 1, 0xFF, 0).u32(1).u32(3).done();
    let Frame::Token(tf) = decode(&buf).unwrap().1 else { panic!("expected token") };
    let e = tf.entries().next().unwrap();
    assert_eq!(e.prev_missing.iter().collect::<Vec<_>>(), vec![r(u64::MAX - 2, u64::MAX)]);
}

#[test]
fn token_bad_second_entry_is_rejected() {
    let buf = Raw::token_prefix(2)
        .entry_fixed(0, 0, 0xFF, 0)
        .entry_fixed(0, 1, 0xFF, 0)
        .u32(0) // offset 0
        .u32(1)
        .done();
    assert_eq!(decode(&buf), Err(DecodeError::BadRange { frame: "token", start: 0, len: 1 }));
}

#[test]
fn token_partition_count_overruns() {
    let buf = Raw::token_prefix(1).entry_fixed(0, 0, 0xFF, u16::MAX).u64(1).done();
    assert!(matches!(decode(&buf), Err(DecodeError::Truncated { frame: "token", .. })));
}

#[test]
fn errors_display() {
    let errors = [
        DecodeError::Truncated { frame: "data", need: 4, have: 1 },
        DecodeError::BadMagic(*b"XY"),
        DecodeError::UnsupportedVersion(9),
        DecodeError::UnknownKind(42),
        DecodeError::TrailingBytes { frame: "ack", extra: 3 },
        DecodeError::BadRange { frame: "pull", start: 0, len: 1 },
        DecodeError::TooManyRanges { frame: "nak", count: 300, max: 256 },
        DecodeError::ZeroSequence,
        DecodeError::EmptyData,
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(!msg.is_empty());
        let _: &dyn std::error::Error = &e;
    }
    assert!(DecodeError::UnsupportedVersion(9).to_string().contains(&VERSION.to_string()));
}

#[test]
fn a_data_datagram_carries_the_view_it_was_sent_in() {
    for view in [0, 1, 7, u64::MAX] {
        let mut b = DataBuilder::in_view(3, 4, 5, view, 256);
        assert!(b.push(b"hello"));
        let buf = b.finish();
        assert_eq!(argent_wire::view_of(&buf), view);
        let (_, f) = decode(&buf).unwrap();
        let Frame::Data(d) = f else { panic!("expected data, got {f:?}") };
        assert_eq!((d.sender, d.seq, d.view, d.count), (4, 5, view, 1));
        // Forwards and retransmissions copy the body, view included.
        let copy = encode_data_copy(FrameKind::Forward, 3, 9, d.body());
        assert_eq!(argent_wire::view_of(&copy), view);
    }
    assert_eq!(argent_wire::view_of(b"AG"), 0, "too short: no view");
}

#[test]
fn datagrams_carved_from_one_block_are_the_same_as_built_alone() {
    let block = bytes::BytesMut::with_capacity(4 * 1400);
    let mut b = DataBuilder::in_buffer(block, 11, 22, 33, 0, 1400);
    assert!(b.push(b"hello"));
    assert!(b.push(b""));
    assert!(b.push(&[0xAB; 300]));
    let (first, rest) = b.finish_rest();
    assert_eq!(first.to_vec(), sample_data(), "same bytes as DataBuilder::new");
    assert!(rest.is_empty() && rest.capacity() >= 3 * 1400, "the rest of the block: {}", rest.capacity());
    // The next datagram in the rest, and an abandoned one gives its buffer back.
    let mut b = DataBuilder::in_buffer(rest, 11, 22, 34, 0, 1400);
    assert!(b.push(b"next"));
    let (second, rest) = b.finish_rest();
    let Ok((_, Frame::Data(d))) = decode(&second) else { panic!("a data frame") };
    assert_eq!((d.seq, d.messages().collect::<Vec<_>>()), (34, vec![&b"next"[..]]));
    assert_eq!(first.to_vec(), sample_data(), "untouched by the next datagram");
    let again = DataBuilder::in_buffer(rest, 11, 22, 35, 0, 1400).abandon();
    assert!(again.is_empty() && again.capacity() >= 1400);
}
