//! Key files and sealed datagrams: arbitrary text and bytes never panic, and no datagram
//! without the key opens.

#![no_main]

use argent_auth::{ClusterKey, KeyRing, Mode, Opener, KEY_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| {
    if let Ok(text) = std::str::from_utf8(buf) {
        let _ = KeyRing::parse(text);
    }
    let ring = KeyRing::single(ClusterKey::from_bytes(1, [7; KEY_LEN]));
    for mode in [Mode::Mac, Mode::Aead] {
        let mut o = Opener::new(ring.clone(), mode);
        assert!(o.verify(buf).is_err(), "a forged datagram verified");
        let mut d = buf.to_vec();
        assert!(o.open(&mut d).is_err(), "a forged datagram opened");
        let mut out = vec![0; buf.len()];
        assert!(o.open_into(buf, &mut out).is_err(), "a forged datagram opened");
        assert_eq!(o.stats().opened, 0);
    }
});
