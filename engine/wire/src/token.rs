//! The recovery token: one entry per sender stream, carried round the region's ring.

use crate::codec::{Reader, Writer};
use crate::constants::{HEADER_LEN, MAX_DATAGRAM, MAX_TOKEN_RANGES};
use crate::error::DecodeError;
use crate::header::{FrameKind, Header};
use crate::range::SeqRange;

const F: &str = "token";
const NO_ISECT: u8 = 0xFF;
const RANGE_LEN: usize = 8;
const PART_LEN: usize = 8;
const ENTRY_FIXED: usize = 4 + 8 * 5 + 4 + 4 + 8 + 4 + 1 + 1 + 2;
/// Bytes of a token datagram before its entries.
pub const TOKEN_HEADER_LEN: usize = HEADER_LEN + 8 + 8 + 4 + 1 + 2;
/// Most bytes one token entry takes without its partition table (both range lists full).
pub const TOKEN_ENTRY_MAX_LEN: usize = ENTRY_FIXED + 2 * MAX_TOKEN_RANGES * RANGE_LEN;

/// Per-sender state carried by the token (owned form, which the protocol edits).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TokenEntry {
    /// Original sender of the stream.
    pub sender: u32,
    /// Sequence numbers up to here count as sent: a member lacking one has lost it.
    pub cutoff: u64,
    /// Members may drop cached copies up to here (every member holds them).
    pub cleanup: u64,
    /// Highest sequence number seen by the members visited this round.
    pub max_seen: u64,
    /// Lowest contiguous number among the members visited this round.
    pub min_contiguous: u64,
    /// Lowest contiguous number among the members of the current partition visited so far.
    pub part_contiguous: u64,
    /// Lowest receive rate reported this round, KiB/s.
    pub rate_min: u32,
    /// Highest receive rate reported this round, KiB/s.
    pub rate_max: u32,
    /// Sum of the receive rates reported this round, KiB/s.
    pub rate_sum: u64,
    /// Number of rates summed.
    pub rate_count: u32,
    /// What the previous holder lacks (ring neighbours push copies of these).
    pub prev_missing: Vec<SeqRange>,
    /// What every member of the current partition visited so far lacks; `None` until the
    /// first member of the partition has reported.
    pub isect: Option<Vec<SeqRange>>,
    /// Lowest contiguous number of each partition completed this round, by partition index.
    /// Informational: the QSM driver leaves it empty (a table per partition made tokens grow
    /// with the region), and decoders accept it for compatibility.
    pub partitions: Vec<u64>,
}

/// A token (owned form).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Token {
    /// View the ring belongs to.
    pub view: u64,
    /// Round number, increasing; a regenerated token starts a new round.
    pub round: u64,
    /// Position of the receiving member in the ring order of this round.
    pub hop: u32,
    /// Reserved flags.
    pub flags: u8,
    /// One entry per sender stream.
    pub entries: Vec<TokenEntry>,
}

impl Token {
    /// Encode as a datagram. Ranges that cannot be expressed relative to `cleanup` (at or
    /// below it, or more than 2^32 above) are left out, as are ranges past
    /// [`MAX_TOKEN_RANGES`]; they are advisory and reported again next round.
    ///
    /// The per-partition tables are informational: if including them could take the token
    /// past [`MAX_DATAGRAM`], they are left out.
    pub fn encode(&self, region: u32, from: u32) -> Vec<u8> {
        let count = self.entries.len().min(usize::from(u16::MAX));
        let entries = &self.entries[..count];
        let parts: usize = entries.iter().map(|e| PART_LEN * e.partitions.len()).sum();
        let bound = TOKEN_HEADER_LEN + count * TOKEN_ENTRY_MAX_LEN;
        let with_parts = bound + parts <= MAX_DATAGRAM;
        let mut out = Vec::with_capacity(bound + if with_parts { parts } else { 0 });
        let mut w = Writer::new(&mut out);
        Header { kind: FrameKind::Token, region, from }.write(&mut w);
        w.u64(self.view);
        w.u64(self.round);
        w.u32(self.hop);
        w.u8(self.flags);
        w.u16(count as u16);
        for e in entries {
            encode_entry(&mut w, e, with_parts);
        }
        out
    }
}

