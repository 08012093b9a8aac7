//! Sealing and opening: what passes, what is refused and why, and that no input panics.

use argent_auth::*;
use proptest::prelude::*;

fn ring(epoch: u16, byte: u8) -> KeyRing {
    KeyRing::single(ClusterKey::from_bytes(epoch, [byte; KEY_LEN]))
}

fn sealed(ring: &KeyRing, id: u32, mode: Mode, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Sealer::new(ring, id, mode).seal(7, body, &mut out);
    out
}

#[test]
fn both_modes_round_trip_and_name_the_sender() {
    let r = ring(1, 9);
    for mode in [Mode::Mac, Mode::Aead] {
        let mut s = Sealer::new(&r, 3, mode);
        let mut o = Opener::new(r.clone(), mode);
        for i in 0..100u32 {
            let body = vec![i as u8; i as usize * 13];
            let mut d = Vec::new();
            s.seal(i % 3, &body, &mut d);
            assert_eq!(d.len(), body.len() + TRAILER);
            assert_eq!(
                d[..body.len()] == body[..],
                mode == Mode::Mac || body.is_empty(),
                "aead hides the body"
            );
            let got = o.open(&mut d).expect("opens");
            assert_eq!((got.sender, got.channel, &d[..got.len]), (3, i % 3, &body[..]));
        }
        assert_eq!(o.stats().opened, 100);
    }
}

#[test]
fn opening_into_another_buffer_matches_opening_in_place() {
    let r = ring(1, 9);
    for mode in [Mode::Mac, Mode::Aead] {
        let mut s = Sealer::new(&r, 3, mode);
        let mut o = Opener::new(r.clone(), mode);
        for i in 0..50u32 {
            let body: Vec<u8> = (0..i * 97).map(|b| (b * 31 + i) as u8).collect();
            let mut d = Vec::new();
            s.seal(1, &body, &mut d);
            let mut out = vec![0u8; d.len()];
            let mut bad = d.clone();
            bad[0] ^= u8::from(!body.is_empty());
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(o.open_into(&bad, &mut out), Err(Refusal::Forged), "{mode:?}: a flipped bit");
            let got = o.open_into(&d, &mut out).expect("opens");
            assert_eq!((got.sender, got.len, &out[..got.len]), (3, body.len(), &body[..]));
            assert_eq!(o.open_into(&d, &mut out), Err(Refusal::Replay));
        }
        assert_eq!(o.stats().opened, 50);
    }
}

