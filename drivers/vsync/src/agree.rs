//! Agreeing on a flush's ends (decision 014, §"Agreement on the ends").
//!
//! Every survivor of a view change reports where it stands ([`crate::flush`]), and the ends
//! follow from the reports. But a survivor may leave before its report reached everyone, and
//! members would then disagree on whether it counts. So one survivor decides, the
//! coordinator, and every member closes the view at its decision:
//!
//! - The coordinator is the lowest survivor that has not left the membership and whose layer
//!   ran the view (not one whose layer began in a later view: it never decides). It decides
//!   once it has the report of every survivor that has not left; those that left without
//!   one are left out, and their streams end where the others hold them.
//! - When it leaves, the next survivor takes over, as a new ballot of Paxos whose quorum is
//!   every survivor still a member (the membership service, itself a consensus, says who
//!   left). A survivor that turns to a new coordinator tells it what it accepted (`STATE`)
//!   and from then on accepts nothing from an earlier one; the new coordinator waits for
//!   every survivor still a member, then publishes the decision of the highest ballot it
//!   heard of (its own included), or decides afresh if there is none.
//!
//! So a decision that a member which stays has used is the one every later coordinator
//! publishes, and the members that stay agree. Members that leave are not held to it:
//! agreement is not uniform (decision 014, §"Agreement is not uniform").

pub use crate::flush::{Decision, RelayPlan, State, MAX_HOLDERS};
use crate::frame;
use argent_qsm::NodeId;
use std::collections::BTreeMap;

/// Why a survivor is passed over as coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {
    /// It left the membership.
    Left,
    /// Its layer began in a later view: it never took part in this flush.
    Later,
}

/// One member's side of agreeing on one flush's ends.
#[derive(Debug)]
pub struct Agreement {
    from_view: u64,
    to_view: u64,
    me: NodeId,
    /// Members of both views, lowest first.
    survivors: Vec<NodeId>,
    /// The coordinator this member turned to last, and the last it told what it accepted.
    coordinator: Option<NodeId>,
    told: Option<NodeId>,
    accepted: Option<Decision>,
    /// Decisions published, by their coordinator (accepted once this member turns to it).
    offers: BTreeMap<NodeId, Decision>,
    /// What survivors accepted, told to this member as their coordinator.
    states: BTreeMap<NodeId, Option<Decision>>,
    /// Whether this member published a decision as coordinator.
    published: bool,
}

impl Agreement {
    pub fn new(from_view: u64, to_view: u64, me: NodeId, mut survivors: Vec<NodeId>) -> Self {
        survivors.sort_unstable();
        survivors.dedup();
        debug_assert!(survivors.contains(&me), "only survivors agree on a flush");
        Agreement {
            from_view,
            to_view,
            me,
            survivors,
            coordinator: None,
            told: None,
            accepted: None,
            offers: BTreeMap::new(),
            states: BTreeMap::new(),
            published: false,
        }
    }

    /// The view closed and the next.
    pub fn views(&self) -> (u64, u64) {
        (self.from_view, self.to_view)
    }

    /// The decision this member accepted last, if any.
    pub fn accepted(&self) -> Option<&Decision> {
        self.accepted.as_ref()
    }

    /// The coordinator this member turned to last.
    pub fn coordinator(&self) -> Option<NodeId> {
        self.coordinator
    }

    /// Whether this member published a decision as coordinator.
    pub fn published(&self) -> bool {
        self.published
    }

    /// A `DECIDE` frame of this flush, published by survivor `from`.
    pub fn offer(&mut self, from: NodeId, d: Decision) {
        if d.ballot == from.0 && from != self.me && self.survivors.contains(&from) {
            self.offers.insert(from, d);
        }
    }

    /// A `STATE` frame of this flush, from survivor `from`: kept if this member is the
    /// coordinator it turned to.
    pub fn state(&mut self, from: NodeId, s: State) {
        if s.coordinator == self.me.0 && from != self.me && self.survivors.contains(&from) {
            self.states.insert(from, s.accepted);
        }
    }

    /// Move on with what this member knows now. `absent` says which survivors are passed
    /// over (asked about others than this member only); `fresh` makes a decision from the
    /// reports when this member coordinates and nobody accepted one yet (`None` while it
    /// lacks a report). Frames to publish go to `out`.
    pub fn step(
        &mut self,
        absent: impl Fn(NodeId) -> Option<Absent>,
        fresh: impl FnOnce() -> Option<Decision>,
        out: &mut Vec<Vec<u8>>,
    ) {
        let me = self.me;
        let absent = |n: NodeId| if n == me { None } else { absent(n) };
        let Some(c) = self.survivors.iter().copied().find(|s| absent(*s).is_none()) else { return };
        // The first ballot: every survivor below it is one that never decides.
        let first = self.survivors.iter().take_while(|s| **s < c).all(|s| absent(*s) == Some(Absent::Later));
        self.coordinator = Some(c);
        // Told once per coordinator, as soon as it may be collecting (what is "the first
        // ballot" may look different to it: it may not know that a survivor below began
        // later).
        if !first && c != me && self.told != Some(c) {
            self.told = Some(c);
            {
                let state = State {
                    from_view: self.from_view,
                    to_view: self.to_view,
                    coordinator: c.0,
                    accepted: self.accepted.clone(),
                };
                let mut f = Vec::new();
                frame::encode_state(&state, &mut f);
                out.push(f);
            }
        }
        if c != me {
            if let Some(d) = self.offers.get(&c).filter(|d| self.accepted.as_ref() != Some(*d)) {
                self.accepted = Some(d.clone());
            }
            return;
        }
        if self.published {
            return;
        }
        let adopted = if first {
            self.accepted.clone()
        } else {
            let waiting = self
                .survivors
                .iter()
                .any(|s| *s != me && absent(*s).is_none() && !self.states.contains_key(s));
            if waiting {
                return;
            }
            self.states.values().flatten().chain(self.accepted.iter()).max_by_key(|d| d.ballot).cloned()
        };
        let Some(mut d) = adopted.or_else(fresh) else { return };
        d.ballot = me.0;
        let mut f = Vec::new();
        frame::encode_decide(&d, &mut f);
        out.push(f);
        self.published = true;
        self.accepted = Some(d);
    }
}
