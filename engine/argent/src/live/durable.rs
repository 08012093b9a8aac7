//! A durable object's replica on this node's disk: the file I/O of what the session asks
//! to keep ([`Persist`]); the format, the compaction policy and the rebuild are
//! `argent_objects::durable`'s (sans-IO).
//!
//! Layout, under the data directory ([`data_dir`]):
//!
//! ```text
//! objects/<object id>/<proxy origin, 16 hex digits>/
//!     lock    held (flock, exclusive) while the proxy is open; the kernel drops it when
//!             the process dies, so a replica whose lock can be taken is stale
//!     base    the base checkpoint, replaced atomically (base.tmp, fsync, rename, fsync dir)
//!     log     the updates applied since, appended; fdatasync once per batch of inputs
//! ```
//!
//! Opening rebuilds every replica of the object found there (its base, then its log up to
//! the first torn or corrupt record) and keeps the one that includes the most updates: on
//! the total-order driver every replica holds a prefix of one sequence, so that is the
//! longest. Whenever this proxy's base is made durable (at its join, at each compaction),
//! the replicas of proxies gone (their lock free) that hold no more updates than that base
//! are removed. A proxy that closes writes what it applied and frees its lock before its
//! handle's drop returns.

use super::error::LiveError;
use argent_objects::durable::{decode_base, decode_records, encode_base, encode_record, rebuild};
use argent_objects::object::{LiveObject, Position};
use argent_objects::reference::ObjectId;
use argent_objects::session::Persist;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The environment variable naming the data directory ([`data_dir`]).
pub const DATA_DIR_ENV: &str = "ARGENT_DATA_DIR";

/// The data directory durable objects keep their replicas in: `chosen` (from
/// [`OpenOptions::data_dir`](super::OpenOptions::data_dir)), else `$ARGENT_DATA_DIR`, else
/// `$XDG_STATE_HOME/argent`, else `$HOME/.local/state/argent`, else `argent-state` in the
/// working directory. Nodes may share one: each proxy writes its own replica.
pub fn data_dir(chosen: Option<&Path>) -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = chosen.map(Path::to_path_buf).or_else(|| env(DATA_DIR_ENV)) {
        return p;
    }
    if let Some(state) = env("XDG_STATE_HOME") {
        return state.join("argent");
    }
    match env("HOME") {
        Some(home) => home.join(".local/state/argent"),
        None => PathBuf::from("argent-state"),
    }
}

/// Counters of a durable proxy's disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurableStats {
    /// Updates appended to the log.
    pub records: u64,
    /// Bases written (the join's, then one per compaction).
    pub bases: u64,
    /// fdatasync/fsync calls made to make them durable.
    pub syncs: u64,
    /// Bytes written (log and bases).
    pub bytes: u64,
    /// Writes that failed (the state goes on in memory; the disk keeps what it had).
    pub errors: u64,
    /// Updates the state restored at open held (0 when it came from a member or nothing).
    pub restored: u64,
    /// Updates the replica on disk includes, as of the last sync (the position's total):
    /// every change handed out so far is within it; a read may see up to one batch more.
    pub synced: u64,
}

/// This proxy's replica, open.
#[derive(Debug)]
pub(super) struct Store {
    id: ObjectId,
    object_dir: PathBuf,
    dir: PathBuf,
    /// Held for as long as the proxy is open (the flock goes with the file); `None` once
    /// closed.
    _lock: Option<File>,
    /// `None` once closed: nothing is written after.
    log: Option<File>,
    /// The updates a replica of this object holds (its rebuild), or why it is not used.
    total_of: fn(ObjectId, &Path) -> Result<Option<u64>, String>,
    pub(super) stats: DurableStats,
}

/// What the disk held for an object: the state rebuilt from its best replica.
pub(super) struct Stored {
    pub(super) checkpoint: Vec<u8>,
    pub(super) position: Position,
}

fn io_error(id: ObjectId, path: &Path, source: io::Error) -> LiveError {
    LiveError::Durable { id, path: path.to_path_buf(), source }
}

