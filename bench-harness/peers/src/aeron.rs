//! Aeron 1.54 (the C media driver and client, through rusteron 0.2.16), the reliable-UDP peer.
//!
//! Each process is a host of its own: it embeds one C media driver (SHARED threading mode, a
//! backoff idle strategy: spinning drivers would distort figures on two cores) with its own
//! Aeron directory under /dev/shm, deleted on start and on shutdown. One subscriber: UDP
//! unicast to 127.0.0.1. More: UDP multicast to a 239.255.92.x group on the loopback interface,
//! `fc=min` (the publisher is paced by the slowest receiver). The publisher offers every
//! message through an exclusive publication (one writer thread: no atomic claim per offer);
//! subscribers poll, reassembling fragments when a message does not fit in one frame.
//!
//! Profiles: `default` is Aeron's own defaults (1408-byte MTU, 16 MB terms, 128 KB receive
//! socket buffer and receiver window, OS-default send buffer). With them, 1->3 multicast at
//! 1 KB crawls (22-32 MB/s here): the 128 KB receive buffers overflow (thousands of Udp
//! RcvbufErrors per run) and each loss waits for multicast NAK backoff and repair. `tuned`
//! matches argent's loopback setup: datagrams near argent's 65000 bytes and large socket
//! buffers; see `Tuning`.

use crate::control::Control;
use crate::opts::{Opts, Profile};
use crate::verify::{Generator, Verifier};
use anyhow::{bail, Context};
use rusteron_client::{
    Aeron, AeronContext, AeronFragmentClosureAssembler, AeronHeader, AeronOfferError, BackoffIdleStrategy,
    Handlers, IdleStrategy,
};
use rusteron_media_driver::bindings::aeron_threading_mode_enum::AERON_THREADING_MODE_SHARED;
use rusteron_media_driver::{AeronDriver, AeronDriverContext, AeronIdleStrategyKind};
use serde_json::{json, Value};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// The stream every run publishes on.
const STREAM_ID: i32 = 1001;
/// Fragments per subscription poll.
const FRAGMENT_LIMIT: usize = 256;
/// Aeron's data frame header: a frame carries `mtu - DATA_HEADER` bytes of message.
const DATA_HEADER: usize = 32;
/// How long setting up a publication or subscription, or waiting for the publisher's image,
/// may take (the orchestrator waits 30 s for `ready`).
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Aeron's default MTU, the `default` profile's (whose driver settings are left untouched).
const DEFAULT_MTU: usize = 1408;

/// The `tuned` profile: a fair fight with argent on loopback.
///
/// - MTU 65504, Aeron's largest (a multiple of 32; a 65532-byte UDP datagram, under
///   loopback's 65536-byte MTU): the frame closest to argent's 65000-byte datagrams. 64992
///   measured the same.
/// - Terms of 16 MB, Aeron's default, set explicitly: 64 MB terms measured 6-11% slower
///   (likely the page faults of first touching three terms of log per process in a 3 s
///   run), 4 and 8 MB no better.
/// - Socket buffers (SO_RCVBUF, SO_SNDBUF): argent's 32 MB, or the kernel's cap if lower.
///   Aeron sets them with plain setsockopt, which the kernel caps at net.core.rmem_max /
///   wmem_max (4 MB on these hosts, so 2, 4, 8 and 32 MB requests measured alike, and
///   Aeron warns about each socket given less than asked); argent forces past the cap
///   (SO_RCVBUFFORCE). Asking for the cap gives the same sockets as asking for more, and
///   keeps the receiver window within what the socket really holds.
/// - Receiver window (rcv-wnd) 4 MB (at most the receive buffer): within the 4 MB a capped
///   socket holds (8 MB of kernel accounting), and faster than 2 MB at 1->1, and at 1->3
///   when a core is busy. No receive-buffer drops in the tuned runs (Udp RcvbufErrors).
///
/// Measured on this 2-core machine, quiet, mean of 2 runs of 3 s, to the slowest subscriber
/// (term/buffers/window in MB; msgs/s at 64 B, MB/s at 1 KB):
///
/// ```text
/// term/buf/wnd   1->1 64 B   1->3 64 B   1->1 1 KB    1->3 1 KB
/// 64 / 4 / 2     16.1 M      8.1 M       2347 MB/s    1003 MB/s
/// 16 / 2 / 2     16.3 M      8.7 M       2550         1100
/// 16 / 4 / 2     16.8 M      8.7 M       2426         1142
/// 16 /32 / 2     16.1 M      8.7 M       2493         1099
/// 16 / 8 / 4     17.6 M      8.6 M       2614         1125
/// 16 /32 / 4     17.1 M      8.8 M       2639         1130   <- chosen (32 MB: 4 MB here)
///  8 / 4 / 2     16.1 M      8.9 M       2499         1105
///  4 / 4 / 1     16.2 M      8.8 M       2398         1070
/// ```
///
/// With one core kept busy, 1->3 at 1 KB: window 4 MB 611-622 MB/s, 2 MB 527-541 MB/s.
/// Larger send/receive batches (AERON_*_IO_VECTOR_CAPACITY, max messages per send 16 instead
/// of 4) measured no better and are left at Aeron's defaults.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    mtu: usize,
    term_length: usize,
    so_sndbuf: usize,
    so_rcvbuf: usize,
    rcv_window: usize,
}

