//! Counters of a node, summed over its shards.

/// Counters of one node, summed over shards.
#[derive(Clone, Debug, Default)]
pub struct NodeStats {
    /// Protocol counters.
    pub qsm: argent_qsm::Stats,
    /// Receive system calls (or completion batches).
    pub recv_calls: u64,
    /// Send system calls.
    pub send_calls: u64,
    /// Duty cycles run.
    pub cycles: u64,
    /// Members evicted after a silence.
    pub evictions: u64,
    /// Messages to groups that no longer had a region (its last member left): nobody to
    /// deliver them to, dropped and counted.
    pub unrouted: u64,
    /// Datagrams of this node's regions that arrived while no subscription took them, and
    /// were dropped because more than the hold (32 MiB per shard) waited.
    pub unclaimed_dropped: u64,
    /// Bytes in send buffers now.
    pub send_buffered: u64,
    /// Fences asked of this node that found its send buffer full (the requester asks again).
    pub fences_skipped: u64,
    /// Keyed clusters: datagrams opened and refused, by kind.
    pub auth: crate::guard::AuthStats,
    /// This node's own multicast datagrams, looped back by the kernel: dropped on arrival
    /// (before a keyed node pays to open them), as the protocol would drop them.
    pub looped_back: u64,
}

impl NodeStats {
    /// Add another shard's counters to these.
    pub(crate) fn add(&mut self, s: &NodeStats) {
        self.qsm.merge(&s.qsm);
        self.recv_calls += s.recv_calls;
        self.send_calls += s.send_calls;
        self.cycles += s.cycles;
        self.evictions += s.evictions;
        self.unrouted += s.unrouted;
        self.unclaimed_dropped += s.unclaimed_dropped;
        self.send_buffered += s.send_buffered;
        self.fences_skipped += s.fences_skipped;
        self.auth.add(&s.auth);
        self.looped_back += s.looped_back;
    }
}
