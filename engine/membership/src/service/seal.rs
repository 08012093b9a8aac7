//! The membership service's datagrams in a keyed cluster: every fragment sealed under the
//! sender's key (a replica, a member, or a process without an id yet), opened on arrival,
//! refusals counted. Which sender may send which message is checked by the caller.

use crate::gms::View;
use argent_auth::{AuthConfig, OpenStats, Opener, Sealer, ACTIVATION, ANONYMOUS, REPLICA_IDS};

/// The one channel of service traffic (a sender's socket sees its counters in order).
const CHANNEL: u32 = 0;

pub(super) struct WireSeal {
    sealer: Sealer,
    opener: Opener,
    out: Vec<u8>,
    /// When to start sealing under the newest epoch learnt.
    rekey_at: Option<std::time::Instant>,
}

/// Who sealed a datagram of service traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sealed {
    /// Nobody: the service runs without a key.
    Open,
    /// A replica, by raft id.
    Replica(u64),
    /// A member, by node id.
    Member(u32),
    /// A process without an id.
    Anonymous,
}

impl WireSeal {
    /// Sealing as `id` (`REPLICA_IDS | raft id`, a node id, or `ANONYMOUS`).
    pub(super) fn new(auth: &AuthConfig, id: u32) -> Self {
        WireSeal {
            sealer: Sealer::new(&auth.keys, id, auth.mode),
            opener: Opener::new(auth.keys.clone(), auth.mode),
            out: Vec::new(),
            rekey_at: None,
        }
    }

    /// Key epochs `view` hands out: opened at once, sealed under after [`ACTIVATION`].
    pub(super) fn learn(&mut self, view: &View) {
        let learnt = view.learn_keys(&mut self.opener.ring().clone());
        if !learnt.is_empty() {
            tracing::info!(view = view.id.0, epochs = ?learnt.iter().map(|k| k.epoch).collect::<Vec<_>>(), "new cluster key epochs");
            self.rekey_at = Some(std::time::Instant::now() + ACTIVATION);
        }
        for k in learnt {
            self.opener.add_key(k);
        }
    }

    pub(super) fn seal(&mut self, datagram: &[u8]) -> &[u8] {
        if self.rekey_at.is_some_and(|t| std::time::Instant::now() >= t) {
            self.sealer.rekey(self.opener.ring());
            self.rekey_at = None;
        }
        self.out.clear();
        self.sealer.seal(CHANNEL, datagram, &mut self.out);
        &self.out
    }

    /// The body of `d` (opened in place) and who sealed it; `None` if refused.
    pub(super) fn open<'a>(&mut self, d: &'a mut [u8]) -> Option<(&'a [u8], Sealed)> {
        let o = self.opener.open(d).ok()?;
        let who = match o.sender {
            ANONYMOUS => Sealed::Anonymous,
            s if s & REPLICA_IDS == REPLICA_IDS => Sealed::Replica(u64::from(s & !REPLICA_IDS)),
            s => Sealed::Member(s),
        };
        Some((&d[..o.len], who))
    }

    pub(super) fn stats(&self) -> OpenStats {
        self.opener.stats()
    }
}
