//! Membership files: arbitrary text never panics the parser or the consistency checks.

#![no_main]

use argent::ClusterConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|buf: &[u8]| {
    let Ok(text) = std::str::from_utf8(buf) else { return };
    let _ = ClusterConfig::parse(text, Path::new("/fuzz/cluster.toml"));
});
