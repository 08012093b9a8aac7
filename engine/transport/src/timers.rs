//! Precise timed waits for the calling thread.

use crate::sys;

/// Make the calling thread's timed waits precise (timer slack 1 ns instead of 50 µs): for
/// threads that wait for protocol deadlines, such as shards. Best effort.
pub fn precise_timers() {
    if let Err(e) = sys::lower_timer_slack() {
        tracing::debug!(error = %e, "could not lower the timer slack");
    }
}
