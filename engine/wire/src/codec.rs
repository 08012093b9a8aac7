//! Bounds-checked little-endian reading and writing.

use crate::error::DecodeError;

/// Cursor over borrowed bytes; every read is checked and names the frame it was for.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, frame: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        let have = self.buf.len() - self.pos;
        if n > have {
            return Err(DecodeError::Truncated { frame, need: n, have });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, frame: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(frame, N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, frame: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(frame)?[0])
    }

    pub(crate) fn u16(&mut self, frame: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(frame)?))
    }

    pub(crate) fn u32_in(&mut self, frame: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(frame)?))
    }

    pub(crate) fn u64_in(&mut self, frame: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(frame)?))
    }

    /// Unchecked-frame-name variants for already validated slices.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.u32_in("").ok()
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.u64_in("").ok()
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The frame must end exactly here.
    pub(crate) fn finish(&self, frame: &'static str) -> Result<(), DecodeError> {
        let extra = self.buf.len() - self.pos;
        if extra != 0 {
            return Err(DecodeError::TrailingBytes { frame, extra });
        }
        Ok(())
    }
}

/// Where a [`Writer`] appends: a vector, or a datagram's buffer.
pub(crate) trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl Sink for bytes::BytesMut {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// Appends little-endian values to a vector (or another [`Sink`]).
pub(crate) struct Writer<'a, S: Sink = Vec<u8>> {
    out: &'a mut S,
}

impl<'a, S: Sink> Writer<'a, S> {
    pub(crate) fn new(out: &'a mut S) -> Self {
        Writer { out }
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.out.put(b);
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.out.put(&[v]);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}
