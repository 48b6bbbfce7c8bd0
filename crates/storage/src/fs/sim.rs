//! [`SimFs`]: an in-memory disk, deterministic from a seed, that models durability honestly.
//!
//! Model:
//! - Each file (an inode) keeps its **live** bytes (what reads see) and its **durable** bytes
//!   (what survives a crash), plus the list of writes and length changes made since its last
//!   [`File::sync`]. `sync` folds that list into the durable bytes.
//! - The namespace has a **live** map (names to inodes) and a **durable** one, plus an ordered
//!   journal of pending creates, renames and removes. [`FileSystem::sync_dir`] of a directory
//!   makes durable the journal up to and including the last entry that touches that directory
//!   (a journaling file system's order: stronger than bare POSIX, never weaker than the
//!   contract).
//! - [`SimFs::crash`] builds the post-crash image: a seeded prefix of the namespace journal
//!   survives; for each file, each unsynced write is dropped, kept, or torn (each 512-byte
//!   sector kept or not), and a dropped extension may leave its length behind as zeros; each
//!   unsynced length change is kept or dropped. The disk then continues from that image, and
//!   handles opened before the crash fail with [`FsError::Crashed`].
//! - [`SimFs::crash_process`] kills only the process: handles die, nothing is lost, and
//!   unsynced writes stay unsynced.
//! - [`SimFs::arm_crash_after`] sets a countdown of mutating operations; when it runs out, that
//!   operation and every later one fail with [`FsError::Crashed`] until [`SimFs::crash`] (like
//!   redb's `FuzzerBackend`).
//! - Reads can return a flipped bit ([`SimFsConfig::read_bit_flip_per_million`]); writes fail
//!   with [`FsError::NoSpace`] past [`SimFsConfig::capacity_bytes`]; every operation adds a
//!   seeded latency that the simulator collects with [`SimFs::take_latency_nanos`].
//!
//! Handles are `Send + Sync` (the state sits behind an `Arc<Mutex<…>>`); nothing here spawns a
//! thread, and a single-threaded caller never contends for the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::{File, FileSystem, FsError, FsOp, OpenMode};
use crate::rng::SplitMix64;

/// The knobs of a [`SimFs`]. [`SimFsConfig::new`] gives a faithful, fault-free disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFsConfig {
    /// Seed of every choice the disk makes (torn writes, bit flips, latencies).
    pub seed: u64,
    /// The granularity of torn writes: a crash keeps or drops whole aligned sectors.
    pub sector_bytes: u64,
    /// Total live bytes of all files beyond which writes fail with [`FsError::NoSpace`].
    pub capacity_bytes: Option<u64>,
    /// The largest length one file may reach ([`FsError::NoSpace`] past it), so that a write
    /// at an absurd offset fails instead of exhausting memory.
    pub file_bytes_max: u64,
    /// Chance, per million reads, that a read returns one flipped bit.
    pub read_bit_flip_per_million: u64,
    /// Latency range of a read, a length query or a namespace query.
    pub read_latency_nanos: (u64, u64),
    /// Latency range of a write, a length change or a namespace change.
    pub write_latency_nanos: (u64, u64),
    /// Latency range of a file sync or a directory sync.
    pub sync_latency_nanos: (u64, u64),
}

impl SimFsConfig {
    /// A disk with no faults, 512-byte sectors and SSD-like latencies.
    pub fn new(seed: u64) -> SimFsConfig {
        SimFsConfig {
            seed,
            sector_bytes: 512,
            capacity_bytes: None,
            file_bytes_max: 1 << 34,
            read_bit_flip_per_million: 0,
            read_latency_nanos: (20_000, 100_000),
            write_latency_nanos: (10_000, 50_000),
            sync_latency_nanos: (500_000, 5_000_000),
        }
    }
}

/// The named files of a disk and their bytes: what [`SimFs::crash`] left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskImage {
    /// Every file by path, with its contents.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

/// A write or length change not yet made durable by a sync.
#[derive(Clone, Debug)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Inode {
    /// Invariant: equals `durable` with every entry of `pending` applied in order.
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
    /// Alive while some handle is open; lets unreferenced inodes be dropped.
    handles: Weak<()>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Create { path: PathBuf, inode: u64 },
    Rename { from: PathBuf, to: PathBuf },
    Remove { path: PathBuf },
}

