//! Real sockets on loopback, both backends (uring skipped with a reason if it does not work).

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::thread;
use std::time::{Duration, Instant};

use argent_transport::{probe_uring, Backend, Outgoing, SocketSpec, Transport, Via};
use bytes::Bytes;
use common::*;

const LIMIT: Duration = Duration::from_secs(10);

fn send_all(t: &mut dyn Transport, batch: &mut Vec<Outgoing>) {
    let n = batch.len();
    let report = t.send(batch).expect("send");
    assert!(batch.is_empty(), "send drains the batch");
    assert_eq!(report.sent, n, "every datagram sent: {report:?}");
    assert!(report.all_sent());
}

/// Checks that `got` holds exactly sequences 0..n with the given sizes, in order.
fn assert_complete(got: &[argent_transport::Received], nonce: u64, sizes: &[usize], who: &str) {
    let seqs: Vec<u32> = got.iter().map(|r| check(nonce, &r.data).unwrap()).collect();
    assert_eq!(seqs.len(), sizes.len(), "{who}: received {}/{} datagrams", seqs.len(), sizes.len());
    assert_eq!(seqs, (0..sizes.len() as u32).collect::<Vec<_>>(), "{who}: loopback keeps order");
    for r in got {
        let seq = check(nonce, &r.data).unwrap() as usize;
        assert_eq!(r.data.len(), sizes[seq]);
    }
}

#[test]
fn unicast_round_trip_of_mixed_sizes() {
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &spec(vec![]));
        let nonce = nonce();
        let sizes = mixed_sizes(100);
        let mut batch = batch_to(b.local_addr(), nonce, &sizes);
        send_all(a.as_mut(), &mut batch);
        let got = recv_run(b.as_mut(), nonce, sizes.len(), LIMIT);
        assert_complete(&got, nonce, &sizes, &format!("{backend} b"));
        assert!(got.iter().all(|r| r.from == a.local_addr() && r.via == Via::Unicast));

        // And back: b echoes what it received, a checks it.
        let mut echo: Vec<_> = got.iter().map(|r| Outgoing::new(r.from, r.data.clone())).collect();
        send_all(b.as_mut(), &mut echo);
        let back = recv_run(a.as_mut(), nonce, sizes.len(), LIMIT);
        assert_complete(&back, nonce, &sizes, &format!("{backend} a"));
        assert!(back.iter().all(|r| r.from == b.local_addr()));

        let (sa, sb) = (a.stats(), b.stats());
        eprintln!("{backend}: sender {sa:?}\n{backend}: receiver {sb:?}");
        assert_eq!(sa.datagrams_sent, 100, "{backend}: {sa:?}");
        assert_eq!(sb.datagrams_received, 100, "{backend}: {sb:?}");
        assert_eq!(sb.bytes_received, sizes.iter().sum::<usize>() as u64);
        assert!(sa.send_syscalls < 100, "{backend}: sends are batched: {sa:?}");
        assert!(sa.recv_buffer_granted > 0);
    }
}

#[test]
fn multicast_reaches_every_member() {
    ensure_loopback_multicast();
    for (k, backend) in backends().into_iter().enumerate() {
        let g = group(1 + k as u16);
        let mut sender = open(backend, &spec(vec![]));
        let mut r1 = open(backend, &spec(vec![g]));
        let mut r2 = open(backend, &spec(vec![g]));
        let nonce = nonce();
        let sizes = mixed_sizes(100);
        let mut batch = batch_to(g, nonce, &sizes);
        send_all(sender.as_mut(), &mut batch);
        for (name, r) in [("r1", &mut r1), ("r2", &mut r2)] {
            let got = recv_run(r.as_mut(), nonce, sizes.len(), LIMIT);
            assert!(
                !got.is_empty(),
                "{backend} {name}: no multicast arrived on loopback (is lo's MULTICAST flag set? `ip link set lo multicast on`)"
            );
            assert_complete(&got, nonce, &sizes, &format!("{backend} {name}"));
            assert!(got.iter().all(|r| r.via == Via::Group(0) && r.from == sender.local_addr()));
        }
    }
}

