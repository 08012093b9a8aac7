//! The membership service's datagrams in a keyed cluster: every fragment sealed under the
//! sender's key (a replica, a member, or a process without an id yet), opened on arrival,
//! refusals counted. Which sender may send which message is checked by the caller.

use argent_auth::{AuthConfig, OpenStats, Opener, Sealer, ANONYMOUS, REPLICA_IDS};

/// The one channel of service traffic (a sender's socket sees its counters in order).
const CHANNEL: u32 = 0;

pub(super) struct WireSeal {
    sealer: Sealer,
    opener: Opener,
    out: Vec<u8>,
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
        }
    }

    pub(super) fn seal(&mut self, datagram: &[u8]) -> &[u8] {
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
