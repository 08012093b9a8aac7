//! The embedding API in one process: two nodes on loopback, claim/commit and copy
//! publishing, blocking, non-blocking and async receive.

mod common;
mod ports;

use std::future::Future;
use std::time::Duration;

fn block_on<F: Future>(f: F) -> F::Output {
    common::block_on(f, Duration::from_millis(50))
}

#[test]
fn publish_and_receive_between_two_nodes() {
    let base = ports::block();
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
    let d = block_on(sub_a.recv_async()).expect("the node is up");
    assert_eq!(d.messages().next(), Some(&b"hello"[..]));
    assert!(sub_b.try_recv().is_none());
    a.shutdown();
    b.shutdown();
}

#[test]
fn groups_sharing_a_region_are_delivered_apart() {
    let base = ports::block();
    let groups = "[[group]]\nname = \"g1\"\nid = 1\nmembers = [0, 1]\n\
                  [[group]]\nname = \"g2\"\nid = 2\nmembers = [1, 0]\n";
    let (a, b) = common::nodes(base, groups, "");
    // Same members: one region, one multicast address, one ring for both groups.
    assert_eq!(b.regions().len(), 1);
    assert_eq!(b.regions()[0].groups.len(), 2);
    let (g1, g2) = (b.group_id("g1").expect("g1"), b.group_id("g2").expect("g2"));
    assert_eq!(b.member_groups(), vec![g1, g2]);
    let mut only_g1 = b.subscribe("g1").expect("subscribe g1");
    let mut only_g2 = b.subscribe("g2").expect("subscribe g2");
    let mut both = b.subscribe_groups(&[g1, g2]).expect("subscribe both");

    // One publisher for both groups, interleaved in its single stream; a bound one too.
    let mut any = a.publisher_any().expect("publisher");
    let mut bound = a.publisher("g2").expect("publisher g2");
    assert_eq!(bound.group(), g2);
    // (A bound publisher has no `publish_to`, and `publisher_any` no `publish`: the types
    // refuse those calls; see the compile_fail examples of `argent_runtime::Publisher`.)
    assert_eq!(
        any.publish_to(argent::GroupId(77), b"x"),
        Err(argent::PublishError::NoRoute(argent::GroupId(77)))
    );
    const N: usize = 200;
    for i in 0..N {
        if i % 3 == 0 {
            let mut c = any.claim_to(g2, 8).expect("room");
            c.bytes_mut().copy_from_slice(&(i as u64).to_le_bytes());
            c.commit();
        } else {
            any.publish_to(g1, &(i as u64).to_le_bytes()).expect("room");
        }
    }
    let collect = |sub: &mut argent::Subscription, want: usize| {
        let mut got = Vec::new();
        while got.len() < want {
            let d = sub.recv_timeout(Duration::from_secs(10)).expect("delivery within 10 s");
            assert_eq!(d.sender_node(), a.id());
            for (g, m) in d.group_messages() {
                got.push((g, u64::from_le_bytes(m.try_into().expect("8 bytes, tag stripped"))));
            }
        }
        got
    };
    let expect = |keep: &dyn Fn(usize) -> bool| -> Vec<(argent::GroupId, u64)> {
        (0..N).filter(|i| keep(*i)).map(|i| (if i % 3 == 0 { g2 } else { g1 }, i as u64)).collect()
    };
    let n_g2 = (0..N).filter(|i| i % 3 == 0).count();
    assert_eq!(collect(&mut only_g1, N - n_g2), expect(&|i| i % 3 != 0), "g1 sees g1 only, in order");
    assert_eq!(collect(&mut only_g2, n_g2), expect(&|i| i % 3 == 0), "g2 sees g2 only, in order");
    assert_eq!(collect(&mut both, N), expect(&|_| true), "both groups, in the sender's order");

    // Zero-copy slices outlive the delivery; the group subscription sees the bound publisher.
    bound.publish(b"late").expect("room");
    let d = only_g2.recv_timeout(Duration::from_secs(10)).expect("delivery");
    let kept: Vec<(argent::GroupId, bytes::Bytes)> = d.message_bytes().collect();
    drop(d);
    assert_eq!(kept, vec![(g2, bytes::Bytes::from_static(b"late"))]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(only_g1.try_recv().is_none(), "g1's subscription never sees g2's message");
    a.shutdown();
    b.shutdown();
}

#[test]
fn messages_that_arrive_before_the_application_subscribes_are_kept_for_it() {
    // Traffic may start the moment a node is in the view, before its application has
    // subscribed: the runtime keeps those datagrams (bounded) for the first subscription;
    // not the node's own.
    let base = ports::block();
    let (a, b) = common::pair(base, "early", 9, "");
    let mut publisher = a.publisher("early").unwrap();
    for i in 0..100u32 {
        publisher.publish_blocking(&i.to_le_bytes()).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while b.stats().qsm.delivered_messages < 100 {
        assert!(std::time::Instant::now() < deadline, "node b received the messages");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut sub = b.subscribe("early").unwrap();
    let mut got = Vec::new();
    while got.len() < 100 {
        let d = sub.recv_timeout(std::time::Duration::from_secs(5)).expect("held deliveries arrive");
        got.extend(d.messages().map(|m| u32::from_le_bytes(m.try_into().unwrap())));
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(b.stats().unclaimed_dropped, 0);
    // The publisher's own datagrams are not kept for it: a publisher in its own groups that
    // never subscribes holds nothing, and a later subscription starts with what comes next.
    assert_eq!(a.stats().unclaimed_dropped, 0);
    let mut own = a.subscribe("early").unwrap();
    publisher.publish_blocking(&100u32.to_le_bytes()).unwrap();
    let d = own.recv_timeout(std::time::Duration::from_secs(5)).expect("its own next message");
    let first: Vec<u32> = d.messages().map(|m| u32::from_le_bytes(m.try_into().unwrap())).collect();
    assert_eq!(first, vec![100], "none of the 100 published before it subscribed");
    a.shutdown();
    b.shutdown();
}

/// Polls `f`, sleeping until woken (or 10 s): a future that is never woken shows as slow.
fn block_on_woken<F: Future>(f: F) -> F::Output {
    common::block_on(f, Duration::from_secs(10))
}

#[test]
fn every_receive_reports_that_the_node_shut_down() {
    let base = ports::block();
    let (a, b) = common::pair(base, "news", 5, "");
    let (mut s1, mut s2, mut s3) = (
        a.subscribe("news").expect("sub"),
        a.subscribe("news").expect("sub"),
        a.subscribe("news").expect("sub"),
    );
    let waiting = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        (block_on_woken(s1.recv_async()).map(|_| ()), started.elapsed())
    });
    let blocked = std::thread::spawn(move || s2.recv_timeout(Duration::from_secs(60)).map(|_| ()));
    std::thread::sleep(Duration::from_millis(300));
    a.shutdown();
    let (r, waited) = waiting.join().expect("async waiter");
    assert_eq!(r, Err(argent::Closed), "recv_async");
    assert!(
        waited < Duration::from_secs(5),
        "the waiting task was woken by the shutdown, not by a timer ({waited:?})"
    );
    assert_eq!(
        blocked.join().expect("blocked receiver"),
        Err(argent::RecvTimeoutError::Closed),
        "recv_timeout"
    );
    assert!(s3.recv().is_err(), "recv");
    b.shutdown();
}

#[test]
fn messages_larger_than_a_datagram_arrive_whole_and_in_order() {
    let base = ports::block();
    // Small datagrams: a 3 MB message is about 750 fragments.
    let (a, b) = common::pair(base, "big", 5, "datagram_size = 4096");
    let mut sub = b.subscribe("big").expect("subscribe");
    let mut p = a.publisher("big").expect("publisher");
    let big = |len: usize, salt: usize| (0..len).map(|i| ((i * 31 + salt) % 251) as u8).collect::<Vec<u8>>();
    let (one, two) = (big(3_000_000, 1), big(1_048_576, 2));
    assert!(
        matches!(p.publish(&one), Err(argent::PublishError::TooLarge { .. })),
        "a non-blocking publish takes one datagram at most"
    );
    p.publish_blocking(b"before").expect("publish");
    p.publish_blocking(&one).expect("a large message, in fragments");
    p.publish_within(b"between", Duration::from_secs(10)).expect("publish");
    block_on(p.publish_async(&two)).expect("a large message, async");
    p.publish_blocking(b"after").expect("publish");
    let mut got: Vec<Vec<u8>> = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 5 {
        assert!(std::time::Instant::now() < until, "got {} of 5", got.len());
        if let Ok(d) = sub.recv_timeout(Duration::from_millis(100)) {
            got.extend(d.message_bytes().map(|(_, m)| m.to_vec()));
        }
    }
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], b"before");
    assert!(got[1] == one, "the 3 MB message, whole");
    assert_eq!(got[2], b"between");
    assert!(got[3] == two, "the 1 MiB message, whole");
    assert_eq!(got[4], b"after");
    let (stats, held) = sub.reassembly();
    assert_eq!((stats.completed, stats.evicted, stats.out_of_order, held), (2, 0, 0, (0, 0)));
    a.shutdown();
    b.shutdown();
}
