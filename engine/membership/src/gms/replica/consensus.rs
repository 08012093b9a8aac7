//! Driving raft: batches of requests proposed, raft's output (messages, log entries, hard
//! state, snapshots) handled, committed entries applied, the log compacted, and leadership
//! changes noticed.

use super::liveness::Liveness;
use super::server::{Gms, Peer};
use super::storage::Persist;
use crate::gms::msg::{decode_batch, encode_batch, GmsMsg};
use crate::gms::state::{Command, GmsState};
use argent_core::{Instant, ViewId};
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, Message as RaftMessage, Snapshot};
use raft::{StateRole, Storage};

/// Requests proposed at once without waiting for the next tick.
const PROPOSE_NOW: usize = 64;

impl Gms {
    /// Proposes what is due between ticks and handles raft's output.
    pub(super) fn flush(&mut self, now: Instant) {
        self.flush_inner(now, false);
    }

    /// Requests arriving between ticks are batched into one log entry (one view), proposed
    /// at the tick or once `PROPOSE_NOW` are waiting.
    pub(super) fn flush_inner(&mut self, now: Instant, tick: bool) {
        let due = tick || self.pending.len() >= PROPOSE_NOW;
        if self.leader && due && !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            if self.raw.propose(vec![], encode_batch(&batch)).is_ok() {
                self.stats.proposals += 1;
            }
        } else if !self.leader {
            self.pending.clear();
        }
        self.process_ready();
        let leader = self.raw.raft.state == StateRole::Leader;
        if leader && !self.leader {
            // New leader: every member gets a fresh grace period; views are pushed once each
            // member says which one it has.
            self.live = self
                .state
                .view()
                .members
                .iter()
                .map(|m| (m.node, Liveness::new(m.incarnation, now, None)))
                .collect();
            self.in_flight.clear();
        } else if !leader && self.leader {
            self.live.clear();
            self.in_flight.clear();
        }
        self.leader = leader;
    }

    fn send_raft(&mut self, msgs: Vec<RaftMessage>) {
        for m in msgs {
            let to = m.to;
            if m.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot {
                // Sent over lossy UDP: tell raft it is done, so the follower goes back to
                // probing and a lost snapshot is offered again instead of pausing it forever.
                self.raw.report_snapshot(to, raft::SnapshotStatus::Finish);
            }
            match m.write_to_bytes() {
                Ok(bytes) => self.out.push_back((Peer::Replica(to), GmsMsg::Raft(bytes))),
                Err(_) => self.stats.bad_raft_messages += 1,
            }
        }
    }

    /// Handles raft's output: sends its messages, keeps its entries, hard state and
    /// snapshots (queueing them for stable storage), applies what committed.
    pub(super) fn process_ready(&mut self) {
        if !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        self.send_raft(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            if let Ok(state) = GmsState::from_bytes(snap.get_data()) {
                self.state = state;
                self.applied = snap.get_metadata().index;
                self.snapshot_index = self.applied;
                *self.raw.store().snap.write().expect("snapshot lock") = snap.clone();
                if self.cfg.persist {
                    let bytes = snap.write_to_bytes().unwrap_or_default();
                    self.persist.push_back(Persist::Snapshot { index: self.applied, bytes });
                }
                let _ = self.raw.store().mem.wl().apply_snapshot(snap);
            }
        }
        self.apply_entries(ready.take_committed_entries());
        if !ready.entries().is_empty() {
            let _ = self.raw.store().mem.wl().append(ready.entries());
            if self.cfg.persist {
                let entries =
                    ready.entries().iter().map(|e| e.write_to_bytes().unwrap_or_default()).collect();
                self.persist.push_back(Persist::Append { first_index: ready.entries()[0].index, entries });
            }
        }
        if let Some(hs) = ready.hs() {
            self.raw.store().mem.wl().set_hardstate(hs.clone());
            if self.cfg.persist {
                self.persist.push_back(Persist::HardState(hs.write_to_bytes().unwrap_or_default()));
            }
        }
        self.send_raft(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.store().mem.wl().mut_hard_state().set_commit(commit);
            if self.cfg.persist {
                let hs = self.raw.store().mem.rl().hard_state().clone();
                self.persist.push_back(Persist::HardState(hs.write_to_bytes().unwrap_or_default()));
            }
        }
        self.send_raft(light.take_messages());
        self.apply_entries(light.take_committed_entries());
        self.raw.advance_apply();
        self.maybe_compact();
    }

    fn apply_entries(&mut self, entries: Vec<Entry>) {
        for e in entries {
            self.applied = e.index;
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            let Ok(batch) = decode_batch(&e.data) else { continue };
            let before = self.state.view().id;
            self.state.apply(&batch);
            if self.state.view().id != before {
                self.stats.views += 1;
            }
            for c in &batch {
                self.in_flight.remove(&c.key());
                if !self.leader {
                    continue;
                }
                match c {
                    Command::Register { member, .. }
                        if self.state.incarnation(member.node) == Some(member.incarnation) =>
                    {
                        // Newly admitted: its first push is the current view.
                        let l = Liveness::new(member.incarnation, self.now, Some(ViewId(0)));
                        self.live.insert(member.node, l);
                    }
                    Command::Remove { node, incarnation, .. }
                        if self.live.get(node).is_some_and(|l| l.incarnation == *incarnation) =>
                    {
                        self.live.remove(node);
                        // Tell it, in case it is alive but was cut off.
                        self.unknown(*node, *incarnation);
                    }
                    _ => {}
                }
            }
        }
        if self.leader {
            let now = self.now;
            self.push_views(now);
        }
    }

    fn maybe_compact(&mut self) {
        if self.applied < self.snapshot_index + self.cfg.compact_every {
            return;
        }
        let store = self.raw.store();
        let Ok(term) = store.term(self.applied) else { return };
        let mut snap = Snapshot::default();
        snap.set_data(self.state.to_bytes().into());
        let meta = snap.mut_metadata();
        meta.index = self.applied;
        meta.term = term;
        meta.set_conf_state(ConfState::from((self.cfg.replicas.clone(), vec![])));
        if self.cfg.persist {
            let bytes = snap.write_to_bytes().unwrap_or_default();
            self.persist.push_back(Persist::Snapshot { index: self.applied, bytes });
        }
        *store.snap.write().expect("snapshot lock") = snap;
        let _ = store.mem.wl().compact(self.applied);
        self.snapshot_index = self.applied;
        self.stats.compactions += 1;
    }
}
