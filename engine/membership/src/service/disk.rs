//! A replica's stable storage in a directory: `snapshot` and `hardstate` (replaced
//! atomically: write, fsync, rename) and `log` (frames `index u64 | len u32 | entry`, appended
//! and fsynced; rewritten when raft replaces a suffix or a snapshot covers a prefix). A torn
//! last frame (a crash mid-write) is dropped when the directory is read back.

use crate::gms::{Persist, Restored};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Most bytes one log entry may take (entries are batches of membership commands).
const MAX_ENTRY: usize = 64 << 20;

/// A replica's files.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    log: File,
    /// (index, encoded entry) of every entry in the log file, in order.
    entries: Vec<(u64, Vec<u8>)>,
}

impl Disk {
    /// Open (creating) `dir` and read back what an earlier run wrote.
    pub fn open(dir: &Path) -> io::Result<(Disk, Restored)> {
        fs::create_dir_all(dir)?;
        let read = |name: &str| -> io::Result<Option<Vec<u8>>> {
            match fs::read(dir.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let snapshot = read("snapshot")?;
        let hard_state = read("hardstate")?;
        let entries = read_log(&dir.join("log"))?;
        let restored =
            Restored { snapshot, hard_state, entries: entries.iter().map(|(_, e)| e.clone()).collect() };
        let mut disk = Disk { dir: dir.to_path_buf(), log: File::open(dir)?, entries };
        disk.rewrite_log()?; // drops a torn tail; opens the log for appending
        Ok((disk, restored))
    }

    /// Make one write durable.
    pub fn write(&mut self, op: Persist) -> io::Result<()> {
        match op {
            Persist::HardState(b) => self.replace("hardstate", &b),
            Persist::Snapshot { index, bytes } => {
                self.replace("snapshot", &bytes)?;
                self.entries.retain(|(i, _)| *i > index);
                self.rewrite_log()
            }
            Persist::Append { first_index, entries } => {
                let overwrites = self.entries.last().is_some_and(|(i, _)| *i >= first_index);
                let new = entries.into_iter().enumerate().map(|(k, e)| (first_index + k as u64, e));
                if overwrites {
                    self.entries.retain(|(i, _)| *i < first_index);
                    self.entries.extend(new);
                    return self.rewrite_log();
                }
                let mut buf = Vec::new();
                for (i, e) in new {
                    frame(&mut buf, i, &e);
                    self.entries.push((i, e));
                }
                self.log.write_all(&buf)?;
                self.log.sync_data()
            }
        }
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(name))?;
        File::open(&self.dir)?.sync_all()
    }

    fn rewrite_log(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        for (i, e) in &self.entries {
            frame(&mut buf, *i, e);
        }
        self.replace("log", &buf)?;
        self.log = OpenOptions::new().append(true).open(self.dir.join("log"))?;
        Ok(())
    }
}

fn frame(buf: &mut Vec<u8>, index: u64, entry: &[u8]) {
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    buf.extend_from_slice(entry);
}

fn read_log(path: &Path) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let index = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        if len > MAX_ENTRY || at + 12 + len > bytes.len() {
            break; // torn or corrupt tail: what follows was never acknowledged
        }
        out.push((index, bytes[at + 12..at + 12 + len].to_vec()));
        at += 12 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_overwrites_snapshots_and_torn_tails() {
        // A directory that does not exist yet, inside one removed on drop (even on a failure).
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("ops");
        let (mut disk, r) = Disk::open(&d).unwrap();
        assert!(r.snapshot.is_none() && r.hard_state.is_none() && r.entries.is_empty());
        disk.write(Persist::Append { first_index: 1, entries: vec![b"a".to_vec(), b"b".to_vec()] }).unwrap();
        disk.write(Persist::Append { first_index: 3, entries: vec![b"c".to_vec()] }).unwrap();
        disk.write(Persist::Append { first_index: 2, entries: vec![b"B".to_vec()] }).unwrap(); // replaces 2, 3
        disk.write(Persist::HardState(b"hs".to_vec())).unwrap();
        drop(disk);
        let (mut disk, r) = Disk::open(&d).unwrap();
        assert_eq!(r.entries, vec![b"a".to_vec(), b"B".to_vec()]);
        assert_eq!(r.hard_state.as_deref(), Some(&b"hs"[..]));
        disk.write(Persist::Snapshot { index: 1, bytes: b"snap".to_vec() }).unwrap();
        drop(disk);
        // A crash mid-append leaves half a frame.
        let mut f = OpenOptions::new().append(true).open(d.join("log")).unwrap();
        f.write_all(&[9, 0, 0, 0, 0, 0, 0, 0, 100, 0]).unwrap();
        drop(f);
        let (_, r) = Disk::open(&d).unwrap();
        assert_eq!(r.snapshot.as_deref(), Some(&b"snap"[..]));
        assert_eq!(r.entries, vec![b"B".to_vec()]);
    }
}
