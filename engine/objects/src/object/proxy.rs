//! The per-process state machine of one live object.

use super::codec::Update;
use super::error::ObjectError;
use super::kind::LiveObject;
use super::position::{Admission, Position};
use super::stamp::Clock;
use std::fmt;

/// What a proxy has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Local updates stamped and encoded by [`Proxy::local`].
    pub sent: u64,
    /// Delivered updates applied to the state.
    pub applied: u64,
    /// Delivered updates skipped because the state already included them (a redelivery,
    /// or a joiner's overlap with its checkpoint).
    pub duplicates: u64,
    /// Delivered updates refused for a Lamport time more than [`MAX_LAMPORT_LEAP`] past
    /// this proxy's clock.
    pub refused_ahead: u64,
}

/// Most an update's Lamport time may run ahead of the receiving proxy's clock. A working
/// proxy stamps one more than the largest time it has seen, and it sees the same updates as
/// every other member, so real stamps are never near this far ahead; one bad stamp (a
/// buggy member's `u64::MAX`) cannot exhaust every clock, and walking clocks to the end
/// 2^32 at a time would take 2^32 refused-free updates.
pub const MAX_LAMPORT_LEAP: u64 = 1 << 32;

/// One process's proxy of a live object of kind `O`, sans-IO.
///
/// [`Proxy::local`] turns an application's operation into bytes to send into the driver;
/// nothing is applied until the driver delivers those bytes back to [`Proxy::deliver`],
/// where every proxy, the sender included, applies the update. Each update is applied
/// exactly once: redeliveries are recognised by their sender's sequence number.
pub struct Proxy<O: LiveObject> {
    clock: Clock,
    next_seq: u64,
    state: O::State,
    position: Position,
    stats: ProxyStats,
}

impl<O: LiveObject> Proxy<O> {
    /// The first proxy of an object, or a joiner with no member to ask: the initial state.
    /// `origin` must be unique to this proxy incarnation (never reused after a restart).
    pub fn new(origin: u64) -> Self {
        Proxy {
            clock: Clock::new(origin),
            next_seq: 1,
            state: O::initial(),
            position: Position::new(),
            stats: ProxyStats::default(),
        }
    }

    /// A joiner starting from a member's `checkpoint` and the `position` it was taken at.
    /// Deliveries it then receives are applied unless the position includes them.
    pub fn join(origin: u64, checkpoint: &[u8], position: Position) -> Result<Self, ObjectError> {
        if position.mark(origin).is_some() {
            return Err(ObjectError::OriginInUse(origin));
        }
        Ok(Proxy {
            clock: Clock::starting_at(origin, position.latest_lamport()),
            next_seq: 1,
            state: O::restore(checkpoint)?,
            position,
            stats: ProxyStats::default(),
        })
    }

    /// This proxy's origin, the `origin` of the stamps it makes.
    pub fn origin(&self) -> u64 {
        self.clock.origin()
    }

    /// Stamp and encode a local operation; send the bytes into the driver. The state does
    /// not change until they are delivered back. On error nothing is consumed: the next
    /// update takes the same sequence number, so receivers see no gap.
    pub fn local(&mut self, op: O::Op) -> Result<Vec<u8>, ObjectError> {
        let seq = self.next_seq;
        let next_seq = seq.checked_add(1).ok_or(ObjectError::Exhausted("sequence number"))?;
        let mut clock = self.clock;
        let stamp = clock.tick()?;
        let bytes = Update { stamp, seq, op }.encode()?;
        self.clock = clock;
        self.next_seq = next_seq;
        self.stats.sent += 1;
        Ok(bytes)
    }

    /// Decode a delivered update and apply it unless the state already includes it.
    /// Returns what changed, if anything; `Ok(None)` also for a skipped duplicate.
    pub fn deliver(&mut self, bytes: &[u8]) -> Result<Option<O::Change>, ObjectError> {
        self.deliver_update(Update::decode(bytes)?)
    }

    /// Apply an already decoded update as [`Proxy::deliver`] does.
    pub fn deliver_update(&mut self, update: Update<O::Op>) -> Result<Option<O::Change>, ObjectError> {
        let Update { stamp, seq, op } = update;
        if stamp.origin == self.origin() && seq >= self.next_seq {
            // Not one of ours: another proxy is using our origin.
            return Err(ObjectError::OriginInUse(stamp.origin));
        }
        let latest = self.clock.latest();
        if stamp.lamport > latest.saturating_add(MAX_LAMPORT_LEAP) {
            self.stats.refused_ahead += 1;
            return Err(ObjectError::StampAhead {
                origin: stamp.origin,
                seq,
                lamport: stamp.lamport,
                latest,
            });
        }
        match self.position.admit(stamp, seq)? {
            Admission::Duplicate => {
                self.stats.duplicates += 1;
                Ok(None)
            }
            Admission::Next => {
                self.clock.observe(stamp);
                self.position.advance(stamp, seq);
                self.stats.applied += 1;
                Ok(O::apply(&mut self.state, stamp, op))
            }
        }
    }

    /// The replicated state, including every update delivered so far.
    pub fn state(&self) -> &O::State {
        &self.state
    }

    /// Which updates [`Proxy::state`] includes; send it with [`Proxy::checkpoint`] to a joiner.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// The state encoded for a joiner; equal states give equal bytes.
    pub fn checkpoint(&self) -> Result<Vec<u8>, ObjectError> {
        O::checkpoint(&self.state)
    }

    /// Counters of what this proxy has done.
    pub fn stats(&self) -> ProxyStats {
        self.stats
    }

    /// The Lamport clock that stamps this proxy's updates.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl<O: LiveObject> fmt::Debug for Proxy<O>
where
    O::State: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("clock", &self.clock)
            .field("next_seq", &self.next_seq)
            .field("state", &self.state)
            .field("position", &self.position)
            .field("stats", &self.stats)
            .finish()
    }
}
