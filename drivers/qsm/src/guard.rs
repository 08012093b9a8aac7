//! A keyed node's datagrams, sans-IO: what the runtime's shards and the simulator's nodes
//! run between the protocol and the network. Every datagram sent is sealed
//! (`argent_auth`); every one received is opened before the protocol sees it, and refused
//! if its tag, epoch, mode or counter fails, if its sender is outside the view, or if its
//! header's `from` (the node part of a stream id) is not the node whose key sealed it.

use crate::stream::node_of;
use argent_auth::{AuthConfig, Mode, OpenStats, Opened, Opener, Sealer};
use argent_core::NodeId;

/// Datagrams a keyed node opened and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// By the checks of the seal.
    pub open: OpenStats,
    /// Sealed by one member but naming another in the header's `from`.
    pub wrong_from: u64,
    /// Sealed by a member but sent from an address that is not one of its sockets in the
    /// view (counted by the runtime, which knows the source; see [`Guard::wrong_source`]).
    pub wrong_source: u64,
    /// The key epoch datagrams are sealed under now (the highest over shards).
    pub epoch: u16,
}

impl AuthStats {
    /// Every refusal.
    pub fn refused(&self) -> u64 {
        self.open.refused() + self.wrong_from + self.wrong_source
    }

    /// Adds `o`'s counts.
    pub fn add(&mut self, o: &AuthStats) {
        self.open.merge(&o.open);
        self.wrong_from += o.wrong_from;
        self.wrong_source += o.wrong_source;
        self.epoch = self.epoch.max(o.epoch);
    }
}

/// Seals and opens one node's datagrams (one per thread that sends and receives).
pub struct Guard {
    sealer: Sealer,
    opener: Opener,
    wrong_from: u64,
    wrong_source: u64,
}

/// A datagram that passed the guard: its body's length and the member that sealed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passed {
    /// The body is the datagram's (or the output buffer's) first `len` bytes.
    pub len: usize,
    /// The node whose key sealed it (and whom its header names).
    pub sender: NodeId,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("mode", &self.opener.mode()).finish_non_exhaustive()
    }
}

impl Guard {
    /// Node `me`'s guard; counters start at the time of day, or above `start` if given.
    pub fn new(auth: &AuthConfig, me: NodeId, start: Option<u64>) -> Self {
        let sealer = match start {
            Some(s) => Sealer::starting_at(&auth.keys, me.0, auth.mode, s),
            None => Sealer::new(&auth.keys, me.0, auth.mode),
        };
        Guard { sealer, opener: Opener::new(auth.keys.clone(), auth.mode), wrong_from: 0, wrong_source: 0 }
    }

    /// The channel of a shard's datagrams to `dest` (`Destination::Region`: its multicast).
    /// One per destination, so that a receiver sees one channel's counters in the order
    /// sent, without the gaps of what went to others: reordering of a few datagrams never
    /// pushes one out of the replay window.
    pub fn channel(shard: u32, dest: argent_core::Destination) -> u32 {
        match dest {
            argent_core::Destination::Region => (shard << 1) | 1,
            argent_core::Destination::Node(n) => (n.0.wrapping_add(1) << 8) | (shard << 1),
        }
    }

    /// Tags only, or AEAD.
    pub fn mode(&self) -> Mode {
        self.opener.mode()
    }

    /// Seals in place: `buf` is the datagram followed by `argent_auth::TRAILER` bytes of room.
    pub fn seal_in_place(&mut self, channel: u32, buf: &mut [u8]) {
        self.sealer.seal_in_place(channel, buf);
    }

    /// `mac` mode: the trailer to send after `body` (unchanged, not copied); `None` in
    /// `aead` mode (use [`Guard::seal_in_place`]).
    pub fn trailer(&mut self, channel: u32, body: &[u8]) -> Option<[u8; argent_auth::TRAILER]> {
        self.sealer.trailer(channel, body)
    }

    /// Checks a `mac` datagram (its body is its prefix).
    pub fn verify(&mut self, d: &[u8]) -> Option<Passed> {
        let o = self.opener.verify(d).ok()?;
        self.bound(o, d)
    }

    /// Checks a datagram and, in `aead` mode, decrypts its body in place.
    pub fn open(&mut self, d: &mut [u8]) -> Option<Passed> {
        let o = self.opener.open(d).ok()?;
        self.bound(o, d)
    }

    /// Checks a datagram and writes its body, decrypted in `aead` mode, to `out` (at least
    /// as long as `d`).
    pub fn open_into(&mut self, d: &[u8], out: &mut [u8]) -> Option<Passed> {
        let o = self.opener.open_into(d, out).ok()?;
        self.bound(o, out)
    }

    /// A datagram that passed came from an address that is not one of its sender's
    /// sockets in the view: the caller drops it, and it is counted here.
    pub fn wrong_source(&mut self) {
        self.wrong_source += 1;
    }

    /// A datagram the seal let through, whose body is `buf[..o.len]`: passed if its header
    /// names the node that sealed it (data names the sender's stream), else counted.
    fn bound(&mut self, o: Opened, buf: &[u8]) -> Option<Passed> {
        let from = argent_wire::transmitter(&buf[..o.len]).map(|f| node_of(NodeId(f)).0);
        if from != Some(o.sender) {
            self.wrong_from += 1;
            return None;
        }
        Some(Passed { len: o.len, sender: NodeId(o.sender) })
    }

    /// Also open datagrams sealed under `key` (a new epoch from the membership service);
    /// whether it was new.
    pub fn add_key(&mut self, key: argent_auth::ClusterKey) -> bool {
        self.opener.add_key(key)
    }

    /// Seal under the newest epoch held from now on.
    pub fn rekey(&mut self) {
        self.sealer.rekey(self.opener.ring());
    }

    /// Accept datagrams only from these nodes (the members now).
    pub fn set_members(&mut self, members: impl Iterator<Item = NodeId>) {
        self.opener.set_members(Some(members.map(|n| n.0).collect()));
    }

    /// Counts so far.
    pub fn stats(&self) -> AuthStats {
        AuthStats {
            open: self.opener.stats(),
            wrong_from: self.wrong_from,
            wrong_source: self.wrong_source,
            epoch: self.sealer.epoch(),
        }
    }
}
