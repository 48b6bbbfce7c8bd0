//! The write-ahead log: what raft must find again after a crash (hard state, entries, the
//! latest snapshot marker), in checksummed records over segmented files.
//!
//! # Layout
//!
//! A directory of segments named `<sequence>-<first index>.wal` (both 16 hex digits). Each
//! segment opens with a `SegmentHeader` record, then (from the second segment on) the current
//! hard state and snapshot marker, so that any suffix of segments is self-contained. Records are
//! framed with a length, a type and a CRC32C (see `record.rs`).
//!
//! # Semantics
//!
//! - **Group commit.** [`Wal::save`] and [`Wal::save_snapshot_marker`] write records at once (one
//!   write per call), but nothing is durable until [`Wal::sync`] returns `Ok`; one sync covers
//!   every earlier call.
//! - **Conflicting suffixes are replaced logically.** Saving entries that start at index `i ≤`
//!   the last index replaces the old entries `≥ i`: the new record is appended, and on replay the
//!   later record wins. Old bytes are never rewritten (no physical truncation), so a crash can
//!   never leave a half-truncated log.
//! - **Snapshot markers.** A marker `(index, term)` says a snapshot covering the log up to
//!   `index` is durable elsewhere. If the log holds `index` with `term`, the entries after it
//!   stay (compaction); otherwise the whole log is dropped (a snapshot installed from a leader).
//!   The writer decides which, and records the decision in the marker, so that replay never
//!   has to guess (after a release the reader may not see the entry at `index` any more).
//!   Save the snapshot file first, then the marker, then sync, then [`Wal::release`].
//! - **Release.** [`Wal::release`] removes the segments all of whose entries are covered by the
//!   latest synced snapshot marker.
//! - **Rotation.** When the current segment reaches [`WalConfig::segment_bytes_max`], it is
//!   synced, and only then is the next segment created, written, synced and its directory
//!   synced. So every segment but the last is complete and durable: damage there is corruption.
//!
//! # Opening and repair
//!
//! [`Wal::open`] reads every segment in order. A bad record in the last segment is a *torn
//! tail*, repaired by cutting the segment before it, only when it is provably a partial write:
//! the segment ends inside the record (its length is covered by the header checksum, so a
//! damaged length cannot pass for this), or the checksum failed and one of the record's
//! 512-byte-sector pieces is all zeros (a sector that never reached the disk). Records after a
//! torn one are dropped with it: the disk may keep later sectors of the same unsynced write while
//! losing earlier ones, so "valid bytes after the tear" is no sign of damage. Any other bad
//! record, in any segment, stops the open with [`WalError::Corrupted`] naming the file, the
//! offset and what was expected.
//!
//! Known limit (etcd's WAL has it too, more widely): damage to a *synced* record of the last
//! segment is taken for a tear if one of the record's sector pieces happens to be all zeros on
//! disk. Records are whitened (XORed with a fixed keystream) so that zeros in entry data do not
//! make such pieces; a valid piece of `k` bytes is all zeros with a chance of 2^-8k, so only
//! tiny pieces at a record's edges are a real exposure.
//! After a successful open the last segment is synced, so what was read stays read.
//!
//! # Errors
//!
//! The first I/O error poisons the WAL: every later call returns [`WalError::Poisoned`] (redb's
//! `PreviousIo`). Reopen it to continue; the open will sort out what reached the disk.

use std::path::{Path, PathBuf};

use invar_raft::{Entry, HardState, Index, Term};

use crate::fs::{File, FileSystem, FsError, OpenMode};

mod open;
mod record;

pub use open::{Recovered, TornTail};
use record::{Record, entry_encoded_bytes};

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;

/// Limits of a WAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// A segment at or past this size is closed, and the next write goes to a new one.
    pub segment_bytes_max: u64,
    /// The largest payload of one record; also the largest entry (plus 25 bytes) that can be
    /// saved. At most `u32::MAX`.
    pub record_bytes_max: u64,
    /// The sector size the torn-tail check assumes.
    pub sector_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 16 << 20,
            sector_bytes: 512,
        }
    }
}

impl WalConfig {
    /// Checks that the limits fit together.
    pub fn validate(&self) -> Result<(), WalError> {
        if self.record_bytes_max > u64::from(u32::MAX) || self.record_bytes_max < 64 {
            return Err(WalError::InvalidConfig(
                "record_bytes_max must be in 64..=u32::MAX",
            ));
        }
        if self.segment_bytes_max < 4096 {
            return Err(WalError::InvalidConfig(
                "segment_bytes_max must be at least 4096",
            ));
        }
        if self.sector_bytes == 0 || self.sector_bytes > 1 << 20 {
            return Err(WalError::InvalidConfig("sector_bytes must be in 1..=1 MiB"));
        }
        Ok(())
    }
}

