//! Turning a batch of outgoing datagrams into `msghdr`s: one per datagram, or one per run of
//! equal-sized datagrams to the same destination with UDP GSO (`UDP_SEGMENT`).

use std::io;
use std::ops::Range;

use crate::datagram::Outgoing;
use crate::spec::MAX_UDP_PAYLOAD;
use crate::sys::{self, CmsgBuf, SEND_CMSG_SPACE, SOCKADDR_IN_LEN};

/// Most datagrams the kernel accepts in one GSO message (`UDP_MAX_SEGMENTS`).
pub(crate) const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO message (the IP length field, with margin for headers).
pub(crate) const GSO_MAX_BYTES: usize = 65_000;

/// One message of a plan: datagrams `start..end` of the batch, to one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) bytes: usize,
    /// GSO segment size, 0 for a plain single datagram.
    pub(crate) segment: usize,
}

impl Span {
    pub(crate) fn count(&self) -> usize {
        self.end - self.start
    }
}

/// What the kernel's UDP GSO accepts here, learnt as sends fail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gso {
    pub(crate) enabled: bool,
    /// Largest segment size to try (a segment must fit the route's MTU).
    pub(crate) max_segment: usize,
}

impl Gso {
    pub(crate) fn new(enabled: bool) -> Self {
        Gso { enabled, max_segment: MAX_UDP_PAYLOAD }
    }

    /// Learns from an error on a GSO message; true if GSO was the likely cause, in which case
    /// its datagrams should be planned again (GSO is now off for that size).
    pub(crate) fn learn(&mut self, span: &Span, error: &io::Error) -> bool {
        if span.segment == 0 {
            return false;
        }
        match error.raw_os_error() {
            // No checksum offload on the route's device: GSO can never work there.
            Some(libc::EIO) | Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP) => {
                tracing::info!(%error, "UDP GSO unavailable on this path; sending datagrams one by one");
                self.enabled = false;
                true
            }
            // Segment larger than the route's MTU allows.
            Some(libc::EINVAL) | Some(libc::EMSGSIZE) => {
                self.max_segment = span.segment - 1;
                if self.max_segment == 0 {
                    self.enabled = false;
                }
                tracing::debug!(%error, segment = span.segment, "UDP GSO refused this segment size; lowering the limit");
                true
            }
            _ => false,
        }
    }
}

/// Reusable `mmsghdr` arrays pointing into a batch (valid until the batch changes).
#[derive(Default)]
pub(crate) struct SendPlan {
    pub(crate) msgs: Vec<libc::mmsghdr>,
    pub(crate) spans: Vec<Span>,
    addrs: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    /// iovecs of each span (a datagram with a tail takes two).
    iov_counts: Vec<usize>,
    ctrls: Vec<CmsgBuf>,
}

// SAFETY: the raw pointers inside `msgs` and `iovs` are rebuilt by every `build` before use
// and only point into this plan and the batch it was built from; nothing dereferences them
// across threads or after the batch is gone.
#[allow(unsafe_code)]
unsafe impl Send for SendPlan {}

impl std::fmt::Debug for SendPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendPlan").field("spans", &self.spans).finish()
    }
}

impl SendPlan {
    /// Plans at most `max_msgs` messages over `batch[ranges]`, in order; returns how many
    /// datagrams they cover (a prefix of the ranges).
    pub(crate) fn build(
        &mut self,
        batch: &[Outgoing],
        ranges: &[Range<usize>],
        gso: &Gso,
        max_msgs: usize,
    ) -> usize {
        self.spans.clear();
        let mut covered = 0;
        'ranges: for r in ranges {
            let mut i = r.start;
            while i < r.end {
                if self.spans.len() == max_msgs {
                    break 'ranges;
                }
                let span = next_span(batch, i, r.end, gso);
                covered += span.count();
                i = span.end;
                self.spans.push(span);
            }
        }
        self.fill(batch);
        covered
    }

    fn fill(&mut self, batch: &[Outgoing]) {
        self.addrs.clear();
        self.iovs.clear();
        self.iov_counts.clear();
        self.ctrls.clear();
        self.msgs.clear();
        for span in &self.spans {
            self.addrs.push(sys::sockaddr_in(batch[span.start].to));
            let mut ctrl = CmsgBuf::default();
            if span.segment > 0 {
                ctrl.write_udp_segment(span.segment as u16);
            }
            self.ctrls.push(ctrl);
            let first = self.iovs.len();
            for o in &batch[span.start..span.end] {
                self.iovs.push(libc::iovec {
                    iov_base: o.data.as_ptr() as *mut libc::c_void,
                    iov_len: o.data.len(),
                });
                let tail = o.tail.as_slice();
                if !tail.is_empty() {
                    self.iovs.push(libc::iovec {
                        iov_base: tail.as_ptr() as *mut libc::c_void,
                        iov_len: tail.len(),
                    });
                }
            }
            self.iov_counts.push(self.iovs.len() - first);
        }
        // Every vector is complete: pointers into them stay valid until the next build.
        let mut first_iov = 0;
        for (k, span) in self.spans.iter().enumerate() {
            let mut h = sys::zeroed_msghdr();
            h.msg_name = (&mut self.addrs[k] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = SOCKADDR_IN_LEN;
            h.msg_iov = self.iovs[first_iov..].as_mut_ptr();
            h.msg_iovlen = self.iov_counts[k] as _;
            if span.segment > 0 {
                h.msg_control = self.ctrls[k].0.as_mut_ptr().cast();
                h.msg_controllen = SEND_CMSG_SPACE as _;
            }
            first_iov += self.iov_counts[k];
            self.msgs.push(libc::mmsghdr { msg_hdr: h, msg_len: 0 });
        }
    }
}

