//! The frames a total-order region's QSM messages carry, one frame per message.
//!
//! `kind (u8) | body`, little-endian:
//! - `DATA` (1): the application's message, the rest of the QSM message;
//! - `ORDER` (2): `count (u16) | count × (stream u32, from u64, len u32)`: runs of datagrams
//!   in the order they are delivered; they order datagrams sealed in the same view as the
//!   datagram that carries them;
//! - `REPORT` (3): `from_view u64 | to_view u64 | own_end u64 | count (u16) | count ×
//!   (stream u32, have u64)`: a survivor's flush report (see [`crate::flush`]);
//! - `RELAY` (4): `from_view u64 | stream u32 | seq u64 | part u16 | parts u16 | bytes`:
//!   datagram `seq` of `stream`, sent in `from_view`, re-published by a survivor for those
//!   that lack it (its sender left): the datagram as QSM delivered it, in `parts` pieces
//!   (at most [`MAX_RELAY_PARTS`]), this one piece `part`.
//! - `BEFORE` (5): `from_view u64 | stream u32 | seq u64`: datagrams `1..=seq` of a departed
//!   member's `stream` were sent before `from_view` (a member that joined in `from_view`
//!   never gets them, and waits for none of them).
//! - `DECIDE` (6): a flush's ends, decided or adopted by the coordinator that publishes
//!   it (see [`crate::agree`]): `from_view u64 | to_view u64 | ballot u32 | count (u16) ×
//!   (stream u32, end u64) | count (u16) × node u32 (survivors left out) | count (u16) ×
//!   (stream u32, lowest u64, holders u8, holders × node u32)` (the relays the ends call
//!   for);
//! - `STATE` (7): `coordinator u32 | accepted u8 (0 or 1) | [a DECIDE body]`: what a
//!   survivor accepted of a flush's ends, sent to the coordinator it turns to; with nothing
//!   accepted, `from_view u64 | to_view u64` follow instead.
//!
//! Decoding never panics and bounds what the network may claim: a run names at least one
//! and at most [`MAX_RUN_LEN`] datagrams, from sequence number 1 on, and a frame holds
//! exactly the entries its count announces.

use bytes::{Buf, BufMut};

/// Longest run one order entry may name. A sequencer notes datagrams as they arrive, so a
/// run longer than this is split; a decoded run longer than it is refused rather than
/// trusted to make a member wait for that many datagrams.
pub const MAX_RUN_LEN: u32 = 1 << 16;

const DATA: u8 = 1;
/// The kind byte of a `DATA` frame (the first byte of an application message).
pub const DATA_KIND: u8 = DATA;
const ORDER: u8 = 2;
const REPORT: u8 = 3;
const RELAY: u8 = 4;
const BEFORE: u8 = 5;
const DECIDE: u8 = 6;
const STATE: u8 = 7;
/// The kind bytes of the frames a flush's agreement carries, and of a report.
pub const DECIDE_KIND: u8 = DECIDE;
pub const STATE_KIND: u8 = STATE;
pub const REPORT_KIND: u8 = REPORT;
const BEFORE_LEN: usize = 8 + 4 + 8;
const RELAY_FIXED: usize = 8 + 4 + 8 + 2 + 2;
/// The kind byte of an `ORDER` frame.
pub const ORDER_KIND: u8 = ORDER;
const RUN_LEN: usize = 4 + 8 + 4;
const HAVE_LEN: usize = 4 + 8;
const REPORT_FIXED: usize = 8 + 8 + 8 + 2;

/// Consecutive datagrams `from..=from + len - 1` of one stream (a QSM stream id: node and
/// incarnation), delivered in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Run {
    pub stream: u32,
    pub from: u64,
    pub len: u32,
}

impl Run {
    /// The last datagram it names.
    pub fn last(&self) -> u64 {
        self.from + u64::from(self.len) - 1
    }
}

/// One decoded frame; `Data` borrows the message it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Data(&'a [u8]),
    Order(Vec<Run>),
    Report(crate::flush::Report),
    Relay(Relay),
    Before(Before),
    Decide(crate::flush::Decision),
    State(crate::flush::State),
}

/// Where a departed member's stream stood before a view (see the module's `BEFORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Before {
    pub from_view: u64,
    pub stream: u32,
    pub seq: u64,
}

/// A piece of a datagram relayed for members that lack it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    pub from_view: u64,
    pub stream: u32,
    pub seq: u64,
    /// This piece, of `parts` (1 to [`MAX_RELAY_PARTS`]).
    pub part: u16,
    pub parts: u16,
    pub bytes: Vec<u8>,
}

/// Pieces a relayed datagram may be cut into, at most.
pub const MAX_RELAY_PARTS: u16 = 1024;