/// Why a WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// The file system failed; the WAL is now poisoned.
    #[error("wal: {0}")]
    Fs(#[from] FsError),
    /// A record or a segment is damaged (and not a repairable torn tail).
    #[error("wal: {file}: corrupted at offset {offset}: expected {expected}")]
    Corrupted {
        /// The segment file.
        file: PathBuf,
        /// Where in it the bad bytes start.
        offset: u64,
        /// What the reader expected to find there.
        expected: String,
    },
    /// An earlier I/O error left the WAL in an unknown state: reopen it.
    #[error("wal: an earlier I/O error poisoned the log; reopen it")]
    Poisoned,
    /// [`Wal::open`] found no segment in the directory.
    #[error("wal: {dir}: no segments")]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
    },
    /// [`Wal::create`] found segments already there.
    #[error("wal: {dir}: a log already exists")]
    AlreadyExists {
        /// The directory.
        dir: PathBuf,
    },
    /// An entry does not fit in one record.
    #[error("wal: entry {index} needs {bytes} bytes, over the record limit of {max}")]
    EntryTooLarge {
        /// The entry's index.
        index: Index,
        /// Its encoded size.
        bytes: u64,
        /// [`WalConfig::record_bytes_max`].
        max: u64,
    },
    /// The configuration is inconsistent.
    #[error("wal: invalid config: {0}")]
    InvalidConfig(&'static str),
}

/// "A snapshot covering the log up to `index` (whose entry has `term`) is durable."
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMarker {
    /// The last index the snapshot covers.
    pub index: Index,
    /// The term of the entry at `index`.
    pub term: Term,
}

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) sequence: u64,
    /// The index the first entry written into this segment had (or would have).
    pub(crate) first_index: Index,
    pub(crate) path: PathBuf,
}

pub(crate) fn segment_name(sequence: u64, first_index: Index) -> String {
    format!("{sequence:016x}-{first_index:016x}.wal")
}

/// Parses `<sequence>-<first index>.wal`; `None` for any other name.
pub(crate) fn parse_segment_name(name: &str) -> Option<(u64, Index)> {
    let stem = name.strip_suffix(".wal")?;
    let (sequence, first_index) = stem.split_once('-')?;
    if sequence.len() != 16 || first_index.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(sequence, 16).ok()?,
        u64::from_str_radix(first_index, 16).ok()?,
    ))
}

/// The shape of the log the writer has produced, without the entries' data: enough to apply
/// the same replacement and marker rules the reader applies.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogShape {
    /// The latest snapshot marker ((0, 0) if none).
    pub(crate) base: SnapshotMarker,
    /// Runs of equal terms: (first index of the run, term), ascending.
    /// Invariant: every run starts after `base.index` and at or before `last_index`.
    pub(crate) runs: Vec<(Index, Term)>,
    /// The last index in the log (`base.index` when no entry follows the marker).
    pub(crate) last_index: Index,
}

impl LogShape {
    fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        if index < self.base.index || index > self.last_index {
            return None;
        }
        self.runs.iter().rev().find(|r| r.0 <= index).map(|r| r.1)
    }

    /// Records entries saved after the log's first `entries[0].index - 1` entries.
    pub(crate) fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        assert!(
            first.index > self.base.index,
            "entries at or below the snapshot"
        );
        assert!(
            first.index <= self.last_index + 1,
            "a gap before the saved entries"
        );
        self.runs.retain(|r| r.0 < first.index);
        for (offset, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                first.index + offset as u64,
                "entries not contiguous"
            );
            if self.runs.last().map(|r| r.1) != Some(entry.term) {
                self.runs.push((entry.index, entry.term));
            }
        }
        self.last_index = first.index + entries.len() as u64 - 1;
        debug_assert!(self.invariants_hold());
    }

    /// The field invariants: runs strictly ascending, inside `(base.index, last_index]`.
    fn invariants_hold(&self) -> bool {
        let ascending = self.runs.windows(2).all(|pair| pair[0].0 < pair[1].0);
        let inside = self
            .runs
            .iter()
            .all(|r| r.0 > self.base.index && r.0 <= self.last_index);
        ascending && inside && self.last_index >= self.base.index
    }

    /// Applies a snapshot marker: compaction if the log holds (index, term), else a reset.
    /// Returns whether it was a reset.
    pub(crate) fn apply_marker(&mut self, marker: SnapshotMarker) -> bool {
        assert!(
            marker.index >= self.base.index,
            "snapshot marker moves back"
        );
        let reset = self.term_at(marker.index) != Some(marker.term);
        if !reset {
            // Keep the run covering index + 1, starting it there.
            let next = marker.index + 1;
            let covering = self.runs.iter().rev().find(|r| r.0 <= next).copied();
            self.runs.retain(|r| r.0 > next);
            if let Some((_, term)) = covering.filter(|_| next <= self.last_index) {
                self.runs.insert(0, (next, term));
            }
        } else {
            self.runs.clear();
            self.last_index = marker.index;
        }
        self.base = marker;
        debug_assert!(self.invariants_hold());
        reset
    }
}