impl Store {
    /// Opens this proxy's replica of `id` (origin `origin`) under `root`, and rebuilds
    /// what the replicas found there hold, as kind `O`.
    pub(super) fn open<O: LiveObject>(
        root: &Path,
        id: ObjectId,
        origin: u64,
    ) -> Result<(Store, Option<Stored>), LiveError> {
        let object_dir = root.join("objects").join(id.to_string());
        let dir = object_dir.join(format!("{origin:016x}"));
        fs::create_dir_all(&dir).map_err(|e| io_error(id, &dir, e))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(|e| io_error(id, &lock_path, e))?;
        lock.try_lock().map_err(|e| io_error(id, &lock_path, io::Error::other(e.to_string())))?;
        let log_path = dir.join("log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io_error(id, &log_path, e))?;
        sync_dir(&object_dir).map_err(|e| io_error(id, &object_dir, e))?;
        let stored = best_replica::<O>(id, &object_dir, &dir);
        let restored = stored.as_ref().map_or(0, |s| s.position.total());
        let stats = DurableStats { restored, ..DurableStats::default() };
        let total_of = |id, dir: &Path| read_replica::<O>(id, dir).map(|s| s.map(|s| s.position.total()));
        Ok((Store { id, object_dir, dir, _lock: Some(lock), log: Some(log), total_of, stats }, stored))
    }

    /// Writes `records` in order and makes them durable before returning: a base replaces
    /// the last (and whatever this batch logged before it) and empties the log; updates are
    /// appended and synced once for the batch. `total`: the updates the state includes
    /// with these records (the position's total).
    pub(super) fn write(&mut self, records: Vec<Persist>, total: u64) {
        if records.is_empty() || self.log.is_none() {
            return;
        }
        match self.write_batch(records) {
            Ok(()) => self.stats.synced = total,
            Err(e) => self.failed(e),
        }
    }

    /// Closes the replica: nothing more is written, and its lock is freed (an open that
    /// follows may restore it, a proxy's next base may remove it).
    pub(super) fn close(&mut self) {
        self.log = None;
        self._lock = None;
    }

    /// A write failed: counted and logged (the state goes on in memory; what the disk
    /// holds stays as it was, or ends at a torn record that reading skips).
    fn failed(&mut self, e: io::Error) {
        self.stats.errors += 1;
        tracing::error!(object = %self.id, dir = %self.dir.display(), error = %e, "a durable object's replica could not be written: its state goes on in memory only");
    }

    fn write_batch(&mut self, records: Vec<Persist>) -> io::Result<()> {
        let mut pending = Vec::new();
        let mut appended = 0u64;
        for r in records {
            match r {
                Persist::Base { position, checkpoint } => {
                    // What this batch logged so far is in the base.
                    pending.clear();
                    appended = 0;
                    self.write_base(&position, &checkpoint)?;
                }
                Persist::Update(u) => {
                    pending.extend(encode_record(&u).map_err(io::Error::other)?);
                    appended += 1;
                }
            }
        }
        if let (false, Some(log)) = (pending.is_empty(), self.log.as_mut()) {
            log.write_all(&pending)?;
            log.sync_data()?;
            self.stats.syncs += 1;
            self.stats.records += appended;
            self.stats.bytes += pending.len() as u64;
        }
        Ok(())
    }

    /// A new base, atomically; then the log it includes is emptied.
    fn write_base(&mut self, position: &[u8], checkpoint: &[u8]) -> io::Result<()> {
        let bytes = encode_base(self.id.0, position, checkpoint).map_err(io::Error::other)?;
        let tmp = self.dir.join("base.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join("base"))?;
        sync_dir(&self.dir)?;
        if let Some(log) = &self.log {
            log.set_len(0)?;
            log.sync_data()?;
        }
        self.stats.syncs += 3;
        self.stats.bases += 1;
        self.stats.bytes += bytes.len() as u64;
        let total = Position::decode(position).map_or(0, |p| p.total());
        self.remove_stale(total);
        Ok(())
    }

    /// Removes the replicas of proxies that are gone (their lock is free) that hold no more
    /// updates than this replica's base, just made durable (`total`): an open would never
    /// prefer them. One that holds more (its proxy applied updates this one has not yet: it
    /// lags) stays, for a later base to pass.
    fn remove_stale(&mut self, total: u64) {
        let Ok(entries) = fs::read_dir(&self.object_dir) else { return };
        let mut removed = false;
        for dir in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir() && *p != self.dir) {
            let Ok(lock) = File::open(dir.join("lock")) else { continue };
            if lock.try_lock().is_err() {
                continue;
            }
            // A replica that does not rebuild (or has no base) holds nothing an open uses.
            let holds = (self.total_of)(self.id, &dir).ok().flatten().unwrap_or(0);
            if holds <= total {
                match fs::remove_dir_all(&dir) {
                    Ok(()) => removed = true,
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "a stale replica was not removed")
                    }
                }
            }
        }
        if removed {
            let _ = sync_dir(&self.object_dir);
        }
    }
}

