//! Publishing that awaits room in the rings.

use super::lanes::Lanes;
use crate::error::PublishError;
use crate::groups::{FRAGMENT_GROUP, GROUP_TAG_LEN};
use argent_membership::GroupId;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Future of [`Publisher::publish_async`](super::Publisher::publish_async) and
/// [`AnyPublisher::publish_async_to`](super::AnyPublisher::publish_async_to).
#[derive(Debug)]
pub struct PublishFuture<'a> {
    lanes: &'a mut Lanes,
    route: Result<(GroupId, u64), PublishError>,
    msg: &'a [u8],
    /// A message larger than a datagram: its fragments, and how many are published.
    fragments: Option<(Vec<Vec<u8>>, usize)>,
}

impl<'a> PublishFuture<'a> {
    pub(crate) fn new(
        lanes: &'a mut Lanes,
        route: Result<(GroupId, u64), PublishError>,
        msg: &'a [u8],
    ) -> Self {
        PublishFuture { lanes, route, msg, fragments: None }
    }
}

impl Future for PublishFuture<'_> {
    type Output = Result<(), PublishError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (group, mask) = match &this.route {
            Ok(r) => *r,
            Err(e) => return Poll::Ready(Err(e.clone())),
        };
        let p = &mut *this.lanes;
        if this.msg.len() > p.max_message && this.fragments.is_none() {
            match p.fragments(group, this.msg) {
                Ok(f) => this.fragments = Some((f, 0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        loop {
            let (tag, body) = match &this.fragments {
                None => (group, this.msg),
                Some((f, i)) if *i < f.len() => (FRAGMENT_GROUP, &f[*i][GROUP_TAG_LEN..]),
                Some(_) => return Poll::Ready(Ok(())),
            };
            match p.publish_routed(tag, mask, body) {
                Ok(()) => match &mut this.fragments {
                    None => return Poll::Ready(Ok(())),
                    Some((_, i)) => *i += 1,
                },
                Err(PublishError::WouldBlock) => {
                    p.space.arm_task(cx.waker());
                    if p.fits(mask, body.len()) {
                        cx.waker().wake_by_ref();
                    }
                    p.wake_lanes(mask);
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
