//! Publishing that awaits room in the rings.

use super::lanes::Lanes;
use crate::error::PublishError;
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
}

impl<'a> PublishFuture<'a> {
    pub(crate) fn new(
        lanes: &'a mut Lanes,
        route: Result<(GroupId, u64), PublishError>,
        msg: &'a [u8],
    ) -> Self {
        PublishFuture { lanes, route, msg }
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
        match p.publish_routed(group, mask, this.msg) {
            Err(PublishError::WouldBlock) => {
                p.space.arm_task(cx.waker());
                if p.fits(mask, this.msg.len()) {
                    cx.waker().wake_by_ref();
                }
                p.wake_lanes(mask);
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}