/// The write-ahead log of one member. See the module doc for the format and the contract.
///
/// Call protocol: [`Wal::create`] once, or [`Wal::open`] after a restart (it returns what to
/// restart raft with); then per raft `Ready`: [`Wal::save`] (and [`Wal::save_snapshot_marker`]
/// after a snapshot file is durable), then [`Wal::sync`] before sending any message that depends
/// on what was saved; occasionally [`Wal::release`].
#[derive(Debug)]
pub struct Wal<F: FileSystem> {
    fs: F,
    dir: PathBuf,
    config: WalConfig,
    /// Invariant: non-empty, sequences ascending by one; the last is the one `file` writes.
    segments: Vec<Segment>,
    file: F::File,
    /// Invariant: the length of `file` as written so far.
    file_len: u64,
    shape: LogShape,
    hard_state: HardState,
    /// The marker as of the last successful sync: what [`Wal::release`] may rely on.
    synced_marker: SnapshotMarker,
    poisoned: bool,
}

impl<F: FileSystem> Wal<F> {
    /// Creates an empty log in `dir` (creating the directory), durable on return.
    pub fn create(fs: F, dir: &Path, config: WalConfig) -> Result<Wal<F>, WalError> {
        config.validate()?;
        fs.create_dir_all(dir)?;
        let names = fs.list(dir)?;
        if names.iter().any(|n| parse_segment_name(n).is_some()) {
            return Err(WalError::AlreadyExists {
                dir: dir.to_path_buf(),
            });
        }
        let (segment, file, file_len) = start_segment(&fs, dir, 0, 1, &HardState::default(), None)?;
        Ok(Wal {
            fs,
            dir: dir.to_path_buf(),
            config,
            segments: vec![segment],
            file,
            file_len,
            shape: LogShape::default(),
            hard_state: HardState::default(),
            synced_marker: SnapshotMarker::default(),
            poisoned: false,
        })
    }

    /// Opens the log in `dir`, repairing a torn tail, and returns what raft restarts from.
    pub fn open(fs: F, dir: &Path, config: WalConfig) -> Result<(Wal<F>, Recovered), WalError> {
        config.validate()?;
        let opened = open::open(&fs, dir, &config)?;
        let wal = Wal {
            fs,
            dir: dir.to_path_buf(),
            config,
            segments: opened.segments,
            file: opened.file,
            file_len: opened.file_len,
            shape: opened.shape,
            hard_state: opened.recovered.hard_state,
            synced_marker: opened.recovered.snapshot.unwrap_or_default(),
            poisoned: false,
        };
        Ok((wal, opened.recovered))
    }

    /// Writes `entries` and then `hard_state` (if given) (entries contiguous, the first at most one past the
    /// last index and after the snapshot marker; entries at or after it replace the old ones).
    /// Not durable until [`Wal::sync`].
    pub fn save(
        &mut self,
        hard_state: Option<&HardState>,
        entries: &[Entry],
    ) -> Result<(), WalError> {
        self.check_usable()?;
        let mut records = Vec::new();
        // Entries before the hard state: a crash that cuts the tail can then lose a commit
        // index together with its entries, never keep a commit past the surviving log (found
        // by the simulator, seed 233: "hard state commit 205 is past the last index 103").
        for batch in self.split_entries(entries)? {
            record::encode_entries_record(&mut records, batch);
        }
        if let Some(hs) = hard_state {
            Record::HardState(*hs).encode(&mut records);
        }
        if records.is_empty() {
            return Ok(());
        }
        // Programmer errors (a gap, entries under the snapshot) panic here, before any write.
        let mut shape = self.shape.clone();
        shape.append(entries);
        self.write(&records)?;
        self.shape = shape;
        if let Some(hs) = hard_state {
            self.hard_state = *hs;
        }
        Ok(())
    }

    /// Writes a snapshot marker. Save the snapshot file durably first. Not durable until
    /// [`Wal::sync`].
    pub fn save_snapshot_marker(&mut self, index: Index, term: Term) -> Result<(), WalError> {
        self.check_usable()?;
        let marker = SnapshotMarker { index, term };
        let mut shape = self.shape.clone();
        let reset = shape.apply_marker(marker);
        let mut records = Vec::new();
        Record::SnapshotMarker { index, term, reset }.encode(&mut records);
        self.write(&records)?;
        self.shape = shape;
        Ok(())
    }

