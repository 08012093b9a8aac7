//! Failure detection without a membership service (a static membership file), sans-IO.
//!
//! Every member multicasts an `Alive` frame to each of its regions every
//! [`ALIVE_INTERVAL`]; any datagram a node sends counts as hearing from it. A member of this
//! node's regions not heard from for the member timeout ([`crate::Config::member_timeout`])
//! is removed from every local view that lists it (view id + 1) and the rings re-form
//! without it ([`crate::Event::Evicted`]). Survivors hear the same silence, so they converge
//! on the same views; an evicted member is not readmitted (the membership service handles
//! restarts). Off when a membership service installs views.

use argent_core::{Instant, NodeId};
use std::collections::HashMap;
use std::time::Duration;

/// How often a member multicasts its presence to each of its regions, so every member
/// hears from every other (ring neighbours alone would not).
pub const ALIVE_INTERVAL: Duration = Duration::from_millis(200);

/// The shortest member timeout accepted. Shorter ones evict members that are only slow:
/// in the simulator (9 nodes, 5% loss, a receiver slowed 4–16×, pauses, a crash), 31 of 100
/// seeds evicted live members at 500 ms, and views split; none at 1 s (decision 007).
pub const MIN_MEMBER_TIMEOUT: Duration = Duration::from_secs(1);

/// A member never heard from is evicted only after this long from the first view (or the
/// member timeout, if longer): processes start at different times.
pub const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// Who was heard from when.
#[derive(Debug)]
pub(crate) struct Presence {
    timeout: Duration,
    /// When Alive frames go out next (and silences are looked at).
    next_beat: Instant,
    /// Members of this node's regions: when each was last heard from (`None`: not yet).
    /// Bounded by the members of the installed views.
    heard: HashMap<NodeId, Option<Instant>>,
    /// When the first view was installed: the grace of members never heard from counts
    /// from here.
    since: Option<Instant>,
}

impl Presence {
    pub(crate) fn new(timeout: Duration) -> Self {
        Presence { timeout, next_beat: Instant::ZERO, heard: HashMap::new(), since: None }
    }

    /// A view of a region this node belongs to lists `members`: watch those not watched yet.
    pub(crate) fn watch(&mut self, me: NodeId, members: &[NodeId], now: Instant) {
        if self.since.is_none() {
            self.since = Some(now);
            self.next_beat = now;
        }
        for m in members.iter().filter(|m| **m != me) {
            self.heard.entry(*m).or_insert(None);
        }
    }

    /// A datagram from `node` arrived.
    #[inline]
    pub(crate) fn heard(&mut self, node: NodeId, now: Instant) {
        if let Some(t) = self.heard.get_mut(&node) {
            *t = Some(now);
        }
    }

    /// When [`Presence::beat`] is due, once a view is installed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.map(|_| self.next_beat)
    }

    /// Whether Alive frames are due at `now` (then the next beat is scheduled).
    pub(crate) fn beat(&mut self, now: Instant) -> bool {
        if self.since.is_none() || now < self.next_beat {
            return false;
        }
        self.next_beat = now + ALIVE_INTERVAL;
        true
    }

    /// The members silent too long at `now`, no longer watched.
    pub(crate) fn silent(&mut self, now: Instant) -> Vec<NodeId> {
        let Some(since) = self.since else { return Vec::new() };
        let grace = self.timeout.max(STARTUP_GRACE);
        let timeout = self.timeout;
        let quiet = |t: &Option<Instant>| match t {
            Some(t) => now.saturating_duration_since(*t) > timeout,
            None => now.saturating_duration_since(since) > grace,
        };
        let mut gone: Vec<NodeId> = self.heard.iter().filter(|(_, t)| quiet(t)).map(|(n, _)| *n).collect();
        gone.sort_unstable(); // the same order at every survivor
        for n in &gone {
            self.heard.remove(n);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_silent_member_is_reported_once_and_a_talking_one_never() {
        let mut p = Presence::new(1000 * MS);
        let t0 = Instant::ZERO + 5 * MS;
        p.watch(NodeId(0), &[NodeId(0), NodeId(1), NodeId(2)], t0);
        assert!(p.beat(t0) && !p.beat(t0 + MS), "one beat per interval");
        assert_eq!(p.deadline(), Some(t0 + ALIVE_INTERVAL));
        let mut t = t0;
        while t < t0 + 5000 * MS {
            t += 100 * MS;
            p.heard(NodeId(1), t);
            p.heard(NodeId(2), t);
            assert!(p.silent(t).is_empty());
        }
        // Node 2 goes quiet.
        let quiet = t;
        while t + 100 * MS <= quiet + 1000 * MS {
            t += 100 * MS;
            p.heard(NodeId(1), t);
            assert!(p.silent(t).is_empty(), "not yet at {t:?}");
        }
        t += 100 * MS;
        assert_eq!(p.silent(t), vec![NodeId(2)]);
        assert!(p.silent(t + 10_000 * MS).contains(&NodeId(1)), "then node 1 too, once quiet");
        assert!(p.silent(t + 20_000 * MS).is_empty(), "reported once");
    }

    #[test]
    fn a_member_never_heard_from_gets_the_startup_grace() {
        let mut p = Presence::new(1000 * MS);
        p.watch(NodeId(0), &[NodeId(0), NodeId(1)], Instant::ZERO);
        assert!(p.silent(Instant::ZERO + STARTUP_GRACE).is_empty());
        assert_eq!(p.silent(Instant::ZERO + STARTUP_GRACE + MS), vec![NodeId(1)]);
        assert!(
            Presence::new(MS).silent(Instant::ZERO + STARTUP_GRACE * 2).is_empty(),
            "no view, no verdict"
        );
    }
}
