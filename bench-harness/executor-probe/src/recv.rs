//! The receiver process: glommio's `UdpSocket`, a pinned thread with `recvmmsg` and epoll,
//! or the hybrid (recvmmsg inside glommio), each measured over the same window.

use crate::args::{arg, Args};
use crate::mmsg::Mmsg;
use crate::net::{dest_addr, BATCH, SOCK_BUF};
use crate::os::{os_err, pin_current};
use crate::window::{print_rx, RxStats, Window};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::time::{Duration, Instant};

/// Receives with `--via glommio|loop|glommio-mmsg` and prints its `RESULT role=recv` line.
pub fn run(a: &Args) {
    let via = a.get("via").cloned().unwrap_or_else(|| "loop".into());
    let size: usize = arg(a, "size", 8192);
    let secs: f64 = arg(a, "secs", 3.0);
    let core: usize = arg(a, "core", 1);
    // Give up if nothing arrives: every run is bounded.
    let give_up = Duration::from_secs_f64(secs + 5.0);
    let o = RxOpts {
        core,
        size,
        secs,
        give_up,
        batch: arg(a, "batch", BATCH).clamp(1, BATCH),
        nap: Some(Duration::from_micros(arg(a, "nap-us", 0))).filter(|d| !d.is_zero()),
    };
    let sock = rx_socket(a);
    let st = match via.as_str() {
        "glommio" => recv_glommio(sock, o),
        "loop" => recv_loop(sock, o),
        "glommio-mmsg" => recv_glommio_mmsg(sock, o),
        other => panic!("--via glommio|loop|glommio-mmsg, not {other}"),
    };
    print_rx(&via, size, &st);
}

/// Receiver settings. `nap`: when the socket is found empty, sleep this long instead of
/// parking until it is readable (a shard busy with other work polls its socket on a duty
/// cycle, so datagrams queue up between polls). `batch`: recvmmsg vlen (1 = one per call).
#[derive(Clone, Copy)]
struct RxOpts {
    core: usize,
    size: usize,
    secs: f64,
    give_up: Duration,
    batch: usize,
    nap: Option<Duration>,
}

/// The receiving socket: bound to the destination (joined to the group on loopback).
fn rx_socket(a: &Args) -> Socket {
    let dest = dest_addr(a);
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_recv_buffer_size(SOCK_BUF).unwrap();
    if dest.ip().is_multicast() {
        s.join_multicast_v4(dest.ip(), &Ipv4Addr::LOCALHOST).unwrap();
        s.set_multicast_loop_v4(true).unwrap();
    }
    // Binding to the group address receives that group only.
    s.bind(&SocketAddr::V4(dest).into()).unwrap();
    s
}

/// Candidate A: glommio's `UdpSocket::recv_from`, one datagram per call.
fn recv_glommio(sock: Socket, o: RxOpts) -> RxStats {
    let RxOpts { core, size, secs, give_up, nap, .. } = o;
    use glommio::{LocalExecutorBuilder, Placement};
    use std::os::fd::FromRawFd;
    let fd = sock.into_raw_fd();
    let h = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("rx-glommio")
        .spawn(move || async move {
            let s = unsafe { glommio::net::UdpSocket::from_raw_fd(fd) };
            // glommio's recv_from cannot be polled without parking: after one EAGAIN it goes
            // through io_uring until a datagram arrives. In nap mode a 1 ns read timeout turns
            // "empty" into a TimedOut error instead of a park.
            let timeout = if nap.is_some() { Duration::from_nanos(1) } else { Duration::from_millis(500) };
            s.set_read_timeout(Some(timeout)).unwrap();
            let mut buf = vec![0u8; size + 64];
            let mut w = Window::new(secs, size);
            let started = Instant::now();
            println!("READY");
            loop {
                let r = s.recv_from(&mut buf).await;
                match r {
                    Ok((n, _from)) => {
                        w.st.recv_calls += 1;
                        w.on_datagram(&buf[..n]);
                        if w.done() {
                            break;
                        }
                    }
                    Err(e) => {
                        w.st.waits += 1;
                        if let Some(nap) = nap {
                            glommio::timer::sleep(nap).await;
                            if w.done() {
                                break;
                            }
                        }
                        if started.elapsed() > give_up {
                            eprintln!("glommio receiver gave up: {e}");
                            let _ = w.done();
                            break;
                        }
                    }
                }
            }
            w.st
        })
        .expect("glommio executor");
    h.join().expect("glommio executor join")
}