impl DirOp {
    fn touches(&self, dir: &Path) -> bool {
        let parent_is = |p: &Path| p.parent().unwrap_or(Path::new("")) == dir;
        match self {
            DirOp::Create { path, .. } | DirOp::Remove { path } => parent_is(path),
            DirOp::Rename { from, to } => parent_is(from) || parent_is(to),
        }
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            DirOp::Create { path, inode } => {
                names.insert(path.clone(), *inode);
            }
            DirOp::Rename { from, to } => {
                if let Some(inode) = names.remove(from) {
                    names.insert(to.clone(), inode);
                }
            }
            DirOp::Remove { path } => {
                names.remove(path);
            }
        }
    }
}

#[derive(Debug)]
struct State {
    config: SimFsConfig,
    rng: SplitMix64,
    /// Bumped by every crash; handles of an older generation are dead.
    generation: u64,
    dirs: BTreeSet<PathBuf>,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    /// Invariant: `durable_names` with every entry applied in order equals `live_names`.
    dir_journal: Vec<DirOp>,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    crash_countdown: Option<u64>,
    halted: bool,
    mutating_ops: u64,
    latency_nanos: u64,
}

/// Latency classes of operations.
#[derive(Clone, Copy)]
enum Cost {
    Read,
    Write,
    Sync,
}

impl State {
    /// Starts an operation: refuses it if the disk has crashed, counts it down toward an armed
    /// crash point if it mutates, and charges its latency.
    fn begin(&mut self, path: &Path, op: FsOp, cost: Cost) -> Result<(), FsError> {
        let crashed = || FsError::Crashed {
            path: path.to_path_buf(),
            op,
        };
        if self.halted {
            return Err(crashed());
        }
        if !matches!(cost, Cost::Read) {
            if let Some(countdown) = self.crash_countdown.as_mut() {
                if *countdown == 0 {
                    self.halted = true;
                    return Err(crashed());
                }
                *countdown -= 1;
            }
            self.mutating_ops += 1;
        }
        let (min, max) = match cost {
            Cost::Read => self.config.read_latency_nanos,
            Cost::Write => self.config.write_latency_nanos,
            Cost::Sync => self.config.sync_latency_nanos,
        };
        let latency = self.rng.between(min, max);
        self.latency_nanos = self.latency_nanos.saturating_add(latency);
        Ok(())
    }

    fn live_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.live.len() as u64).sum()
    }

    fn inode(&mut self, handle: &SimFile, op: FsOp) -> Result<&mut Inode, FsError> {
        if handle.generation != self.generation {
            return Err(FsError::Crashed {
                path: handle.path.clone(),
                op,
            });
        }
        self.inodes.get_mut(&handle.inode).ok_or(FsError::Crashed {
            path: handle.path.clone(),
            op,
        })
    }

    fn check_dir(&self, path: &Path) -> Result<(), FsError> {
        let parent = path.parent().unwrap_or(Path::new(""));
        if self.dirs.contains(parent) {
            Ok(())
        } else {
            Err(FsError::NotFound {
                path: parent.to_path_buf(),
            })
        }
    }

    /// Drops inodes that no name (live, durable or pending) and no handle refers to.
    fn collect_garbage(&mut self) {
        let mut referenced: BTreeSet<u64> = self.live_names.values().copied().collect();
        referenced.extend(self.durable_names.values().copied());
        self.inodes
            .retain(|id, inode| referenced.contains(id) || inode.handles.strong_count() > 0);
    }

    fn crash(&mut self) -> DiskImage {
        let journal = std::mem::take(&mut self.dir_journal);
        let surviving = self.rng.below(journal.len() as u64 + 1) as usize;
        for op in &journal[..surviving] {
            op.apply(&mut self.durable_names);
        }
        self.live_names = self.durable_names.clone();
        let named: BTreeSet<u64> = self.durable_names.values().copied().collect();
        self.inodes.retain(|id, _| named.contains(id));
        let sector_bytes = self.config.sector_bytes.max(1);
        for inode in self.inodes.values_mut() {
            let mut image = std::mem::take(&mut inode.durable);
            for pending in std::mem::take(&mut inode.pending) {
                apply_on_crash(&mut image, &pending, sector_bytes, &mut self.rng);
            }
            inode.live = image.clone();
            inode.durable = image;
            inode.handles = Weak::new();
        }
        self.generation += 1;
        self.halted = false;
        self.crash_countdown = None;
        self.image()
    }

    fn image(&self) -> DiskImage {
        let files = self
            .live_names
            .iter()
            .filter_map(|(path, id)| Some((path.clone(), self.inodes.get(id)?.live.clone())))
            .collect();
        DiskImage { files }
    }
}

