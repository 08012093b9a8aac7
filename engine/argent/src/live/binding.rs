//! What every proxy's binding to a node shares: publishing with a deadline, the region's
//! members as fence keys, fresh origins, locks that survive a panicking holder.

use super::error::LiveError;
use crate::error::Error;
use argent_objects::reference::ObjectId;
use argent_runtime::{AnyPublisher, GroupId, GroupMembers, PublishError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh origin for a proxy on `node`: the node in the top bits
/// ([`argent_objects::session::origin_for`]), then the time and a per-process counter (two
/// proxies opened in one process always differ).
pub(super) fn new_origin(node: u32) -> u64 {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    argent_objects::session::origin_for(node, nanos.wrapping_add(n << 20))
}

/// Publishes `msg` into `group`, waiting for room up to `wait`.
pub(super) fn publish(
    p: &mut AnyPublisher,
    group: GroupId,
    id: ObjectId,
    msg: &[u8],
    wait: Duration,
) -> Result<(), LiveError> {
    p.publish_within_to(group, msg, wait).map_err(|e| match e {
        PublishError::WouldBlock => LiveError::Stalled { id },
        PublishError::TooLarge { len, max } => LiveError::TooLarge { id, len, max },
        source => LiveError::Publish { id, source },
    })
}

/// This node does not receive `group` (subscribing to it fails first).
pub(super) fn not_member(group: GroupId) -> LiveError {
    LiveError::Node(Error::Runtime(argent_runtime::RuntimeError::NotInGroup(group)))
}

/// The node ids of the region's current members, whose fences count.
pub(super) fn member_keys(members: &GroupMembers) -> Vec<u32> {
    members.now().iter().map(|n| n.0).collect()
}
