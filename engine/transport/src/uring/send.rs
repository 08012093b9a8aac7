//! Sending through io_uring: one `SendMsg` per planned message, submitted together, reaped
//! before `send` returns (the kernel reads the plan and the batch until then).

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use crate::api::SEND_WAIT_BUDGET;
use crate::datagram::Outgoing;
use crate::report::SendReport;
use crate::uring::transport::{Op, UringTransport, MAX_INFLIGHT_SENDS};

/// Pause before retrying datagrams the kernel refused for lack of buffers (ENOBUFS).
const RETRY_PAUSE: Duration = Duration::from_micros(200);

impl UringTransport {
    pub(super) fn send_batch(&mut self, batch: &mut Vec<Outgoing>) -> io::Result<SendReport> {
        let mut report = SendReport::default();
        let result = self.send_all(batch, &mut report);
        if result.is_err() && !self.quiesce_sends() {
            // The kernel may still read these: never free them.
            tracing::error!("io_uring sends did not complete; leaking their buffers");
            std::mem::forget(std::mem::take(batch));
            std::mem::forget(std::mem::take(&mut self.plan));
        }
        batch.clear();
        self.stats.account_send(&report);
        result.map(|()| report)
    }

    fn send_all(&mut self, batch: &[Outgoing], report: &mut SendReport) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + SEND_WAIT_BUDGET;
        self.ranges.clear();
        self.ranges.push(0..batch.len());
        loop {
            self.plan.build(batch, &self.ranges, &self.gso, usize::MAX);
            self.send_round(deadline)?;
            let backpressure = self.classify(batch, report);
            if self.ranges.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                report.unsent += self.ranges.iter().map(|r| r.len()).sum::<usize>();
                return Ok(());
            }
            if backpressure {
                report.retries += 1;
                std::thread::sleep(RETRY_PAUSE.min(deadline - now));
            }
        }
    }

    /// Submits every planned message and reaps them all (cancelling at the deadline).
    fn send_round(&mut self, deadline: Instant) -> io::Result<()> {
        let count = self.plan.spans.len();
        self.send_res.clear();
        self.send_res.resize(count, None);
        let fd = types::Fd(self.sockets.unicast.as_raw_fd());
        let mut next = 0;
        while next < count || self.inflight > 0 {
            while next < count && self.inflight < MAX_INFLIGHT_SENDS {
                let hdr: *const libc::msghdr = &self.plan.msgs[next].msg_hdr;
                let entry = opcode::SendMsg::new(fd, hdr).build().user_data(Op::Send(next).encode());
                self.push(entry)?;
                self.inflight += 1;
                next += 1;
            }
            let now = Instant::now();
            if now >= deadline {
                return self.cancel_sends(next);
            }
            self.stats.send_syscalls += 1;
            self.enter(Some(deadline - now), 1)?;
            self.reap();
        }
        Ok(())
    }

    /// Cancels the submitted sends `0..submitted` still in flight and waits for them.
    fn cancel_sends(&mut self, submitted: usize) -> io::Result<()> {
        for k in 0..submitted {
            if self.send_res[k].is_none() {
                let entry = opcode::AsyncCancel::new(Op::Send(k).encode()).build();
                self.push(entry.user_data(Op::Cancel.encode()))?;
            }
        }
        while self.inflight > 0 {
            self.enter(None, 1)?;
            self.reap();
        }
        Ok(())
    }

    /// Best effort after an error: cancel and reap every send in flight. True if none is left.
    fn quiesce_sends(&mut self) -> bool {
        let submitted = self.send_res.len();
        let _ = self.cancel_sends(submitted);
        self.inflight == 0
    }

    /// Accounts the round's results; what should be retried goes to `ranges`. Returns
    /// whether anything failed for lack of buffers.
    fn classify(&mut self, batch: &[Outgoing], report: &mut SendReport) -> bool {
        self.ranges.clear();
        let mut backpressure = false;
        for (k, span) in self.plan.spans.iter().enumerate() {
            let retry = match self.send_res[k] {
                Some(r) if r >= 0 => {
                    report.sent += span.count();
                    report.bytes += span.bytes;
                    if span.segment > 0 {
                        self.stats.gso_messages += 1;
                    }
                    false
                }
                Some(r) if matches!(-r, libc::EAGAIN | libc::ENOBUFS | libc::EINTR | libc::ENOMEM) => {
                    backpressure = true;
                    true
                }
                None => {
                    report.unsent += span.count();
                    false
                }
                Some(r) if -r == libc::ECANCELED => {
                    report.unsent += span.count();
                    false
                }
                Some(r) => {
                    let error = io::Error::from_raw_os_error(-r);
                    if self.gso.learn(span, &error) {
                        true
                    } else {
                        let first = &batch[span.start];
                        report.reject(first.to, first.len(), span.count(), error);
                        false
                    }
                }
            };
            if retry {
                match self.ranges.last_mut() {
                    Some(last) if last.end == span.start => last.end = span.end,
                    _ => self.ranges.push(span.start..span.end),
                }
            }
        }
        backpressure
    }
}
