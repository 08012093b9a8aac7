//! What one seeded run found and measured.

use serde::Serialize;

/// The result of one seeded run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Seed of the run.
    pub seed: u64,
    /// Number of violations found.
    pub violations: u64,
    /// Total-order runs: deliveries that differ from the sequence the first member to reach
    /// that position delivered (each is also a violation).
    pub order_disagreements: u64,
    /// Total-order runs: members that moved from one view to the next at a different
    /// position of the common sequence than others did (each is also a violation).
    pub vsync_violations: u64,
    /// Total-order runs: views closed by a flush (summed over members), datagrams the
    /// flushes dropped (a departed sender's, held by no survivor), and flushes in which the
    /// view's sequencer had departed.
    pub flushes: u64,
    pub flush_dropped: u64,
    pub sequencer_flushes: u64,
    /// The first violations, described.
    pub details: Vec<String>,
    /// Messages delivered to members that stayed in the view.
    pub delivered: u64,
    /// Messages those members had to receive.
    pub expected: u64,
    /// Largest token datagram, bytes.
    pub max_token_bytes: u64,
    /// Datagrams re-multicast by senders.
    pub sender_retransmissions: u64,
    /// Copies forwarded by peers.
    pub peer_repairs: u64,
    /// Datagram copies lost: dropped by the network or by full receive buffers.
    pub lost_datagrams: u64,
    /// Of which dropped because a receive socket buffer was full.
    pub overflow_drops: u64,
    /// Pull requests sent.
    pub pulls: u64,
    /// NAKs sent by partitions.
    pub naks: u64,
    /// NAKs sent by single members after peer repair failed.
    pub naks_escalated: u64,
    /// Token rounds completed.
    pub rounds: u64,
    /// Token rounds regenerated.
    pub rounds_regenerated: u64,
    /// Largest send buffer, bytes.
    pub max_sender_buffer_bytes: u64,
    /// Largest bytes held by a receiver for one stream.
    pub max_receiver_buffer_bytes: u64,
    /// Virtual time when everything was delivered and acknowledged (or the run stopped).
    pub virtual_secs: f64,
    /// Every message delivered, crashed members included (the simulator's work).
    pub deliveries: u64,
    /// Views installed that disagree with another member's view of the same id, or that skip
    /// a view within one incarnation (membership runs only).
    pub view_disagreements: u64,
    /// Highest view id installed (membership runs only).
    pub views: u64,
    /// Members evicted by the GMS failure detector.
    pub evictions: u64,
    /// Views a member installed without a silent member by its own failure detection
    /// (static membership with `--member-timeout-ms`; one per member and region).
    pub presence_evictions: u64,
    /// Members that joined again as a new incarnation (after leaving or eviction).
    pub rejoins: u64,
    /// Joiners whose deliveries were checked from their join point to the end.
    pub joiners_checked: u64,
    /// Groups runs: groups joined at run time whose deliveries were checked from the join
    /// point to the end (one per node and group).
    pub group_joins_checked: u64,
    /// Groups runs: groups a node stopped receiving by leaving them.
    pub group_leaves: u64,
    /// Groups runs: group-set changes the group-churn fault asked for.
    pub group_changes: u64,
    /// Groups runs: messages a node received in a group it is in (checked one by one).
    pub group_deliveries: u64,
    /// Groups runs: messages drawn for a group nobody was in (not published).
    pub unrouted: u64,
    /// Forge runs: datagrams an attacker without the key injected (forged or replayed).
    pub forged_injected: u64,
    /// Forge runs: of which refused by the receivers' guards (the rest were lost on the way,
    /// or were replays that arrived where the genuine copy had been lost).
    pub forged_refused: u64,
    /// Fragmented runs: messages receivers put back together from fragments.
    pub reassembled: u64,
    /// Fragmented runs: fragments whose message's start a receiver never had (a joiner
    /// that joined mid-message, or a sender's stream cut mid-message).
    pub fragments_orphaned: u64,
    /// Fragmented runs: partial messages a receiver dropped to stay within its bounds.
    pub partials_evicted: u64,
    /// Fragmented runs: most partial messages one receiver held at once.
    pub max_partials_held: u64,
    /// Objects runs: updates published (one per sender message).
    pub object_updates_published: u64,
    /// Objects runs: updates applied by proxies, all members and incarnations.
    pub object_updates_applied: u64,
    /// Objects runs: deliveries a proxy skipped because its state included them (a
    /// joiner's overlap with its checkpoint).
    pub object_duplicates: u64,
    /// Objects runs: object joins completed (one per object per joining incarnation).
    pub object_joins: u64,
    /// Objects runs: of which completed while senders were still publishing.
    pub object_joins_during_traffic: u64,
    /// Objects runs: updates buffered by joiners when their join completed.
    pub object_join_backlog: u64,
    /// Objects runs: checkpoints refused because they did not cover the joiner's buffer
    /// (the joiner asked again).
    pub object_join_retries: u64,
    /// Objects runs: checkpoint requests published.
    pub object_join_requests: u64,
    /// Objects runs: requests repeated after no covering answer came in time.
    pub object_join_timeouts: u64,
    /// Objects runs: checkpoints members sent to joiners.
    pub object_checkpoints_sent: u64,
    /// Objects runs: updates a proxy or joiner refused (a gap: the join was inexact).
    pub object_rejected: u64,
    /// Objects runs: members whose final state was compared.
    pub object_members_checked: u64,
    /// Objects runs: members whose final state differs from another's, or still joining.
    pub object_divergent: u64,
    /// Total-order objects runs: counter updates applied by the members compared, and of
    /// which refused (a withdrawal the count did not allow, where the order decided).
    pub object_counter_updates: u64,
    pub object_counter_refused: u64,
    /// Total-order objects runs: counter decisions (applied or refused, and the count
    /// after) compared with the first member's that applied the same update, and of those
    /// that differ (each member's first is a violation).
    pub object_decisions_compared: u64,
    pub object_decision_disagreements: u64,
}
