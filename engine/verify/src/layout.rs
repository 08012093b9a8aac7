//! The byte layout: writing a message or an end marker in place, and reading one back
//! without ever panicking (a receiver's input is untrusted).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Smallest verifiable message: the short form (index, sender, check word).
pub const MIN_SIZE: usize = 16;
/// Smallest message of the long form, which adds a send time, a stream and a frame.
pub const LONG_SIZE: usize = 32;
/// Where a long-form message's frame starts.
pub const FRAME_AT: usize = LONG_SIZE;
/// Tells an end marker's check word from a message's.
const END_MAGIC: u32 = 0xE5D0_E5D0;

const _: () = assert!(MIN_SIZE == 16 && LONG_SIZE == MIN_SIZE + 16 && FRAME_AT == LONG_SIZE);

/// Nanoseconds since the Unix epoch, the clock of [`Header::send_ns`].
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The header of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Position in the (sender, stream) stream: 0, 1, 2, …
    pub index: u64,
    /// Who sent it (a node or publisher id).
    pub sender: u32,
    /// Which of the sender's streams (a group); 0 in the short form.
    pub stream: u32,
    /// Send time (see [`now_ns`]); 0 in the short form.
    pub send_ns: u64,
}

/// A message read back: its header, its frame and the fill after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    /// Its header fields.
    pub header: Header,
    /// The frame (empty when none, and in the short form).
    pub frame: &'a [u8],
    /// The bytes after the frame.
    pub fill: &'a [u8],
}

impl Data<'_> {
    /// Whether every fill byte is the low byte of the index, as written.
    #[inline]
    pub fn fill_ok(&self) -> bool {
        let b = self.header.index as u8;
        self.fill.iter().all(|x| *x == b)
    }
}

/// The end marker of a (sender, stream) stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// Messages the stream had (indices 0..count).
    pub count: u64,
    /// The stream's sender.
    pub sender: u32,
    /// The stream (0 in the short form).
    pub stream: u32,
    /// The wrapping sum of [`crate::message_sum`] over the stream's messages (long form only).
    pub sum: Option<u64>,
}

/// What [`read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A message of a stream.
    Data(Data<'a>),
    /// The end marker of a stream.
    End(End),
}

/// Why [`read`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrupt {
    /// Shorter than [`MIN_SIZE`] (its length).
    Short(usize),
    /// The check word fits neither a message nor an end marker with this header.
    CheckWord,
    /// The frame length (given) runs past the end of the message.
    FrameLength(u32),
    /// An end marker with non-zero bytes after its header.
    EndPadding,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corrupt::Short(n) => write!(f, "{n} bytes, shorter than a verifiable message ({MIN_SIZE})"),
            Corrupt::CheckWord => f.write_str("the check word does not match the header"),
            Corrupt::FrameLength(n) => write!(f, "a frame of {n} bytes runs past the end of the message"),
            Corrupt::EndPadding => f.write_str("an end marker with non-zero bytes after its header"),
        }
    }
}

impl std::error::Error for Corrupt {}

