//! Snapshot files: a raft [`SnapshotMeta`] and the application's opaque image, checksummed,
//! written atomically, found again on open.
//!
//! # Format
//!
//! One file per snapshot, named `<term>-<index>.snap` (16 hex digits each). Little endian:
//!
//! ```text
//! magic "INVARSNP" | version u32 | index u64 | term u64
//! | voter count u32 | voter ids u64... | learner count u32 | learner ids u64...
//! | data length u64 | header crc32c u32 (of every byte before it)
//! | data | data crc32c u32
//! ```
//!
//! The file's length must be exactly the header, the data and the final checksum.
//!
//! # Writing
//!
//! [`SnapshotStore::save`] writes `<name>.tmp`, syncs it, renames it to `<name>`, and syncs the
//! directory: after it returns, the snapshot survives a crash; before, a crash leaves at most a
//! `.tmp` file, which loading ignores and [`SnapshotStore::prune`] removes.
//!
//! # Loading
//!
//! [`SnapshotStore::load_newest`] tries the snapshots newest first (by index, then term). A
//! corrupt one is **skipped and reported** in [`Loaded::skipped`], and the next older valid one
//! is returned: the caller decides whether that is acceptable (it is not if the WAL's snapshot
//! marker is newer than the snapshot loaded, since the entries between may be released).
//! [`SnapshotStore::load_for`] loads exactly the snapshot a WAL marker names, and fails with
//! [`SnapError::Corrupted`] or [`SnapError::Missing`] otherwise: that is what a restarting
//! member wants.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use invar_raft::{ConfState, Index, NodeId, Snapshot, SnapshotMeta, Term};

use crate::fs::{File, FileSystem, FsError, OpenMode};
use crate::wal::SnapshotMarker;

const MAGIC: [u8; 8] = *b"INVARSNP";
const VERSION: u32 = 1;

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    /// The file system failed; the store is now poisoned.
    #[error("snapshot: {0}")]
    Fs(#[from] FsError),
    /// A snapshot file is damaged.
    #[error("snapshot: {file}: corrupted at offset {offset}: expected {expected}")]
    Corrupted {
        /// The snapshot file.
        file: PathBuf,
        /// Where the bad bytes start.
        offset: u64,
        /// What the reader expected to find there.
        expected: String,
    },
    /// No snapshot file for the requested marker.
    #[error("snapshot: {dir}: no snapshot at index {index} term {term}")]
    Missing {
        /// The directory searched.
        dir: PathBuf,
        /// The index asked for.
        index: Index,
        /// The term asked for.
        term: Term,
    },
    /// An earlier I/O error left the store in an unknown state: reopen it.
    #[error("snapshot: an earlier I/O error poisoned the store; reopen it")]
    Poisoned,
}

/// Why bytes are not a snapshot file: where and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Where the bad bytes start.
    pub offset: u64,
    /// What the decoder expected there.
    pub expected: String,
}

/// A snapshot found by [`SnapshotStore::load_newest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Its file.
    pub path: PathBuf,
    /// Newer snapshot files that were corrupt, as [`SnapError::Corrupted`] descriptions.
    pub skipped: Vec<String>,
}

/// The file name of the snapshot at (`index`, `term`).
pub fn snapshot_name(index: Index, term: Term) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

/// Parses `<term>-<index>.snap` into (index, term); `None` for any other name.
pub fn parse_snapshot_name(name: &str) -> Option<(Index, Term)> {
    let stem = name.strip_suffix(".snap")?;
    let (term, index) = stem.split_once('-')?;
    if term.len() != 16 || index.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(index, 16).ok()?,
        u64::from_str_radix(term, 16).ok()?,
    ))
}