fn encodable(cleanup: u64, ranges: &[SeqRange]) -> impl Iterator<Item = (u32, u32)> + '_ {
    ranges
        .iter()
        .filter_map(move |r| {
            // Nothing lies above a cleanup point of u64::MAX.
            let start = r.start.max(cleanup.checked_add(1)?);
            if start > r.end {
                return None;
            }
            let off = u32::try_from(start - cleanup).ok()?;
            let len = u32::try_from(r.end - start + 1).unwrap_or(u32::MAX);
            Some((off, len))
        })
        .take(MAX_TOKEN_RANGES)
}

fn encode_entry(w: &mut Writer<'_>, e: &TokenEntry, with_parts: bool) {
    w.u32(e.sender);
    for v in [e.cutoff, e.cleanup, e.max_seen, e.min_contiguous, e.part_contiguous] {
        w.u64(v);
    }
    w.u32(e.rate_min);
    w.u32(e.rate_max);
    w.u64(e.rate_sum);
    w.u32(e.rate_count);
    let prev: Vec<(u32, u32)> = encodable(e.cleanup, &e.prev_missing).collect();
    let isect: Option<Vec<(u32, u32)>> = e.isect.as_ref().map(|i| encodable(e.cleanup, i).collect());
    let parts = if with_parts { e.partitions.len().min(usize::from(u16::MAX)) } else { 0 };
    w.u8(prev.len() as u8); // at most MAX_TOKEN_RANGES
    w.u8(isect.as_ref().map_or(NO_ISECT, |i| i.len() as u8));
    w.u16(parts as u16);
    for (off, len) in prev.iter().chain(isect.iter().flatten()) {
        w.u32(*off);
        w.u32(*len);
    }
    for p in &e.partitions[..parts] {
        w.u64(*p);
    }
}

/// A decoded token, borrowing its entries from the datagram.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct TokenFrame<'a> {
    /// View the ring belongs to.
    pub view: u64,
    /// Round number.
    pub round: u64,
    /// Position of the receiving member in the ring order.
    pub hop: u32,
    /// Reserved flags.
    pub flags: u8,
    count: u16,
    raw: &'a [u8],
}

impl<'a> TokenFrame<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let view = r.u64_in(F)?;
        let round = r.u64_in(F)?;
        let hop = r.u32_in(F)?;
        let flags = r.u8(F)?;
        let count = r.u16(F)?;
        let raw = r.rest();
        let mut entries = TokenEntries { r: Reader::new(raw), left: count };
        for _ in 0..count {
            entries.next_checked()?;
        }
        let used = raw.len() - entries.r.rest().len();
        r.take(F, used)?;
        let raw = raw.get(..used).unwrap_or(&[]);
        Ok(TokenFrame { view, round, hop, flags, count, raw })
    }

    /// The entries, validated at decode time.
    pub fn entries(&self) -> TokenEntries<'a> {
        TokenEntries { r: Reader::new(self.raw), left: self.count }
    }

    /// Copy into the owned, editable form.
    pub fn to_token(&self) -> Token {
        Token {
            view: self.view,
            round: self.round,
            hop: self.hop,
            flags: self.flags,
            entries: self.entries().map(|e| e.to_entry()).collect(),
        }
    }
}

/// Iterator over token entries.
#[derive(Debug)]
pub struct TokenEntries<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> TokenEntries<'a> {
    fn next_checked(&mut self) -> Result<TokenEntryRef<'a>, DecodeError> {
        self.left = self.left.saturating_sub(1);
        let r = &mut self.r;
        let sender = r.u32_in(F)?;
        let cutoff = r.u64_in(F)?;
        let cleanup = r.u64_in(F)?;
        let max_seen = r.u64_in(F)?;
        let min_contiguous = r.u64_in(F)?;
        let part_contiguous = r.u64_in(F)?;
        let rate_min = r.u32_in(F)?;
        let rate_max = r.u32_in(F)?;
        let rate_sum = r.u64_in(F)?;
        let rate_count = r.u32_in(F)?;
        let n_prev = usize::from(r.u8(F)?);
        let n_isect_raw = r.u8(F)?;
        let n_parts = usize::from(r.u16(F)?);
        let n_isect = if n_isect_raw == NO_ISECT { 0 } else { usize::from(n_isect_raw) };
        for n in [n_prev, n_isect] {
            if n > MAX_TOKEN_RANGES {
                return Err(DecodeError::TooManyRanges { frame: F, count: n, max: MAX_TOKEN_RANGES });
            }
        }
        let prev = r.take(F, n_prev * RANGE_LEN)?;
        let isect = r.take(F, n_isect * RANGE_LEN)?;
        let partitions = r.take(F, n_parts * PART_LEN)?;
        let prev_missing = TokenRanges::new(cleanup, prev)?;
        let isect = if n_isect_raw == NO_ISECT { None } else { Some(TokenRanges::new(cleanup, isect)?) };
        Ok(TokenEntryRef {
            sender,
            cutoff,
            cleanup,
            max_seen,
            min_contiguous,
            part_contiguous,
            rate_min,
            rate_max,
            rate_sum,
            rate_count,
            prev_missing,
            isect,
            partitions,
        })
    }
}