#[test]
fn a_member_does_not_receive_its_own_multicasts() {
    ensure_loopback_multicast();
    for (k, backend) in backends().into_iter().enumerate() {
        let g = group(20 + k as u16);
        let mut me = open(backend, &spec(vec![g]));
        let mut other = open(backend, &spec(vec![g]));
        let nonce = nonce();
        let mut batch: Vec<_> = (0..10).map(|i| Outgoing::new(g, payload(nonce, i, 500))).collect();
        send_all(me.as_mut(), &mut batch);
        let got = recv_run(other.as_mut(), nonce, 10, LIMIT);
        assert_eq!(got.len(), 10, "{backend}: the other member receives everything");
        // The other member's own datagram reaches `me`, so `me`'s group socket works...
        let mut one = vec![Outgoing::new(g, payload(nonce, 10, 500))];
        send_all(other.as_mut(), &mut one);
        let mine = recv_run(me.as_mut(), nonce, 1, Duration::from_secs(2));
        // ... and of everything sent to the group, `me` got only that one.
        let seqs: Vec<u32> = mine.iter().filter_map(|r| check(nonce, &r.data)).collect();
        assert_eq!(seqs, vec![10], "{backend}: own multicasts are filtered out in the kernel");
    }
}

#[test]
fn waker_interrupts_a_blocking_recv() {
    for backend in backends() {
        let mut t = open(backend, &spec(vec![]));
        let waker = t.waker();
        let waking = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            waker.wake();
        });
        let start = Instant::now();
        let mut out = Vec::new();
        let n = t.recv(None, 16, &mut out).expect("recv");
        let took = start.elapsed();
        waking.join().unwrap();
        assert_eq!(n, 0, "{backend}: woken, not data");
        assert!(
            took >= Duration::from_millis(90) && took < Duration::from_secs(5),
            "{backend}: woke after {took:?}"
        );
        assert_eq!(t.stats().wakeups, 1);

        // A wake-up before the call is kept: the next recv returns at once.
        t.waker().wake();
        let start = Instant::now();
        assert_eq!(t.recv(Some(Duration::from_secs(5)), 16, &mut out).unwrap(), 0);
        assert!(start.elapsed() < Duration::from_secs(1), "{backend}");
        // ...once.
        let start = Instant::now();
        assert_eq!(t.recv(Some(Duration::from_millis(50)), 16, &mut out).unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_millis(45), "{backend}: second recv should wait");
    }
}

#[test]
fn zero_timeout_does_not_block() {
    for backend in backends() {
        let mut t = open(backend, &spec(vec![]));
        let mut out = Vec::new();
        let start = Instant::now();
        assert_eq!(t.recv(Some(Duration::ZERO), 16, &mut out).unwrap(), 0);
        assert!(start.elapsed() < Duration::from_millis(250), "{backend}: took {:?}", start.elapsed());

        // With data waiting, a zero timeout returns it.
        let nonce = nonce();
        let mut s = open(backend, &spec(vec![]));
        let mut batch = vec![Outgoing::new(t.local_addr(), payload(nonce, 0, 64))];
        send_all(s.as_mut(), &mut batch);
        let deadline = Instant::now() + LIMIT;
        while out.is_empty() && Instant::now() < deadline {
            t.recv(Some(Duration::ZERO), 16, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1, "{backend}");
        assert_eq!(check(nonce, &out[0].data), Some(0));
    }
}

#[test]
fn timeout_is_honoured() {
    for backend in backends() {
        let mut t = open(backend, &spec(vec![]));
        let mut out = Vec::new();
        let start = Instant::now();
        assert_eq!(t.recv(Some(Duration::from_millis(30)), 16, &mut out).unwrap(), 0);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(29) && took < Duration::from_secs(2), "{backend}: {took:?}");
    }
}

#[test]
fn a_60000_byte_datagram_arrives_intact() {
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &spec(vec![]));
        let nonce = nonce();
        let mut batch = vec![Outgoing::new(b.local_addr(), payload(nonce, 0, 60_000))];
        send_all(a.as_mut(), &mut batch);
        let got = recv_run(b.as_mut(), nonce, 1, LIMIT);
        assert_eq!(got.len(), 1, "{backend}");
        assert_eq!(got[0].data.len(), 60_000);
    }
}

#[test]
fn open_without_a_backend_probes() {
    let t = argent_transport::open(None, &spec(vec![])).expect("open");
    let expected = if probe_uring().is_ok() { Backend::Uring } else { Backend::Std };
    assert_eq!(t.backend(), expected);
    assert_eq!("uring".parse::<Backend>().unwrap(), Backend::Uring);
    assert_eq!(Backend::Std.to_string(), "std");
    assert!("dpdk".parse::<Backend>().is_err());
}

#[test]
fn oversized_datagrams_are_dropped_and_counted() {
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &SocketSpec { max_datagram: 1000, ..spec(vec![]) });
        let nonce = nonce();
        let mut batch = vec![
            Outgoing::new(b.local_addr(), payload(nonce, 0, 2000)),
            Outgoing::new(b.local_addr(), payload(nonce, 1, 1000)),
        ];
        send_all(a.as_mut(), &mut batch);
        let got = recv_run(b.as_mut(), nonce, 1, LIMIT);
        assert_eq!(got.len(), 1, "{backend}");
        assert_eq!(check(nonce, &got[0].data), Some(1));
        assert_eq!(b.stats().recv_truncated, 1, "{backend}");
    }
}

