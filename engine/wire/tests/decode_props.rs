//! Property tests: decoding never panics on hostile input, and encodings roundtrip.
//!
//! Every successfully decoded datagram is also walked completely (messages, entries, ranges,
//! partitions) and re-encoded: the encoding is canonical, so the re-encoded datagram must be
//! byte-for-byte the input.

use argent_wire::{
    decode, encode_ack, encode_alive, encode_data_copy, encode_fence_request, encode_heartbeat,
    encode_request, encode_start_request, encode_stream_start, encode_token_ack, Ack, DataBuilder,
    FenceRequest, Frame, FrameKind, Heartbeat, SeqRange, StartRequest, StreamStart, Token, TokenAck,
    TokenEntry, DATA_PREFIX_LEN, HEADER_LEN, MAGIC, MAX_DATAGRAM, MAX_REQUEST_RANGES, MAX_TOKEN_RANGES,
    MESSAGE_OVERHEAD, VERSION,
};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// Walking a decoded datagram
// ---------------------------------------------------------------------------------------------

/// Decode `buf`; if it decodes, touch every borrowed view and check it re-encodes to `buf`.
fn walk(buf: &[u8]) {
    let Ok((h, frame)) = decode(buf) else { return };
    match frame {
        Frame::Data(d) => {
            assert!(h.kind.is_data());
            assert!(d.seq > 0);
            let msgs: Vec<&[u8]> = d.messages().collect();
            assert_eq!(msgs.len(), usize::from(d.count));
            assert!(!msgs.is_empty());
            let payload: usize = msgs.iter().map(|m| MESSAGE_OVERHEAD + m.len()).sum();
            assert_eq!(HEADER_LEN + d.body().len(), DATA_PREFIX_LEN + payload);
            assert_eq!(encode_data_copy(h.kind, h.region, h.from, d.body()), buf);
        }
        Frame::Alive => {
            assert_eq!(h.kind, FrameKind::Alive);
            assert_eq!(encode_alive(h.region, h.from), buf);
        }
        Frame::StartRequest(req) => {
            assert_eq!(h.kind, FrameKind::StartRequest);
            assert_eq!(encode_start_request(h.region, h.from, &req), buf);
        }
        Frame::StreamStart(start) => {
            assert_eq!(h.kind, FrameKind::StreamStart);
            assert_eq!(encode_stream_start(h.region, h.from, &start), buf);
        }
        Frame::FenceRequest(req) => {
            assert_eq!(h.kind, FrameKind::FenceRequest);
            assert_eq!(encode_fence_request(h.region, h.from, &req), buf);
        }
        Frame::Heartbeat(hb) => {
            assert_eq!(h.kind, FrameKind::Heartbeat);
            assert_eq!(encode_heartbeat(h.region, h.from, &hb), buf);
        }
        Frame::TokenAck(ack) => {
            assert_eq!(h.kind, FrameKind::TokenAck);
            assert_eq!(encode_token_ack(h.region, h.from, &ack), buf);
        }
        Frame::Ack(ack) => {
            assert_eq!(h.kind, FrameKind::Ack);
            assert_eq!(encode_ack(h.region, h.from, &ack), buf);
        }
        Frame::Pull(req) | Frame::Nak(req) => {
            let nak = h.kind == FrameKind::Nak;
            assert!(nak || h.kind == FrameKind::Pull);
            let ranges: Vec<SeqRange> = req.ranges.iter().collect();
            assert_eq!(ranges.len(), req.ranges.len());
            assert_eq!(ranges.is_empty(), req.ranges.is_empty());
            assert!(ranges.len() <= MAX_REQUEST_RANGES);
            for r in &ranges {
                assert!(r.start >= 1 && r.end >= r.start);
                assert!(r.len() <= u64::from(u32::MAX));
            }
            assert_eq!(encode_request(h.region, h.from, nak, req.sender, &ranges), buf);
        }
        Frame::Token(tf) => {
            assert_eq!(h.kind, FrameKind::Token);
            let mut entries = 0;
            for e in tf.entries() {
                entries += 1;
                let lists = std::iter::once(e.prev_missing).chain(e.isect);
                for list in lists {
                    assert!(list.len() <= MAX_TOKEN_RANGES);
                    let ranges: Vec<SeqRange> = list.iter().collect();
                    assert_eq!(ranges.len(), list.len());
                    assert_eq!(ranges.is_empty(), list.is_empty());
                    for r in ranges {
                        assert!(r.start > e.cleanup && r.end >= r.start);
                        assert!(r.start - e.cleanup <= u64::from(u32::MAX));
                        assert!(r.len() <= u64::from(u32::MAX));
                    }
                }
                let _ = e.partitions().count();
                let owned = e.to_entry();
                assert_eq!(owned.sender, e.sender);
                assert_eq!(owned.cleanup, e.cleanup);
            }
            let token = tf.to_token();
            assert_eq!(token.entries.len(), entries);
            assert_eq!(
                (token.view, token.round, token.hop, token.flags),
                (tf.view, tf.round, tf.hop, tf.flags)
            );
            assert_eq!(token.encode(h.region, h.from), buf);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// u64 biased towards the edges, where overflow bugs live.
fn num64() -> impl Strategy<Value = u64> {
    prop_oneof![0..4u64, any::<u64>(), (u64::MAX - 4)..=u64::MAX]
}

fn num32() -> impl Strategy<Value = u32> {
    prop_oneof![0..4u32, any::<u32>(), (u32::MAX - 4)..=u32::MAX]
}

/// Nonzero u32 biased towards the edges.
fn nonzero32() -> impl Strategy<Value = u32> {
    prop_oneof![1..64u32, 1..=u32::MAX, (u32::MAX - 4)..=u32::MAX]
}

/// A range expressible in a pull or NAK: start >= 1, length fits a u32, no overflow.
fn request_range() -> impl Strategy<Value = SeqRange> {
    (prop_oneof![1..1000u64, 1..=u64::MAX, (u64::MAX - 1000)..=u64::MAX], nonzero32()).prop_map(
        |(start, len)| {
            let start = start.min(u64::MAX - (u64::from(len) - 1));
            SeqRange { start, end: start + (u64::from(len) - 1) }
        },
    )
}

/// Token ranges as (offset above cleanup, length) made absolute; overflowing ones dropped.
fn token_ranges(cleanup: u64, rel: Vec<(u32, u32)>) -> Vec<SeqRange> {
    rel.into_iter()
        .filter_map(|(off, len)| {
            let start = cleanup.checked_add(u64::from(off))?;
            let end = start.checked_add(u64::from(len) - 1)?;
            Some(SeqRange { start, end })
        })
        .collect()
}

fn rel_ranges() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::vec((nonzero32(), nonzero32()), 0..=MAX_TOKEN_RANGES)
}

fn token_entry() -> impl Strategy<Value = TokenEntry> {
    (
        (any::<u32>(), num64(), num64(), num64(), num64(), num64()),
        (num32(), num32(), num64(), num32()),
        (rel_ranges(), prop::option::of(rel_ranges()), prop::collection::vec(num64(), 0..6)),
    )
        .prop_map(
            |(
                (sender, cutoff, cleanup, max_seen, min_contiguous, part_contiguous),
                (rate_min, rate_max, rate_sum, rate_count),
                (prev, isect, partitions),
            )| TokenEntry {
                sender,
                cutoff,
                cleanup,
                max_seen,
                min_contiguous,
                part_contiguous,
                rate_min,
                rate_max,
                rate_sum,
                rate_count,
                prev_missing: token_ranges(cleanup, prev),
                isect: isect.map(|i| token_ranges(cleanup, i)),
                partitions,
            },
        )
}

fn token() -> impl Strategy<Value = Token> {
    (num64(), num64(), num32(), any::<u8>(), prop::collection::vec(token_entry(), 0..4))
        .prop_map(|(view, round, hop, flags, entries)| Token { view, round, hop, flags, entries })
}

fn data_kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![Just(FrameKind::Data), Just(FrameKind::Retransmit), Just(FrameKind::Forward)]
}

/// A data datagram of any data kind, built with [`DataBuilder`].
fn data_datagram() -> impl Strategy<Value = Vec<u8>> {
    (
        data_kind(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        1..=u64::MAX,
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 1..8),
    )
        .prop_map(|(kind, region, from, sender, seq, msgs)| {
            let mut b = DataBuilder::new(region, sender, seq, MAX_DATAGRAM);
            for m in &msgs {
                assert!(b.push(m));
            }
            let built = b.finish();
            let body = &built[HEADER_LEN..];
            encode_data_copy(kind, region, from, body)
        })
}

/// A valid datagram of any kind, from arbitrary field values.
fn valid_datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => data_datagram(),
        1 => (any::<u32>(), any::<u32>(), any::<u32>(), num64())
            .prop_map(|(region, from, sender, highest)| encode_heartbeat(region, from, &Heartbeat { sender, highest })),
        3 => (any::<u32>(), any::<u32>(), token()).prop_map(|(region, from, t)| t.encode(region, from)),
        1 => (any::<u32>(), any::<u32>(), num64(), num64(), num32())
            .prop_map(|(region, from, view, round, hop)| encode_token_ack(region, from, &TokenAck { view, round, hop })),
        1 => (any::<u32>(), any::<u32>(), (num64(), num64(), num32(), num64(), num64()), (num32(), num32(), num32()))
            .prop_map(|(region, from, (view, round, sender, stable, max_seen), (rate_min, rate_avg, rate_max))| {
                encode_ack(region, from, &Ack { view, round, sender, stable, max_seen, rate_min, rate_avg, rate_max })
            }),
        2 => (any::<u32>(), any::<u32>(), any::<bool>(), any::<u32>(), prop::collection::vec(request_range(), 0..24))
            .prop_map(|(region, from, nak, sender, ranges)| encode_request(region, from, nak, sender, &ranges)),
        1 => (any::<u32>(), any::<u32>(), num64(), any::<u32>())
            .prop_map(|(region, from, view, sender)| encode_start_request(region, from, &StartRequest { view, sender })),
        1 => (any::<u32>(), any::<u32>(), num64(), any::<u32>(), num64(), any::<u8>())
            .prop_map(|(region, from, view, sender, base, flags)| {
                encode_stream_start(region, from, &StreamStart { view, sender, base, flags })
            }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(region, from)| encode_alive(region, from)),
        1 => (any::<u32>(), any::<u32>(), num64(), num64())
            .prop_map(|(region, from, key, nonce)| encode_fence_request(region, from, &FenceRequest { key, nonce })),
    ]
}

