//! The run's fixed settings: the region every node is in, and how long a run may take.

use argent_core::RegionId;
use std::time::Duration;

pub(super) const REGION: RegionId = RegionId(1);
/// Violations recorded in detail per run (the count is always exact).
pub(super) const MAX_DETAILED: usize = 10;
/// Hard stop for runs whose senders never finish publishing.
pub(super) const MAX_VIRTUAL: Duration = Duration::from_secs(600);
/// After everything is delivered and acknowledged, the run goes on this long to check that
/// the region goes quiet: caches are cleaned up and no repair traffic remains.
pub(super) const QUIET: Duration = Duration::from_millis(600);
