//! The flush at a view change: survivors' reports, and the end of every stream they agree on.
//!
//! When view `to_view` replaces `from_view`, each member of both (a survivor) publishes a
//! [`Report`] in `to_view`. A coordinator computes the ends from them ([`stream_ends`]) and
//! publishes its [`Decision`] ([`crate::agree`]); every survivor closes the old view at it
//! ([`crate::Orderer::finish_view`]).

use std::collections::BTreeMap;

/// A survivor's flush report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The view it closes, and the view it moves to (newer).
    pub from_view: u64,
    pub to_view: u64,
    /// Where the survivor's own stream stands at the end of `from_view`: the last datagram
    /// it sealed in that view or an earlier one (sequence numbers count on across views; 0:
    /// it never sent).
    pub own_end: u64,
    /// `(stream, last datagram held)` for every stream it received from (each stream held
    /// contiguously, as QSM delivers it).
    pub have: Vec<(u32, u64)>,
}

/// The last datagram of each stream that the old view keeps, from every survivor's report
/// (`(survivor's stream, report)`, one per survivor). A survivor's own stream ends where it
/// says it sealed its last datagram of the old view; a departed sender's ends at the furthest
/// any survivor holds (a datagram none holds cannot have been delivered by any of them, and
/// what one holds is relayed to the others). A stream that ends at 0 is absent.
pub fn stream_ends(reports: &[(u32, &Report)]) -> BTreeMap<u32, u64> {
    let survivors: BTreeMap<u32, u64> = reports.iter().map(|(s, r)| (*s, r.own_end)).collect();
    let mut ends: BTreeMap<u32, u64> = BTreeMap::new();
    for (_, r) in reports {
        for &(stream, have) in &r.have {
            if !survivors.contains_key(&stream) {
                let e = ends.entry(stream).or_default();
                *e = (*e).max(have);
            }
        }
    }
    ends.extend(survivors);
    ends.retain(|_, e| *e > 0);
    ends
}

/// Holders a decision names per relayed stream, at most (the lowest first).
pub const MAX_HOLDERS: usize = 8;

/// A flush's ends, as a coordinator decided or adopted them (a `DECIDE` frame, [`crate::agree`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The view closed, and the next.
    pub from_view: u64,
    pub to_view: u64,
    /// The node of the coordinator that published it: its ballot (a later coordinator is
    /// a higher node).
    pub ballot: u32,
    /// The last datagram of each stream the closed view keeps, by stream.
    pub ends: Vec<(u32, u64)>,
    /// Survivors left out (gone before their report reached the coordinator), by node.
    pub dropped: Vec<u32>,
    /// Streams of members gone that some survivor lacks up to their end: who relays them.
    pub relays: Vec<RelayPlan>,
}

/// Who can relay a gone member's stream, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPlan {
    pub stream: u32,
    /// The least any survivor holds of it (contiguously).
    pub lowest: u64,
    /// Survivors that hold it up to its end, lowest node first (at most [`MAX_HOLDERS`]).
    pub holders: Vec<u32>,
}

/// What a survivor accepted of a flush's ends, told to the coordinator it turns to (a
/// `STATE` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub from_view: u64,
    pub to_view: u64,
    pub coordinator: u32,
    pub accepted: Option<Decision>,
}