/// Why a message is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty message: no frame kind")]
    Empty,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("{what} frame of {have} bytes, {need} needed")]
    Truncated { what: &'static str, need: usize, have: usize },
    #[error("{what} frame has {extra} bytes after its last entry")]
    Trailing { what: &'static str, extra: usize },
    #[error("order run of stream {stream} from {from}, {len} datagrams: runs start at 1 and hold 1..={MAX_RUN_LEN}")]
    BadRun { stream: u32, from: u64, len: u32 },
    #[error("relay of datagram {seq} of stream {stream}, part {part} of {parts}: datagrams start at 1, parts at 0 below their count, at most {MAX_RELAY_PARTS}")]
    BadRelay { stream: u32, seq: u64, part: u16, parts: u16 },
    #[error("stream {stream} before view {view} ends at datagram 0: a marker names at least one")]
    BadBefore { stream: u32, view: u64 },
    #[error("flush report from view {from} to view {to}: the next view must be newer")]
    BadViews { from: u64, to: u64 },
    #[error("{what}: {problem}")]
    BadDecision { what: &'static str, problem: &'static str },
}

impl<'a> Frame<'a> {
    /// Decode one message.
    pub fn decode(msg: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let (&kind, mut body) = msg.split_first().ok_or(FrameError::Empty)?;
        match kind {
            DATA => Ok(Frame::Data(body)),
            ORDER => Ok(Frame::Order(runs(&mut body, "order")?)),
            RELAY => {
                if body.len() < RELAY_FIXED {
                    return Err(FrameError::Truncated { what: "relay", need: RELAY_FIXED, have: body.len() });
                }
                let (from_view, stream, seq) = (body.get_u64_le(), body.get_u32_le(), body.get_u64_le());
                let (part, parts) = (body.get_u16_le(), body.get_u16_le());
                if seq == 0 || part >= parts || parts > MAX_RELAY_PARTS {
                    return Err(FrameError::BadRelay { stream, seq, part, parts });
                }
                Ok(Frame::Relay(Relay { from_view, stream, seq, part, parts, bytes: body.to_vec() }))
            }
            BEFORE => {
                if body.len() != BEFORE_LEN {
                    return Err(if body.len() < BEFORE_LEN {
                        FrameError::Truncated { what: "before", need: BEFORE_LEN, have: body.len() }
                    } else {
                        FrameError::Trailing { what: "before", extra: body.len() - BEFORE_LEN }
                    });
                }
                let (from_view, stream, seq) = (body.get_u64_le(), body.get_u32_le(), body.get_u64_le());
                if seq == 0 {
                    return Err(FrameError::BadBefore { stream, view: from_view });
                }
                Ok(Frame::Before(Before { from_view, stream, seq }))
            }
            REPORT => Ok(Frame::Report(report(&mut body, "report")?)),
            DECIDE => {
                let d = decision(&mut body, "decide")?;
                trailing(body, "decide")?;
                Ok(Frame::Decide(d))
            }
            STATE => {
                let bad = |problem| FrameError::BadDecision { what: "state", problem };
                if body.len() < 5 {
                    return Err(FrameError::Truncated { what: "state", need: 5, have: body.len() });
                }
                let (coordinator, flag) = (body.get_u32_le(), body.get_u8());
                let state = match flag {
                    0 => {
                        if body.len() < 16 {
                            return Err(FrameError::Truncated {
                                what: "state",
                                need: 21,
                                have: body.len() + 5,
                            });
                        }
                        let (from_view, to_view) = (body.get_u64_le(), body.get_u64_le());
                        if to_view <= from_view {
                            return Err(FrameError::BadViews { from: from_view, to: to_view });
                        }
                        crate::flush::State { from_view, to_view, coordinator, accepted: None }
                    }
                    1 => {
                        let d = decision(&mut body, "state")?;
                        crate::flush::State {
                            from_view: d.from_view,
                            to_view: d.to_view,
                            coordinator,
                            accepted: Some(d),
                        }
                    }
                    _ => return Err(bad("the accepted flag is 0 or 1")),
                };
                trailing(body, "state")?;
                Ok(Frame::State(state))
            }
            other => Err(FrameError::UnknownKind(other)),
        }
    }
}

/// A report's body.
fn report(body: &mut &[u8], what: &'static str) -> Result<crate::flush::Report, FrameError> {
    if body.len() < REPORT_FIXED {
        return Err(FrameError::Truncated { what, need: REPORT_FIXED, have: body.len() });
    }
    let (from_view, to_view, own_end) = (body.get_u64_le(), body.get_u64_le(), body.get_u64_le());
    if to_view <= from_view {
        return Err(FrameError::BadViews { from: from_view, to: to_view });
    }
    let count = counted(body, what, HAVE_LEN)?;
    let have = (0..count).map(|_| (body.get_u32_le(), body.get_u64_le())).collect();
    Ok(crate::flush::Report { from_view, to_view, own_end, have })
}

/// A decision's body (`DECIDE`), every count checked against the bytes that follow.
fn decision(body: &mut &[u8], what: &'static str) -> Result<crate::flush::Decision, FrameError> {
    use crate::flush::{Decision, RelayPlan, MAX_HOLDERS};
    let bad = |problem| FrameError::BadDecision { what, problem };
    let need = |body: &[u8], n: usize| {
        if body.len() < n {
            Err(FrameError::Truncated { what, need: n, have: body.len() })
        } else {
            Ok(())
        }
    };
    need(body, 8 + 8 + 4 + 2)?;
    let (from_view, to_view, ballot) = (body.get_u64_le(), body.get_u64_le(), body.get_u32_le());
    if to_view <= from_view {
        return Err(FrameError::BadViews { from: from_view, to: to_view });
    }
    let count = usize::from(body.get_u16_le());
    need(body, count * HAVE_LEN + 2)?;
    let ends: Vec<(u32, u64)> = (0..count).map(|_| (body.get_u32_le(), body.get_u64_le())).collect();
    if ends.iter().any(|(_, e)| *e == 0) || ends.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(bad("ends name each stream once, in order, each at datagram 1 or later"));
    }
    let count = usize::from(body.get_u16_le());
    need(body, count * 4 + 2)?;
    let dropped = (0..count).map(|_| body.get_u32_le()).collect();
    let count = usize::from(body.get_u16_le());
    let mut relays = Vec::with_capacity(count.min(body.len() / 13));
    for _ in 0..count {
        need(body, 4 + 8 + 1)?;
        let (stream, lowest, holders) = (body.get_u32_le(), body.get_u64_le(), usize::from(body.get_u8()));
        if holders > MAX_HOLDERS {
            return Err(bad("a relay names at most MAX_HOLDERS holders"));
        }
        need(body, holders * 4)?;
        let holders = (0..holders).map(|_| body.get_u32_le()).collect();
        if !ends.iter().any(|(s, e)| *s == stream && lowest < *e) {
            return Err(bad("a relay is of a stream the ends name, from below its end"));
        }
        relays.push(RelayPlan { stream, lowest, holders });
    }
    Ok(Decision { from_view, to_view, ballot, ends, dropped, relays })
}

