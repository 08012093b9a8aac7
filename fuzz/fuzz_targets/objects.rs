//! Live-object frames and payloads: frame parsing, checkpoint reassembly, positions,
//! updates and checkpoints of every kind. Arbitrary bytes never panic; an update that
//! decodes applies to a restored state without panicking; reassembly stays bounded.

#![no_main]

use argent_objects::frame::{parse_checkpoint, parse_part, parse_request, split, Assembler, MAX_ASSEMBLING};
use argent_objects::object::{Chat, EventStream, LiveObject, Position, ReplicatedMap, ReplicatedVar, Update};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 16;

fuzz_target!(|buf: &[u8]| {
    let Some((&which, rest)) = buf.split_first() else { return };
    match which % 8 {
        0 => frames(rest),
        1 => assemble(rest),
        2 => {
            let _ = Position::decode(rest);
        }
        3 => kind::<Chat>(rest),
        4 => kind::<ReplicatedVar<i64>>(rest),
        5 => kind::<ReplicatedVar<String>>(rest),
        6 => kind::<ReplicatedMap<String, i64>>(rest),
        _ => kind::<EventStream<Vec<u8>>>(rest),
    }
});

fn frames(b: &[u8]) {
    if let Some((_, _, body)) = split(b) {
        let _ = parse_request(body);
        let _ = parse_checkpoint(body);
        let _ = parse_part(body);
    }
}

/// Parts from a few senders: records of `sender (1) | len (2) | body`.
fn assemble(mut b: &[u8]) {
    let mut a = Assembler::new(LIMIT);
    while b.len() >= 3 {
        let sender = u64::from(b[0] % (MAX_ASSEMBLING as u8 + 2));
        let len = usize::from(u16::from_le_bytes([b[1], b[2]])).min(b.len() - 3);
        if let Some(whole) = a.push(sender, &b[3..3 + len]) {
            assert!(whole.len() <= LIMIT + 64, "a checkpoint of {} bytes past the limit", whole.len());
        }
        b = &b[3 + len..];
    }
}

/// A checkpoint, then updates, of kind `K`: the input is `split (2) | checkpoint | updates`,
/// the updates as records of `len (2) | bytes`.
fn kind<K: LiveObject>(b: &[u8]) {
    if b.len() < 2 {
        return;
    }
    let at = usize::from(u16::from_le_bytes([b[0], b[1]])).min(b.len() - 2);
    let (checkpoint, mut updates) = b[2..].split_at(at);
    let mut state = K::restore(checkpoint).unwrap_or_else(|_| K::initial());
    while updates.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([updates[0], updates[1]])).min(updates.len() - 2);
        if let Ok(u) = Update::<K::Op>::decode(&updates[2..2 + len]) {
            let _ = K::apply(&mut state, u.stamp, u.op);
        }
        updates = &updates[2 + len..];
    }
    let bytes = K::checkpoint(&state).expect("a state that applied checkpoints");
    K::restore(&bytes).expect("a checkpoint restores");
}
