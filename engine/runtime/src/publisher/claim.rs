//! A message being written in place.

use super::lane::{shards_in, PubLane};
use crate::groups::GROUP_TAG_LEN;
use crate::pubring;
use crate::signal::ShardWake;
use argent_membership::GroupId;

/// Space reserved in the publish ring(s): write the message, then [`PubClaim::commit`].
pub struct PubClaim<'a> {
    pub(crate) chunk: Option<rtrb::chunks::WriteChunk<'a, u8>>,
    pub(crate) skip: usize,
    pub(crate) len: usize,
    pub(crate) group: GroupId,
    pub(crate) wake: &'a ShardWake,
    /// The shard of `chunk`, and the other shards the group's regions live on.
    pub(crate) first: usize,
    pub(crate) rest: u64,
    /// The publisher's other lanes, below and above `first`.
    pub(crate) before: &'a mut [Option<PubLane>],
    pub(crate) after: &'a mut [Option<PubLane>],
}

impl std::fmt::Debug for PubClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubClaim").field("group", &self.group).field("len", &self.len).finish()
    }
}

impl PubClaim<'_> {
    /// Publish the message written.
    #[inline]
    pub fn commit(mut self) {
        let Some(mut chunk) = self.chunk.take() else { return };
        let entry = pubring::payload(&mut chunk, self.skip, GROUP_TAG_LEN + self.len);
        entry[..GROUP_TAG_LEN].copy_from_slice(&self.group.0.to_le_bytes());
        for s in shards_in(self.rest) {
            let lane = if s < self.first { &mut self.before[s] } else { &mut self.after[s - self.first - 1] };
            let Some(lane) = lane else { continue };
            // Room was checked at claim time and only this thread fills the ring.
            if let Some((mut c, skip)) = pubring::reserve(&mut lane.ring, entry.len()) {
                pubring::payload(&mut c, skip, entry.len()).copy_from_slice(entry);
                pubring::commit_entry(c, skip, entry.len());
                lane.wake.wake();
            }
        }
        pubring::commit_entry(chunk, self.skip, GROUP_TAG_LEN + self.len);
        self.wake.wake();
    }

    /// The group the message goes to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The reserved bytes, to write the message in place.
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self.chunk.as_mut() {
            Some(chunk) => &mut pubring::payload(chunk, self.skip, GROUP_TAG_LEN + self.len)[GROUP_TAG_LEN..],
            None => &mut [],
        }
    }
}

impl AsMut<[u8]> for PubClaim<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}
