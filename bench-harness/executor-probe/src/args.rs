//! The command line: `--key value` pairs (a key alone is `true`), typed with defaults.

use std::collections::BTreeMap;

/// The `--key value` pairs of the command line, by key.
pub type Args = BTreeMap<String, String>;

/// Parses `--key value` pairs; a key followed by another key (or by nothing) is `true`.
pub fn parse_args(v: &[String]) -> Args {
    let mut m = BTreeMap::new();
    let mut i = 0;
    while i < v.len() {
        let k = v[i].trim_start_matches("--").to_string();
        let val = if i + 1 < v.len() && !v[i + 1].starts_with("--") {
            i += 1;
            v[i].clone()
        } else {
            "true".to_string()
        };
        m.insert(k, val);
        i += 1;
    }
    m
}

/// The value of `--k` parsed as `T`, or `default` when absent; panics on a bad value.
pub fn arg<T: std::str::FromStr>(a: &Args, k: &str, default: T) -> T {
    match a.get(k) {
        Some(s) => s.parse().unwrap_or_else(|_| panic!("bad value for --{k}: {s}")),
        None => default,
    }
}