#[test]
fn refusals_are_named_and_counted() {
    let r = ring(1, 9);
    let d = sealed(&r, 3, Mode::Mac, b"hello");
    let mut o = Opener::new(r.clone(), Mode::Mac);
    assert!(o.verify(&d).is_ok());
    assert_eq!(o.verify(&d), Err(Refusal::Replay), "the same datagram again");
    assert_eq!(o.verify(&d[..10]), Err(Refusal::Short));
    // Another cluster's key, and a forged sender id in the trailer.
    let other = sealed(&ring(1, 10), 3, Mode::Mac, b"hello");
    assert_eq!(o.verify(&other), Err(Refusal::Forged));
    let mut spoof = sealed(&r, 3, Mode::Mac, b"hello");
    let at = spoof.len() - TRAILER + 4;
    spoof[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
    assert_eq!(o.verify(&spoof), Err(Refusal::Forged), "a header id that does not match the key");
    assert_eq!(o.verify(&sealed(&ring(2, 9), 3, Mode::Mac, b"x")), Err(Refusal::Epoch));
    assert_eq!(o.verify(&sealed(&r, 3, Mode::Aead, b"x")), Err(Refusal::Mode), "no downgrade or upgrade");
    o.set_members(Some([1, 2].into()));
    assert_eq!(o.verify(&sealed(&r, 3, Mode::Mac, b"x")), Err(Refusal::NotMember));
    let s = o.stats();
    assert_eq!((s.opened, s.replay, s.short, s.forged, s.epoch, s.mode, s.not_member), (1, 1, 1, 2, 1, 1, 1));
    assert_eq!(s.refused(), 7);
    // An aead opener refuses a plain verify.
    let mut a = Opener::new(r.clone(), Mode::Aead);
    assert_eq!(a.verify(&sealed(&r, 3, Mode::Aead, b"x")), Err(Refusal::Mode));
}

#[test]
fn a_rotated_ring_accepts_old_and_new_epochs_and_seals_under_the_newest() {
    let text = format!(
        "# two epochs\n{}\n\n{}\n",
        ClusterKey::from_bytes(2, [2; KEY_LEN]).to_line(),
        ClusterKey::from_bytes(1, [1; KEY_LEN]).to_line()
    );
    let both = KeyRing::parse(&text).expect("parses");
    assert_eq!(both.epochs().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(both.current().epoch, 2);
    let mut o = Opener::new(both.clone(), Mode::Mac);
    assert!(o.verify(&sealed(&ring(1, 1), 5, Mode::Mac, b"old")).is_ok());
    assert!(o.verify(&sealed(&both, 5, Mode::Mac, b"new")).is_ok());
    let mut old_only = Opener::new(ring(1, 1), Mode::Mac);
    assert_eq!(old_only.verify(&sealed(&both, 5, Mode::Mac, b"new")), Err(Refusal::Epoch));
}

#[test]
fn a_restarted_sender_continues_above_its_old_counters() {
    let r = ring(1, 9);
    let mut o = Opener::new(r.clone(), Mode::Mac);
    let mut first = Sealer::new(&r, 3, Mode::Mac);
    let mut d = Vec::new();
    for _ in 0..2000 {
        d.clear();
        first.seal(0, b"a", &mut d);
        o.verify(&d).expect("opens");
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    let mut again = Sealer::new(&r, 3, Mode::Mac);
    d.clear();
    again.seal(0, b"b", &mut d);
    assert!(o.verify(&d).is_ok(), "the new incarnation's counters start above the old ones");
}

#[test]
fn key_files_are_checked_with_the_line_named() {
    let new = KeyRing::new_file().expect("random");
    let ring = KeyRing::parse(&new).expect("a new file parses");
    assert_eq!(ring.current().epoch, 1);
    assert_ne!(KeyRing::parse(&KeyRing::new_file().unwrap()).unwrap(), ring, "keys are random");
    let bad = [
        ("", "holds no key"),
        ("argent-key v1 epoch=1 abcd", "64 hex digits"),
        ("argent-key v2 epoch=1 00", "version"),
        ("key v1", "starts with"),
        ("argent-key v1 epoch=0 00", "epoch=N"),
        ("argent-key v1 epoch=x 00", "epoch=N"),
    ];
    for (text, want) in bad {
        let e = KeyRing::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let twice = format!(
        "{}\n{}",
        ClusterKey::from_bytes(1, [1; 32]).to_line(),
        ClusterKey::from_bytes(1, [2; 32]).to_line()
    );
    let e = KeyRing::parse(&twice).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("twice"), "{e}");
    assert!(format!("{:?}", ring.current()).contains("epoch") && !format!("{:?}", ring).contains("secret"));
}

proptest! {
    /// Arbitrary bytes never open and never panic, in either mode.
    #[test]
    fn arbitrary_bytes_are_refused(d in proptest::collection::vec(any::<u8>(), 0..200)) {
        for mode in [Mode::Mac, Mode::Aead] {
            let mut o = Opener::new(ring(1, 9), mode);
            let mut d = d.clone();
            prop_assert!(o.open(&mut d).is_err());
            prop_assert!(o.verify(&d).is_err());
        }
    }

    /// Any change to a sealed datagram (one byte, or its length) is refused.
    #[test]
    fn any_change_is_refused(body in proptest::collection::vec(any::<u8>(), 0..300), at in any::<usize>(), x in 1u8..=255, aead in any::<bool>(), cut in 1usize..40) {
        let mode = if aead { Mode::Aead } else { Mode::Mac };
        let r = ring(1, 9);
        let d = sealed(&r, 3, mode, &body);
        let mut flipped = d.clone();
        let i = at % d.len();
        flipped[i] ^= x;
        prop_assert!(Opener::new(r.clone(), mode).open(&mut flipped).is_err());
        let mut short = d[..d.len().saturating_sub(cut)].to_vec();
        prop_assert!(Opener::new(r.clone(), mode).open(&mut short).is_err());
        let mut ok = d.clone();
        prop_assert!(Opener::new(r, mode).open(&mut ok).is_ok());
    }
}

/// A new epoch handed to members under the current key: only holders of that key can open
/// it, datagrams sealed under it open once it is added, and a sealer moves to it with its
/// counters going on (old-epoch replays stay refused).
#[test]
fn a_key_rotates_through_a_wrapped_epoch() {
    let old = ClusterKey::from_bytes(1, [3; KEY_LEN]);
    let next = ClusterKey::from_bytes(2, [4; KEY_LEN]);
    let wrapped = old.wrap(&next).expect("wrap");
    assert_ne!(old.wrap(&next).expect("wrap"), wrapped, "a fresh nonce each time");
    let got = old.unwrap(2, &wrapped).expect("opens under the old key");
    assert_eq!(got, next);
    let outsider = ClusterKey::from_bytes(1, [5; KEY_LEN]);
    assert!(matches!(outsider.unwrap(2, &wrapped), Err(KeyFileError::Unwrap { epoch: 2, under: 1 })));
    assert!(old.unwrap(3, &wrapped).is_err(), "the epoch is bound to the wrapped key");
    let mut flipped = wrapped;
    flipped[20] ^= 1;
    assert!(old.unwrap(2, &flipped).is_err());
    assert!(old.unwrap(2, &wrapped[1..]).is_err());

    let mut ring = KeyRing::single(old.clone());
    let mut sealer = Sealer::new(&ring, 3, Mode::Mac);
    let mut opener = Opener::new(ring.clone(), Mode::Mac);
    let mut before = Vec::new();
    sealer.seal(1, b"before", &mut before);
    assert!(opener.verify(&before).is_ok());
    assert!(ring.add(got.clone()) && !ring.add(got.clone()), "added once");
    sealer.rekey(&ring);
    assert_eq!(sealer.epoch(), 2);
    let mut after = Vec::new();
    sealer.seal(1, b"after", &mut after);
    assert_eq!(opener.verify(&after), Err(Refusal::Epoch), "not yet handed to this member");
    assert!(opener.add_key(got));
    assert!(opener.verify(&after).is_ok());
    assert_eq!(opener.verify(&before), Err(Refusal::Replay), "the window holds across epochs");
    // At most MAX_EPOCHS are kept: the oldest go.
    for e in 3..=(MAX_EPOCHS as u16 + 3) {
        ring.add(ClusterKey::from_bytes(e, [e as u8; KEY_LEN]));
    }
    assert_eq!(ring.epochs().count(), MAX_EPOCHS);
    assert_eq!(ring.epochs().next(), Some(4));
}

#[test]
fn a_detached_trailer_opens_like_one_sealed_in_place() {
    let r = ring(1, 9);
    let mut s = Sealer::new(&r, 3, Mode::Mac);
    let mut o = Opener::new(r.clone(), Mode::Mac);
    let body: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let trailer = s.trailer(4, &body).expect("mac mode");
    let mut d = body.clone();
    d.extend_from_slice(&trailer);
    assert_eq!(o.verify(&d).map(|x| (x.sender, x.channel, x.len)), Ok((3, 4, body.len())));
    let mut in_place = Vec::new();
    s.seal(4, &body, &mut in_place);
    assert!(o.verify(&in_place).is_ok(), "both ways interleave on one channel");
    let mut changed = body.clone();
    changed[4999] ^= 1;
    changed.extend_from_slice(&s.trailer(4, &body).expect("mac"));
    assert_eq!(o.verify(&changed), Err(Refusal::Forged));
    assert!(Sealer::new(&r, 3, Mode::Aead).trailer(4, &body).is_none(), "aead encrypts the body itself");
}
