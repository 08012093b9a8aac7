//! A keyed node's datagrams: every datagram a shard sends is sealed, every one it receives
//! opened before the protocol sees it (`argent_auth`). A datagram is refused if its tag,
//! epoch, mode or counter fails, if its sender is not a member, or if the header's `from`
//! is not the node whose key sealed it; each refusal is counted in [`AuthStats`].

pub use argent_auth::AuthConfig;
use argent_auth::{Mode, TRAILER};
use argent_core::NodeId;
pub use argent_qsm::AuthStats;
use argent_transport::{Tail, WriteArena};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddrV4;

pub(crate) struct Guard {
    /// The sans-IO guard the simulator drives too.
    inner: argent_qsm::Guard,
    /// When to seal under the newest key epoch learnt (`argent_auth::ACTIVATION` after).
    rekey_at: Option<argent_core::Instant>,
    shard: u32,
    /// Sealed datagrams, and in `aead` mode opened ones, are written here.
    arena: WriteArena,
}

/// Bytes of each arena: sealed and decrypted datagrams are slices of a few reused
/// allocations, not one fresh allocation each (whose pages would fault in every time), and
/// are written whole, with no zero-fill first (`argent_transport::WriteArena`).
const ARENA: usize = 4 << 20;

/// Whether `source` is one of the sockets of a node whose first shard listens on `addr` and
/// that runs `shards` shards (shard i on port + i).
pub(crate) fn socket_of(addr: SocketAddrV4, shards: usize, source: SocketAddrV4) -> bool {
    let first = u32::from(addr.port());
    addr.ip() == source.ip() && (first..first + shards as u32).contains(&u32::from(source.port()))
}

impl Guard {
    pub(crate) fn new(cfg: &AuthConfig, me: u32, shard: usize) -> Self {
        Guard {
            inner: argent_qsm::Guard::new(cfg, argent_core::NodeId(me), None),
            rekey_at: None,
            shard: shard as u32,
            arena: WriteArena::new(ARENA),
        }
    }

    /// A datagram sealed for `dest`: in `mac` mode the payload as is and its trailer as the
    /// datagram's tail (sent from its own buffer: no copy of the payload); in `aead` mode
    /// the payload encrypted in an arena, with its trailer.
    pub(crate) fn seal(&mut self, dest: argent_core::Destination, payload: Bytes) -> (Bytes, Tail) {
        let channel = argent_qsm::Guard::channel(self.shard, dest);
        if let Some(trailer) = self.inner.trailer(channel, &payload) {
            return (payload, Tail::new(&trailer));
        }
        let buf = self.arena.space(payload.len() + TRAILER);
        buf[..payload.len()].copy_from_slice(&payload);
        // The seal writes the trailer's every byte.
        self.inner.seal_in_place(channel, buf);
        (self.arena.take(), Tail::NONE)
    }

    /// The body of a datagram from `source` that passes; `None` (counted) otherwise. A
    /// datagram must come from one of its sealer's sockets in the view (`members`: each
    /// node's first unicast address and its shard count; shard i sends from port + i).
    pub(crate) fn open(
        &mut self,
        data: Bytes,
        source: SocketAddrV4,
        members: &HashMap<NodeId, (SocketAddrV4, usize)>,
    ) -> Option<Bytes> {
        let (passed, body) = match self.inner.mode() {
            Mode::Mac => {
                let p = self.inner.verify(&data)?;
                (p, data.slice(..p.len))
            }
            Mode::Aead => {
                // Decrypted straight into the arena (every byte of the body written).
                let p = self.inner.open_into(&data, self.arena.space(data.len()));
                let buf = self.arena.take();
                let p = p?;
                (p, buf.slice(..p.len))
            }
        };
        if !members.get(&passed.sender).is_some_and(|&(addr, shards)| socket_of(addr, shards, source)) {
            self.inner.wrong_source();
            return None;
        }
        Some(body)
    }

    /// New key epochs (from a membership view): opened at once, sealed under from
    /// `argent_auth::ACTIVATION` after `now`.
    pub(crate) fn add_keys(&mut self, keys: &[argent_auth::ClusterKey], now: argent_core::Instant) {
        let mut new = false;
        for k in keys {
            new |= self.inner.add_key(k.clone());
        }
        if new {
            self.rekey_at = Some(now + argent_auth::ACTIVATION);
        }
    }

    /// Before sealing at `now`: move to the newest epoch once its activation time came.
    pub(crate) fn tick(&mut self, now: argent_core::Instant) {
        if self.rekey_at.is_some_and(|t| now >= t) {
            self.rekey_at = None;
            self.inner.rekey();
        }
    }

    /// Accept datagrams only from these nodes (the cluster's members now).
    pub(crate) fn set_members(&mut self, members: impl Iterator<Item = u32>) {
        self.inner.set_members(members.map(argent_core::NodeId));
    }

    pub(crate) fn stats(&self) -> AuthStats {
        self.inner.stats()
    }
}