/// A byte value likely to hit a boundary when it lands in a count or length field.
fn edge_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0u8),
        Just(1),
        Just(MAX_TOKEN_RANGES as u8),
        Just(MAX_TOKEN_RANGES as u8 + 1),
        Just(0x7F),
        Just(0x80),
        Just(0xFE),
        Just(0xFF),
        any::<u8>(),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Replace(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        3 => (any::<Index>(), edge_byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        1 => (any::<Index>(), edge_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(buf: &mut Vec<u8>, m: &Mutation) {
    if let Mutation::Insert(i, b) = m {
        let at = i.index(buf.len() + 1);
        buf.insert(at, *b);
        return;
    }
    if buf.is_empty() {
        return;
    }
    let len = buf.len();
    match m {
        Mutation::Flip(i, bit) => buf[i.index(len)] ^= 1 << bit,
        Mutation::Replace(i, b) => {
            let at = i.index(buf.len());
            buf[at] = *b;
        }
        Mutation::Remove(i) => {
            buf.remove(i.index(buf.len()));
        }
        Mutation::Truncate(i) => buf.truncate(i.index(buf.len())),
        Mutation::Insert(..) => unreachable!(),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Push(Vec<u8>),
    Claim(Vec<u8>),
    ClaimUnclaim(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let msg = || {
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..32),
            1 => prop::collection::vec(any::<u8>(), 0..1500),
        ]
    };
    prop_oneof![
        4 => msg().prop_map(Op::Push),
        2 => msg().prop_map(Op::Claim),
        1 => (0..200usize).prop_map(Op::ClaimUnclaim),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    /// (a) Arbitrary bytes never make the decoder panic.
    #[test]
    fn random_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..2000)) {
        walk(&buf);
    }

    /// (b) Arbitrary bytes behind a valid header never make the decoder panic.
    #[test]
    fn random_body_never_panics(
        kind in 1..=12u8,
        region in any::<u32>(),
        from in any::<u32>(),
        body in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut buf = Vec::with_capacity(HEADER_LEN + body.len());
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(kind);
        buf.extend_from_slice(&region.to_le_bytes());
        buf.extend_from_slice(&from.to_le_bytes());
        prop_assert_eq!(buf.len(), HEADER_LEN);
        buf.extend_from_slice(&body);
        walk(&buf);
    }

    /// Every generated datagram decodes and re-encodes identically (checks the generator).
    #[test]
    fn valid_datagrams_decode(buf in valid_datagram()) {
        prop_assert!(decode(&buf).is_ok(), "{:?}", decode(&buf));
        walk(&buf);
    }

    /// (c) Mutated valid datagrams never make the decoder, or walking what it returns, panic.
    #[test]
    fn mutated_datagrams_never_panic(
        buf in valid_datagram(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let mut buf = buf;
        for m in &mutations {
            apply(&mut buf, m);
            walk(&buf);
        }
    }

    /// (d) Whatever is pushed or claimed into a DataBuilder decodes to the same messages.
    #[test]
    fn data_builder_roundtrip(
        region in any::<u32>(),
        sender in any::<u32>(),
        seq in 1..=u64::MAX,
        limit in prop_oneof![
            (DATA_PREFIX_LEN + MESSAGE_OVERHEAD + 1)..200,
            200..3000usize,
            Just(MAX_DATAGRAM),
        ],
        ops in prop::collection::vec(op(), 0..40),
    ) {
        let mut b = DataBuilder::new(region, sender, seq, limit);
        let mut want: Vec<Vec<u8>> = Vec::new();
        let mut len = DATA_PREFIX_LEN;
        let model_fits = |len: usize, n: usize, msg: usize| {
            n < usize::from(u16::MAX) && msg <= usize::from(u16::MAX) && len + MESSAGE_OVERHEAD + msg <= limit
        };
        for op in &ops {
            match op {
                Op::Push(m) => {
                    let fits = model_fits(len, want.len(), m.len());
                    prop_assert_eq!(b.fits(m.len()), fits);
                    prop_assert_eq!(b.push(m), fits);
                    if fits {
                        len += MESSAGE_OVERHEAD + m.len();
                        want.push(m.clone());
                    }
                }
                Op::Claim(m) => {
                    let fits = model_fits(len, want.len(), m.len());
                    match b.claim(m.len()) {
                        Some(dst) => {
                            prop_assert!(fits);
                            prop_assert_eq!(dst.len(), m.len());
                            dst.copy_from_slice(m);
                            len += MESSAGE_OVERHEAD + m.len();
                            want.push(m.clone());
                        }
                        None => prop_assert!(!fits),
                    }
                }
                Op::ClaimUnclaim(n) => {
                    if let Some(dst) = b.claim(*n) {
                        dst.fill(0xCC);
                        b.unclaim(*n);
                    }
                }
            }
            prop_assert_eq!(b.len(), len);
            prop_assert_eq!(usize::from(b.count()), want.len());
            prop_assert_eq!(b.is_empty(), want.is_empty());
            prop_assert!(b.len() <= limit);
        }
        if want.is_empty() {
            prop_assert!(b.push(b""));
            want.push(Vec::new());
        }
        let built = b.finish();
        prop_assert!(built.len() <= limit);
        let (h, frame) = decode(&built).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(h.kind, FrameKind::Data);
        prop_assert_eq!(h.region, region);
        prop_assert_eq!(h.from, sender);
        let Frame::Data(d) = frame else { return Err(TestCaseError::fail("not a data frame")) };
        prop_assert_eq!(d.sender, sender);
        prop_assert_eq!(d.seq, seq);
        prop_assert_eq!(usize::from(d.count), want.len());
        let got: Vec<Vec<u8>> = d.messages().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(got, want);
        walk(&built);
    }

    /// (d) A token whose ranges all lie strictly above cleanup, at most 2^32 above it and at most
    /// MAX_TOKEN_RANGES per list roundtrips exactly.
    #[test]
    fn token_roundtrip(token in token(), region in any::<u32>(), from in any::<u32>()) {
        let buf = token.encode(region, from);
        let (h, frame) = decode(&buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(h.kind, FrameKind::Token);
        prop_assert_eq!(h.region, region);
        prop_assert_eq!(h.from, from);
        let Frame::Token(tf) = frame else { return Err(TestCaseError::fail("not a token")) };
        prop_assert_eq!(tf.to_token(), token);
        walk(&buf);
    }

    /// Pull and NAK ranges roundtrip exactly when expressible.
    #[test]
    fn request_roundtrip(
        nak in any::<bool>(),
        sender in any::<u32>(),
        ranges in prop::collection::vec(request_range(), 0..40),
    ) {
        let buf = encode_request(1, 2, nak, sender, &ranges);
        let (_, frame) = decode(&buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let req = match frame {
            Frame::Pull(req) if !nak => req,
            Frame::Nak(req) if nak => req,
            other => return Err(TestCaseError::fail(format!("wrong frame {other:?}"))),
        };
        prop_assert_eq!(req.sender, sender);
        prop_assert_eq!(req.ranges.iter().collect::<Vec<_>>(), ranges);
    }
}