#[test]
fn refused_datagrams_are_reported_not_hidden() {
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &spec(vec![]));
        let nonce = nonce();
        let port_zero = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let mut batch = vec![
            Outgoing::new(b.local_addr(), payload(nonce, 0, 100)),
            Outgoing::new(port_zero, payload(nonce, 1, 100)),
            Outgoing::new(b.local_addr(), payload(nonce, 2, 100)),
        ];
        let report = a.send(&mut batch).unwrap();
        assert_eq!((report.sent, report.rejected, report.unsent), (2, 1, 0), "{backend}: {report:?}");
        let first = report.first_rejection.as_ref().expect("a rejection");
        assert_eq!(first.to, port_zero);
        let got = recv_run(b.as_mut(), nonce, 2, LIMIT);
        let seqs: Vec<_> = got.iter().map(|r| check(nonce, &r.data).unwrap()).collect();
        assert_eq!(seqs, vec![0, 2], "{backend}");
        assert_eq!(a.stats().send_rejected, 1);
    }
}

#[test]
fn receiving_never_stalls_on_buffers_readers_hold() {
    for backend in backends() {
        // Few, large buffers (64 for uring): readers keep every datagram, yet all arrive —
        // uring copies out of its pool once half of it is lent.
        let rx_spec = SocketSpec { batch: 8, recv_buffer: 1 << 20, ..spec(vec![]) };
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &rx_spec);
        let nonce = nonce();
        let total = 300;
        let mut held = Vec::new();
        let mut seen = BTreeSet::new();
        let deadline = Instant::now() + LIMIT;
        for chunk in (0..total).collect::<Vec<u32>>().chunks(50) {
            // Each longer than the last: no GSO run, so no GRO buffer holds several, and
            // every datagram takes a buffer of its own.
            let mut batch: Vec<_> = chunk
                .iter()
                .map(|i| Outgoing::new(b.local_addr(), payload(nonce, *i, 200 + *i as usize)))
                .collect();
            send_all(a.as_mut(), &mut batch);
            while seen.len() < (chunk[chunk.len() - 1] + 1) as usize && Instant::now() < deadline {
                let mut out = Vec::new();
                b.recv(Some(Duration::from_millis(100)), 64, &mut out).unwrap();
                for r in out {
                    seen.insert(check(nonce, &r.data).expect("our datagram"));
                    held.push(r); // never released during the test
                }
            }
        }
        assert_eq!(
            seen.len(),
            total as usize,
            "{backend}: every datagram arrives while readers hold the rest"
        );
        if backend == Backend::Uring {
            assert!(b.stats().recv_copied > 0, "uring copied once half its pool was lent: {:?}", b.stats());
        }
        drop(held);
    }
}

#[test]
fn bytes_outlive_their_transport() {
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &spec(vec![]));
        let nonce = nonce();
        let mut batch: Vec<_> =
            (0..10).map(|i| Outgoing::new(b.local_addr(), payload(nonce, i, 500 + i as usize))).collect();
        send_all(a.as_mut(), &mut batch);
        let got = recv_run(b.as_mut(), nonce, 10, LIMIT);
        drop(b);
        drop(a);
        let kept: Vec<Bytes> = got.into_iter().map(|r| r.data).collect();
        for (i, d) in kept.iter().enumerate() {
            assert_eq!(check(nonce, d), Some(i as u32), "{backend}");
        }
    }
}

#[test]
fn setup_errors_name_what_failed() {
    let bad_group =
        SocketSpec { groups: vec![SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000)], ..spec(vec![]) };
    let e = argent_transport::open(Some(Backend::Std), &bad_group).err().expect("not a multicast address");
    assert!(e.to_string().contains("10.0.0.1:5000"), "{e}");
    let bad_iface = SocketSpec { interface: Ipv4Addr::new(192, 0, 2, 77), ..spec(vec![group(30)]) };
    let e = argent_transport::open(Some(Backend::Std), &bad_iface).err().expect("no such interface");
    assert!(e.to_string().contains("192.0.2.77"), "{e}");
    let a = argent_transport::open(Some(Backend::Std), &spec(vec![])).unwrap();
    let taken = SocketSpec { unicast: a.local_addr(), ..spec(vec![]) };
    let e = argent_transport::open(Some(Backend::Std), &taken).err().expect("address in use");
    assert!(e.to_string().contains(&a.local_addr().to_string()), "{e}");
}