/// Nothing may follow a frame's last entry.
fn trailing(body: &[u8], what: &'static str) -> Result<(), FrameError> {
    match body.len() {
        0 => Ok(()),
        extra => Err(FrameError::Trailing { what, extra }),
    }
}

/// A count and that many runs, each checked.
fn runs(body: &mut &[u8], what: &'static str) -> Result<Vec<Run>, FrameError> {
    let count = counted(body, what, RUN_LEN)?;
    let mut runs = Vec::with_capacity(count);
    for _ in 0..count {
        let run = Run { stream: body.get_u32_le(), from: body.get_u64_le(), len: body.get_u32_le() };
        if run.from == 0
            || run.len == 0
            || run.len > MAX_RUN_LEN
            || run.from.checked_add(u64::from(run.len)).is_none()
        {
            return Err(FrameError::BadRun { stream: run.stream, from: run.from, len: run.len });
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Reads a u16 entry count and checks that exactly that many entries of `entry` bytes
/// follow.
fn counted(body: &mut &[u8], what: &'static str, entry: usize) -> Result<usize, FrameError> {
    if body.len() < 2 {
        return Err(FrameError::Truncated { what, need: 2, have: body.len() });
    }
    let count = usize::from(body.get_u16_le());
    let need = count * entry;
    match body.len() {
        n if n < need => Err(FrameError::Truncated { what, need: need + 2, have: n + 2 }),
        n if n > need => Err(FrameError::Trailing { what, extra: n - need }),
        _ => Ok(count),
    }
}

/// A `DATA` frame of `payload`.
pub fn encode_data(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(1 + payload.len());
    out.put_u8(DATA);
    out.put_slice(payload);
}

/// The application's message, if `msg` is a `DATA` frame.
pub fn data(msg: &[u8]) -> Option<&[u8]> {
    match msg.split_first() {
        Some((&DATA, body)) => Some(body),
        _ => None,
    }
}

/// Bytes a `DATA` frame adds to its payload.
pub const DATA_OVERHEAD: usize = 1;

/// An `ORDER` frame of `runs` (at most `u16::MAX` of them; the caller splits longer lists).
pub fn encode_order(runs: &[Run], out: &mut Vec<u8>) {
    out.reserve(1 + 2 + runs.len() * RUN_LEN);
    out.put_u8(ORDER);
    put_runs(runs, out);
}

/// A `RELAY` frame.
pub fn encode_relay(r: &Relay, out: &mut Vec<u8>) {
    out.reserve(1 + RELAY_FIXED + r.bytes.len());
    out.put_u8(RELAY);
    out.put_u64_le(r.from_view);
    out.put_u32_le(r.stream);
    out.put_u64_le(r.seq);
    out.put_u16_le(r.part);
    out.put_u16_le(r.parts);
    out.put_slice(&r.bytes);
}

/// Bytes of a datagram one `RELAY` frame of at most `max_len` bytes carries.
pub fn relay_piece_len(max_len: usize) -> usize {
    max_len.saturating_sub(1 + RELAY_FIXED).max(1)
}

/// A `BEFORE` frame.
pub fn encode_before(b: &Before, out: &mut Vec<u8>) {
    out.reserve(1 + BEFORE_LEN);
    out.put_u8(BEFORE);
    out.put_u64_le(b.from_view);
    out.put_u32_le(b.stream);
    out.put_u64_le(b.seq);
}

fn put_runs(runs: &[Run], out: &mut Vec<u8>) {
    assert!(runs.len() <= usize::from(u16::MAX), "at most 65 535 runs per frame");
    out.put_u16_le(runs.len() as u16);
    for r in runs {
        debug_assert!(r.from > 0 && (1..=MAX_RUN_LEN).contains(&r.len));
        out.put_u32_le(r.stream);
        out.put_u64_le(r.from);
        out.put_u32_le(r.len);
    }
}

/// How many runs an `ORDER` frame of at most `max_len` bytes holds.
pub fn runs_that_fit(max_len: usize) -> usize {
    (max_len.saturating_sub(3) / RUN_LEN).min(usize::from(u16::MAX))
}

/// How many runs a sequencer puts in one `ORDER` frame, for messages of at most `max_len`
/// bytes.
pub fn runs_per_order_frame(max_len: usize) -> usize {
    runs_that_fit(max_len).max(1)
}

/// A `REPORT` frame.
pub fn encode_report(r: &crate::flush::Report, out: &mut Vec<u8>) {
    out.put_u8(REPORT);
    put_report(r, out);
}

fn put_report(r: &crate::flush::Report, out: &mut Vec<u8>) {
    assert!(r.have.len() <= usize::from(u16::MAX), "at most 65 535 streams per report");
    out.reserve(REPORT_FIXED + r.have.len() * HAVE_LEN);
    out.put_u64_le(r.from_view);
    out.put_u64_le(r.to_view);
    out.put_u64_le(r.own_end);
    put_positions(&r.have, out);
}

/// A count and `(stream, datagram)` pairs (a report's `have`, a decision's ends).
fn put_positions(pairs: &[(u32, u64)], out: &mut Vec<u8>) {
    out.put_u16_le(pairs.len() as u16);
    for &(stream, seq) in pairs {
        out.put_u32_le(stream);
        out.put_u64_le(seq);
    }
}

/// A `DECIDE` frame.
pub fn encode_decide(d: &crate::flush::Decision, out: &mut Vec<u8>) {
    out.put_u8(DECIDE);
    put_decision(d, out);
}

/// A `STATE` frame.
pub fn encode_state(s: &crate::flush::State, out: &mut Vec<u8>) {
    out.put_u8(STATE);
    out.put_u32_le(s.coordinator);
    match &s.accepted {
        Some(d) => {
            out.put_u8(1);
            put_decision(d, out);
        }
        None => {
            out.put_u8(0);
            out.put_u64_le(s.from_view);
            out.put_u64_le(s.to_view);
        }
    }
}

fn put_decision(d: &crate::flush::Decision, out: &mut Vec<u8>) {
    let max = usize::from(u16::MAX);
    assert!(d.ends.len() <= max && d.dropped.len() <= max && d.relays.len() <= max, "at most 65 535 entries");
    out.put_u64_le(d.from_view);
    out.put_u64_le(d.to_view);
    out.put_u32_le(d.ballot);
    put_positions(&d.ends, out);
    out.put_u16_le(d.dropped.len() as u16);
    d.dropped.iter().for_each(|n| out.put_u32_le(*n));
    out.put_u16_le(d.relays.len() as u16);
    for r in &d.relays {
        assert!(r.holders.len() <= usize::from(u8::MAX), "at most 255 holders per relay");
        out.put_u32_le(r.stream);
        out.put_u64_le(r.lowest);
        out.put_u8(r.holders.len() as u8);
        r.holders.iter().for_each(|n| out.put_u32_le(*n));
    }
}