/// The message starting at datagram `i`: a GSO run if several equal-sized datagrams (the last
/// may be shorter) go to the same destination, else the one datagram.
fn next_span(batch: &[Outgoing], i: usize, end: usize, gso: &Gso) -> Span {
    let to = batch[i].to;
    let segment = batch[i].len();
    let mut j = i + 1;
    let mut bytes = segment;
    if gso.enabled && segment > 0 && segment <= gso.max_segment {
        while j < end && j - i < GSO_MAX_SEGMENTS {
            let len = batch[j].len();
            if batch[j].to != to || len == 0 || len > segment || bytes + len > GSO_MAX_BYTES {
                break;
            }
            bytes += len;
            j += 1;
            if len < segment {
                break; // a shorter datagram can only end a run
            }
        }
    }
    Span { start: i, end: j, bytes, segment: if j - i > 1 { segment } else { 0 } }
}

/// Whether UDP GSO may be used: on unless the environment sets `ARGENT_TRANSPORT_GSO=0`
/// (for measuring with and without it).
pub(crate) fn gso_allowed() -> bool {
    std::env::var("ARGENT_TRANSPORT_GSO").map_or(true, |v| v != "0")
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn out(port: u16, len: usize) -> Outgoing {
        Outgoing::new(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port), Bytes::from(vec![7u8; len]))
    }

    #[test]
    fn runs_of_equal_sizes_become_gso_messages() {
        let batch: Vec<_> =
            vec![out(1, 100), out(1, 100), out(1, 40), out(1, 100), out(2, 100), out(2, 100), out(2, 0)];
        let mut plan = SendPlan::default();
        let covered = plan.build(&batch, &[0..batch.len()], &Gso::new(true), 100);
        assert_eq!(covered, 7);
        let spans: Vec<_> = plan.spans.iter().map(|s| (s.start, s.end, s.segment)).collect();
        assert_eq!(spans, vec![(0, 3, 100), (3, 4, 0), (4, 6, 100), (6, 7, 0)]);
        assert_eq!(plan.msgs.len(), 4);
        assert_eq!(plan.msgs[0].msg_hdr.msg_iovlen, 3);
        assert_eq!(plan.msgs[0].msg_hdr.msg_controllen, SEND_CMSG_SPACE as _);
        assert_eq!(plan.msgs[1].msg_hdr.msg_controllen, 0);
    }

    #[test]
    fn limits_and_ranges() {
        let batch: Vec<_> = (0..200).map(|_| out(1, 8192)).collect();
        let mut plan = SendPlan::default();
        let covered = plan.build(&batch, &[0..200], &Gso::new(true), 3);
        // 65000 / 8192 = 7 segments per message.
        assert_eq!(covered, 21);
        assert!(plan.spans.iter().all(|s| s.count() == 7 && s.bytes == 7 * 8192));
        let covered = plan.build(&batch, &[5..6, 10..12], &Gso::new(false), 10);
        assert_eq!(covered, 3);
        assert_eq!(plan.spans.len(), 3);
        let mut gso = Gso::new(true);
        let span = Span { start: 0, end: 2, bytes: 2 * 8192, segment: 8192 };
        assert!(gso.learn(&span, &io::Error::from_raw_os_error(libc::EINVAL)));
        assert_eq!(gso.max_segment, 8191);
        plan.build(&batch, &[0..4], &gso, 10);
        assert!(plan.spans.iter().all(|s| s.segment == 0));
        assert!(gso.learn(&Span { segment: 100, ..span }, &io::Error::from_raw_os_error(libc::EIO)));
        assert!(!gso.enabled);
    }
}
