//! Receive buffers for the io_uring backend: one allocation cut into equal buffers, lent to
//! the kernel through a provided buffer ring, lent to readers as zero-copy `Bytes`, and
//! returned through a lock-free free list when the last reader drops them.

use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use io_uring::types::BufRingEntry;

use crate::waker::Waker;

const PAGE: usize = 4096;

/// The buffers. Each buffer is, at any time, owned by exactly one of: the kernel (provided in
/// the ring), the transport (between a completion and handing it out or back), one `BufSlice`
/// (a reader), or the free list.
pub(crate) struct BufPool {
    base: NonNull<u8>,
    layout: Layout,
    buf_len: usize,
    count: u16,
    free: ArrayQueue<u16>,
    /// Set while the transport waits with no buffer in the ring: a release must wake it.
    starved: AtomicBool,
    waker: Waker,
    /// Buffers held by readers (`BufSlice`s alive).
    lent: AtomicUsize,
}

// SAFETY: the pool's memory is only accessed per buffer by that buffer's single owner (see
// the type's doc); the free list and flag are thread-safe.
unsafe impl Send for BufPool {}
// SAFETY: as above; shared access only goes through `filled` (by the buffer's owner) and the
// thread-safe free list.
unsafe impl Sync for BufPool {}

impl std::fmt::Debug for BufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufPool").field("buf_len", &self.buf_len).field("count", &self.count).finish()
    }
}

impl BufPool {
    /// `count` buffers of `buf_len` bytes, all on the free list.
    pub(crate) fn new(count: u16, buf_len: usize, waker: Waker) -> io::Result<Arc<Self>> {
        assert!(count > 0 && buf_len > 0);
        let size = buf_len.checked_mul(count as usize).ok_or(io::ErrorKind::OutOfMemory)?;
        let layout = Layout::from_size_align(size, PAGE).map_err(|_| io::ErrorKind::OutOfMemory)?;
        // SAFETY: layout has a non-zero size.
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) }).ok_or(io::ErrorKind::OutOfMemory)?;
        let free = ArrayQueue::new(count as usize);
        for bid in 0..count {
            free.push(bid).expect("free list sized to the pool");
        }
        let lent = AtomicUsize::new(0);
        Ok(Arc::new(BufPool {
            base,
            layout,
            buf_len,
            count,
            free,
            starved: AtomicBool::new(false),
            waker,
            lent,
        }))
    }

    pub(crate) fn buf_len(&self) -> usize {
        self.buf_len
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// Buffers held by readers now.
    pub(crate) fn lent(&self) -> usize {
        self.lent.load(Ordering::Relaxed)
    }

    /// Address of buffer `bid`, for the kernel.
    pub(crate) fn addr(&self, bid: u16) -> u64 {
        assert!(bid < self.count);
        self.base.as_ptr() as u64 + bid as u64 * self.buf_len as u64
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    /// The caller must own buffer `bid` (the kernel has completed into it and it has not been
    /// given back), and `len <= buf_len`.
    pub(crate) unsafe fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.count && len <= self.buf_len);
        // SAFETY: in bounds (checked); the caller owns the buffer, so nobody writes to it.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(bid as usize * self.buf_len), len) }
    }

    /// Takes a buffer back from whoever owned it.
    pub(crate) fn release(&self, bid: u16) {
        self.free.push(bid).expect("a buffer released twice");
        if self.starved.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }

    /// Next buffer to give back to the kernel.
    pub(crate) fn pop_free(&self) -> Option<u16> {
        self.free.pop()
    }

    /// The transport is about to wait with no buffer provided: the next release wakes it.
    /// Returns false if a buffer was released meanwhile (do not wait; replenish instead).
    pub(crate) fn set_starved(&self) -> bool {
        self.starved.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.free.is_empty() {
            true
        } else {
            self.starved.store(false, Ordering::SeqCst);
            false
        }
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the last owner is gone.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

/// A reader's share of one received buffer; returns it to the pool on drop.
pub(crate) struct BufSlice {
    pool: Arc<BufPool>,
    bid: u16,
    offset: usize,
    len: usize,
}

impl BufSlice {
    /// Bytes `offset..offset+len` of buffer `bid`, which the caller owns and hands over.
    pub(crate) fn new(pool: Arc<BufPool>, bid: u16, offset: usize, len: usize) -> Self {
        assert!(offset + len <= pool.buf_len());
        pool.lent.fetch_add(1, Ordering::Relaxed);
        BufSlice { pool, bid, offset, len }
    }
}

impl AsRef<[u8]> for BufSlice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: this slice owns buffer `bid` until dropped; bounds checked in `new`.
        unsafe { &self.pool.filled(self.bid, self.offset + self.len)[self.offset..] }
    }
}

impl Drop for BufSlice {
    fn drop(&mut self) {
        self.pool.lent.fetch_sub(1, Ordering::Relaxed);
        self.pool.release(self.bid);
    }
}

/// A provided buffer ring (`IORING_REGISTER_PBUF_RING`): entries the kernel picks receive
/// buffers from. Page-aligned, `entries * 16` bytes, pinned by the kernel while registered.
pub(crate) struct BufRing {
    ring: NonNull<BufRingEntry>,
    layout: Layout,
    entries: u16,
    tail: u16,
    /// False if the kernel may still hold the ring (unregistering failed): leak, never free.
    freeable: bool,
}

// SAFETY: the ring memory is only touched by the owning transport (and the kernel).
unsafe impl Send for BufRing {}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing").field("entries", &self.entries).field("tail", &self.tail).finish()
    }
}

impl BufRing {
    /// A ring of `entries` (a power of two, at most 32768) slots.
    pub(crate) fn new(entries: u16) -> io::Result<Self> {
        assert!(entries.is_power_of_two() && entries <= 32768);
        let size = entries as usize * std::mem::size_of::<BufRingEntry>();
        let layout = Layout::from_size_align(size, PAGE).map_err(|_| io::ErrorKind::OutOfMemory)?;
        // SAFETY: non-zero size.
        let ring =
            NonNull::new(unsafe { alloc::alloc_zeroed(layout) }.cast()).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(BufRing { ring, layout, entries, tail: 0, freeable: true })
    }

    pub(crate) fn addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    /// Writes one buffer into the next slot (visible to the kernel after `publish`).
    pub(crate) fn push(&mut self, addr: u64, len: u32, bid: u16) {
        let slot = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: slot < entries, within the allocation; the kernel only reads slots between
        // its head and the published tail, and this slot is beyond the published tail.
        let entry = unsafe { &mut *self.ring.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every pushed slot visible to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: the tail field is the `resv` u16 of entry 0, inside the allocation, aligned
        // for u16; the kernel reads it with acquire semantics, so store it atomically.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring.as_ptr()) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The kernel may still use the ring: never free it.
    pub(crate) fn leak(&mut self) {
        self.freeable = false;
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.freeable {
            // SAFETY: allocated in `new` with this layout; unregistered (or never registered).
            unsafe { alloc::dealloc(self.ring.as_ptr().cast(), self.layout) };
        }
    }
}
