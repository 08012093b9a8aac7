//! A node's group set as it asks the membership service for it: requests numbered in
//! order, the version the installed views record, waiters, and the leases open objects
//! hold on their groups.

use crate::error::Error;
use argent_core::NodeId;
use argent_membership::gms::{GroupSets, View};
use argent_membership::service::GroupSetter;
use argent_runtime::{GroupId, GroupsHandle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

/// How long [`Node::join`](crate::Node::join) and [`Node::leave`](crate::Node::leave) wait for the GMS to install the change.
pub const GROUP_CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A node's group set as it asks the GMS for it, shared with the thread that installs views
/// and with the leases of open objects.
#[derive(Debug)]
pub(crate) struct Membership {
    setter: GroupSetter,
    runtime: GroupsHandle,
    me: NodeId,
    /// The groups asked for, as the views record them, and as received.
    sets: Mutex<GroupSets>,
    /// The newest group-set version the installed views record for this node.
    pub(crate) applied: AtomicU64,
    /// Tasks awaiting a group change ([`Node::join_async`](crate::Node::join_async)), woken at every view.
    waiters: Mutex<Vec<Waker>>,
    /// Groups open objects hold: how many proxies, and whether their first open joined it
    /// (then the last proxy to close leaves it).
    pub(crate) leases: Mutex<HashMap<GroupId, (usize, bool)>>,
}

impl Membership {
    pub(crate) fn new(setter: GroupSetter, runtime: GroupsHandle, me: NodeId, groups: Vec<GroupId>) -> Self {
        Membership {
            setter,
            runtime,
            me,
            sets: Mutex::new(GroupSets::new(groups)),
            applied: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// Wake `waker` at the next view installed.
    pub(crate) fn wake_at_next_view(&self, waker: &Waker) {
        lock(&self.waiters).push(waker.clone());
    }

    /// The thread that installs views is about to hand `view` to the shards: subscriptions
    /// receive the groups it records for this node (and still asked for), each from the
    /// region view in which it was joined. Before the shards install it, so that nothing
    /// sent in that view is delivered while a subscription does not know the group yet.
    pub(crate) fn view_installing(&self, view: &View) {
        let mut sets = lock(&self.sets);
        if sets.install(view, self.me) {
            self.runtime.set_since(&sets.received().iter().collect::<Vec<_>>());
        }
    }

    /// The thread that installs views applied one recording group-set `version` for us.
    pub(crate) fn installed_version(&self, version: u64) {
        self.applied.fetch_max(version, Ordering::AcqRel);
        for w in std::mem::take(&mut *lock(&self.waiters)) {
            w.wake();
        }
    }

    /// The view from which this node receives `group`, if it does.
    pub(crate) fn received_since(&self, group: GroupId) -> Option<argent_core::ViewId> {
        lock(&self.sets).received().since(group)
    }

    pub(crate) fn joined(&self) -> Vec<GroupId> {
        lock(&self.sets).requested().iter().copied().collect()
    }

    /// Ask for the group set with `group` joined or left; the version of the new set
    /// (`None`: nothing to change).
    pub(crate) fn request(&self, group: GroupId, join: bool) -> Result<Option<u64>, Error> {
        if group == argent_runtime::FENCE_GROUP || group == argent_runtime::FRAGMENT_GROUP {
            return Err(Error::Invalid(format!("group id {} is reserved (fences, fragments)", group.0)));
        }
        let mut sets = lock(&self.sets);
        let Some(version) = sets.request(group, join) else { return Ok(None) };
        if !join {
            // Stop delivering it at once; the region may go on carrying it.
            self.runtime.set_since(&sets.received().iter().collect::<Vec<_>>());
        }
        // Under the lock: the link numbers group sets in the order it is given them.
        self.setter.set_groups(sets.requested().iter().copied().collect());
        Ok(Some(version))
    }

    /// Whether the views installed record group-set `version`.
    pub(crate) fn installed(&self, version: u64) -> bool {
        self.applied.load(Ordering::Acquire) >= version
    }

    pub(crate) fn wait_installed(&self, group: GroupId, version: u64, join: bool) -> Result<(), Error> {
        wait_for(
            || self.installed(version),
            || {
                format!(
                    "the membership service did not install this node's {} of group {} within {:?}: \
                 is the GMS reachable (argent status)?",
                    if join { "join" } else { "leave" },
                    group.0,
                    GROUP_CHANGE_TIMEOUT
                )
            },
        )
    }
}

/// An open object's hold on its group: the first joins it (unless the node was in it
/// already), the last to be dropped leaves it (without waiting for the view).
#[derive(Debug)]
pub(crate) struct GroupLease {
    pub(crate) membership: Arc<Membership>,
    pub(crate) group: GroupId,
}

impl Drop for GroupLease {
    fn drop(&mut self) {
        let mut leases = lock(&self.membership.leases);
        let Some(entry) = leases.get_mut(&self.group) else { return };
        entry.0 -= 1;
        if entry.0 > 0 {
            return;
        }
        let (_, joined_by_lease) = leases.remove(&self.group).expect("present");
        drop(leases);
        if joined_by_lease {
            if let Err(e) = self.membership.request(self.group, false) {
                tracing::warn!(group = self.group.0, error = %e, "leaving an object's group failed");
            }
        }
    }
}

/// Poll `done` every 2 ms for up to [`GROUP_CHANGE_TIMEOUT`]; past it, `failure` says why.
pub(crate) fn wait_for(
    mut done: impl FnMut() -> bool,
    failure: impl FnOnce() -> String,
) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + GROUP_CHANGE_TIMEOUT;
    while !done() {
        if std::time::Instant::now() >= deadline {
            return Err(Error::Invalid(failure()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}
