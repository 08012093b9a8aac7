//! Wake-ups between a shard and the application threads that wait on it.

use atomic_waker::AtomicWaker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::thread::Thread;
use std::time::Duration;

/// One waiter (a blocked thread or an async task) waiting for the other side of a ring.
///
/// The waiter arms the signal, re-checks its ring, then parks; the notifier only pays for a
/// wake-up (an unpark or a task wake) when the waiter armed it.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    armed: AtomicBool,
    thread: Mutex<Option<Thread>>,
    task: AtomicWaker,
}

impl Signal {
    /// Register the current thread and arm; the caller re-checks its condition, then parks.
    pub(crate) fn arm_thread(&self) {
        let mut t = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        *t = Some(std::thread::current());
        drop(t);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Register an async task and arm.
    pub(crate) fn arm_task(&self, waker: &Waker) {
        self.task.register(waker);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Park the current thread until notified or `timeout` passes.
    pub(crate) fn park(&self, timeout: Duration) {
        if self.armed.load(Ordering::SeqCst) {
            std::thread::park_timeout(timeout);
        }
    }

    pub(crate) fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Wake the waiter, if one is armed.
    pub(crate) fn notify(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                t.unpark();
            }
            self.task.wake();
        }
    }
}

/// One thread waiting for any of several subscriptions ([`crate::Runtime::subscribe_waking`])
/// and for whatever else calls [`SharedWait::notify`]: a driver serving many subscriptions
/// from one thread sleeps on one of these instead of a thread per subscription.
#[derive(Debug, Clone, Default)]
pub struct SharedWait {
    pub(crate) signal: Arc<Signal>,
}

impl SharedWait {
    /// A new wait, nobody waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sleeps up to `timeout`, unless `ready()` — checked after arming, so no notification
    /// that comes between the caller's last look and the sleep is lost — says there is work,
    /// or until notified. Waits with one thread at a time.
    pub fn wait(&self, timeout: Duration, ready: impl FnOnce() -> bool) {
        self.signal.arm_thread();
        if !ready() && !timeout.is_zero() {
            self.signal.park(timeout);
        }
        self.signal.disarm();
    }

    /// Wakes the waiting thread, if it sleeps.
    pub fn notify(&self) {
        self.signal.notify();
    }
}

/// Wakes a shard blocked in its transport, only when it sleeps.
#[derive(Clone)]
pub(crate) struct ShardWake {
    pub(crate) sleeping: Arc<AtomicBool>,
    pub(crate) waker: argent_transport::Waker,
}

impl ShardWake {
    #[inline]
    pub(crate) fn wake(&self) {
        // No fence on this per-message path: a commit that races with the shard falling asleep
        // (the flag read before the commit is visible) is picked up when the shard's short
        // sleep ends (`PUBLISHER_WAIT`). A plain load first, so the busy case costs no
        // read-modify-write.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}