/// Applies one pending change to `bytes` exactly.
fn apply_exact(bytes: &mut Vec<u8>, pending: &Pending) {
    match pending {
        Pending::Write { offset, data } => write_into(bytes, *offset, data),
        Pending::SetLen(len) => bytes.resize(*len as usize, 0),
    }
}

fn write_into(bytes: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[start..end].copy_from_slice(data);
}

/// Applies one pending change the way a crash might: dropped, kept, or torn by sectors.
fn apply_on_crash(image: &mut Vec<u8>, pending: &Pending, sector: u64, rng: &mut SplitMix64) {
    match pending {
        Pending::SetLen(_) => {
            if rng.chance(1, 2) {
                apply_exact(image, pending);
            }
        }
        Pending::Write { offset, data } => match rng.below(3) {
            0 => {
                // Dropped; the length change may have reached the disk without the data.
                let end = (*offset as usize) + data.len();
                if image.len() < end && rng.chance(1, 4) {
                    image.resize(end, 0);
                }
            }
            1 => apply_exact(image, pending),
            _ => {
                let mut start = *offset;
                let end = offset + data.len() as u64;
                while start < end {
                    let piece_end = ((start / sector + 1) * sector).min(end);
                    if rng.chance(1, 2) {
                        let from = (start - offset) as usize;
                        let to = (piece_end - offset) as usize;
                        write_into(image, start, &data[from..to]);
                    }
                    start = piece_end;
                }
            }
        },
    }
}

/// The simulated disk. Clones share one disk.
#[derive(Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

/// An open file of a [`SimFs`].
pub struct SimFile {
    state: Arc<Mutex<State>>,
    inode: u64,
    generation: u64,
    path: PathBuf,
    _handle: Arc<()>,
}

impl std::fmt::Debug for SimFs {
    /// A summary: the whole disk's bytes would drown any panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("SimFs")
            .field("seed", &state.config.seed)
            .field("generation", &state.generation)
            .field("files", &state.live_names.len())
            .field("halted", &state.halted)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SimFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("inode", &self.inode)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock can only come from a bug in this module; the state is
    // still the best description of the disk, so keep using it.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimFs {
    /// An empty disk with the given configuration. The root (`/` and the empty relative path)
    /// exists.
    pub fn new(config: SimFsConfig) -> SimFs {
        let rng = SplitMix64::new(config.seed);
        let dirs = [PathBuf::from(""), PathBuf::from("/")]
            .into_iter()
            .collect();
        SimFs {
            state: Arc::new(Mutex::new(State {
                config,
                rng,
                generation: 0,
                dirs,
                live_names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                dir_journal: Vec::new(),
                inodes: BTreeMap::new(),
                next_inode: 1,
                crash_countdown: None,
                halted: false,
                mutating_ops: 0,
                latency_nanos: 0,
            })),
        }
    }

    /// A fault-free disk from `seed` ([`SimFsConfig::new`]).
    pub fn with_seed(seed: u64) -> SimFs {
        SimFs::new(SimFsConfig::new(seed))
    }

    /// Crashes the disk now: unsynced state is partly lost (see the module doc), handles
    /// opened before become dead, an armed crash point is cleared, and the disk continues
    /// from the returned image.
    pub fn crash(&self) -> DiskImage {
        lock(&self.state).crash()
    }

    /// Kills the process but not the machine: handles opened before become dead and an armed
    /// crash point is cleared, but nothing is lost: unsynced writes stay in the (simulated) OS
    /// cache, still unsynced, and a later [`SimFs::crash`] may still lose them.
    pub fn crash_process(&self) {
        let mut state = lock(&self.state);
        state.generation += 1;
        state.halted = false;
        state.crash_countdown = None;
    }

    /// The files as reads see them now (live bytes), without crashing.
    pub fn image(&self) -> DiskImage {
        lock(&self.state).image()
    }

