//! The file-system trait: the only way Invar's core reaches a disk.
//!
//! Two implementations: [`RealFs`] over `std::fs` (production) and [`SimFs`], an in-memory disk
//! that is deterministic from a seed and models durability honestly (simulation and tests).
//!
//! # Contract
//!
//! The contract is written for the weakest disk we accept; [`SimFs`] enforces every clause, so
//! code that passes its tests does not rely on anything stronger.
//!
//! Files ([`File`]):
//! - **Reads past the end are errors.** [`File::read_at`] fills the whole buffer or returns
//!   [`FsError::ReadPastEnd`]; it never returns a short read.
//! - **Extension zero-fills.** [`File::write_at`] past the end, or [`File::set_len`] to a larger
//!   length, fills the gap with zero bytes. [`File::set_len`] to a smaller length truncates.
//! - **Writes are visible at once, durable only after [`File::sync`].** A write returns when its
//!   bytes are visible to later reads through any handle of the same file system. Until a
//!   [`File::sync`] of that file returns `Ok`, a crash may drop the write, keep it, or keep only
//!   some of its 512-byte sectors (a torn write). A file whose length grew may come back longer
//!   than its surviving data, with zero bytes in the holes.
//! - **`sync` guarantees the file's data and length.** After [`File::sync`] returns `Ok`, every
//!   write and length change made to that file before the call survives a crash. It says
//!   nothing about the directory entry: see below. If `sync` fails, nothing is promised for the
//!   unsynced writes (like Linux after an fsync error: do not retry, poison and reopen).
//! - **Handles close on drop.** There is no explicit close; dropping the last handle releases
//!   it. Dropping never syncs.
//!
//! Directories ([`FileSystem`]):
//! - **Names are durable only after [`FileSystem::sync_dir`].** Creating, renaming and removing a
//!   file change the namespace at once, but a crash may undo any of them until the parent
//!   directory (of both names, for a rename) is synced. So an atomic replace is: write a temp
//!   file, [`File::sync`] it, [`FileSystem::rename`] it over the target, then
//!   [`FileSystem::sync_dir`] the directory.
//! - [`FileSystem::create_dir_all`] is durable when it returns (directories are created once, at
//!   setup; [`SimFs`] does not model their loss).
//! - [`FileSystem::list`] returns the file names (not paths) in a directory, sorted, so that
//!   callers never depend on an OS's order.
//!
//! Disk assumptions (what the real disk must give us, and what [`SimFs`] gives no more than):
//! - A write of an aligned 512-byte sector lands whole or not at all; a longer write may land
//!   as any subset of its sectors, in any order, until a sync.
//! - Bytes never written read as zeros (never stale data from another file).
//! - `fsync`/`fdatasync` returns only when the data and length are on stable storage, and a
//!   directory fsync likewise for names; the disk does not lie about flushes.
//! - Bits can rot: a read may return damaged bytes (the WAL and snapshot checksums catch it).
//!
//! Errors:
//! - Every operation returns [`FsError`]; none panics on anything a disk supplies.
//! - After any error from a write or a sync, a caller must assume the file's unsynced state is
//!   unknown. Invar's users (the WAL, the snapshot writer) poison themselves at the first error.

use std::fmt;
use std::path::{Path, PathBuf};

mod real;
mod sim;

pub use real::{RealFile, RealFs};
pub use sim::{DiskImage, SimFile, SimFs, SimFsConfig};

/// How [`FileSystem::open`] treats an existing or missing file. Files are always opened for
/// both reading and writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Open a file that exists; [`FsError::NotFound`] if it does not.
    Existing,
    /// Open the file, creating it empty if it does not exist.
    CreateOrOpen,
    /// Create a new empty file; [`FsError::AlreadyExists`] if the name is taken.
    CreateNew,
}

/// What a file operation was doing when it failed; carried in [`FsError`] for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsOp {
    /// [`FileSystem::open`].
    Open,
    /// [`File::read_at`].
    Read,
    /// [`File::write_at`] or [`File::append`].
    Write,
    /// [`File::set_len`].
    SetLen,
    /// [`File::len`].
    Len,
    /// [`File::sync`].
    Sync,
    /// [`FileSystem::rename`].
    Rename,
    /// [`FileSystem::remove`].
    Remove,
    /// [`FileSystem::list`].
    List,
    /// [`FileSystem::sync_dir`].
    SyncDir,
    /// [`FileSystem::create_dir_all`].
    CreateDir,
}

impl fmt::Display for FsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FsOp::Open => "open",
            FsOp::Read => "read",
            FsOp::Write => "write",
            FsOp::SetLen => "set_len",
            FsOp::Len => "len",
            FsOp::Sync => "sync",
            FsOp::Rename => "rename",
            FsOp::Remove => "remove",
            FsOp::List => "list",
            FsOp::SyncDir => "sync_dir",
            FsOp::CreateDir => "create_dir",
        };
        f.write_str(name)
    }
}