    /// Makes every record written so far durable (one sync for all of them).
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_usable()?;
        self.file.sync().map_err(|e| self.poison(e))?;
        self.synced_marker = self.shape.base;
        Ok(())
    }

    /// Removes the segments whose entries all lie at or below the latest synced snapshot
    /// marker; returns how many. The last segment is never removed.
    pub fn release(&mut self) -> Result<usize, WalError> {
        self.check_usable()?;
        let covered = self.synced_marker.index;
        // Segment k may go when segment k + 1 starts at or below covered + 1.
        let removable = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].first_index <= covered + 1)
            .count();
        if removable == 0 {
            return Ok(0);
        }
        for segment in &self.segments[..removable] {
            self.fs.remove(&segment.path).map_err(|e| {
                self.poisoned = true;
                WalError::Fs(e)
            })?;
        }
        self.segments.drain(..removable);
        self.fs.sync_dir(&self.dir).map_err(|e| self.poison(e))?;
        Ok(removable)
    }

    /// The index of the last entry (or of the snapshot marker, if no entry follows it).
    pub fn last_index(&self) -> Index {
        self.shape.last_index
    }

    /// The last hard state saved.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The last snapshot marker saved ((0, 0) if none).
    pub fn snapshot_marker(&self) -> SnapshotMarker {
        self.shape.base
    }

    /// The segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        Ok(())
    }

    fn poison(&mut self, error: FsError) -> WalError {
        self.poisoned = true;
        WalError::Fs(error)
    }

    /// Splits `entries` into record-sized batches, or refuses an entry that fits in none.
    fn split_entries<'a>(&self, entries: &'a [Entry]) -> Result<Vec<&'a [Entry]>, WalError> {
        let max = self.config.record_bytes_max;
        let mut batches = Vec::new();
        let mut start = 0;
        let mut bytes = 4;
        for (i, entry) in entries.iter().enumerate() {
            let entry_bytes = entry_encoded_bytes(entry);
            if entry_bytes + 4 > max {
                return Err(WalError::EntryTooLarge {
                    index: entry.index,
                    bytes: entry_bytes + 4,
                    max,
                });
            }
            if bytes + entry_bytes > max {
                batches.push(&entries[start..i]);
                start = i;
                bytes = 4;
            }
            bytes += entry_bytes;
        }
        if start < entries.len() {
            batches.push(&entries[start..]);
        }
        Ok(batches)
    }

    /// Appends encoded records to the current segment, rotating first if it is full.
    fn write(&mut self, records: &[u8]) -> Result<(), WalError> {
        if self.file_len >= self.config.segment_bytes_max {
            self.rotate()?;
        }
        self.file
            .write_at(self.file_len, records)
            .map_err(|e| self.poison(e))?;
        self.file_len += records.len() as u64;
        Ok(())
    }

    /// Syncs the current segment, then starts the next one (durably).
    fn rotate(&mut self) -> Result<(), WalError> {
        self.file.sync().map_err(|e| self.poison(e))?;
        self.synced_marker = self.shape.base;
        let sequence = self.segments.last().map_or(0, |s| s.sequence + 1);
        let marker = Some(self.shape.base).filter(|m| m.index > 0);
        let started = start_segment(
            &self.fs,
            &self.dir,
            sequence,
            self.shape.last_index + 1,
            &self.hard_state,
            marker,
        );
        let (segment, file, file_len) = started.inspect_err(|_| self.poisoned = true)?;
        self.segments.push(segment);
        self.file = file;
        self.file_len = file_len;
        Ok(())
    }
}

/// Creates segment `sequence`, writes its header and the carried state, syncs it and its
/// directory.
fn start_segment<F: FileSystem>(
    fs: &F,
    dir: &Path,
    sequence: u64,
    first_index: Index,
    hard_state: &HardState,
    marker: Option<SnapshotMarker>,
) -> Result<(Segment, F::File, u64), WalError> {
    let path = dir.join(segment_name(sequence, first_index));
    let file = fs.open(&path, OpenMode::CreateNew)?;
    let mut bytes = Vec::new();
    Record::SegmentHeader {
        sequence,
        first_index,
    }
    .encode(&mut bytes);
    if sequence > 0 {
        Record::HardState(*hard_state).encode(&mut bytes);
    }
    if let Some(m) = marker {
        // The log holds the marker's entry (or is empty after it): a compaction, never a reset.
        Record::SnapshotMarker {
            index: m.index,
            term: m.term,
            reset: false,
        }
        .encode(&mut bytes);
    }
    file.write_at(0, &bytes)?;
    file.sync()?;
    fs.sync_dir(dir)?;
    let segment = Segment {
        sequence,
        first_index,
        path,
    };
    Ok((segment, file, bytes.len() as u64))
}