/// Hybrid (not one of the two candidates): glommio hosts the shard but the data path batches
/// with `recvmmsg` on the raw fd; when the socket is empty it parks on a 1-byte
/// `UdpSocket::peek_from` (glommio 0.9 has no public "wait until readable" for a socket).
fn recv_glommio_mmsg(sock: Socket, o: RxOpts) -> RxStats {
    let RxOpts { core, size, secs, give_up, batch, nap } = o;
    use glommio::{LocalExecutorBuilder, Placement};
    use std::os::fd::FromRawFd;
    let fd = sock.into_raw_fd();
    let h = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("rx-glommio-mmsg")
        .spawn(move || async move {
            // glommio owns (and closes) the fd; recvmmsg borrows it.
            let s = unsafe { glommio::net::UdpSocket::from_raw_fd(fd) };
            s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            let mut m = Mmsg::new(size, batch);
            let mut peek = [0u8; 1];
            let mut w = Window::new(secs, size);
            let started = Instant::now();
            println!("READY");
            loop {
                let n = m.recv(fd);
                w.st.recv_calls += 1;
                if n > 0 {
                    for i in 0..n {
                        let len = m.msgs[i].msg_len as usize;
                        w.on_datagram(&m.bufs[i][..len]);
                    }
                    if w.done() {
                        break;
                    }
                    continue;
                }
                w.st.waits += 1;
                if let Some(nap) = nap {
                    glommio::timer::sleep(nap).await;
                    if started.elapsed() > give_up {
                        let _ = w.done();
                        break;
                    }
                } else if s.peek_from(&mut peek).await.is_err() && started.elapsed() > give_up {
                    eprintln!("glommio-mmsg receiver gave up");
                    let _ = w.done();
                    break;
                }
                if w.done() {
                    break;
                }
            }
            w.st
        })
        .expect("glommio executor");
    h.join().expect("glommio executor join")
}

/// Candidate B: a pinned thread, non-blocking `recvmmsg` batches, parking in `epoll_wait`.
fn recv_loop(sock: Socket, o: RxOpts) -> RxStats {
    let RxOpts { core, size, secs, give_up, batch, nap } = o;
    sock.set_nonblocking(true).unwrap();
    std::thread::Builder::new()
        .name("rx-loop".into())
        .spawn(move || {
            pin_current(core);
            let fd = sock.as_raw_fd();
            let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if ep < 0 {
                os_err("epoll_create1");
            }
            let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 1 };
            if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
                os_err("epoll_ctl");
            }
            let mut m = Mmsg::new(size, batch);
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
            let mut w = Window::new(secs, size);
            let started = Instant::now();
            println!("READY");
            loop {
                let n = m.recv(fd);
                w.st.recv_calls += 1;
                if n > 0 {
                    for i in 0..n {
                        let len = m.msgs[i].msg_len as usize;
                        w.on_datagram(&m.bufs[i][..len]);
                    }
                    if w.done() {
                        break;
                    }
                    continue;
                }
                // Socket empty: park until readable (bounded, so the run always ends).
                w.st.waits += 1;
                let r = match nap {
                    Some(nap) => {
                        std::thread::sleep(nap);
                        0
                    }
                    None => unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 8, 500) },
                };
                if r == 0 && started.elapsed() > give_up {
                    eprintln!("loop receiver gave up");
                    let _ = w.done();
                    break;
                }
                if w.done() {
                    break;
                }
            }
            unsafe { libc::close(ep) };
            w.st
        })
        .unwrap()
        .join()
        .unwrap()
}
