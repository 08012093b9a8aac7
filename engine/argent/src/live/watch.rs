//! A proxy's changes for async programs ([`crate::Live::watch_async`]): the same bounded
//! queue as [`crate::Live::watch`] (the driver never waits for a watcher; a full queue
//! drops and counts), awaited instead of blocked on.

use super::binding::lock;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Inner<C> {
    queue: VecDeque<C>,
    waker: Option<Waker>,
    /// The proxy was dropped (no more changes), or the watcher was (nobody listens).
    proxy_gone: bool,
    watcher_gone: bool,
}

type Queue<C> = Arc<Mutex<Inner<C>>>;

/// Every change a proxy applies from the moment it was made, awaited:
/// `changed().await` gives the next, or `None` once the proxy is dropped. With the feature `stream` it is a
/// `futures_core::Stream` too.
pub struct AsyncWatch<C> {
    queue: Queue<C>,
}

impl<C> std::fmt::Debug for AsyncWatch<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWatch").field("queued", &lock(&self.queue).queue.len()).finish()
    }
}

/// The driver's end of an [`AsyncWatch`].
pub(super) struct WatchSender<C> {
    queue: Queue<C>,
    limit: usize,
}

/// What became of a change offered to a watcher.
pub(super) enum Offer {
    Taken,
    Full,
    Gone,
}

/// A watcher's two ends, holding at most `limit` unread changes.
pub(super) fn channel<C>(limit: usize) -> (WatchSender<C>, AsyncWatch<C>) {
    let queue = Arc::new(Mutex::new(Inner {
        queue: VecDeque::new(),
        waker: None,
        proxy_gone: false,
        watcher_gone: false,
    }));
    (WatchSender { queue: queue.clone(), limit }, AsyncWatch { queue })
}

impl<C> WatchSender<C> {
    pub(super) fn offer(&self, change: C) -> Offer {
        let mut q = lock(&self.queue);
        if q.watcher_gone {
            return Offer::Gone;
        }
        if q.queue.len() >= self.limit {
            return Offer::Full;
        }
        q.queue.push_back(change);
        let waker = q.waker.take();
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
        Offer::Taken
    }

    /// The proxy is gone: the watcher ends after what it has queued.
    pub(super) fn close(&self) {
        let waker = {
            let mut q = lock(&self.queue);
            q.proxy_gone = true;
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<C> AsyncWatch<C> {
    /// The next change, or `None` once the proxy is dropped and every change was taken.
    pub fn changed(&mut self) -> NextChange<'_, C> {
        NextChange { watch: self }
    }

    /// The next change if one is queued, without waiting.
    pub fn try_next(&mut self) -> Option<C> {
        lock(&self.queue).queue.pop_front()
    }

    fn poll_change(&mut self, cx: &mut Context<'_>) -> Poll<Option<C>> {
        let mut q = lock(&self.queue);
        if let Some(c) = q.queue.pop_front() {
            return Poll::Ready(Some(c));
        }
        if q.proxy_gone {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<C> Drop for AsyncWatch<C> {
    fn drop(&mut self) {
        let mut q = lock(&self.queue);
        q.watcher_gone = true;
        q.queue.clear();
    }
}

/// Future of [`AsyncWatch::changed`].
#[derive(Debug)]
pub struct NextChange<'a, C> {
    watch: &'a mut AsyncWatch<C>,
}

impl<C> Future for NextChange<'_, C> {
    type Output = Option<C>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<C>> {
        self.get_mut().watch.poll_change(cx)
    }
}

#[cfg(feature = "stream")]
impl<C> futures_core::Stream for AsyncWatch<C> {
    type Item = C;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<C>> {
        self.get_mut().poll_change(cx)
    }
}