    /// Arms a crash point: the next `ops` mutating operations (writes, length changes, syncs,
    /// creates, renames, removes, directory syncs) run, and the one after them fails, as does
    /// every operation after it, with [`FsError::Crashed`] until [`SimFs::crash`].
    pub fn arm_crash_after(&self, ops: u64) {
        lock(&self.state).crash_countdown = Some(ops);
    }

    /// Disarms a crash point that has not been reached.
    pub fn disarm_crash(&self) {
        lock(&self.state).crash_countdown = None;
    }

    /// Whether an armed crash point has been reached.
    pub fn is_halted(&self) -> bool {
        lock(&self.state).halted
    }

    /// How many mutating operations have run so far (to choose crash points).
    pub fn mutating_ops(&self) -> u64 {
        lock(&self.state).mutating_ops
    }

    /// Latency accumulated by the operations since the last call, in nanoseconds; resets it.
    pub fn take_latency_nanos(&self) -> u64 {
        std::mem::take(&mut lock(&self.state).latency_nanos)
    }

    /// Sets (or clears) the capacity beyond which writes fail with [`FsError::NoSpace`].
    pub fn set_capacity_bytes(&self, capacity: Option<u64>) {
        lock(&self.state).config.capacity_bytes = capacity;
    }

    /// Sets the chance, per million reads, that a read returns one flipped bit.
    pub fn set_read_bit_flip_per_million(&self, chance: u64) {
        lock(&self.state).config.read_bit_flip_per_million = chance;
    }

    /// Corrupts the medium: XORs `mask` into the byte at `offset` of `path`, in both its live
    /// and durable bytes (if they reach that far). Returns whether the file exists.
    pub fn corrupt_byte(&self, path: &Path, offset: u64, mask: u8) -> bool {
        let mut state = lock(&self.state);
        let Some(&id) = state.live_names.get(path) else {
            return false;
        };
        let Some(inode) = state.inodes.get_mut(&id) else {
            return false;
        };
        let offset = offset as usize;
        if let Some(byte) = inode.live.get_mut(offset) {
            *byte ^= mask;
        }
        if let Some(byte) = inode.durable.get_mut(offset) {
            *byte ^= mask;
        }
        // Keep the invariant live == durable + pending for later syncs.
        for pending in &mut inode.pending {
            if let Pending::Write { offset: at, data } = pending {
                let at = *at as usize;
                if let Some(byte) = offset.checked_sub(at).and_then(|i| data.get_mut(i)) {
                    *byte ^= mask;
                }
            }
        }
        true
    }
}

impl FileSystem for SimFs {
    type File = SimFile;

