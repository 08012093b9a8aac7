//! `argent bench`: a verified throughput run of a local cluster on loopback, with the raw
//! UDP multicast limit measured in the same run (same datagram size, batching, transport).

mod args;
mod baseline;
mod cluster;
mod pass;
mod perturb;
mod procs;
mod report;
mod run;

pub use args::BenchArgs;
pub use run::run;
