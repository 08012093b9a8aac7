//! What a replica keeps: the raft log and snapshot it serves, and what it writes to stable
//! storage so that it can come back after a restart.

use super::config::{GmsConfig, GmsError};
use crate::gms::state::GmsState;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage};
use std::sync::{Arc, RwLock};

/// What a replica must write to stable storage, in order, before it sends any message it
/// queued since (raft's rule: votes and appends are durable before they are acknowledged).
/// Payloads are raft-rs protobuf encodings, opaque to the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Persist {
    /// The hard state (term, vote, commit).
    HardState(Vec<u8>),
    /// Log entries from `first_index` on; entries on disk at or after it are replaced.
    Append {
        /// Index of the first entry.
        first_index: u64,
        /// Entries, in order.
        entries: Vec<Vec<u8>>,
    },
    /// A snapshot of the state machine: the log up to `index` is no longer needed.
    Snapshot {
        /// Last log index it covers.
        index: u64,
        /// The snapshot.
        bytes: Vec<u8>,
    },
}

/// What a replica wrote to stable storage before it stopped (see
/// [`Gms::restore`](super::Gms::restore)).
#[derive(Clone, Debug, Default)]
pub struct Restored {
    /// The latest snapshot written.
    pub snapshot: Option<Vec<u8>>,
    /// The latest hard state written.
    pub hard_state: Option<Vec<u8>>,
    /// Log entries after the snapshot, in order.
    pub entries: Vec<Vec<u8>>,
}

/// raft storage: the in-memory log of raft-rs plus a snapshot that carries our state, so a
/// compacted log can still bring a lagging replica up to date.
pub(super) struct GmsStorage {
    pub(super) mem: MemStorage,
    pub(super) snap: Arc<RwLock<Snapshot>>,
}

impl Storage for GmsStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }
    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }
    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }
    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }
    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let snap = self.snap.read().expect("snapshot lock");
        if snap.get_metadata().index >= request_index && !snap.get_data().is_empty() {
            Ok(snap.clone())
        } else {
            Err(raft::Error::Store(raft::StorageError::SnapshotTemporarilyUnavailable))
        }
    }
}

/// What a replica restarts from: its raft storage, its state machine, and the log index that
/// state includes.
pub(super) struct Recovered {
    pub(super) storage: GmsStorage,
    pub(super) state: GmsState,
    pub(super) applied: u64,
}

/// Rebuilds a replica's storage and state from what it wrote before it stopped (nothing for
/// a fresh replica). Committed entries after the snapshot are left to be applied again.
pub(super) fn recover(cfg: &GmsConfig, restored: &Restored) -> Result<Recovered, GmsError> {
    let corrupt = |what: &str, e: protobuf::ProtobufError| GmsError::Config(format!("stored {what}: {e}"));
    let mem = MemStorage::new_with_conf_state(ConfState::from((cfg.replicas.clone(), vec![])));
    let mut snap = Snapshot::default();
    let mut state = GmsState::new(cfg.pool, cfg.overflow);
    let mut applied = 0;
    if let Some(bytes) = &restored.snapshot {
        snap = Snapshot::parse_from_bytes(bytes).map_err(|e| corrupt("snapshot", e))?;
        state = GmsState::from_bytes(snap.get_data())
            .map_err(|e| GmsError::Config(format!("stored snapshot state: {e}")))?;
        mem.wl().apply_snapshot(snap.clone())?;
        applied = snap.get_metadata().index;
    }
    let entries = restored
        .entries
        .iter()
        .map(|b| Entry::parse_from_bytes(b).map_err(|e| corrupt("log entry", e)))
        .collect::<Result<Vec<Entry>, _>>()?;
    let after: Vec<Entry> = entries.into_iter().filter(|e| e.index > applied).collect();
    if !after.is_empty() {
        mem.wl().append(&after)?;
    }
    if let Some(bytes) = &restored.hard_state {
        let hs = HardState::parse_from_bytes(bytes).map_err(|e| corrupt("hard state", e))?;
        mem.wl().set_hardstate(hs);
    }
    let storage = GmsStorage { mem, snap: Arc::new(RwLock::new(snap)) };
    Ok(Recovered { storage, state, applied })
}