impl<'a> Iterator for TokenEntries<'a> {
    type Item = TokenEntryRef<'a>;
    fn next(&mut self) -> Option<TokenEntryRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.next_checked().ok()
    }
}

/// A borrowed token entry.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct TokenEntryRef<'a> {
    /// See [`TokenEntry::sender`].
    pub sender: u32,
    /// See [`TokenEntry::cutoff`].
    pub cutoff: u64,
    /// See [`TokenEntry::cleanup`].
    pub cleanup: u64,
    /// See [`TokenEntry::max_seen`].
    pub max_seen: u64,
    /// See [`TokenEntry::min_contiguous`].
    pub min_contiguous: u64,
    /// See [`TokenEntry::part_contiguous`].
    pub part_contiguous: u64,
    /// See [`TokenEntry::rate_min`].
    pub rate_min: u32,
    /// See [`TokenEntry::rate_max`].
    pub rate_max: u32,
    /// See [`TokenEntry::rate_sum`].
    pub rate_sum: u64,
    /// See [`TokenEntry::rate_count`].
    pub rate_count: u32,
    /// See [`TokenEntry::prev_missing`].
    pub prev_missing: TokenRanges<'a>,
    /// See [`TokenEntry::isect`].
    pub isect: Option<TokenRanges<'a>>,
    partitions: &'a [u8],
}

impl<'a> TokenEntryRef<'a> {
    /// Lowest contiguous number of each completed partition.
    pub fn partitions(&self) -> impl Iterator<Item = u64> + 'a {
        self.partitions.chunks_exact(PART_LEN).map(|c| Reader::new(c).u64().unwrap_or(0))
    }

    /// Copy into the owned form.
    pub fn to_entry(&self) -> TokenEntry {
        TokenEntry {
            sender: self.sender,
            cutoff: self.cutoff,
            cleanup: self.cleanup,
            max_seen: self.max_seen,
            min_contiguous: self.min_contiguous,
            part_contiguous: self.part_contiguous,
            rate_min: self.rate_min,
            rate_max: self.rate_max,
            rate_sum: self.rate_sum,
            rate_count: self.rate_count,
            prev_missing: self.prev_missing.iter().collect(),
            isect: self.isect.map(|i| i.iter().collect()),
            partitions: self.partitions().collect(),
        }
    }
}

/// Borrowed missing ranges of a token entry, stored relative to the entry's cleanup point.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct TokenRanges<'a> {
    base: u64,
    raw: &'a [u8],
}

impl<'a> TokenRanges<'a> {
    fn new(base: u64, raw: &'a [u8]) -> Result<Self, DecodeError> {
        for c in raw.chunks_exact(RANGE_LEN) {
            let mut r = Reader::new(c);
            let off = r.u32_in(F)?;
            let len = r.u32_in(F)?;
            let bad = off == 0
                || len == 0
                || base.checked_add(u64::from(off)).and_then(|s| s.checked_add(u64::from(len) - 1)).is_none();
            if bad {
                return Err(DecodeError::BadRange { frame: F, start: u64::from(off), len: u64::from(len) });
            }
        }
        Ok(TokenRanges { base, raw })
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.raw.len() / RANGE_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The ranges, as absolute sequence numbers.
    pub fn iter(&self) -> impl Iterator<Item = SeqRange> + 'a {
        let base = self.base;
        self.raw.chunks_exact(RANGE_LEN).map(move |c| {
            let mut r = Reader::new(c);
            let off = u64::from(r.u32().unwrap_or(1));
            let len = u64::from(r.u32().unwrap_or(1).max(1));
            let start = base.saturating_add(off);
            SeqRange { start, end: start.saturating_add(len - 1) }
        })
    }
}
