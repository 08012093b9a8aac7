//! A durable object's replica on disk (`argent_objects::durable`): base files and logs as
//! a crash or a bad disk may leave them. Arbitrary bytes never panic; the records read are
//! whole and within the log; a base that decodes round-trips; a replica
//! whose records have valid checksums but arbitrary bodies rebuilds without panicking.

#![no_main]

use argent_objects::durable::{decode_base, decode_records, encode_base, encode_record, rebuild};
use argent_objects::object::{Counter, Lock, LiveObject, Position, ReplicatedLog, ReplicatedMap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| {
    let Some((&which, rest)) = buf.split_first() else { return };
    match which % 6 {
        0 => raw(rest),
        1 => replica::<ReplicatedLog<String>>(rest),
        2 => replica::<Counter>(rest),
        3 => replica::<Lock>(rest),
        4 => replica::<ReplicatedMap<String, i64>>(rest),
        _ => replica::<ReplicatedLog<u32>>(rest),
    }
});

/// Arbitrary bytes as a base file and as a log.
fn raw(b: &[u8]) {
    if let Ok(base) = decode_base(b) {
        let position = base.position.encode().expect("it decoded");
        let again = encode_base(base.object, &position, &base.checkpoint).expect("it decoded");
        assert_eq!(decode_base(&again).as_ref(), Ok(&base), "a base that decodes round-trips");
    }
    let records = decode_records(b);
    assert!(records.clean <= b.len());
    let whole: usize = records.bodies.iter().map(|r| r.len()).sum();
    assert!(whole <= records.clean, "record bodies past the clean length");
}

/// A base (`split (2) | checkpoint | position`) and a log whose records carry valid
/// checksums over the fuzzer's bodies (`len (1) | body` each), then a torn tail: the
/// rebuild never panics and the reading stops where the whole records end.
fn replica<K: LiveObject>(b: &[u8]) {
    if b.len() < 3 {
        return;
    }
    let at = usize::from(u16::from_le_bytes([b[0], b[1]])).min(b.len() - 2);
    let (checkpoint, rest) = b[2..].split_at(at);
    let (position, mut bodies) = rest.split_at(rest.len().min(usize::from(rest.first().copied().unwrap_or(0))));
    let position = Position::decode(position).unwrap_or_default();
    let checkpoint = if K::restore(checkpoint).is_ok() {
        checkpoint.to_vec()
    } else {
        K::checkpoint(&K::initial()).expect("the initial state checkpoints")
    };
    let base = encode_base(7, &position.encode().expect("a position encodes"), &checkpoint).expect("small");
    assert!(decode_base(&base).is_ok());
    let mut log = Vec::new();
    let mut written = 0;
    while let Some((&len, tail)) = bodies.split_first() {
        let len = usize::from(len).min(tail.len());
        log.extend(encode_record(&tail[..len]).expect("small"));
        written += 1;
        bodies = &tail[len..];
    }
    let clean = log.len();
    log.extend_from_slice(&b[..b.len().min(5)]); // a torn record after the whole ones
    let records = decode_records(&log);
    assert_eq!(records.bodies.len(), written, "every whole record is read");
    assert_eq!(records.clean, clean);
    let _ = rebuild::<K>(&checkpoint, &position, &records.bodies);
}
