//! Opening a WAL: reading every segment, replaying its records into what raft restarts from,
//! and repairing a torn tail of the last segment.

use std::path::{Path, PathBuf};

use invar_raft::{Entry, HardState};

use super::record::{self, Record};
use super::{LogShape, Segment, SnapshotMarker, WalConfig, WalError, parse_segment_name};
use crate::fs::{File, FileSystem, OpenMode};

/// What a reopened WAL holds: everything raft needs to restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state saved (default if none was).
    pub hard_state: HardState,
    /// The latest snapshot marker, if any was saved.
    pub snapshot: Option<SnapshotMarker>,
    /// The entries after the snapshot marker (after index 0 if none), contiguous.
    pub entries: Vec<Entry>,
    /// The torn tail cut off the last segment, if there was one.
    pub torn_tail: Option<TornTail>,
}

/// A partial last write found and removed by [`super::Wal::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment that was cut (or removed, when its header itself was torn).
    pub file: PathBuf,
    /// Where the torn record started; the segment now ends there.
    pub offset: u64,
    /// How many bytes were dropped.
    pub dropped_bytes: u64,
}

/// A WAL read back, ready to continue writing.
pub(super) struct Opened<F: FileSystem> {
    pub(super) segments: Vec<Segment>,
    pub(super) file: F::File,
    pub(super) file_len: u64,
    pub(super) shape: LogShape,
    pub(super) recovered: Recovered,
}

fn corrupted(file: &Path, offset: u64, expected: impl Into<String>) -> WalError {
    WalError::Corrupted {
        file: file.to_path_buf(),
        offset,
        expected: expected.into(),
    }
}

/// The replay of records in file order. Entries may start as a "floating" run after released
/// segments; a later snapshot marker must then cover the gap before it.
#[derive(Default)]
struct Replay {
    hard_state: HardState,
    base: SnapshotMarker,
    has_marker: bool,
    /// Invariant: contiguous indexes, all after `base.index`.
    entries: Vec<Entry>,
    /// Where the record that started the current run of entries was, for errors.
    run_start: (PathBuf, u64),
}

impl Replay {
    fn apply(&mut self, record: Record, file: &Path, offset: u64) -> Result<(), WalError> {
        match record {
            Record::SegmentHeader { .. } => {
                return Err(corrupted(
                    file,
                    offset,
                    "a record other than a segment header",
                ));
            }
            Record::HardState(hs) => self.hard_state = hs,
            Record::Entries(entries) => self.apply_entries(entries, file, offset)?,
            Record::SnapshotMarker { index, term, reset } => {
                if index < self.base.index {
                    let expected = format!("a snapshot marker at index >= {}", self.base.index);
                    return Err(corrupted(file, offset, expected));
                }
                if reset {
                    self.entries.clear();
                } else {
                    let held = self.entries.iter().find(|e| e.index == index);
                    if held.is_some_and(|e| e.term != term) {
                        let expected = format!("entry {index} with the marker's term {term}");
                        return Err(corrupted(file, offset, expected));
                    }
                    self.entries.retain(|e| e.index > index);
                }
                self.base = SnapshotMarker { index, term };
                self.has_marker = true;
            }
        }
        Ok(())
    }

    fn apply_entries(
        &mut self,
        entries: Vec<Entry>,
        file: &Path,
        offset: u64,
    ) -> Result<(), WalError> {
        let Some(first) = entries.first().map(|e| e.index) else {
            return Ok(());
        };
        if first <= self.base.index {
            let expected = format!("entries after the snapshot marker at {}", self.base.index);
            return Err(corrupted(file, offset, expected));
        }
        let run = self.entries.first().map(|e| e.index);
        let last = self.entries.last().map(|e| e.index);
        match (run, last) {
            (Some(run), Some(last)) if run <= first && first <= last + 1 => {
                // A conflicting suffix: the later record wins.
                self.entries.truncate((first - run) as usize);
            }
            _ => {
                self.entries.clear();
                self.run_start = (file.to_path_buf(), offset);
            }
        }
        self.entries.extend(entries);
        Ok(())
    }

    /// Checks that the entries follow the marker with no gap, and builds the writer's shape.
    fn finish(self, torn_tail: Option<TornTail>) -> Result<(Recovered, LogShape), WalError> {
        if let Some(first) = self.entries.first()
            && first.index != self.base.index + 1
        {
            let (file, offset) = self.run_start;
            let expected = format!("entries from index {}", self.base.index + 1);
            return Err(corrupted(&file, offset, expected));
        }
        let mut shape = LogShape {
            base: self.base,
            runs: Vec::new(),
            last_index: self.base.index,
        };
        shape.append(&self.entries);
        let recovered = Recovered {
            hard_state: self.hard_state,
            snapshot: Some(self.base).filter(|_| self.has_marker),
            entries: self.entries,
            torn_tail,
        };
        Ok((recovered, shape))
    }
}

