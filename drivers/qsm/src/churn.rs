//! What view changes leave behind: the join points a sender records per installed view,
//! what a node keeps of a region it left, and the streams a receiver retired.

use argent_core::{NodeId, ViewId};
use std::collections::{BTreeSet, VecDeque};

/// Views whose join point a sender remembers per region.
pub(crate) const JOIN_POINTS: usize = 64;
/// Retired streams a region remembers (never tracked again while remembered).
pub(crate) const TOMBSTONES: usize = 1024;

/// A sender's join points in one region: for each view it installed (the newest
/// [`JOIN_POINTS`]), the last sequence number it had assigned before installing it (0 if its
/// stream had not started). A member that joined in view v delivers exactly the datagrams
/// after the join point of the first view ≥ v the sender installed.
#[derive(Clone, Debug, Default)]
pub(crate) struct JoinPoints {
    views: VecDeque<(ViewId, u64)>,
    /// Older views were forgotten.
    truncated: bool,
}

impl JoinPoints {
    pub(crate) fn record(&mut self, view: ViewId, base: u64) {
        if self.views.len() == JOIN_POINTS {
            self.views.pop_front();
            self.truncated = true;
        }
        self.views.push_back((view, base));
    }

    /// The join point for a member whose join view is `view`; `None` until this sender has
    /// installed a view at least as new. If `view` is older than every view remembered and
    /// older ones were forgotten, the answer is `floor` (what the region has acknowledged —
    /// at most the true join point, since the joiner held acknowledgements back, and still
    /// in the send buffer): the joiner may then deliver a few datagrams from before its join
    /// point, never fewer than it should, and never waits for what is gone.
    pub(crate) fn base_for(&self, view: ViewId, floor: u64) -> Option<u64> {
        let &(oldest, oldest_base) = self.views.front()?;
        let (_, base) = *self.views.iter().find(|(v, _)| *v >= view)?;
        if self.truncated && view < oldest {
            return Some(floor.min(oldest_base));
        }
        Some(base)
    }
}

/// What a node keeps of a region it left: enough to answer join-point requests for its
/// stream there, and to continue that stream's numbering if it sends to the region again.
#[derive(Clone, Debug)]
pub(crate) struct Left {
    /// Last view it had installed.
    pub(crate) view: ViewId,
    /// Last sequence number it sent (its stream ends here unless it comes back).
    pub(crate) last_seq: u64,
    /// What the region had acknowledged when it left.
    pub(crate) stable: u64,
    pub(crate) joins: JoinPoints,
}

impl Left {
    /// Join point for a member that joined in `view`: as recorded, or the end of the
    /// stream for views installed after this node left.
    pub(crate) fn base_for(&self, view: ViewId) -> u64 {
        self.joins.base_for(view, self.stable).unwrap_or(self.last_seq).min(self.last_seq)
    }
}

/// Streams retired in a region, the newest [`TOMBSTONES`] of them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tombstones {
    set: BTreeSet<NodeId>,
    order: VecDeque<NodeId>,
}

impl Tombstones {
    pub(crate) fn insert(&mut self, stream: NodeId) {
        if !self.set.insert(stream) {
            return;
        }
        if self.order.len() == TOMBSTONES {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(stream);
    }

    pub(crate) fn contains(&self, stream: NodeId) -> bool {
        !self.set.is_empty() && self.set.contains(&stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_points_answer_for_the_first_view_installed_at_or_after_the_join() {
        let mut j = JoinPoints::default();
        assert_eq!(j.base_for(ViewId(1), 0), None);
        j.record(ViewId(2), 0);
        j.record(ViewId(3), 10);
        j.record(ViewId(5), 20);
        assert_eq!(j.base_for(ViewId(1), 0), Some(0), "joined before this sender came");
        assert_eq!(j.base_for(ViewId(3), 0), Some(10));
        assert_eq!(j.base_for(ViewId(4), 0), Some(20), "view 4 was skipped: the next one counts");
        assert_eq!(j.base_for(ViewId(6), 0), None, "not installed yet: no answer");
    }

    #[test]
    fn forgotten_views_fall_back_to_the_acknowledged_point() {
        let mut j = JoinPoints::default();
        for v in 1..=(JOIN_POINTS as u64 + 10) {
            j.record(ViewId(v), v * 100);
        }
        assert_eq!(j.base_for(ViewId(11), 5), Some(1100));
        assert_eq!(j.base_for(ViewId(3), 750), Some(750));
        let left = Left { view: ViewId(74), last_seq: 7000, stable: 6900, joins: j };
        assert_eq!(left.base_for(ViewId(80)), 7000, "joined after the sender left");
        assert_eq!(left.base_for(ViewId(74)), 7000, "clamped to what was sent");
        assert_eq!(left.base_for(ViewId(60)), 6000);
    }

    #[test]
    fn tombstones_are_bounded() {
        let mut t = Tombstones::default();
        assert!(!t.contains(NodeId(1)));
        for s in 0..(TOMBSTONES as u32 + 5) {
            t.insert(NodeId(s));
            t.insert(NodeId(s));
        }
        assert!(!t.contains(NodeId(4)));
        assert!(t.contains(NodeId(5)));
        assert_eq!(t.order.len(), TOMBSTONES);
        assert_eq!(t.set.len(), TOMBSTONES);
    }
}