/// Encodes a snapshot file's bytes.
pub fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let meta = &snapshot.meta;
    let mut out = Vec::with_capacity(64 + snapshot.data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&meta.index.to_le_bytes());
    out.extend_from_slice(&meta.term.to_le_bytes());
    for set in [&meta.conf_state.voters, &meta.conf_state.learners] {
        let count = u32::try_from(set.len()).unwrap_or(u32::MAX);
        assert_eq!(count as usize, set.len(), "over 4 billion members");
        out.extend_from_slice(&count.to_le_bytes());
        for id in set {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    let header_crc = crc32c::crc32c(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&snapshot.data);
    out.extend_from_slice(&crc32c::crc32c(&snapshot.data).to_le_bytes());
    out
}

/// A cursor that reports the offset of what it failed to read.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn fail(&self, expected: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.offset as u64,
            expected: expected.into(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let end = self.offset.checked_add(n);
        let Some(slice) = end.and_then(|end| self.bytes.get(self.offset..end)) else {
            return Err(self.fail(format!("{what} ({n} bytes) before the end of the file")));
        };
        self.offset += n;
        Ok(slice)
    }

    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let mut array = [0u8; 8];
        array.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(array))
    }

    fn ids(&mut self, what: &str) -> Result<BTreeSet<NodeId>, DecodeError> {
        let count = self.u32(what)? as usize;
        if count > (self.bytes.len() - self.offset) / 8 {
            return Err(self.fail(format!("a {what} that fits the file")));
        }
        (0..count).map(|_| self.u64(what)).collect()
    }
}

/// Decodes a snapshot file's header: the meta, the data length and where the data starts.
/// Never panics, whatever the bytes.
pub fn decode_header(bytes: &[u8]) -> Result<(SnapshotMeta, u64, usize), DecodeError> {
    let mut c = Cursor { bytes, offset: 0 };
    if c.take(8, "magic")? != MAGIC {
        return Err(DecodeError {
            offset: 0,
            expected: "magic \"INVARSNP\"".into(),
        });
    }
    let version_at = c.offset;
    if c.u32("version")? != VERSION {
        return Err(DecodeError {
            offset: version_at as u64,
            expected: format!("format version {VERSION}"),
        });
    }
    let index = c.u64("index")?;
    let term = c.u64("term")?;
    let voters = c.ids("voter count")?;
    let learners = c.ids("learner count")?;
    let data_len = c.u64("data length")?;
    let crc_at = c.offset;
    let stored = c.u32("header crc32c")?;
    let computed = crc32c::crc32c(&bytes[..crc_at]);
    if stored != computed {
        return Err(DecodeError {
            offset: crc_at as u64,
            expected: format!("header crc32c {computed:#010x}, stored {stored:#010x}"),
        });
    }
    if !voters.is_disjoint(&learners) {
        return Err(c.fail("voters and learners disjoint"));
    }
    let meta = SnapshotMeta {
        index,
        term,
        conf_state: ConfState { voters, learners },
    };
    Ok((meta, data_len, c.offset))
}

/// Decodes a whole snapshot file. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
    let (meta, data_len, data_at) = decode_header(bytes)?;
    let mut c = Cursor {
        bytes,
        offset: data_at,
    };
    let data_len = usize::try_from(data_len).map_err(|_| c.fail("a data length that fits"))?;
    let data = c.take(data_len, "data")?;
    let crc_at = c.offset;
    let stored = c.u32("data crc32c")?;
    let computed = crc32c::crc32c(data);
    if stored != computed {
        return Err(DecodeError {
            offset: crc_at as u64,
            expected: format!("data crc32c {computed:#010x}, stored {stored:#010x}"),
        });
    }
    if c.offset != bytes.len() {
        return Err(c.fail("the end of the file after the data checksum"));
    }
    Ok(Snapshot {
        meta,
        data: data.to_vec(),
    })
}

/// The snapshot files of one member, in one directory.
///
/// Call protocol: [`SnapshotStore::open`]; on restart [`SnapshotStore::load_for`] the WAL's
/// marker; to snapshot, [`SnapshotStore::save`], then write the WAL marker and sync the WAL, then
/// release WAL segments and [`SnapshotStore::prune`].
#[derive(Debug)]
pub struct SnapshotStore<F: FileSystem> {
    fs: F,
    dir: PathBuf,
    poisoned: bool,
}

impl<F: FileSystem> SnapshotStore<F> {
    /// The store in `dir`, creating the directory if needed.
    pub fn open(fs: F, dir: &Path) -> Result<SnapshotStore<F>, SnapError> {
        fs.create_dir_all(dir)?;
        Ok(SnapshotStore {
            fs,
            dir: dir.to_path_buf(),
            poisoned: false,
        })
    }

