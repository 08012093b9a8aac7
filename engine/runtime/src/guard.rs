//! A keyed node's datagrams: every datagram a shard sends is sealed, every one it receives
//! opened before the protocol sees it (`argent_auth`). A datagram is refused if its tag,
//! epoch, mode or counter fails, if its sender is not a member, or if the header's `from`
//! is not the node whose key sealed it; each refusal is counted in [`AuthStats`].

pub use argent_auth::AuthConfig;
use argent_auth::{Mode, OpenStats, Opener, Sealer, TRAILER};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Datagrams a keyed node opened and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// By the checks of the seal.
    pub open: OpenStats,
    /// Sealed by one member but naming another in the header's `from`.
    pub wrong_from: u64,
}

impl AuthStats {
    /// Every refusal.
    pub fn refused(&self) -> u64 {
        self.open.refused() + self.wrong_from
    }

    pub(crate) fn add(&mut self, o: &AuthStats) {
        self.open.merge(&o.open);
        self.wrong_from += o.wrong_from;
    }
}

pub(crate) struct Guard {
    sealer: Sealer,
    opener: Opener,
    /// Sealed on channel `2 * shard` (unicast) or `2 * shard + 1` (multicast): each
    /// receive socket sees one channel's counters in order.
    shard: u32,
    wrong_from: u64,
    /// Sealed datagrams, and in `aead` mode opened ones, are written here.
    arena: Arena,
}

/// Bytes of each arena: sealed and decrypted datagrams are slices of a few reused
/// allocations, not one fresh allocation each (whose pages would fault in every time).
const ARENA: usize = 4 << 20;
/// Arenas still referenced, kept for reuse once their slices are dropped.
const RETIRED: usize = 3;

struct Arena {
    buf: BytesMut,
    retired: VecDeque<BytesMut>,
}

impl Arena {
    /// `bytes` then `room` zeros, in the arena, to be sealed or opened in place and taken.
    fn write(&mut self, bytes: &[u8], room: usize) -> &mut BytesMut {
        let need = bytes.len() + room;
        if self.buf.capacity() < need && !self.buf.try_reclaim(need) {
            let free = self.retired.iter_mut().position(|old| old.try_reclaim(need));
            let next = match free {
                Some(i) => self.retired.remove(i).expect("index from position"),
                None => BytesMut::with_capacity(ARENA.max(need)),
            };
            self.retired.push_back(std::mem::replace(&mut self.buf, next));
            if self.retired.len() > RETIRED {
                self.retired.pop_front();
            }
        }
        self.buf.extend_from_slice(bytes);
        self.buf.resize(need, 0);
        &mut self.buf
    }

    /// What [`Arena::write`] wrote, as a frozen slice.
    fn take(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

impl Guard {
    pub(crate) fn new(cfg: &AuthConfig, me: u32, shard: usize) -> Self {
        Guard {
            sealer: Sealer::new(&cfg.keys, me, cfg.mode),
            opener: Opener::new(cfg.keys.clone(), cfg.mode),
            shard: shard as u32,
            wrong_from: 0,
            arena: Arena { buf: BytesMut::new(), retired: VecDeque::new() },
        }
    }

    pub(crate) fn seal(&mut self, multicast: bool, payload: &Bytes) -> Bytes {
        let buf = self.arena.write(payload, TRAILER);
        self.sealer.seal_in_place(2 * self.shard + u32::from(multicast), buf);
        self.arena.take()
    }

    /// The body of a datagram that passes; `None` (counted) otherwise.
    pub(crate) fn open(&mut self, data: Bytes) -> Option<Bytes> {
        let (opened, body) = match self.opener.mode() {
            Mode::Mac => {
                let o = self.opener.verify(&data).ok()?;
                (o, data.slice(..o.len))
            }
            Mode::Aead => {
                let opened = self.opener.open(self.arena.write(&data, 0));
                let buf = self.arena.take();
                let o = opened.ok()?;
                (o, buf.slice(..o.len))
            }
        };
        // Data carries the sender's stream id there (node id and incarnation).
        let from = argent_wire::transmitter(&body).map(|f| argent_qsm::node_of(argent_core::NodeId(f)).0);
        if from != Some(opened.sender) {
            self.wrong_from += 1;
            return None;
        }
        Some(body)
    }

    /// Accept datagrams only from these nodes (the cluster's members now).
    pub(crate) fn set_members(&mut self, members: impl Iterator<Item = u32>) {
        self.opener.set_members(Some(members.collect()));
    }

    pub(crate) fn stats(&self) -> AuthStats {
        AuthStats { open: self.opener.stats(), wrong_from: self.wrong_from }
    }
}
