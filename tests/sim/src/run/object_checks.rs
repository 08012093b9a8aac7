//! The end of an objects run: every member that stayed has joined every object, its
//! checkpoints equal every other member's and include every update published, and (on the
//! total-order driver) every counter update decided the same at every member that applied
//! it — a joiner from its join point on, from the state it was handed.

use super::replicas::{add, Decision, Objects, Sessions, NAMES};
use super::sim::{Sim, SimNode};
use argent_membership::gms::ClientStatus;
use argent_objects::object::Stamp;
use std::collections::HashMap;

/// One member's final states, one checkpoint per object in the order of [`NAMES`], and how
/// many updates they include.
type States = (Vec<Vec<u8>>, u64);

impl Sim<'_> {
    /// Whether every member's objects are settled and its control messages acknowledged.
    pub(super) fn objects_settled(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| self.counted(n))
            .all(|n| n.objects.as_ref().is_none_or(Objects::settled) && n.proto.send_drained())
    }

    /// Whether a node is a member whose objects are checked (alive, and in the membership).
    fn counted(&self, node: &SimNode) -> bool {
        !node.crashed
            && (self.sc.gms.is_none()
                || node.client.as_ref().is_some_and(|c| c.status() == ClientStatus::Member))
    }

    /// End-of-run checks of an objects run: every member has joined, its checkpoints equal
    /// everyone else's, they include every update published, and its counter decided alike.
    pub(super) fn finish_objects(&mut self) {
        let mut found = Vec::new();
        let mut reference: Option<(u32, Vec<Vec<u8>>)> = None;
        let mut stats = self.retired_object_stats;
        let mut decisions = Decisions::default();
        for (n, node) in self.nodes.iter().enumerate() {
            let Some(objects) = &node.objects else { continue };
            stats = add(stats, objects.stats());
            if !self.counted(node) {
                continue;
            }
            self.out.object_members_checked += 1;
            let inc = node.incarnation;
            let (checkpoints, total) = match objects.sessions.as_ref().map(states) {
                None | Some(Ok(None)) => {
                    found.push(format!(
                        "node {n} (incarnation {inc}): still joining at the end ({})",
                        objects.waits()
                    ));
                    self.out.object_divergent += 1;
                    continue;
                }
                Some(Err(e)) => {
                    found.push(format!("node {n}: no checkpoint: {e}"));
                    continue;
                }
                Some(Ok(Some(s))) => s,
            };
            if total != self.out.object_updates_published {
                let published = self.out.object_updates_published;
                found.push(format!(
                    "node {n} (incarnation {inc}): state includes {total} of {published} updates published"
                ));
            }
            if let Some(d) = decisions.compare(n as u32, &objects.decisions) {
                found.push(format!("node {n} (incarnation {inc}): {d}"));
            }
            match &reference {
                None => reference = Some((n as u32, checkpoints)),
                Some((r, want)) => {
                    if let Some(i) =
                        (0..want.len().max(checkpoints.len())).find(|&i| want.get(i) != checkpoints.get(i))
                    {
                        self.out.object_divergent += 1;
                        found.push(format!(
                            "node {n} (incarnation {inc}): {} state differs from node {r}'s",
                            NAMES[i]
                        ));
                    }
                }
            }
        }
        let o = &mut self.out;
        o.object_updates_applied = stats.proxy.applied;
        o.object_duplicates = stats.proxy.duplicates;
        o.object_rejected = stats.rejected;
        o.object_checkpoints_sent = stats.checkpoints_sent;
        o.object_join_requests = stats.requests;
        o.object_join_retries = stats.join_retries;
        // Every request beyond a joiner's first that no refused answer caused: asked again
        // after no fenced answer came in time.
        o.object_join_timeouts = stats.requests.saturating_sub(self.object_joiners + stats.join_retries);
        o.object_decisions_compared = decisions.compared;
        o.object_decision_disagreements = decisions.disagreements;
        o.object_counter_updates = decisions.seen.len() as u64;
        o.object_counter_refused = decisions.seen.values().filter(|(_, applied, _)| !applied).count() as u64;
        for f in found {
            self.violation(f);
        }
    }
}

/// A member's final states; `None` while some object still joins.
fn states(s: &Sessions) -> Result<Option<States>, argent_objects::object::ObjectError> {
    let mut checkpoints = Vec::new();
    let mut total = 0;
    for session in s.all() {
        let Some(state) = session.state() else { return Ok(None) };
        let (checkpoint, included) = state?;
        checkpoints.push(checkpoint);
        total += included;
    }
    Ok(Some((checkpoints, total)))
}

/// Counter decisions of the members compared so far: the first member to apply each update
/// says what it decided; every other member must have decided the same.
#[derive(Default)]
struct Decisions {
    /// Per update: the first member that applied it, whether it applied, the count after.
    seen: HashMap<Stamp, (u32, bool, u64)>,
    compared: u64,
    disagreements: u64,
}

impl Decisions {
    /// Compare member `n`'s decisions with those seen before; the first disagreement, if
    /// any (the rest follow from it).
    fn compare(&mut self, n: u32, decisions: &[Decision]) -> Option<String> {
        for &(stamp, applied, value) in decisions {
            let &mut (first, want_applied, want_value) =
                self.seen.entry(stamp).or_insert((n, applied, value));
            if first == n {
                continue;
            }
            self.compared += 1;
            if (want_applied, want_value) != (applied, value) {
                self.disagreements += 1;
                return Some(format!(
                    "counter update {stamp:?} {} leaving {value}, but at node {first} it {} leaving {want_value}",
                    verdict(applied),
                    verdict(want_applied)
                ));
            }
        }
        None
    }
}

fn verdict(applied: bool) -> &'static str {
    if applied {
        "applied"
    } else {
        "was refused"
    }
}