#[test]
fn groups_are_joined_and_left_while_running() {
    ensure_loopback_multicast();
    for (k, backend) in backends().into_iter().enumerate() {
        let (g1, g2) = (group(20 + 2 * k as u16), group(21 + 2 * k as u16));
        let mut sender = open(backend, &spec(vec![]));
        let mut r = open(backend, &spec(vec![g1]));
        let nonce = nonce();
        assert!(reaches(sender.as_mut(), r.as_mut(), g1, nonce, 0), "{backend}: joined at open");
        assert!(!reaches(sender.as_mut(), r.as_mut(), g2, nonce, 1), "{backend}: not joined yet");
        r.join(g2).expect("join");
        r.join(g2).expect("joining twice does nothing");
        assert_eq!(r.groups(), vec![g1, g2]);
        assert!(reaches(sender.as_mut(), r.as_mut(), g2, nonce, 2), "{backend}: joined while running");
        assert!(r.leave(g1).expect("leave"), "{backend}");
        assert!(!r.leave(g1).expect("leave"), "{backend}: not joined any more");
        assert_eq!(r.groups(), vec![g2]);
        assert!(!reaches(sender.as_mut(), r.as_mut(), g1, nonce, 3), "{backend}: left");
        assert!(reaches(sender.as_mut(), r.as_mut(), g2, nonce, 4), "{backend}: the other group stays");
        // Rejoining reuses the freed slot.
        r.join(g1).expect("rejoin");
        assert!(reaches(sender.as_mut(), r.as_mut(), g1, nonce, 5), "{backend}: rejoined");
    }
}

/// A datagram's tail goes out from its own buffer right after the payload: alone, and in
/// GSO runs of equal-sized datagrams (two iovecs per segment).
#[test]
fn tails_follow_their_payloads_alone_and_in_gso_runs() {
    use argent_transport::Tail;
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &spec(vec![]));
        let nonce = nonce();
        let tail = |i: usize| [i as u8 ^ 0x5A; 36];
        // 20 of 1 436 + 36 = 1 472 bytes (a GSO run), then 3 of mixed sizes.
        let sizes: Vec<usize> = (0..20).map(|_| 1436).chain([100, 9000, 40]).collect();
        let mut batch: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                Outgoing::with_tail(b.local_addr(), payload(nonce, i as u32, len), Tail::new(&tail(i)))
            })
            .collect();
        assert_eq!(batch[0].len(), 1472);
        send_all(a.as_mut(), &mut batch);
        let deadline = Instant::now() + LIMIT;
        let (mut got, mut buf) = (Vec::new(), Vec::new());
        while got.len() < sizes.len() && Instant::now() < deadline {
            buf.clear();
            b.recv(Some(Duration::from_millis(200)), 256, &mut buf).expect("recv");
            got.extend(buf.drain(..).filter(|r| r.data.len() >= 16 && r.data[..8] == nonce.to_be_bytes()));
        }
        assert_eq!(got.len(), sizes.len(), "{backend}: every datagram");
        for (i, r) in got.iter().enumerate() {
            let len = sizes[i];
            assert_eq!(r.data.len(), len + 36, "{backend}: datagram {i}");
            assert_eq!(check(nonce, &r.data[..len]), Some(i as u32), "{backend}: payload {i}");
            assert_eq!(r.data[len..], tail(i), "{backend}: tail {i}");
        }
        eprintln!("{backend}: {:?}", a.stats());
    }
}

#[test]
fn a_gso_run_arrives_as_its_datagrams_through_one_gro_buffer() {
    for backend in backends() {
        let mut a = open(backend, &spec(vec![]));
        let mut b = open(backend, &spec(vec![]));
        let nonce = nonce();
        // 40 datagrams of 1 472 bytes and a shorter last one: one GSO message, which a
        // receiver with UDP GRO takes whole and splits at the segment size.
        let sizes: Vec<usize> = (0..40).map(|_| 1472).chain([300]).collect();
        let mut batch = batch_to(b.local_addr(), nonce, &sizes);
        send_all(a.as_mut(), &mut batch);
        let got = recv_run(b.as_mut(), nonce, sizes.len(), LIMIT);
        assert_complete(&got, nonce, &sizes, &format!("{backend}"));
        assert!(got.iter().all(|r| r.from == a.local_addr() && r.via == Via::Unicast), "{backend}");
        let (sa, sb) = (a.stats(), b.stats());
        assert!(sa.gso_messages > 0, "{backend}: sent as GSO: {sa:?}");
        assert!(sb.gro_buffers > 0 && sb.gro_buffers < 41, "{backend}: received through GRO: {sb:?}");
        assert_eq!(sb.datagrams_received, 41, "{backend}: counted as datagrams: {sb:?}");
    }
}
