//! Counters of a replica.

/// Counters of a replica: proposals, views, failure detection, pushes and raft.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GmsStats {
    /// Batches proposed while leader.
    pub proposals: u64,
    /// Views this replica applied.
    pub views: u64,
    /// Times members were suspected.
    pub suspicions: u64,
    /// Evictions this replica proposed.
    pub evictions_proposed: u64,
    /// View pushes sent.
    pub pushes: u64,
    /// Member requests answered with `NotLeader`.
    pub redirects: u64,
    /// Raft messages refused (undecodable or from unknown replicas).
    pub bad_raft_messages: u64,
    /// Log compactions.
    pub compactions: u64,
    /// Registrations refused before consensus: for another node, or with an id, incarnation,
    /// address (IPv6, multicast, unspecified, port 0), shard count or group count out of
    /// bounds ([`super::members::registration_problem`]).
    pub refused_registrations: u64,
}