/// Mixes every header field into 32 bits (independent multiplies: no long serial chain),
/// seeded so that an all-zero header never checks.
#[inline]
fn check_word(index: u64, sender: u32, stream: u32, word: u64, frame: u32) -> u32 {
    const SEED: u64 = 0x5A17_C0DE_A5E1_F00D;
    let x = SEED
        ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (u64::from(sender) << 32 | u64::from(stream)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ word.wrapping_mul(0x1656_67B1_9E37_79F9).rotate_left(29)
        ^ u64::from(frame).wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(43);
    let x = x ^ x >> 29;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
}

/// Writes the header fields; `word` is the send time (a message) or the sum (an end marker).
/// Each pair of 32-bit fields is stored as one little-endian 64-bit word (the same bytes): a
/// checksum that reads the message back by words right after it is written then loads what
/// one store wrote, which the CPU forwards, rather than stalling on two half-word stores.
/// Returns the words stored (the short form's last two are 0, and not stored).
#[inline]
fn put(buf: &mut [u8], index: u64, sender: u32, check: u32, long: Option<(u64, u32, u32)>) -> [u64; 4] {
    let pair = |lo: u32, hi: u32| u64::from(hi) << 32 | u64::from(lo);
    let mut words = [index, pair(sender, check), 0, 0];
    if let Some((word, stream, frame)) = long {
        words[2] = word;
        words[3] = pair(stream, frame);
    }
    let stored = if long.is_some() { 4 } else { 2 };
    for (at, w) in words[..stored].iter().enumerate() {
        buf[at * 8..at * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    words
}

/// Writes message `h` carrying `frame` into all of `buf`: the long form if `buf` has at
/// least [`LONG_SIZE`] bytes, else the short form (no send time, stream 0, no frame).
///
/// Panics if `buf` is shorter than [`MIN_SIZE`] or has no room for `h.stream` or `frame`.
#[inline]
pub fn write(buf: &mut [u8], h: Header, frame: &[u8]) {
    write_words(buf, h, frame);
}

/// [`write`], returning the header words stored.
#[inline]
fn write_words(buf: &mut [u8], h: Header, frame: &[u8]) -> [u64; 4] {
    let len = buf.len();
    assert!(len >= MIN_SIZE, "a {len}-byte buffer is shorter than a verifiable message ({MIN_SIZE})");
    if len < LONG_SIZE {
        assert!(h.stream == 0 && frame.is_empty(), "a {len}-byte message has no room for a stream or frame");
        let words = put(buf, h.index, h.sender, check_word(h.index, h.sender, 0, 0, 0), None);
        buf[MIN_SIZE..].fill(h.index as u8);
        return words;
    }
    let end = FRAME_AT + frame.len();
    assert!(end <= len, "a {}-byte frame does not fit a {len}-byte message", frame.len());
    let f = u32::try_from(frame.len()).expect("a frame shorter than its message, which is under 4 GiB");
    let check = check_word(h.index, h.sender, h.stream, h.send_ns, f);
    let words = put(buf, h.index, h.sender, check, Some((h.send_ns, h.stream, f)));
    buf[FRAME_AT..end].copy_from_slice(frame);
    buf[end..].fill(h.index as u8);
    words
}

/// [`write`] with no frame, returning the message's [`crate::message_sum`]: what a publisher
/// adds to its stream checksum, computed from the words written instead of by reading the
/// message back.
///
/// Panics as [`write`] does.
pub fn write_summed(buf: &mut [u8], h: Header) -> u64 {
    let head = write_words(buf, h, &[]);
    if buf.len() < LONG_SIZE {
        return crate::sum::message_sum(buf);
    }
    crate::sum::filled_sum(head, h.index as u8, buf.len())
}

/// Writes into all of `buf` the end marker of the (`sender`, `stream`) stream of `count`
/// messages whose checksums sum to `sum` (the short form carries neither stream nor sum).
///
/// Panics if `buf` is shorter than [`MIN_SIZE`], or is short and `stream` is not 0.
pub fn write_end(buf: &mut [u8], count: u64, sender: u32, stream: u32, sum: u64) {
    let len = buf.len();
    assert!(len >= MIN_SIZE, "a {len}-byte buffer is shorter than a verifiable message ({MIN_SIZE})");
    buf.fill(0);
    if len < LONG_SIZE {
        assert!(stream == 0, "a {len}-byte end marker has no room for a stream");
        put(buf, count, sender, check_word(count, sender, 0, 0, 0) ^ END_MAGIC, None);
    } else {
        let check = check_word(count, sender, stream, sum, 0) ^ END_MAGIC;
        put(buf, count, sender, check, Some((sum, stream, 0)));
    }
}

#[inline]
fn u32_at(m: &[u8], at: usize) -> u32 {
    m.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

#[inline]
fn u64_at(m: &[u8], at: usize) -> u64 {
    m.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Reads message `m`: a message with its frame and fill, or an end marker. Checks the
/// header (check word, frame length) and an end marker's zeros; the fill is the caller's
/// to check ([`Data::fill_ok`], or a stream checksum).
#[inline]
pub fn read(m: &[u8]) -> Result<Message<'_>, Corrupt> {
    if m.len() < MIN_SIZE {
        return Err(Corrupt::Short(m.len()));
    }
    let (index, sender, check) = (u64_at(m, 0), u32_at(m, 8), u32_at(m, 12));
    let long = m.len() >= LONG_SIZE;
    let (word, stream, frame, body) =
        if long { (u64_at(m, 16), u32_at(m, 24), u32_at(m, 28), FRAME_AT) } else { (0, 0, 0, MIN_SIZE) };
    let expected = check_word(index, sender, stream, word, frame);
    if check == expected {
        let end = body.saturating_add(frame as usize);
        let (Some(f), Some(fill)) = (m.get(body..end), m.get(end..)) else {
            return Err(Corrupt::FrameLength(frame));
        };
        let header = Header { index, sender, stream, send_ns: word };
        return Ok(Message::Data(Data { header, frame: f, fill }));
    }
    if check != expected ^ END_MAGIC {
        return Err(Corrupt::CheckWord);
    }
    if frame != 0 || m.get(body..).is_some_and(|rest| rest.iter().any(|b| *b != 0)) {
        return Err(Corrupt::EndPadding);
    }
    Ok(Message::End(End { count: index, sender, stream, sum: long.then_some(word) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(index: u64) -> Header {
        Header { index, sender: 7, stream: 3, send_ns: 0x1234_5678_9ABC }
    }

    #[test]
    fn both_forms_read_back_what_was_written() {
        let mut long = vec![0u8; 64];
        write(&mut long, header(300), b"frame");
        let Ok(Message::Data(d)) = read(&long) else { panic!("{:?}", read(&long)) };
        assert_eq!((d.header, d.frame, d.fill.len()), (header(300), &b"frame"[..], 64 - 37));
        assert!(d.fill_ok() && d.fill.iter().all(|b| *b == 300u64 as u8));

        let mut short = vec![0u8; 24];
        write(&mut short, Header { stream: 0, ..header(5) }, &[]);
        let Ok(Message::Data(d)) = read(&short) else { panic!() };
        assert_eq!(d.header, Header { index: 5, sender: 7, stream: 0, send_ns: 0 });
        assert!(d.frame.is_empty() && d.fill == [5; 8]);

        write_end(&mut long, 301, 7, 3, 99);
        assert_eq!(read(&long), Ok(Message::End(End { count: 301, sender: 7, stream: 3, sum: Some(99) })));
        write_end(&mut short, 6, 7, 0, 99);
        assert_eq!(read(&short), Ok(Message::End(End { count: 6, sender: 7, stream: 0, sum: None })));
    }

    #[test]
    fn a_written_message_sums_as_read_back() {
        for size in [16, 31, 32, 33, 64, 100, 1024, 1500] {
            for index in [0, 1, 255, 256, 0xDEAD_BEEF_0123] {
                let h = Header { stream: if size >= LONG_SIZE { 3 } else { 0 }, ..header(index) };
                let mut m = vec![0xEEu8; size];
                let sum = write_summed(&mut m, h);
                assert_eq!(sum, crate::sum::message_sum(&m), "{size} bytes, index {index}");
                let mut plain = vec![0u8; size];
                write(&mut plain, h, &[]);
                assert_eq!(m, plain);
            }
        }
    }

    #[test]
    fn every_flipped_header_bit_is_caught() {
        for size in [16, 31, 32, 100] {
            let mut m = vec![0u8; size];
            let frame = if size >= 40 { &b"frame"[..] } else { &[] };
            let stream = if size >= LONG_SIZE { 3 } else { 0 };
            write(&mut m, Header { stream, ..header(42) }, frame);
            let mut end = vec![0u8; size];
            write_end(&mut end, 42, 7, stream, 1234);
            let head = if size >= LONG_SIZE { LONG_SIZE } else { MIN_SIZE };
            for msg in [&m, &end] {
                for bit in 0..8 * head {
                    let mut bad = msg.clone();
                    bad[bit / 8] ^= 1 << (bit % 8);
                    assert!(read(&bad).is_err(), "size {size}, bit {bit}: {:?}", read(&bad));
                }
            }
        }
    }

    #[test]
    fn end_markers_and_messages_are_not_confused_and_garbage_is_refused() {
        let mut end = vec![0u8; 48];
        write_end(&mut end, 10, 1, 2, 0);
        end[40] = 1;
        assert_eq!(read(&end), Err(Corrupt::EndPadding));
        assert_eq!(read(&[0u8; 15]), Err(Corrupt::Short(15)));
        // All zeros (a buffer never written) is no message, in either form.
        assert_eq!(read(&[0u8; 16]), Err(Corrupt::CheckWord));
        assert_eq!(read(&[0u8; 64]), Err(Corrupt::CheckWord));
        // A frame length past the end, with a check word that fits it.
        let mut m = vec![0u8; 40];
        write(&mut m, header(1), b"12345678");
        m[28] = 9;
        let check = check_word(1, 7, 3, header(1).send_ns, 9);
        m[12..16].copy_from_slice(&check.to_le_bytes());
        assert_eq!(read(&m), Err(Corrupt::FrameLength(9)));
        // Pseudo-random bytes: refused, never a panic.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert!(read(&bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    #[should_panic(expected = "no room")]
    fn a_frame_in_a_short_message_is_a_bug() {
        write(&mut [0u8; 20], Header::default(), b"x");
    }
}
