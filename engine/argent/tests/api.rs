//! The embedding API in one process: two nodes on loopback, claim/commit and copy
//! publishing, blocking, non-blocking and async receive.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

#[test]
fn publish_and_receive_between_two_nodes() {
    let base = 40_000 + (std::process::id() % 4_000) as u16 * 2;
    let (a, b) = common::pair(base, "news", 5, "");
    assert!(matches!(a.publisher("nope"), Err(argent::Error::UnknownGroup(_))));
    let mut sub_b = b.subscribe("news").expect("subscribe");
    let mut sub_a = a.subscribe("news").expect("subscribe");
    let mut p = a.publisher("news").expect("publisher");
    {
        let mut c = p.claim(5).expect("room");
        c.bytes_mut().copy_from_slice(b"hello");
        c.commit();
    }
    p.publish(b"world").expect("room");
    block_on(p.publish_async(b"async")).expect("room");

    let mut got = Vec::new();
    while got.len() < 3 {
        let d = sub_b.recv_timeout(Duration::from_secs(10)).expect("delivery within 10 s");
        assert_eq!(d.sender_node(), a.id());
        got.extend(d.messages().map(|m| m.to_vec()));
    }
    assert_eq!(got, vec![b"hello".to_vec(), b"world".to_vec(), b"async".to_vec()]);

    // The publisher's own node delivers too; async receive.
    let d = block_on(sub_a.recv_async());
    assert_eq!(d.messages().next(), Some(&b"hello"[..]));
    assert!(sub_b.try_recv().is_none());
    a.shutdown();
    b.shutdown();
}