/// The state the best replica in `object_dir` holds (other than `mine`).
fn best_replica<O: LiveObject>(id: ObjectId, object_dir: &Path, mine: &Path) -> Option<Stored> {
    let mut best: Option<Stored> = None;
    let Ok(entries) = fs::read_dir(object_dir) else { return None };
    for dir in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir() && p != mine) {
        match read_replica::<O>(id, &dir) {
            Ok(Some(s)) if best.as_ref().is_none_or(|b| s.position.total() > b.position.total()) => {
                best = Some(s)
            }
            Ok(_) => {}
            Err(why) => tracing::warn!(object = %id, dir = %dir.display(), "a replica not used: {why}"),
        }
    }
    best
}

/// The state one replica holds: its base and its log's whole records after it; `None`
/// without a base (a proxy that never finished joining).
fn read_replica<O: LiveObject>(id: ObjectId, dir: &Path) -> Result<Option<Stored>, String> {
    // The log first, then the base: a proxy that writes while this reads replaces its base
    // before it empties its log, so the base read is never older than the log's records
    // (a newer one includes them: the rebuild skips them by position). The log is bounded
    // by compaction; a larger one is read up to the bound.
    let log = read_bounded(&dir.join("log"), 1 << 30).unwrap_or_default();
    let base = match read_bounded(&dir.join("base"), argent_objects::durable::MAX_BASE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("base: {e}")),
    };
    let base = decode_base(&base).map_err(|e| e.to_string())?;
    if base.object != id.0 {
        return Err(format!("its base is object {:032x}'s", base.object));
    }
    let records = decode_records(&log);
    let r = rebuild::<O>(&base.checkpoint, &base.position, &records.bodies).map_err(|e| e.to_string())?;
    if let Some(e) = &r.stopped {
        tracing::warn!(object = %id, dir = %dir.display(), error = %e, "a replica's log ends early: its state is what comes before");
    }
    Ok(Some(Stored { checkpoint: r.checkpoint, position: r.position }))
}

/// At most `max` bytes of the file at `path`.
fn read_bounded(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?.take(max as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Makes a directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argent_objects::object::{LogOp, Proxy, ReplicatedLog};

    type Log = ReplicatedLog<u32>;

    /// A base of `n` appends: its position (encoded) and checkpoint.
    fn base(n: u32) -> Persist {
        let mut p = Proxy::<Log>::new(7);
        for i in 0..n {
            let u = p.local(LogOp::Append(i)).unwrap();
            p.deliver(&u).unwrap();
        }
        Persist::Base { position: p.position().encode().unwrap(), checkpoint: p.checkpoint().unwrap() }
    }

    fn replicas(root: &Path, id: ObjectId) -> usize {
        fs::read_dir(root.join("objects").join(id.to_string())).unwrap().count()
    }

    #[test]
    fn a_base_removes_only_closed_replicas_it_includes() {
        let root = tempfile::tempdir().unwrap();
        let id = ObjectId(0xD1);
        // A proxy that applied 10 updates, then closed.
        let (mut ahead, _) = Store::open::<Log>(root.path(), id, 1).unwrap();
        ahead.write(vec![base(10)], 10);
        ahead.close();
        // An open one that held 3: its base does not remove the replica holding more.
        let (mut behind, stored) = Store::open::<Log>(root.path(), id, 2).unwrap();
        assert_eq!(stored.map(|s| s.position.total()), Some(10), "the best replica is found");
        let (mut open, _) = Store::open::<Log>(root.path(), id, 3).unwrap();
        behind.write(vec![base(3)], 3);
        assert_eq!(replicas(root.path(), id), 3, "nothing it includes is closed");
        // Once its base passes it, the closed replica goes; the open one stays (locked).
        behind.write(vec![base(12)], 12);
        assert_eq!(replicas(root.path(), id), 2);
        assert!(!root.path().join("objects").join(id.to_string()).join(format!("{:016x}", 1)).exists());
        // Writes after a close change nothing on disk.
        open.close();
        open.write(vec![base(1)], 1);
        let again = Store::open::<Log>(root.path(), id, 4).unwrap().1.unwrap();
        assert_eq!(again.position.total(), 12, "the closed open replica has no base");
    }
}