    fn open(&self, path: &Path, mode: OpenMode) -> Result<SimFile, FsError> {
        let mut state = lock(&self.state);
        let existing = state.live_names.get(path).copied();
        let cost = match (existing, mode) {
            (None, OpenMode::CreateOrOpen | OpenMode::CreateNew) => Cost::Write,
            _ => Cost::Read,
        };
        state.begin(path, FsOp::Open, cost)?;
        state.check_dir(path)?;
        let id = match (existing, mode) {
            (Some(_), OpenMode::CreateNew) => {
                return Err(FsError::AlreadyExists {
                    path: path.to_path_buf(),
                });
            }
            (None, OpenMode::Existing) => {
                return Err(FsError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            (Some(id), _) => id,
            (None, _) => {
                let id = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(id, Inode::default());
                state.live_names.insert(path.to_path_buf(), id);
                state.dir_journal.push(DirOp::Create {
                    path: path.to_path_buf(),
                    inode: id,
                });
                id
            }
        };
        let generation = state.generation;
        let inode = state.inodes.get_mut(&id).ok_or(FsError::NotFound {
            path: path.to_path_buf(),
        })?;
        let handle = inode.handles.upgrade().unwrap_or_else(|| {
            let handle = Arc::new(());
            inode.handles = Arc::downgrade(&handle);
            handle
        });
        Ok(SimFile {
            state: Arc::clone(&self.state),
            inode: id,
            generation,
            path: path.to_path_buf(),
            _handle: handle,
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(from, FsOp::Rename, Cost::Write)?;
        state.check_dir(to)?;
        let id = state.live_names.remove(from).ok_or(FsError::NotFound {
            path: from.to_path_buf(),
        })?;
        state.live_names.insert(to.to_path_buf(), id);
        state.dir_journal.push(DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        });
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(path, FsOp::Remove, Cost::Write)?;
        if state.live_names.remove(path).is_none() {
            return Err(FsError::NotFound {
                path: path.to_path_buf(),
            });
        }
        state.dir_journal.push(DirOp::Remove {
            path: path.to_path_buf(),
        });
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>, FsError> {
        let mut state = lock(&self.state);
        state.begin(dir, FsOp::List, Cost::Read)?;
        if !state.dirs.contains(dir) {
            return Err(FsError::NotFound {
                path: dir.to_path_buf(),
            });
        }
        let names = state
            .live_names
            .keys()
            .filter(|path| path.parent().unwrap_or(Path::new("")) == dir)
            .filter_map(|path| Some(path.file_name()?.to_str()?.to_owned()))
            .collect();
        // BTreeMap order over paths with one parent is bytewise order of the names.
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(dir, FsOp::SyncDir, Cost::Sync)?;
        if !state.dirs.contains(dir) {
            return Err(FsError::NotFound {
                path: dir.to_path_buf(),
            });
        }
        if let Some(last) = state.dir_journal.iter().rposition(|op| op.touches(dir)) {
            let done: Vec<DirOp> = state.dir_journal.drain(..=last).collect();
            for op in &done {
                op.apply(&mut state.durable_names);
            }
            state.collect_garbage();
        }
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(dir, FsOp::CreateDir, Cost::Write)?;
        for ancestor in dir.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }
}

impl File for SimFile {
    fn len(&self) -> Result<u64, FsError> {
        let mut state = lock(&self.state);
        state.begin(&self.path, FsOp::Len, Cost::Read)?;
        Ok(state.inode(self, FsOp::Len)?.live.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(&self.path, FsOp::Read, Cost::Read)?;
        let flip_chance = state.config.read_bit_flip_per_million;
        let flip = flip_chance > 0 && state.rng.chance(flip_chance, 1_000_000);
        let flip_bit = state.rng.below(buf.len() as u64 * 8);
        let live = &state.inode(self, FsOp::Read)?.live;
        let file_len = live.len() as u64;
        let len = buf.len() as u64;
        let end = offset.checked_add(len).filter(|&end| end <= file_len);
        let Some(end) = end else {
            return Err(FsError::ReadPastEnd {
                path: self.path.clone(),
                offset,
                len,
                file_len,
            });
        };
        buf.copy_from_slice(&live[offset as usize..end as usize]);
        if flip && !buf.is_empty() {
            buf[(flip_bit / 8) as usize] ^= 1 << (flip_bit % 8);
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(&self.path, FsOp::Write, Cost::Write)?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(FsError::NoSpace {
                path: self.path.clone(),
            })?;
        self.check_growth(&mut state, end)?;
        let inode = state.inode(self, FsOp::Write)?;
        let pending = Pending::Write {
            offset,
            data: data.to_vec(),
        };
        apply_exact(&mut inode.live, &pending);
        inode.pending.push(pending);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(&self.path, FsOp::SetLen, Cost::Write)?;
        self.check_growth(&mut state, len)?;
        let inode = state.inode(self, FsOp::SetLen)?;
        let pending = Pending::SetLen(len);
        apply_exact(&mut inode.live, &pending);
        inode.pending.push(pending);
        Ok(())
    }

    fn sync(&self) -> Result<(), FsError> {
        let mut state = lock(&self.state);
        state.begin(&self.path, FsOp::Sync, Cost::Sync)?;
        let inode = state.inode(self, FsOp::Sync)?;
        for pending in std::mem::take(&mut inode.pending) {
            apply_exact(&mut inode.durable, &pending);
        }
        debug_assert_eq!(inode.durable, inode.live);
        Ok(())
    }
}

impl SimFile {
    /// Refuses to grow this file to `new_len` if that would exceed the disk's capacity.
    fn check_growth(&self, state: &mut State, new_len: u64) -> Result<(), FsError> {
        let current = state.inode(self, FsOp::Write)?.live.len() as u64;
        if new_len > current && new_len > state.config.file_bytes_max {
            return Err(FsError::NoSpace {
                path: self.path.clone(),
            });
        }
        let Some(capacity) = state.config.capacity_bytes else {
            return Ok(());
        };
        let growth = new_len.saturating_sub(current);
        if growth > 0 && state.live_bytes().saturating_add(growth) > capacity {
            return Err(FsError::NoSpace {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
