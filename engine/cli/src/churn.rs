//! `argent sub --group-churn`: a subscriber that joins and leaves groups while it receives,
//! at a steady rate, without waiting for the membership service (a change is asked for and
//! the receive loop goes on; a group left is not delivered from the request on, a group
//! joined from the view that installs it).

use crate::msg::Verifier;
use anyhow::Context as _;
use argent::GroupId;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Joins are polled, not awaited: nothing to wake.
struct Nobody;

impl Wake for Nobody {
    fn wake(self: Arc<Self>) {}
}

/// Group changes made while receiving.
pub(crate) struct GroupChurn {
    every: Duration,
    window: Duration,
    /// When the changes stop (set when the first message arrives), and the next one is due.
    until: Option<Instant>,
    next: Option<Instant>,
    rng: Xoshiro256PlusPlus,
    groups: Vec<(String, GroupId)>,
    joined: BTreeSet<u32>,
    pub(crate) joins: u64,
    pub(crate) leaves: u64,
    /// The next change leaves a group (else it joins one): they alternate.
    leave_next: bool,
    /// Joins asked for and not installed yet; the view each group's last join was installed
    /// in (from which the group is received).
    pending: Vec<(u32, argent::GroupChange)>,
    installed: HashMap<u32, argent::ViewId>,
    /// The view of the first end marker that arrived: the publishers sent every end marker
    /// in it or a later view.
    first_end: Option<argent::ViewId>,
    waker: Waker,
}

impl GroupChurn {
    /// `rate` changes per second among `groups` (all joined at the start; a leave, then a
    /// join, and so on), for `window` seconds from the first message.
    pub(crate) fn new(
        rate: f64,
        window: f64,
        seed: u64,
        groups: Vec<(String, GroupId)>,
    ) -> anyhow::Result<Self> {
        if !(rate > 0.0 && rate.is_finite() && rate <= 10_000.0) {
            anyhow::bail!("--group-churn {rate} must be a number of changes per second in (0, 10000]");
        }
        if !(window >= 0.0 && window.is_finite()) {
            anyhow::bail!("--churn-for {window} must be a number of seconds");
        }
        if groups.len() < 2 {
            anyhow::bail!("--group-churn needs at least two groups to join and leave (it keeps one joined)");
        }
        let joined = groups.iter().map(|(_, g)| g.0).collect();
        Ok(GroupChurn {
            every: Duration::from_secs_f64(1.0 / rate),
            window: Duration::from_secs_f64(window),
            until: None,
            next: None,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            groups,
            joined,
            joins: 0,
            leaves: 0,
            leave_next: true,
            pending: Vec::new(),
            installed: HashMap::new(),
            first_end: None,
            waker: Waker::from(Arc::new(Nobody)),
        })
    }

    /// An end marker arrived in a datagram sent in `view`.
    pub(crate) fn end_seen(&mut self, view: argent::ViewId) {
        self.first_end = Some(self.first_end.map_or(view, |v| v.min(view)));
    }

    /// Whether `group`'s streams must end with an end marker: the subscriber is in it, and
    /// its last join (if any) was installed in a view no later than the one the publishers
    /// sent their first end marker in. A group joined later is received only from that later
    /// view, after the publishers' last messages to it: nothing more is due.
    pub(crate) fn required(&self, group: u32) -> bool {
        if !self.joined.contains(&group) {
            return false;
        }
        if !self.installed.contains_key(&group) && !self.pending.iter().any(|(g, _)| *g == group) {
            return true; // joined from the start
        }
        match (self.installed.get(&group), self.first_end) {
            (Some(since), Some(end)) => *since <= end,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Groups whose streams must end (see [`GroupChurn::required`]).
    pub(crate) fn required_count(&self) -> usize {
        self.joined.iter().filter(|g| self.required(**g)).count()
    }

    /// Joined groups excused from their end marker (joined too late).
    pub(crate) fn late_joins(&self) -> usize {
        self.joined.len() - self.required_count()
    }

    /// The groups joined now, ascending.
    pub(crate) fn joined_groups(&self) -> impl Iterator<Item = u32> + '_ {
        self.joined.iter().copied()
    }

    /// Make the changes due by now (the clock starts at the first call).
    pub(crate) fn tick(&mut self, node: &argent::Node, v: &mut Verifier) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut cx = Context::from_waker(&self.waker);
        let installed = &mut self.installed;
        self.pending.retain_mut(|(g, change)| match std::pin::Pin::new(change).poll(&mut cx) {
            Poll::Ready(Ok(_)) => {
                if let Some(since) = node.received_since(GroupId(*g)) {
                    installed.insert(*g, since);
                }
                false
            }
            Poll::Ready(Err(_)) => false, // not installed in time: excused, as late
            Poll::Pending => true,
        });
        let until = *self.until.get_or_insert(now + self.window);
        let next = self.next.get_or_insert(now + self.every);
        while *next <= now && *next < until {
            *next += self.every;
            // Alternately leave a group it is in (keeping one) and join one it is not in.
            let leave = self.leave_next && self.joined.len() > 1 || self.joined.len() == self.groups.len();
            self.leave_next = !leave;
            let pool: Vec<&(String, GroupId)> =
                self.groups.iter().filter(|(_, g)| self.joined.contains(&g.0) == leave).collect();
            if pool.is_empty() {
                continue;
            }
            let (name, group) = pool[(self.rng.next_u64() % pool.len() as u64) as usize];
            let mut change = if leave { node.leave_async(name) } else { node.join_async(name) };
            if let Some(e) = change.request_error() {
                return Err(anyhow::anyhow!("{e}")).context(format!(
                    "{} group {name} while receiving",
                    if leave { "leaving" } else { "joining" }
                ));
            }
            // Its streams restart: they ended at the leave, and a join starts them again from
            // whichever message arrives first.
            v.restart(group.0);
            self.installed.remove(&group.0);
            self.pending.retain(|(g, _)| *g != group.0);
            if leave {
                self.joined.remove(&group.0);
                self.leaves += 1;
            } else {
                if std::pin::Pin::new(&mut change).poll(&mut cx).is_pending() {
                    self.pending.push((group.0, change));
                } else if let Some(since) = node.received_since(*group) {
                    self.installed.insert(group.0, since);
                }
                self.joined.insert(group.0);
                self.joins += 1;
            }
        }
        Ok(())
    }
}
