//! argent's deterministic simulator.
//!
//! N protocol nodes run under virtual time, driven from one seed through a network model
//! (latency, egress bandwidth, receive socket buffers, per-node CPU cost) with injected
//! faults: independent and burst loss, duplication, reordering and jitter, a slow receiver,
//! a paused receiver, a crashed receiver followed by a view change; and with the membership
//! service (raft replicas and a client per node on the same simulated network): members that
//! leave and join again, GMS leader crashes, and network partitions that heal. Checkers verify
//! exactly-once per-sender FIFO delivery to every member that stays in the view (and from its
//! join point on to every joiner), that every member installs the same sequence of views,
//! that every send completes, that buffers stay within their bounds, and liveness after
//! faults stop. Messages larger than a datagram are fragmented and reassembled with the
//! runtime's own sans-IO code. A seed replays exactly.

mod rng;
mod run;
mod scenario;

pub use rng::SimRng;
pub use run::{run, Outcome};
pub use scenario::{
    Driver, Faults, GmsSim, Sabotage, Scenario, ScenarioError, UnknownFault, MAX_FRAGMENTED_MESSAGE,
    MAX_OBJECT_MESSAGE, MIN_MESSAGE,
};
