//! A keyed node's datagrams: every datagram a shard sends is sealed, every one it receives
//! opened before the protocol sees it (`argent_auth`). A datagram is refused if its tag,
//! epoch, mode or counter fails, if its sender is not a member, or if the header's `from`
//! is not the node whose key sealed it; each refusal is counted in [`AuthStats`].

use argent_auth::{KeyRing, Mode, OpenStats, Opener, Sealer};
use bytes::Bytes;

/// A cluster key and how to use it.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The cluster's keys (a key file).
    pub keys: KeyRing,
    /// Tags only, or AEAD.
    pub mode: Mode,
}

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
    out: Vec<u8>,
}

impl Guard {
    pub(crate) fn new(cfg: &AuthConfig, me: u32, shard: usize) -> Self {
        Guard {
            sealer: Sealer::new(&cfg.keys, me, cfg.mode),
            opener: Opener::new(cfg.keys.clone(), cfg.mode),
            shard: shard as u32,
            wrong_from: 0,
            out: Vec::new(),
        }
    }

    pub(crate) fn seal(&mut self, multicast: bool, payload: &[u8]) -> Bytes {
        self.out = Vec::with_capacity(payload.len() + argent_auth::TRAILER);
        self.sealer.seal(2 * self.shard + u32::from(multicast), payload, &mut self.out);
        Bytes::from(std::mem::take(&mut self.out))
    }

    /// The body of a datagram that passes; `None` (counted) otherwise.
    pub(crate) fn open(&mut self, data: Bytes) -> Option<Bytes> {
        let (opened, body) = match self.opener.mode() {
            Mode::Mac => {
                let o = self.opener.verify(&data).ok()?;
                (o, data.slice(..o.len))
            }
            Mode::Aead => {
                let mut buf = data.to_vec();
                let o = self.opener.open(&mut buf).ok()?;
                buf.truncate(o.len);
                (o, Bytes::from(buf))
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