/// How the scan of one segment ended.
enum ScanEnd {
    /// Every byte was a valid record.
    Complete,
    /// A torn record at this offset (0: the header itself).
    Torn(u64),
}

/// The segments in `dir`, by sequence, checked to have no gap.
fn list_segments<F: FileSystem>(fs: &F, dir: &Path) -> Result<Vec<Segment>, WalError> {
    let mut segments: Vec<Segment> = fs
        .list(dir)?
        .iter()
        .filter_map(|name| {
            let (sequence, first_index) = parse_segment_name(name)?;
            Some(Segment {
                sequence,
                first_index,
                path: dir.join(name),
            })
        })
        .collect();
    segments.sort_by_key(|s| s.sequence);
    for pair in segments.windows(2) {
        if pair[1].sequence != pair[0].sequence + 1 {
            let expected = format!("segment sequence {} before it", pair[0].sequence + 1);
            return Err(corrupted(&pair[1].path, 0, expected));
        }
    }
    Ok(segments)
}

/// Reads one segment's records into `replay`.
fn scan(
    bytes: &[u8],
    segment: &Segment,
    is_last: bool,
    config: &WalConfig,
    replay: &mut Replay,
) -> Result<ScanEnd, WalError> {
    let path = &segment.path;
    let sector = config.sector_bytes as usize;
    let mut offset = 0usize;
    loop {
        let Some(rest) = bytes.get(offset..).filter(|rest| !rest.is_empty()) else {
            if offset == 0 {
                // An empty segment: created, but its header never reached the disk.
                if is_last {
                    return Ok(ScanEnd::Torn(0));
                }
                return Err(corrupted(path, 0, "a segment header"));
            }
            return Ok(ScanEnd::Complete);
        };
        let (record_type, payload, frame_len) =
            match record::decode_frame(rest, config.record_bytes_max) {
                Ok(frame) => frame,
                Err(error) if is_last && record::looks_torn(bytes, offset, &error, sector) => {
                    return Ok(ScanEnd::Torn(offset as u64));
                }
                Err(error) => return Err(corrupted(path, offset as u64, error.expected())),
            };
        let record = Record::decode(record_type, &payload)
            .map_err(|expected| corrupted(path, offset as u64, expected))?;
        if offset == 0 {
            let header = Record::SegmentHeader {
                sequence: segment.sequence,
                first_index: segment.first_index,
            };
            if record != header {
                let expected = format!(
                    "the header of segment {} (first index {})",
                    segment.sequence, segment.first_index
                );
                return Err(corrupted(path, 0, expected));
            }
        } else {
            replay.apply(record, path, offset as u64)?;
        }
        offset += frame_len;
    }
}

/// Opens the WAL in `dir`: see the `wal` module doc.
pub(super) fn open<F: FileSystem>(
    fs: &F,
    dir: &Path,
    config: &WalConfig,
) -> Result<Opened<F>, WalError> {
    let mut segments = list_segments(fs, dir)?;
    let mut replay = Replay::default();
    let mut torn_tail = None;
    let count = segments.len();
    for (i, segment) in segments.iter().enumerate() {
        let file = fs.open(&segment.path, OpenMode::Existing)?;
        let bytes = file.read_all()?;
        let is_last = i + 1 == count;
        if let ScanEnd::Torn(offset) = scan(&bytes, segment, is_last, config, &mut replay)? {
            torn_tail = Some(TornTail {
                file: segment.path.clone(),
                offset,
                dropped_bytes: bytes.len() as u64 - offset,
            });
            if offset > 0 {
                file.set_len(offset)?;
                file.sync()?;
            }
        }
    }
    // A last segment whose header was torn never held a record: remove it.
    if let Some(torn) = torn_tail.as_ref().filter(|t| t.offset == 0) {
        fs.remove(&torn.file)?;
        fs.sync_dir(dir)?;
        segments.pop();
    }
    let Some(last) = segments.last() else {
        return Err(WalError::NotFound {
            dir: dir.to_path_buf(),
        });
    };
    let (recovered, shape) = replay.finish(torn_tail)?;
    let file = fs.open(&last.path, OpenMode::Existing)?;
    // What was read must stay read: make the surviving tail durable before anyone relies on it.
    file.sync()?;
    let file_len = file.len()?;
    Ok(Opened {
        segments,
        file,
        file_len,
        shape,
        recovered,
    })
}