    /// The snapshots present, as (index, term), oldest first.
    pub fn list(&self) -> Result<Vec<(Index, Term)>, SnapError> {
        let mut found: Vec<(Index, Term)> = self
            .fs
            .list(&self.dir)?
            .iter()
            .filter_map(|name| parse_snapshot_name(name))
            .collect();
        found.sort_unstable();
        Ok(found)
    }

    /// Writes `snapshot` atomically and durably; returns its path.
    pub fn save(&mut self, snapshot: &Snapshot) -> Result<PathBuf, SnapError> {
        if self.poisoned {
            return Err(SnapError::Poisoned);
        }
        let result = self.write_atomically(snapshot);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn write_atomically(&self, snapshot: &Snapshot) -> Result<PathBuf, SnapError> {
        let name = snapshot_name(snapshot.meta.index, snapshot.meta.term);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        match self.fs.remove(&tmp) {
            Err(error) if !error.is_not_found() => return Err(error.into()),
            _ => {}
        }
        let file = self.fs.open(&tmp, OpenMode::CreateNew)?;
        file.write_at(0, &encode(snapshot))?;
        file.sync()?;
        self.fs.rename(&tmp, &path)?;
        self.fs.sync_dir(&self.dir)?;
        Ok(path)
    }

    /// Loads and checks the snapshot file at `path`.
    pub fn load_path(&self, path: &Path) -> Result<Snapshot, SnapError> {
        let bytes = self.fs.open(path, OpenMode::Existing)?.read_all()?;
        let snapshot = decode(&bytes).map_err(|e| SnapError::Corrupted {
            file: path.to_path_buf(),
            offset: e.offset,
            expected: e.expected,
        })?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if parse_snapshot_name(name) != Some((snapshot.meta.index, snapshot.meta.term)) {
            return Err(SnapError::Corrupted {
                file: path.to_path_buf(),
                offset: 0,
                expected: format!(
                    "index {} and term {} as in the file name",
                    snapshot.meta.index, snapshot.meta.term
                ),
            });
        }
        Ok(snapshot)
    }

    /// The snapshot a WAL marker names, checked.
    pub fn load_for(&self, marker: SnapshotMarker) -> Result<Snapshot, SnapError> {
        if !self.list()?.contains(&(marker.index, marker.term)) {
            return Err(SnapError::Missing {
                dir: self.dir.clone(),
                index: marker.index,
                term: marker.term,
            });
        }
        self.load_path(&self.dir.join(snapshot_name(marker.index, marker.term)))
    }

    /// The newest valid snapshot, skipping (and reporting) corrupt newer ones; `None` if there
    /// is no valid snapshot. I/O errors are returned, not skipped.
    pub fn load_newest(&self) -> Result<Option<Loaded>, SnapError> {
        let mut skipped = Vec::new();
        for (index, term) in self.list()?.into_iter().rev() {
            let path = self.dir.join(snapshot_name(index, term));
            match self.load_path(&path) {
                Ok(snapshot) => {
                    return Ok(Some(Loaded {
                        snapshot,
                        path,
                        skipped,
                    }));
                }
                Err(error @ SnapError::Corrupted { .. }) => skipped.push(error.to_string()),
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Removes all but the newest `keep` snapshots (by name) and any leftover `.tmp` file;
    /// returns how many files were removed. Keep at least 2 so that a corrupt newest one has a
    /// fallback.
    pub fn prune(&mut self, keep: usize) -> Result<usize, SnapError> {
        if self.poisoned {
            return Err(SnapError::Poisoned);
        }
        let result = self.remove_old(keep);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn remove_old(&self, keep: usize) -> Result<usize, SnapError> {
        let snapshots = self.list()?;
        let mut doomed: Vec<PathBuf> = snapshots
            .iter()
            .take(snapshots.len().saturating_sub(keep))
            .map(|&(index, term)| self.dir.join(snapshot_name(index, term)))
            .collect();
        for name in self.fs.list(&self.dir)? {
            if name.ends_with(".snap.tmp") {
                doomed.push(self.dir.join(name));
            }
        }
        for path in &doomed {
            self.fs.remove(path)?;
        }
        if !doomed.is_empty() {
            self.fs.sync_dir(&self.dir)?;
        }
        Ok(doomed.len())
    }
}

#[cfg(test)]
#[path = "snapfile_tests.rs"]
mod tests;