/// Why a file-system operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The file or directory does not exist.
    #[error("{path}: not found")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// [`OpenMode::CreateNew`] or a rename found the name taken.
    #[error("{path}: already exists")]
    AlreadyExists {
        /// The taken path.
        path: PathBuf,
    },
    /// A read asked for bytes past the end of the file.
    #[error("{path}: read of {len} bytes at offset {offset} past the end ({file_len} bytes)")]
    ReadPastEnd {
        /// The file read.
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// How many bytes were asked for.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The disk is full: the write or extension was not made.
    #[error("{path}: no space left on device")]
    NoSpace {
        /// The file being written.
        path: PathBuf,
    },
    /// A simulated crash: the disk has stopped (an armed crash point was reached), or this
    /// handle belongs to the disk as it was before a crash.
    #[error("{path}: {op}: the simulated disk has crashed")]
    Crashed {
        /// The path involved.
        path: PathBuf,
        /// The operation that was refused.
        op: FsOp,
    },
    /// Any other error from the operating system.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The operation that failed.
        op: FsOp,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    /// Whether the error says the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound { .. })
    }
}

impl From<FsError> for std::io::Error {
    /// For adapters to APIs that speak `std::io::Error` (redb's `StorageBackend`).
    fn from(error: FsError) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match &error {
            FsError::NotFound { .. } => ErrorKind::NotFound,
            FsError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            FsError::ReadPastEnd { .. } => ErrorKind::UnexpectedEof,
            FsError::NoSpace { .. } => ErrorKind::StorageFull,
            FsError::Crashed { .. } => ErrorKind::Other,
            FsError::Io { source, .. } => source.kind(),
        };
        std::io::Error::new(kind, error)
    }
}

/// An open file. All methods take `&self` (positional I/O, no cursor), and handles are
/// `Send + Sync`, so a file can back redb's `StorageBackend`. See the module doc for the
/// contract on reads past the end, zero-fill and `sync`.
pub trait File: Send + Sync + fmt::Debug {
    /// The file's current length in bytes (including unsynced writes).
    fn len(&self) -> Result<u64, FsError>;

    /// Whether the file is empty.
    fn is_empty(&self) -> Result<bool, FsError> {
        Ok(self.len()? == 0)
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`, or returns
    /// [`FsError::ReadPastEnd`] if that range is not entirely inside the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FsError>;

    /// Writes `data` at `offset`, zero-filling any gap past the current end. Visible at once,
    /// durable only after [`File::sync`].
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), FsError>;

    /// Writes `data` at the current end; returns the offset it was written at.
    fn append(&self, data: &[u8]) -> Result<u64, FsError> {
        let offset = self.len()?;
        self.write_at(offset, data)?;
        Ok(offset)
    }

    /// Truncates or zero-extends the file to `len` bytes. Durable only after [`File::sync`].
    fn set_len(&self, len: u64) -> Result<(), FsError>;

    /// Makes every earlier write and length change of this file durable (not its name: see
    /// [`FileSystem::sync_dir`]).
    fn sync(&self) -> Result<(), FsError>;

    /// Reads the whole file.
    fn read_all(&self) -> Result<Vec<u8>, FsError> {
        let len = self.len()?;
        let len = usize::try_from(len).map_err(|_| FsError::Io {
            path: PathBuf::new(),
            op: FsOp::Read,
            source: std::io::Error::other("file larger than memory"),
        })?;
        let mut buf = vec![0; len];
        self.read_at(0, &mut buf)?;
        Ok(buf)
    }
}

/// A file system: opens files and changes the namespace. See the module doc for when names
/// become durable.
pub trait FileSystem: fmt::Debug {
    /// The file handle this file system opens.
    type File: File + 'static;

    /// Opens (or creates, per `mode`) the file at `path`, for reading and writing.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Self::File, FsError>;

    /// Renames `from` to `to`, replacing `to` if it exists. Durable only after
    /// [`FileSystem::sync_dir`] of both parents.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), FsError>;

    /// Removes the file at `path`. Durable only after [`FileSystem::sync_dir`] of its parent.
    /// Open handles keep working on the removed file's contents.
    fn remove(&self, path: &Path) -> Result<(), FsError>;

    /// The names of the files (not subdirectories) in `dir`, sorted bytewise.
    fn list(&self, dir: &Path) -> Result<Vec<String>, FsError>;

    /// Makes every earlier create, rename and remove of names in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<(), FsError>;

    /// Creates `dir` and its missing parents; durable on return.
    fn create_dir_all(&self, dir: &Path) -> Result<(), FsError>;

    /// Whether a file exists at `path`.
    fn exists(&self, path: &Path) -> Result<bool, FsError> {
        match self.open(path, OpenMode::Existing) {
            Ok(_) => Ok(true),
            Err(error) if error.is_not_found() => Ok(false),
            Err(error) => Err(error),
        }
    }
}
