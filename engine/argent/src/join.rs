//! Groups joined and left at run time, through the membership service: blocking and async,
//! and the leases live objects hold on their groups.

use crate::error::Error;
use crate::membership::{lock, wait_for, GroupLease, Membership, GROUP_CHANGE_TIMEOUT};
use crate::node::Node;
use argent_runtime::GroupId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

impl Node {
    /// Join the group named `name`, creating it if nobody has it, and wait until this node
    /// is installed in its region ([`GROUP_CHANGE_TIMEOUT`](GROUP_CHANGE_TIMEOUT)). From then on this node gets
    /// every message a sender publishes to the group after that sender installed the same
    /// view (exactly once, in each sender's order) and may subscribe to it; publishers that
    /// started earlier reach it. Needs the membership service (a node started from a file
    /// alone has fixed groups). Joining a group this node is in does nothing.
    pub fn join(&self, name: &str) -> Result<GroupId, Error> {
        let m = self.gms_membership()?;
        let group = self.group_id(name)?;
        if let Some(version) = m.request(group, true)? {
            m.wait_installed(group, version, true)?;
        }
        Ok(group)
    }

    /// Leave the group named `name` and wait until the GMS installed it: subscriptions stop
    /// seeing its messages at once, and once the view is installed senders no longer wait
    /// for this node on its account (a node in none of the groups its region carries leaves
    /// the region). Leaving a group this node is not in does nothing.
    pub fn leave(&self, name: &str) -> Result<(), Error> {
        let m = self.gms_membership()?;
        let group = self.group_id(name)?;
        if let Some(version) = m.request(group, false)? {
            m.wait_installed(group, version, false)?;
        }
        Ok(())
    }

    /// [`Node::join`] for async programs: the request goes out now; the future resolves
    /// once the GMS installed it (wrap it in your runtime's timeout).
    pub fn join_async(&self, name: &str) -> GroupChange {
        self.change_async(name, true)
    }

    /// [`Node::leave`] for async programs.
    pub fn leave_async(&self, name: &str) -> GroupChange {
        self.change_async(name, false)
    }

    fn change_async(&self, name: &str, join: bool) -> GroupChange {
        let started = self.gms_membership().and_then(|m| {
            let group = self.group_id(name)?;
            Ok((m.clone(), group, m.request(group, join)?))
        });
        GroupChange { state: Some(started) }
    }

    /// The groups this node has joined, ascending (with the GMS; else those of the file).
    pub fn joined_groups(&self) -> Vec<GroupId> {
        match self.gms_membership() {
            Ok(m) => m.joined(),
            Err(_) => self.member_groups(),
        }
    }

    /// The view from which this node receives `group` (joined through the GMS): it gets
    /// the group's messages each sender published after installing that view, and nothing
    /// from before (see [`Delivery::view`](argent_runtime::Delivery::view)). `None` if it does not receive the group
    /// (not joined, not installed yet, or no membership service).
    pub fn received_since(&self, group: GroupId) -> Option<argent_core::ViewId> {
        self.gms_membership().ok()?.received_since(group)
    }

    fn gms_membership(&self) -> Result<&Arc<Membership>, Error> {
        self.gms.as_ref().map(|g| &g.membership).ok_or_else(|| {
            Error::Invalid(
                "joining or leaving groups at run time needs the membership service: start the node with --gms \
                 (with a membership file alone, its [[group]] entries are fixed)"
                    .into(),
            )
        })
    }

    /// Hold `group` for an open object: joined (and waited for) by the first lease unless
    /// this node is in it already. `None` without the membership service.
    pub(crate) fn lease(&self, group: GroupId) -> Result<Option<GroupLease>, Error> {
        let Ok(m) = self.gms_membership() else { return Ok(None) };
        let first = {
            let mut leases = lock(&m.leases);
            let entry = leases.entry(group).or_insert((0, false));
            entry.0 += 1;
            entry.0 == 1
        };
        let lease = GroupLease { membership: m.clone(), group };
        if first {
            if let Some(version) = m.request(group, true)? {
                lock(&m.leases).entry(group).or_insert((1, false)).1 = true;
                m.wait_installed(group, version, true)?;
            }
        } else {
            // Another open is joining it: wait until this node receives the group.
            wait_for(
                || self.runtime.region_of(group).is_some(),
                || {
                    format!(
                        "group {} was not installed within {GROUP_CHANGE_TIMEOUT:?} for another open of it",
                        group.0
                    )
                },
            )?;
        }
        Ok(Some(lease))
    }
}

/// Future of [`Node::join_async`] and [`Node::leave_async`]: the group, once the GMS
/// installed the change. Woken by the thread that installs views.
#[derive(Debug)]
pub struct GroupChange {
    state: Option<Result<Requested, Error>>,
}

impl GroupChange {
    /// Why the change could not even be asked for (no membership service, an unknown name, a
    /// reserved group), if so; the request went out otherwise, and the future resolves once
    /// the GMS installed it. A program that does not wait may drop the future after this.
    pub fn request_error(&self) -> Option<&Error> {
        self.state.as_ref().and_then(|s| s.as_ref().err())
    }
}

/// A group change asked for: the membership, the group, and the version of the new set
/// (`None`: nothing changed).
type Requested = (Arc<Membership>, GroupId, Option<u64>);

impl Future for GroupChange {
    type Output = Result<GroupId, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (m, group, version) = match self.state.take() {
            None => panic!("GroupChange polled after it completed"),
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok((_, group, None))) => return Poll::Ready(Ok(group)),
            Some(Ok((m, group, Some(version)))) => (m, group, version),
        };
        if m.installed(version) {
            return Poll::Ready(Ok(group));
        }
        m.wake_at_next_view(cx.waker());
        // A view may have come between the check and the registration.
        if m.installed(version) {
            return Poll::Ready(Ok(group));
        }
        self.state = Some(Ok((m, group, Some(version))));
        Poll::Pending
    }
}
