//! A replica's settings, their check, and the error of a replica that cannot start.

use crate::regions::{AddressPool, Overflow};
use std::time::Duration;
use thiserror::Error;

/// Settings of a GMS replica.
#[derive(Clone, Debug)]
pub struct GmsConfig {
    /// This replica's raft id (1-based).
    pub id: u64,
    /// Raft ids of all replicas (1 by default; 3 or 5 to survive crashes).
    pub replicas: Vec<u64>,
    /// Multicast addresses regions get.
    pub pool: AddressPool,
    /// What regions beyond the pool do.
    pub overflow: Overflow,
    /// Raft tick.
    pub tick: Duration,
    /// Ticks without a leader before an election (randomised by raft up to twice this).
    pub election_ticks: usize,
    /// Ticks between the leader's raft heartbeats.
    pub heartbeat_ticks: usize,
    /// A member silent this long is suspected: probed, reported, not yet evicted.
    pub suspect_after: Duration,
    /// A member silent this long is evicted.
    pub evict_after: Duration,
    /// Unacknowledged views are pushed again after this.
    pub push_retry: Duration,
    /// A proposal not applied within this is proposed again (the leader may have changed).
    pub proposal_retry: Duration,
    /// The raft log is compacted into a snapshot every this many applied entries.
    pub compact_every: u64,
    /// Queue what must reach stable storage ([`Gms::poll_persist`](super::Gms::poll_persist))
    /// so a restarted replica can come back with [`Gms::restore`](super::Gms::restore). Off:
    /// the replica lives in memory only.
    pub persist: bool,
}

impl GmsConfig {
    /// Defaults for a single replica with id 1: suspicion after 1 s, eviction after 3 s.
    pub fn new(pool: AddressPool) -> Self {
        GmsConfig {
            id: 1,
            replicas: vec![1],
            pool,
            overflow: Overflow::Share,
            tick: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 2,
            suspect_after: Duration::from_secs(1),
            evict_after: Duration::from_secs(3),
            push_retry: Duration::from_millis(200),
            proposal_retry: Duration::from_secs(1),
            compact_every: 512,
            persist: false,
        }
    }

    /// This replica's place in the list of replicas (0 for the first).
    pub(super) fn rank(&self) -> usize {
        self.replicas.iter().position(|r| *r == self.id).unwrap_or(0)
    }

    /// raft-rs's settings for this replica.
    pub(super) fn raft_config(&self) -> raft::Config {
        // raft-rs draws each election timeout at random from [min, max); a range of one
        // value keeps replicas deterministic (the simulator replays seeds exactly), and
        // staggering it by replica avoids split votes: the first in the list times out first.
        let election = self.election_ticks + 3 * self.rank();
        raft::Config {
            id: self.id,
            election_tick: self.election_ticks,
            min_election_tick: election,
            max_election_tick: election + 1,
            heartbeat_tick: self.heartbeat_ticks,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 64,
            ..Default::default()
        }
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<(), GmsError> {
        if self.replicas.is_empty() || !self.replicas.contains(&self.id) || self.replicas.contains(&0) {
            return Err(GmsError::Config(format!(
                "replica id {} must be one of the replica ids {:?} (ids start at 1)",
                self.id, self.replicas
            )));
        }
        if self.election_ticks <= self.heartbeat_ticks || self.heartbeat_ticks == 0 {
            return Err(GmsError::Config(format!(
                "election_ticks ({}) must exceed heartbeat_ticks ({}), which must be at least 1",
                self.election_ticks, self.heartbeat_ticks
            )));
        }
        if self.tick.is_zero() || self.push_retry.is_zero() || self.compact_every == 0 {
            return Err(GmsError::Config("tick, push_retry and compact_every must be positive".into()));
        }
        if self.evict_after <= self.suspect_after {
            return Err(GmsError::Config(format!(
                "evict_after ({:?}) must be longer than suspect_after ({:?})",
                self.evict_after, self.suspect_after
            )));
        }
        Ok(())
    }
}

/// A GMS replica that cannot start.
#[derive(Debug, Error)]
pub enum GmsError {
    /// Bad settings.
    #[error("GMS settings: {0}")]
    Config(String),
    /// raft refused to start.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
}
