//! A joiner waiting for its checkpoint while deliveries already arrive.

use super::codec::Update;
use super::error::ObjectError;
use super::kind::LiveObject;
use super::position::{Admission, Position};
use super::proxy::Proxy;
use std::fmt;
use std::mem;

/// Default limit of a joiner's backlog, in bytes (encoded update plus its in-memory
/// envelope): what it may buffer while its checkpoint is on the way.
pub const JOIN_BACKLOG_BYTES: usize = 64 << 20;

/// A proxy joining an object that has members: it subscribes to the driver first, buffers
/// what is delivered, asks a member for a checkpoint, and on its arrival becomes a
/// [`Proxy`] that has applied the buffered updates the checkpoint does not include.
///
/// The checkpoint must include, for each sender, every update before the first one this
/// joiner buffered (or will receive); otherwise [`Joining::complete`] refuses it with an
/// [`ObjectError::Gap`] and the joiner keeps buffering until a newer checkpoint comes.
pub struct Joining<O: LiveObject> {
    origin: u64,
    /// Buffered updates, each with what it counts against the limit.
    backlog: Vec<(Update<O::Op>, usize)>,
    backlog_bytes: usize,
    limit: usize,
}

/// A completed join: the proxy and what applying the backlog changed, in order.
pub struct Joined<O: LiveObject> {
    /// The proxy, now a member.
    pub proxy: Proxy<O>,
    /// Notifications of the buffered updates applied after the checkpoint.
    pub changes: Vec<O::Change>,
}

impl<O: LiveObject> Joining<O> {
    /// A joiner with the fresh `origin` it will stamp with, buffering up to
    /// [`JOIN_BACKLOG_BYTES`].
    pub fn new(origin: u64) -> Self {
        Self::with_limit(origin, JOIN_BACKLOG_BYTES)
    }

    /// A joiner buffering up to `limit` bytes.
    pub fn with_limit(origin: u64, limit: usize) -> Self {
        Joining { origin, backlog: Vec::new(), backlog_bytes: 0, limit }
    }

    /// Buffer a delivered update until the checkpoint comes.
    pub fn deliver(&mut self, bytes: &[u8]) -> Result<(), ObjectError> {
        self.deliver_update(Update::<O::Op>::decode(bytes)?, bytes.len())
    }

    /// Buffer an update already decoded from `encoded_len` bytes, as [`Joining::deliver`]
    /// does.
    pub fn deliver_update(&mut self, update: Update<O::Op>, encoded_len: usize) -> Result<(), ObjectError> {
        if update.stamp.origin == self.origin {
            return Err(ObjectError::OriginInUse(self.origin));
        }
        let cost = encoded_len.saturating_add(mem::size_of::<Update<O::Op>>());
        let total = self.backlog_bytes.saturating_add(cost);
        if total > self.limit {
            return Err(ObjectError::BacklogFull { limit: self.limit });
        }
        self.backlog.push((update, cost));
        self.backlog_bytes = total;
        Ok(())
    }

    /// The origin this joiner will stamp with.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// How many updates are buffered.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }

    /// How many bytes the buffered updates count for against the limit.
    pub fn backlog_bytes(&self) -> usize {
        self.backlog_bytes
    }

    /// Start from a member's `checkpoint` taken at `position`, then apply the backlog,
    /// skipping what the checkpoint includes. If the checkpoint is malformed or does not
    /// cover what this joiner missed, the joiner comes back unchanged with the error.
    pub fn complete(
        mut self,
        checkpoint: &[u8],
        position: &Position,
    ) -> Result<Joined<O>, (Self, ObjectError)> {
        if let Err(error) = self.check_backlog(position) {
            return Err((self, error));
        }
        let mut proxy = match Proxy::join(self.origin, checkpoint, position.clone()) {
            Ok(proxy) => proxy,
            Err(error) => return Err((self, error)),
        };
        let mut changes = Vec::new();
        let mut rest = mem::take(&mut self.backlog).into_iter();
        while let Some((update, _)) = rest.next() {
            match proxy.deliver_update(update) {
                Ok(change) => changes.extend(change),
                // `check_backlog` admitted every update, so this is not expected; keep
                // what is left rather than lose it.
                Err(error) => {
                    self.backlog = rest.collect();
                    self.backlog_bytes = self.backlog.iter().map(|(_, cost)| cost).sum();
                    return Err((self, error));
                }
            }
        }
        Ok(Joined { proxy, changes })
    }

    /// Refuse a position that the backlog would leave a gap after, without consuming it.
    fn check_backlog(&self, position: &Position) -> Result<(), ObjectError> {
        if position.mark(self.origin).is_some() {
            return Err(ObjectError::OriginInUse(self.origin));
        }
        let mut position = position.clone();
        for (update, _) in &self.backlog {
            if position.admit(update.stamp, update.seq)? == Admission::Next {
                position.advance(update.stamp, update.seq);
            }
        }
        Ok(())
    }
}

impl<O: LiveObject> fmt::Debug for Joining<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joining")
            .field("origin", &self.origin)
            .field("backlog", &self.backlog.len())
            .field("backlog_bytes", &self.backlog_bytes)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<O: LiveObject> fmt::Debug for Joined<O>
where
    O::State: fmt::Debug,
    O::Change: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joined").field("proxy", &self.proxy).field("changes", &self.changes).finish()
    }
}