const TUNED_MTU: usize = 65_504;
const TUNED_TERM_LENGTH: usize = 16 << 20;
/// argent's socket buffers (`argent bench --socket-buffer`).
const ARGENT_SOCKET_BUFFER: usize = 32 << 20;
const TUNED_RCV_WINDOW: usize = 4 << 20;

/// The profile's settings: `None` leaves Aeron's defaults.
fn tuning(o: &Opts) -> Option<Tuning> {
    if o.profile == Profile::Default {
        return None;
    }
    let capped =
        |cap: &str| sysctl(cap).map_or(ARGENT_SOCKET_BUFFER, |c| ARGENT_SOCKET_BUFFER.min(c as usize));
    // Aeron refuses an MTU larger than the send buffer.
    let so_sndbuf = capped("net/core/wmem_max").max(TUNED_MTU);
    let so_rcvbuf = capped("net/core/rmem_max");
    Some(Tuning {
        mtu: TUNED_MTU,
        term_length: TUNED_TERM_LENGTH,
        so_sndbuf,
        so_rcvbuf,
        rcv_window: TUNED_RCV_WINDOW.min(so_rcvbuf),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Pub,
    Sub,
}

/// The run's UDP port: the first after the orchestrator's base port.
fn port(o: &Opts) -> u16 {
    o.port + 1
}

/// The run's multicast data group (administratively scoped; Aeron wants an odd last octet for
/// data, and uses the even address above it for control), derived from the port so that
/// concurrent runs differ.
fn group(o: &Opts) -> String {
    format!("239.255.92.{}", (o.port / 100 % 125) * 2 + 1)
}

/// The channel URI for one side. Publication-side settings (mtu, term length, send buffer)
/// go on the publication's URI, receiver-side ones (receive buffer, window) on the
/// subscription's; the drivers are configured with the same values.
fn channel(o: &Opts, side: Side) -> String {
    let mut uri = if o.subscribers == 1 {
        format!("aeron:udp?endpoint=127.0.0.1:{}", port(o))
    } else {
        format!("aeron:udp?endpoint={}:{}|interface=127.0.0.1", group(o), port(o))
    };
    if o.subscribers > 1 && side == Side::Pub {
        uri.push_str("|fc=min");
    }
    if let Some(t) = tuning(o) {
        match side {
            Side::Pub => uri.push_str(&format!(
                "|mtu={}|term-length={}|so-sndbuf={}|so-rcvbuf={}",
                t.mtu, t.term_length, t.so_sndbuf, t.so_rcvbuf
            )),
            Side::Sub => uri.push_str(&format!(
                "|so-sndbuf={}|so-rcvbuf={}|rcv-wnd={}",
                t.so_sndbuf, t.so_rcvbuf, t.rcv_window
            )),
        }
    }
    uri
}

/// This process's embedded media driver; closed (its threads joined, its directory deleted)
/// on drop.
struct Driver {
    // Declared first: the driver closes before the last context reference goes.
    _driver: AeronDriver,
    ctx: AeronDriverContext,
    dir: String,
}

impl Driver {
    fn start(o: &Opts, name: &str) -> anyhow::Result<Driver> {
        let dir = format!("/dev/shm/argent-peer-{}-{name}", o.port);
        let ctx = AeronDriverContext::new().context("creating the media driver context")?;
        ctx.set_dir(&CString::new(dir.clone())?)?;
        ctx.set_dir_delete_on_start(true)?;
        ctx.set_dir_delete_on_shutdown(true)?;
        ctx.set_threading_mode(AERON_THREADING_MODE_SHARED)?;
        ctx.set_shared_idle_strategy_kind(AeronIdleStrategyKind::Backoff)?;
        if let Some(t) = tuning(o) {
            ctx.set_mtu_length(t.mtu)?;
            ctx.set_term_buffer_length(t.term_length)?;
            ctx.set_socket_so_sndbuf(t.so_sndbuf)?;
            ctx.set_socket_so_rcvbuf(t.so_rcvbuf)?;
            ctx.set_rcv_initial_window_length(t.rcv_window)?;
        }
        let driver =
            AeronDriver::new(&ctx).with_context(|| format!("initialising the media driver in {dir}"))?;
        driver.start(false).with_context(|| format!("starting the media driver in {dir}"))?;
        Ok(Driver { _driver: driver, ctx, dir })
    }

    /// A client of this driver (its conductor on a thread of its own).
    fn connect(&self) -> anyhow::Result<Aeron> {
        let ctx = AeronContext::new()?;
        ctx.set_dir(&CString::new(self.dir.clone())?)?;
        ctx.set_error_handler(Some(|code: i32, msg: &str| eprintln!("aeron error {code}: {msg}")))?;
        let aeron = Aeron::new(&ctx).context("creating the Aeron client")?;
        aeron.start().context("starting the Aeron client")?;
        Ok(aeron)
    }

    /// The settings in use, as the driver reports them (the channel URI repeats the tuned ones).
    fn settings(&self, o: &Opts, side: Side) -> Value {
        let c = &self.ctx;
        json!({
            "aeron_version": Aeron::version_full(),
            "channel": channel(o, side),
            "transport": if o.subscribers == 1 { "udp unicast" } else { "udp multicast, fc=min" },
            "mtu": c.get_mtu_length(),
            "term_length": c.get_term_buffer_length(),
            "so_sndbuf": c.get_socket_so_sndbuf(),
            "so_rcvbuf": c.get_socket_so_rcvbuf(),
            "rcv_wnd": c.get_rcv_initial_window_length(),
            "kernel_rmem_max": sysctl("net/core/rmem_max"),
            "kernel_wmem_max": sysctl("net/core/wmem_max"),
            "threading_mode": "shared",
            "driver_idle_strategy": c.get_shared_idle_strategy(),
            "app_idle_strategy": "backoff: 10 spins, 20 yields, park 1 us .. 1 ms",
        })
    }
}

/// A kernel setting, such as the caps of socket buffers (Aeron does not force past them).
fn sysctl(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/{name}")).ok()?.trim().parse().ok()
}

pub fn publish(o: &Opts, ctl: &mut Control, g: &mut Generator) -> anyhow::Result<Value> {
    let driver = Driver::start(o, "pub")?;
    let aeron = driver.connect()?;
    let uri = channel(o, Side::Pub);
    let publication = aeron
        .async_add_exclusive_publication(&CString::new(uri.clone())?, STREAM_ID)?
        .poll_blocking(SETUP_TIMEOUT)
        .with_context(|| format!("adding the publication {uri}"))?;
    let constants = publication.get_constants()?;
    if o.size > constants.max_message_length() {
        bail!(
            "--size {} exceeds Aeron's largest message here ({} bytes)",
            o.size,
            constants.max_message_length()
        );
    }
    ctl.ready()?;
    g.start();
    let mut idle = BackoffIdleStrategy::new();
    let mut idling = false;
    let (mut back_pressured, mut not_connected, mut admin_action) = (0u64, 0u64, 0u64);
    while let Some(m) = g.current() {
        match publication.offer(m) {
            Ok(_) => {
                g.advance();
                if idling {
                    idle.reset();
                    idling = false;
                }
            }
            Err(e) if e.is_retryable() => {
                match e {
                    AeronOfferError::BackPressured => back_pressured += 1,
                    AeronOfferError::NotConnected => not_connected += 1,
                    _ => admin_action += 1,
                }
                idle.idle(0);
                idling = true;
            }
            Err(e) => return Err(e).context("offering a message"),
        }
    }
    // The driver keeps sending (and repairing) until every subscriber has everything.
    ctl.wait_stop()?;
    let mut s = driver.settings(o, Side::Pub);
    s["publication"] = json!("exclusive, offer per message");
    s["publication_mtu"] = json!(constants.max_payload_length() + DATA_HEADER);
    s["publication_term_length"] = json!(constants.term_buffer_length());
    s["max_payload_length"] = json!(constants.max_payload_length());
    s["offers_back_pressured"] = json!(back_pressured);
    s["offers_not_connected"] = json!(not_connected);
    s["offers_admin_action"] = json!(admin_action);
    Ok(s)
}

/// Fragment handler of the reassembling poll.
fn check(v: &mut Verifier, m: &[u8], _: AeronHeader) {
    v.check(m);
}

pub fn subscribe(o: &Opts, ctl: &mut Control, v: &mut Verifier) -> anyhow::Result<Value> {
    let driver = Driver::start(o, &format!("sub{}", o.index))?;
    let aeron = driver.connect()?;
    let uri = channel(o, Side::Sub);
    let subscription = aeron
        .async_add_subscription(&CString::new(uri.clone())?, STREAM_ID, Handlers::NONE, Handlers::NONE)?
        .poll_blocking(SETUP_TIMEOUT)
        .with_context(|| format!("adding the subscription {uri}"))?;
    // Ready once the publisher's image is here: this receiver is then in its flow control.
    let until = Instant::now() + SETUP_TIMEOUT;
    while !subscription.is_connected() {
        if Instant::now() > until {
            bail!("no image of the publisher on {uri} within {SETUP_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    ctl.ready()?;
    // A message that fits in one frame arrives whole; a larger one needs reassembly.
    let mtu = tuning(o).map_or(DEFAULT_MTU, |t| t.mtu);
    let whole = o.size <= mtu - DATA_HEADER;
    let mut assembler = AeronFragmentClosureAssembler::new()?;
    let mut idle = BackoffIdleStrategy::new();
    while ctl.keep_going(v) {
        let fragments = if whole {
            subscription.poll_fn(|m, _| v.check(m), FRAGMENT_LIMIT)?
        } else {
            assembler.poll(&subscription, v, check, FRAGMENT_LIMIT)?
        };
        idle.idle(fragments);
    }
    let mut s = driver.settings(o, Side::Sub);
    s["fragment_limit"] = json!(FRAGMENT_LIMIT);
    s["reassembly"] = json!(!whole);
    Ok(s)
}
