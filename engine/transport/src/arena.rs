//! The std backend's receive arena: datagrams are received into the spare capacity of one
//! large `BytesMut` and handed out as `Bytes` slices of it, so the steady state allocates
//! nothing per datagram. An arena whose slices are all dropped is reused in place; one still
//! referenced is retired (kept for reuse once its readers drop their slices) and replaced by
//! a retired arena that has come free, or else by a new one.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Retired arenas kept for reuse; older ones are let go (freed when their last slice drops).
const MAX_RETIRED: usize = 3;

/// A receive arena. Its spare capacity is always initialised memory (zeroed at allocation,
/// then overwritten by received data), so exposing any prefix of it is sound.
#[derive(Debug)]
pub(crate) struct RecvArena {
    buf: BytesMut,
    retired: VecDeque<BytesMut>,
    size: usize,
}

impl RecvArena {
    /// An arena of `size` bytes.
    pub(crate) fn new(size: usize) -> Self {
        RecvArena { buf: zeroed(size), retired: VecDeque::with_capacity(MAX_RETIRED + 1), size }
    }

    /// Makes room for `need` bytes of spare capacity; true if a fresh arena had to be
    /// allocated because readers still hold slices of the old ones.
    pub(crate) fn reserve(&mut self, need: usize) -> bool {
        debug_assert!(self.buf.is_empty(), "arena holds bytes not handed out");
        if self.buf.capacity() >= need || self.buf.try_reclaim(need) {
            return false;
        }
        let free = self.retired.iter_mut().position(|old| old.try_reclaim(need));
        let next = match free {
            Some(i) => self.retired.remove(i).expect("index from position"),
            None => zeroed(self.size.max(need)),
        };
        self.retired.push_back(std::mem::replace(&mut self.buf, next));
        if self.retired.len() > MAX_RETIRED {
            self.retired.pop_front();
        }
        free.is_none()
    }

    /// Start of the spare capacity (at least the `need` of the last `reserve`).
    pub(crate) fn spare_ptr(&mut self) -> *mut u8 {
        self.buf.spare_capacity_mut().as_mut_ptr().cast()
    }

    /// Moves `len` received bytes at spare offset `src` down to `dst` (`dst + len <= src`).
    pub(crate) fn move_down(&mut self, src: usize, dst: usize, len: usize) {
        assert!(dst + len <= src && src + len <= self.buf.capacity(), "arena move out of bounds");
        let base = self.spare_ptr();
        // SAFETY: both ranges lie within the spare capacity (checked above) and do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(base.add(src), base.add(dst), len) };
    }

    /// Hands out the received pieces `(offset, len)` of the spare capacity, ascending and
    /// non-overlapping, as frozen slices; bytes between them are skipped.
    pub(crate) fn take(&mut self, pieces: &[(usize, usize)], mut each: impl FnMut(Bytes)) {
        let Some(&(last, last_len)) = pieces.last() else { return };
        let end = last + last_len;
        assert!(end <= self.buf.capacity(), "arena piece out of bounds");
        // SAFETY: `end` is within capacity, and every byte of the spare capacity is
        // initialised (zeroed at allocation or written since).
        unsafe { self.buf.set_len(end) };
        let mut at = 0;
        for &(offset, len) in pieces {
            assert!(offset >= at, "arena pieces out of order");
            if offset > at {
                drop(self.buf.split_to(offset - at));
            }
            each(self.buf.split_to(len).freeze());
            at = offset + len;
        }
        debug_assert!(self.buf.is_empty());
    }
}

/// Datagrams written whole — decrypted, sealed — as `Bytes` slices of a few reused
/// allocations, like [`RecvArena`]'s received ones: [`WriteArena::space`] hands out bytes
/// that are initialised already (zeros, or an earlier datagram's bytes), so a datagram costs
/// one pass of its writer and no zero-fill first.
#[derive(Debug)]
pub struct WriteArena(RecvArena);

impl WriteArena {
    /// Arenas of `size` bytes (a larger request gets an arena of its own size).
    pub fn new(size: usize) -> Self {
        WriteArena(RecvArena::new(size))
    }

    /// `len` bytes to write whole, then [`WriteArena::take`]: their contents are stale (an
    /// earlier datagram's bytes, or zeros) until written. A `space` not taken is replaced
    /// by the next one.
    pub fn space(&mut self, len: usize) -> &mut [u8] {
        self.0.buf.clear();
        self.0.reserve(len);
        assert!(len <= self.0.buf.capacity(), "reserve makes room");
        // SAFETY: `len` is within capacity, and every byte of an arena's capacity is
        // initialised (zeroed at allocation or written since; `try_reclaim` only regains
        // bytes of the same allocation).
        unsafe { self.0.buf.set_len(len) };
        &mut self.0.buf[..]
    }

    /// The bytes of the last [`WriteArena::space`], as a frozen slice.
    pub fn take(&mut self) -> Bytes {
        self.0.buf.split().freeze()
    }
}

fn zeroed(size: usize) -> BytesMut {
    // calloc: fresh pages come zeroed from the kernel, so this costs no memset.
    let mut buf = BytesMut::zeroed(size);
    buf.clear();
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_an_arena_whose_slices_are_dropped() {
        let mut a = RecvArena::new(1024);
        assert!(!a.reserve(512));
        let mut got = Vec::new();
        a.take(&[(0, 10), (100, 20)], |b| got.push(b));
        assert_eq!(got.iter().map(|b| b.len()).collect::<Vec<_>>(), vec![10, 20]);
        assert!(!a.reserve(512), "904 bytes left");
        assert!(a.reserve(1000), "slices still held: a fresh arena");
        drop(got);

        let mut b = RecvArena::new(1024);
        let mut tmp = Vec::new();
        b.take(&[(0, 600)], |x| tmp.push(x));
        drop(tmp);
        assert!(!b.reserve(1024), "unreferenced arena reclaimed in place");

        // A retired arena is reused once its readers let go.
        let mut c = RecvArena::new(1024);
        let mut first = Vec::new();
        c.take(&[(0, 1000)], |x| first.push(x));
        assert!(c.reserve(1000), "first arena held: allocate a second");
        let mut second = Vec::new();
        c.take(&[(0, 1000)], |x| second.push(x));
        drop(first);
        assert!(!c.reserve(1000), "the first arena came free: reused");
        drop(second);
    }

    #[test]
    fn a_write_arena_hands_out_initialised_space_and_reuses_it() {
        let mut w = WriteArena::new(256);
        w.space(100).copy_from_slice(&[7; 100]);
        let first = w.take();
        assert_eq!(&first[..], &[7; 100][..]);
        // Space not taken is replaced; what is taken is what was written.
        w.space(10).fill(1);
        w.space(20).fill(2);
        assert_eq!(&w.take()[..], &[2; 20][..]);
        // Larger than an arena: one of its own; the first slice is untouched.
        w.space(1000).fill(3);
        assert_eq!(w.take().len(), 1000);
        drop(first);
        // Freed arenas come back with their old bytes (stale, initialised).
        for _ in 0..10 {
            let s = w.space(200);
            assert_eq!(s.len(), 200);
            s.fill(4);
            assert_eq!(&w.take()[..], &[4; 200][..]);
        }
    }

    #[test]
    fn move_down_compacts() {
        let mut a = RecvArena::new(64);
        a.reserve(64);
        let base = a.spare_ptr();
        // SAFETY: test writes within the arena's capacity.
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), base.add(32), 5) };
        a.move_down(32, 3, 5);
        let mut got = Vec::new();
        a.take(&[(3, 5)], |b| got.push(b));
        assert_eq!(&got[0][..], b"hello");
    }
}
