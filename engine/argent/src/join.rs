//! Groups joined and left at run time, through the membership service: blocking and async.

use crate::error::Error;
use crate::node::{GmsParts, Node};
use argent_runtime::GroupId;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long [`Node::join`] and [`Node::leave`] wait for the GMS to install the change.
pub const GROUP_CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

impl Node {
    /// Join the group named `name`, creating it if nobody has it, and wait until this node
    /// is installed in its region ([`GROUP_CHANGE_TIMEOUT`]). From then on this node gets
    /// every message a sender publishes to the group after that sender installed the same
    /// view (exactly once, in each sender's order) and may subscribe to it; publishers that
    /// started earlier reach it. Needs the membership service (a node started from a file
    /// alone has fixed groups). Joining a group this node is in does nothing.
    pub fn join(&self, name: &str) -> Result<GroupId, Error> {
        let (group, change) = self.request(name, true)?;
        if let Some(version) = change {
            self.wait_installed(group, version, true)?;
        }
        Ok(group)
    }

    /// Leave the group named `name` and wait until the GMS installed it: subscriptions stop
    /// seeing its messages at once, and once the view is installed senders no longer wait
    /// for this node on its account (a node in none of the groups its region carries leaves
    /// the region). Leaving a group this node is not in does nothing.
    pub fn leave(&self, name: &str) -> Result<(), Error> {
        let (group, change) = self.request(name, false)?;
        if let Some(version) = change {
            self.wait_installed(group, version, false)?;
        }
        Ok(())
    }

    /// [`Node::join`] for async programs: the request goes out now; the future resolves
    /// once the GMS installed it (wrap it in your runtime's timeout).
    pub fn join_async(&self, name: &str) -> GroupChange<'_> {
        GroupChange::new(self, self.request(name, true))
    }

    /// [`Node::leave`] for async programs.
    pub fn leave_async(&self, name: &str) -> GroupChange<'_> {
        GroupChange::new(self, self.request(name, false))
    }

    /// The groups this node has joined, ascending (with the GMS; else those of the file).
    pub fn joined_groups(&self) -> Vec<GroupId> {
        match &self.gms {
            Some(g) => g.groups.lock().unwrap_or_else(|e| e.into_inner()).0.iter().copied().collect(),
            None => self.member_groups(),
        }
    }

    fn gms_parts(&self) -> Result<&GmsParts, Error> {
        self.gms.as_ref().ok_or_else(|| {
            Error::Invalid(
                "joining or leaving groups at run time needs the membership service: start the node with --gms \
                 (with a membership file alone, its [[group]] entries are fixed)"
                    .into(),
            )
        })
    }

    /// Ask the GMS for the group set with `name` joined or left; returns the group and the
    /// version of the new set (`None`: nothing to change).
    fn request(&self, name: &str, join: bool) -> Result<(GroupId, Option<u64>), Error> {
        let g = self.gms_parts()?;
        let group = self.group_id(name)?;
        if group == argent_runtime::FENCE_GROUP {
            return Err(Error::Invalid(format!("group id {} is reserved for fences", group.0)));
        }
        let mut state = g.groups.lock().unwrap_or_else(|e| e.into_inner());
        let changed = if join { state.0.insert(group) } else { state.0.remove(&group) };
        if !changed {
            return Ok((group, None));
        }
        state.1 += 1;
        let groups: Vec<GroupId> = state.0.iter().copied().collect();
        if !join {
            // Stop delivering it at once; the region may go on carrying it.
            self.runtime.set_groups(&groups);
        }
        // Under the lock: the link numbers group sets in the order it is given them.
        g.link.set_groups(groups);
        Ok((group, Some(state.1)))
    }

    /// Whether the views installed record group-set `version`; then subscriptions follow
    /// the groups asked for now.
    fn installed(&self, version: u64) -> bool {
        let Some(g) = &self.gms else { return true };
        if g.applied.load(Ordering::Acquire) < version {
            return false;
        }
        // What is asked for now (another thread may have changed it meanwhile).
        let current: Vec<GroupId> =
            g.groups.lock().unwrap_or_else(|e| e.into_inner()).0.iter().copied().collect();
        self.runtime.set_groups(&current);
        true
    }

    fn wait_installed(&self, group: GroupId, version: u64, join: bool) -> Result<(), Error> {
        let deadline = std::time::Instant::now() + GROUP_CHANGE_TIMEOUT;
        while !self.installed(version) {
            if std::time::Instant::now() >= deadline {
                return Err(Error::Invalid(format!(
                    "the membership service did not install this node's {} of group {} within {:?}: \
                     is the GMS reachable (argent status)?",
                    if join { "join" } else { "leave" },
                    group.0,
                    GROUP_CHANGE_TIMEOUT
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

/// Future of [`Node::join_async`] and [`Node::leave_async`]: the group, once the GMS
/// installed the change. Woken by the thread that applies views.
#[derive(Debug)]
pub struct GroupChange<'a> {
    node: &'a Node,
    request: Option<Result<(GroupId, Option<u64>), Error>>,
}

impl<'a> GroupChange<'a> {
    fn new(node: &'a Node, request: Result<(GroupId, Option<u64>), Error>) -> Self {
        GroupChange { node, request: Some(request) }
    }
}

impl Future for GroupChange<'_> {
    type Output = Result<GroupId, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (group, version) = match self.request.take() {
            None => panic!("GroupChange polled after it completed"),
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok((group, None))) => return Poll::Ready(Ok(group)),
            Some(Ok((group, Some(version)))) => (group, version),
        };
        let node = self.node;
        if node.installed(version) {
            return Poll::Ready(Ok(group));
        }
        if let Some(g) = &node.gms {
            g.waiters.lock().unwrap_or_else(|e| e.into_inner()).push(cx.waker().clone());
        }
        // A view may have come between the check and the registration.
        if node.installed(version) {
            return Poll::Ready(Ok(group));
        }
        self.request = Some(Ok((group, Some(version))));
        Poll::Pending
    }
}
