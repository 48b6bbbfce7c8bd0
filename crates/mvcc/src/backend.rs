//! redb storage backends: the boxed adapter the store opens, and [`MemBackend`], an in-memory
//! backend that keeps live and durable bytes apart so tests can crash it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

/// Lets the store take any backend as a `Box<dyn StorageBackend>`, and keeps the file's
/// length in memory (every length change goes through here), so the store knows its size
/// without asking the file system.
#[derive(Debug)]
pub(crate) struct BoxedBackend {
    inner: Box<dyn StorageBackend>,
    /// Shared with the store ([`FileLength`]). Invariant: after every successful call, the
    /// inner backend's length.
    len: Arc<AtomicU64>,
}

/// The length of the store's file, as its backend last set, extended or reported it.
#[derive(Clone, Debug)]
pub(crate) struct FileLength(Arc<AtomicU64>);

impl FileLength {
    pub(crate) fn get(&self) -> u64 {
        // One thread at a time uses the store (it is moved, never shared): any ordering
        // would do.
        self.0.load(Ordering::Relaxed)
    }
}

impl BoxedBackend {
    /// Wraps `inner`, reading its length once.
    pub(crate) fn new(inner: Box<dyn StorageBackend>) -> io::Result<(BoxedBackend, FileLength)> {
        let len = Arc::new(AtomicU64::new(inner.len()?));
        let length = FileLength(Arc::clone(&len));
        Ok((BoxedBackend { inner, len }, length))
    }

    fn record(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
    }

    /// After a failed call the length is unknown: ask the backend (the store is poisoned
    /// by the failure anyway; this only keeps the reported size honest).
    fn refresh(&self) {
        if let Ok(len) = self.inner.len() {
            self.record(len);
        }
    }
}

impl StorageBackend for BoxedBackend {
    fn len(&self) -> io::Result<u64> {
        let len = self.inner.len()?;
        self.record(len);
        Ok(len)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        match self.inner.set_len(len) {
            Ok(()) => {
                self.record(len);
                Ok(())
            }
            Err(error) => {
                self.refresh();
                Err(error)
            }
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        match self.inner.write(offset, data) {
            Ok(()) => {
                // A write past the end extends the file (zero-filling any gap).
                let end = offset.saturating_add(data.len() as u64);
                if end > self.len.load(Ordering::Relaxed) {
                    self.record(end);
                }
                Ok(())
            }
            Err(error) => {
                self.refresh();
                Err(error)
            }
        }
    }
    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }
}

#[derive(Debug, Default)]
struct MemFile {
    /// What reads return: every write so far.
    live: Vec<u8>,
    /// What survives a crash: the live bytes as of the last `sync_data`.
    durable: Vec<u8>,
    /// When set, every call fails after this many more writes/syncs (fault injection).
    failures_after: Option<u64>,
}

/// An in-memory redb backend whose clones share one file. `sync_data` makes the live bytes
/// durable; [`MemBackend::crash`] returns a new backend holding only the durable bytes, as a
/// power cut would leave them.
#[derive(Clone, Debug, Default)]
pub struct MemBackend {
    file: Arc<Mutex<MemFile>>,
}

fn offset_range(offset: u64, len: usize, file_len: usize) -> io::Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    let end = start.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
    if end > file_len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "read past the end",
        ));
    }
    Ok(start..end)
}

impl MemBackend {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// A file holding `bytes`, all durable.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let file = MemFile {
            live: bytes.clone(),
            durable: bytes,
            failures_after: None,
        };
        MemBackend {
            file: Arc::new(Mutex::new(file)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemFile> {
        self.file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live bytes.
    pub fn live_bytes(&self) -> Vec<u8> {
        self.lock().live.clone()
    }

    /// The durable bytes.
    pub fn durable_bytes(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// A new backend with what a crash now would leave: the durable bytes only.
    pub fn crash(&self) -> MemBackend {
        MemBackend::from_bytes(self.durable_bytes())
    }

    /// Makes every write or sync fail after `count` more successful ones (None: never).
    pub fn fail_after(&self, count: Option<u64>) {
        self.lock().failures_after = count;
    }

    fn spend(file: &mut MemFile) -> io::Result<()> {
        match file.failures_after {
            Some(0) => Err(io::Error::other("injected I/O failure")),
            Some(ref mut left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl StorageBackend for MemBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.lock().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let file = self.lock();
        let range = offset_range(offset, out.len(), file.live.len())?;
        out.copy_from_slice(&file.live[range]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut file = self.lock();
        Self::spend(&mut file)?;
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        file.live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut file = self.lock();
        Self::spend(&mut file)?;
        file.durable = file.live.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut file = self.lock();
        Self::spend(&mut file)?;
        let len = file.live.len();
        let range = offset_range(offset, data.len(), len.max(usize::MAX / 2))?;
        if range.end > len {
            file.live.resize(range.end, 0);
        }
        file.live[range].copy_from_slice(data);
        Ok(())
    }
}

/// A redb backend over one file of Invar's file trait ([`invar_storage::fs::File`]), so the
/// store runs on the real disk ([`invar_storage::fs::RealFs`]) and on the simulated one
/// ([`invar_storage::fs::SimFs`]). The trait's contract (reads past the end fail, extension
/// zero-fills, `sync` makes data and length durable) is exactly what redb asks of a backend.
#[derive(Debug)]
pub struct FileBackend<F> {
    file: F,
}

impl<F: invar_storage::fs::File> FileBackend<F> {
    /// Wraps an open file (opened for reading and writing).
    pub fn new(file: F) -> Self {
        FileBackend { file }
    }

    /// Opens (creating if needed) the file at `path` on `fs`. The caller syncs the parent
    /// directory once after creating a new store, so that its name is durable.
    pub fn open<S>(fs: &S, path: &std::path::Path) -> io::Result<FileBackend<S::File>>
    where
        S: invar_storage::fs::FileSystem<File = F>,
    {
        let file = fs.open(path, invar_storage::fs::OpenMode::CreateOrOpen)?;
        Ok(FileBackend { file })
    }
}

impl<F: invar_storage::fs::File + 'static> StorageBackend for FileBackend<F> {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.len()?)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        Ok(self.file.read_at(offset, out)?)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        Ok(self.file.set_len(len)?)
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(self.file.sync()?)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        Ok(self.file.write_at(offset, data)?)
    }
}
