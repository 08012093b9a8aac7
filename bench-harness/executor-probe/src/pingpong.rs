//! Cross-core wake-up round trips: glommio shared channels against eventfd + epoll.

use crate::args::{arg, Args};
use crate::os::{pin_current, thread_cpu_ns};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Cross-core wake-up: two parked executors/threads on cores 0 and 1 bounce a token.
pub fn run(a: &Args) {
    let via = a.get("via").cloned().unwrap_or_else(|| "loop".into());
    let secs: f64 = arg(a, "secs", 2.0);
    let (trips, wall, cpu_a, cpu_b) = match via.as_str() {
        "glommio" => glommio_pingpong(secs),
        "loop" => loop_pingpong(secs),
        other => panic!("--via glommio|loop, not {other}"),
    };
    println!(
        "RESULT role=pingpong via={via} round_trips={trips} rtt_us={:.2} cpu_ns_per_trip={:.0}",
        wall * 1e6 / trips as f64,
        (cpu_a + cpu_b) as f64 / trips as f64
    );
}

/// Round trips, wall seconds, and the CPU ns of side A and of side B.
type Trips = (u64, f64, u64, u64);

/// glommio: executors on cores 0 and 1 bounce a token through bounded shared channels.
fn glommio_pingpong(secs: f64) -> Trips {
    use glommio::channels::shared_channel;
    use glommio::{LocalExecutorBuilder, Placement};
    let (to_b, from_a) = shared_channel::new_bounded::<u64>(1);
    let (to_a, from_b) = shared_channel::new_bounded::<u64>(1);
    let hb = LocalExecutorBuilder::new(Placement::Fixed(1))
        .spawn(move || async move {
            let rx = from_a.connect().await;
            let tx = to_a.connect().await;
            let cpu0 = thread_cpu_ns();
            while let Some(v) = rx.recv().await {
                if v == u64::MAX {
                    break;
                }
                tx.send(v).await.unwrap();
            }
            thread_cpu_ns() - cpu0
        })
        .unwrap();
    let ha = LocalExecutorBuilder::new(Placement::Fixed(0))
        .spawn(move || async move {
            let tx = to_b.connect().await;
            let rx = from_b.connect().await;
            let cpu0 = thread_cpu_ns();
            let start = Instant::now();
            let mut trips = 0u64;
            while start.elapsed().as_secs_f64() < secs {
                tx.send(trips).await.unwrap();
                rx.recv().await.unwrap();
                trips += 1;
            }
            let wall = start.elapsed().as_secs_f64();
            let cpu = thread_cpu_ns() - cpu0;
            tx.send(u64::MAX).await.unwrap();
            (trips, wall, cpu)
        })
        .unwrap();
    let (t, w, ca) = ha.join().unwrap();
    let cb = hb.join().unwrap();
    (t, w, ca, cb)
}

/// eventfd + epoll: threads on cores 0 and 1 bounce a token through each other's eventfd.
fn loop_pingpong(secs: f64) -> Trips {
    let efd = || {
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        fd
    };
    let (ea, eb) = (efd(), efd());
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let hb = std::thread::spawn(move || {
        pin_current(1);
        side(eb, ea, false, secs, s2)
    });
    let ha = std::thread::spawn(move || {
        pin_current(0);
        side(ea, eb, true, secs, stop)
    });
    let (t, w, ca) = ha.join().unwrap();
    let (_, _, cb) = hb.join().unwrap();
    (t, w, ca, cb)
}

/// One side: its own epoll with its eventfd, like a parked duty-cycle loop (trips, wall s, CPU ns).
fn side(my: i32, peer: i32, first: bool, secs: f64, stop: Arc<AtomicBool>) -> (u64, f64, u64) {
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, my, &mut ev) };
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    let one: u64 = 1;
    let mut v: u64 = 0;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut trips = 0u64;
    if first {
        unsafe { libc::write(peer, (&one as *const u64).cast(), 8) };
    }
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let r = unsafe { libc::read(my, (&mut v as *mut u64).cast(), 8) };
        if r == 8 {
            trips += 1;
            if first && start.elapsed().as_secs_f64() >= secs {
                stop.store(true, Ordering::Relaxed);
                unsafe { libc::write(peer, (&one as *const u64).cast(), 8) };
                break;
            }
            unsafe { libc::write(peer, (&one as *const u64).cast(), 8) };
            continue;
        }
        unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 4, 500) };
        if start.elapsed().as_secs_f64() > secs + 5.0 {
            break;
        }
    }
    unsafe { libc::close(ep) };
    (trips, start.elapsed().as_secs_f64(), thread_cpu_ns() - cpu0)
}
