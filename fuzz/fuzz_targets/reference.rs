//! Object references in every form (URI, TOML, JSON): arbitrary text never panics, and a
//! reference that parses writes forms that parse back equal.

#![no_main]

use argent_objects::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| {
    let Ok(text) = std::str::from_utf8(buf) else { return };
    let Ok(r) = Reference::parse(text) else { return };
    let toml = r.to_toml().expect("a parsed reference is valid");
    assert_eq!(Reference::from_toml(&toml).as_ref(), Ok(&r), "toml: {toml}");
    let json = r.to_json().expect("a parsed reference is valid");
    assert_eq!(Reference::from_json(&json).as_ref(), Ok(&r), "json: {json}");
    if let Ok(uri) = r.to_uri() {
        assert_eq!(Reference::from_uri(&uri).as_ref(), Ok(&r), "uri: {uri}");
    }
});
