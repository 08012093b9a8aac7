//! The flush at a view change: survivors' reports, and the end of every stream they agree on.
//!
//! When view `to_view` replaces `from_view`, each member of both (a survivor) publishes a
//! [`Report`] in `to_view`, so every member of the new view receives every survivor's
//! report through QSM's reliable streams. From the same reports each survivor computes the
//! same ends ([`stream_ends`]), then closes the old view at them
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
