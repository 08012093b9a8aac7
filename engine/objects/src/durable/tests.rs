//! The replica format: round trips, torn and corrupt tails, rebuilding across a compaction,
//! and decoders that never panic on arbitrary bytes.

use super::*;
use crate::object::{Counter, CounterOp, LiveObject, Proxy, ReplicatedLog};
use proptest::prelude::*;

type Log = ReplicatedLog<u32>;

/// A proxy that applied `n` appends of its own, and their encoded updates.
fn appended(n: u32) -> (Proxy<Log>, Vec<Vec<u8>>) {
    let mut p = Proxy::<Log>::new(1 << 40);
    let updates: Vec<Vec<u8>> = (0..n).map(|i| p.append(i).unwrap()).collect();
    for u in &updates {
        p.deliver(u).unwrap();
    }
    (p, updates)
}

#[test]
fn records_round_trip_and_a_torn_tail_is_ignored() {
    let mut log = Vec::new();
    for body in [&b"one"[..], b"", b"three"] {
        log.extend(encode_record(body).unwrap());
    }
    let whole = log.len();
    let r = decode_records(&log);
    assert_eq!(r.bodies, [&b"one"[..], b"", b"three"]);
    assert_eq!(r.clean, whole);
    // A crash mid-write: every prefix reads as the whole records before the cut.
    for cut in 0..whole {
        let r = decode_records(&log[..cut]);
        assert!(r.clean <= cut && r.bodies.len() <= 3);
        assert_eq!(decode_records(&log[..r.clean]).bodies, r.bodies);
    }
    // A flipped byte ends the log at the record it is in.
    log[RECORD_HEADER + 1] ^= 1;
    assert_eq!(decode_records(&log).bodies.len(), 0);
}

#[test]
fn a_base_round_trips_and_refuses_damage() {
    let (p, _) = appended(3);
    let position = p.position().encode().unwrap();
    let bytes = encode_base(7, &position, &p.checkpoint().unwrap()).unwrap();
    let base = decode_base(&bytes).unwrap();
    assert_eq!((base.object, &base.position), (7, p.position()));
    assert_eq!(base.checkpoint, p.checkpoint().unwrap());
    for cut in 0..bytes.len() {
        assert!(decode_base(&bytes[..cut]).is_err(), "a base cut at {cut} read as whole");
    }
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x40;
    assert!(decode_base(&flipped).is_err());
}

#[test]
fn a_rebuild_applies_the_log_after_its_base_once() {
    let (p, updates) = appended(10);
    let (early, _) = appended(4);
    // The base includes 4 updates, the log all 10 (a compaction cut short before the log
    // was emptied): 4 are skipped, 6 applied, and the state is the proxy's.
    let refs: Vec<&[u8]> = updates.iter().map(Vec::as_slice).collect();
    let r = rebuild::<Log>(&early.checkpoint().unwrap(), early.position(), &refs).unwrap();
    assert_eq!((r.applied, r.skipped, r.stopped.as_ref()), (6, 4, None));
    assert_eq!((r.checkpoint, &r.position), (p.checkpoint().unwrap(), p.position()));
    // A log with a gap stops at it: the state is what came before.
    let gap: Vec<&[u8]> = vec![refs[0], refs[2]];
    let empty = Log::checkpoint(&Log::initial()).unwrap();
    let r = rebuild::<Log>(&empty, &crate::object::Position::new(), &gap).unwrap();
    assert_eq!(r.applied, 1);
    assert!(r.stopped.is_some());
    // A base of another kind is refused.
    let counter = Counter::checkpoint(&Counter::initial()).unwrap();
    assert!(rebuild::<ReplicatedLog<String>>(&[9, 9], p.position(), &[]).is_err());
    let r = rebuild::<Counter>(&counter, &crate::object::Position::new(), &[]).unwrap();
    assert_eq!(r.checkpoint, counter);
    let _ = CounterOp::Increment(1);
}

proptest! {
    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let r = decode_records(&bytes);
        prop_assert!(r.clean <= bytes.len());
        let _ = decode_base(&bytes);
        let refs: Vec<&[u8]> = bytes.chunks(7).collect();
        let empty = Log::checkpoint(&Log::initial()).unwrap();
        let _ = rebuild::<Log>(&empty, &crate::object::Position::new(), &refs);
        let _ = rebuild::<Counter>(&bytes, &crate::object::Position::new(), &refs);
    }

    #[test]
    fn mutated_replicas_never_panic(n in 1u32..20, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let (p, updates) = appended(n);
        let mut log = Vec::new();
        for u in &updates {
            log.extend(encode_record(u).unwrap());
        }
        let mut base = encode_base(1, &p.position().encode().unwrap(), &p.checkpoint().unwrap()).unwrap();
        for (at, x) in flips {
            let i = at % log.len();
            log[i] ^= x;
            let j = at % base.len();
            base[j] ^= x;
        }
        let records = decode_records(&log);
        if let Ok(b) = decode_base(&base) {
            let _ = rebuild::<Log>(&b.checkpoint, &b.position, &records.bodies);
        }
    }
}
