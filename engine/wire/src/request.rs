//! Pull and NAK frames: ranges of one sender's stream that the requester lacks.

use crate::codec::{Reader, Writer};
use crate::constants::{HEADER_LEN, MAX_REQUEST_RANGES};
use crate::error::DecodeError;
use crate::header::{FrameKind, Header};
use crate::range::SeqRange;

/// A borrowed list of ranges in a pull or NAK.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct RangeList<'a> {
    raw: &'a [u8],
}

impl<'a> RangeList<'a> {
    const ENTRY: usize = 12;

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.raw.len() / Self::ENTRY
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// The ranges, in wire order. Validated at decode time.
    pub fn iter(&self) -> impl Iterator<Item = SeqRange> + 'a {
        self.raw.chunks_exact(Self::ENTRY).map(|c| {
            let mut r = Reader::new(c);
            let start = r.u64().unwrap_or(0);
            let len = r.u32().unwrap_or(1).max(1);
            SeqRange { start, end: start.saturating_add(u64::from(len) - 1) }
        })
    }
}

/// Pull or NAK body: ranges of one sender's stream that the requester lacks.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct RangeRequest<'a> {
    /// Original sender of the stream.
    pub sender: u32,
    /// Missing ranges.
    pub ranges: RangeList<'a>,
}

/// Decode a pull or NAK body, validating every range.
pub(crate) fn decode_request<'a>(
    r: &mut Reader<'a>,
    frame: &'static str,
) -> Result<RangeRequest<'a>, DecodeError> {
    let sender = r.u32_in(frame)?;
    let count = usize::from(r.u16(frame)?);
    if count > MAX_REQUEST_RANGES {
        return Err(DecodeError::TooManyRanges { frame, count, max: MAX_REQUEST_RANGES });
    }
    let raw = r.take(frame, count * RangeList::ENTRY)?;
    for chunk in raw.chunks_exact(RangeList::ENTRY) {
        let mut c = Reader::new(chunk);
        let start = c.u64_in(frame)?;
        let len = c.u32_in(frame)?;
        check_range(frame, start, len)?;
    }
    Ok(RangeRequest { sender, ranges: RangeList { raw } })
}

fn check_range(frame: &'static str, start: u64, len: u32) -> Result<(), DecodeError> {
    if start == 0 || len == 0 || start.checked_add(u64::from(len) - 1).is_none() {
        return Err(DecodeError::BadRange { frame, start, len: u64::from(len) });
    }
    Ok(())
}

/// Encode a pull (`nak == false`) or NAK (`nak == true`). Ranges past
/// [`MAX_REQUEST_RANGES`] are left out (the requester asks again next round); ranges longer
/// than `u32::MAX` are truncated.
pub fn encode_request(region: u32, from: u32, nak: bool, sender: u32, ranges: &[SeqRange]) -> Vec<u8> {
    let ranges: Vec<&SeqRange> =
        ranges.iter().filter(|r| r.start > 0 && r.end >= r.start).take(MAX_REQUEST_RANGES).collect();
    let kind = if nak { FrameKind::Nak } else { FrameKind::Pull };
    let mut out = Vec::with_capacity(HEADER_LEN + 6 + ranges.len() * RangeList::ENTRY);
    let mut w = Writer::new(&mut out);
    Header { kind, region, from }.write(&mut w);
    w.u32(sender);
    w.u16(ranges.len() as u16); // bounded by MAX_REQUEST_RANGES above
    for range in ranges {
        w.u64(range.start);
        w.u32(u32::try_from(range.len()).unwrap_or(u32::MAX));
    }
    out
}
