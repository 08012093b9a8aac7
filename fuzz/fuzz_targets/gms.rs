//! Membership-service messages: arbitrary bytes never panic, and what decodes re-encodes to
//! something that decodes equal.

#![no_main]

use argent_membership::gms::GmsMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| {
    if let Ok(msg) = GmsMsg::decode(buf) {
        let again = GmsMsg::decode(&msg.encode()).expect("what was decoded encodes and decodes");
        assert_eq!(again, msg);
    }
});
