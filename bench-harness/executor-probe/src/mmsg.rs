//! Receive buffers for `recvmmsg`, built once and reused for every call.

/// `batch` receive buffers and their `mmsghdr`s, built once.
pub struct Mmsg {
    batch: usize,
    pub bufs: Vec<Vec<u8>>,
    _iovs: Vec<libc::iovec>,
    pub msgs: Vec<libc::mmsghdr>,
}

impl Mmsg {
    /// `batch` buffers of `size` bytes plus slack (a longer datagram shows as a wrong size).
    pub fn new(size: usize, batch: usize) -> Self {
        let mut bufs = vec![vec![0u8; size + 64]; batch];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
            .collect();
        let msgs = (0..batch)
            .map(|i| {
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = &mut iovs[i];
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Mmsg { batch, bufs, _iovs: iovs, msgs }
    }
    /// Non-blocking `recvmmsg`: datagrams received, 0 when the socket is empty.
    pub fn recv(&mut self, fd: i32) -> usize {
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.batch as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n >= 0 {
            return n as usize;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EAGAIN) {
            panic!("recvmmsg: {err}");
        }
        0
    }
}
