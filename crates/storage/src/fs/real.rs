//! [`RealFs`]: the file trait over `std::fs`, for production.
//!
//! This is the only module of the crate allowed to touch `std::fs`: the crate's clippy.toml bans
//! it everywhere else so that the core reaches files only through the trait (and so only
//! through [`super::SimFs`] in simulation).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{File, FileSystem, FsError, FsOp, OpenMode};

/// The real file system. Paths are used as given (relative to the process's directory, or
/// absolute).
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

/// An open file of [`RealFs`].
#[derive(Debug)]
pub struct RealFile {
    file: fs::File,
    path: PathBuf,
}

fn io_error(path: &Path, op: FsOp, source: std::io::Error) -> FsError {
    match source.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound {
            path: path.to_path_buf(),
        },
        std::io::ErrorKind::AlreadyExists => FsError::AlreadyExists {
            path: path.to_path_buf(),
        },
        std::io::ErrorKind::StorageFull => FsError::NoSpace {
            path: path.to_path_buf(),
        },
        _ => FsError::Io {
            path: path.to_path_buf(),
            op,
            source,
        },
    }
}

impl File for RealFile {
    fn len(&self) -> Result<u64, FsError> {
        let metadata = self
            .file
            .metadata()
            .map_err(|e| io_error(&self.path, FsOp::Len, e))?;
        Ok(metadata.len())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FsError> {
        // No length check up front (a syscall per read); a short read is reported as past the
        // end, with the length asked afterwards.
        match self.file.read_exact_at(buf, offset) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(FsError::ReadPastEnd {
                    path: self.path.clone(),
                    offset,
                    len: buf.len() as u64,
                    file_len: self.len()?,
                })
            }
            Err(error) => Err(io_error(&self.path, FsOp::Read, error)),
        }
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), FsError> {
        // POSIX pwrite past the end leaves a hole that reads as zeros: the zero-fill contract.
        self.file
            .write_all_at(data, offset)
            .map_err(|e| io_error(&self.path, FsOp::Write, e))
    }

    fn set_len(&self, len: u64) -> Result<(), FsError> {
        self.file
            .set_len(len)
            .map_err(|e| io_error(&self.path, FsOp::SetLen, e))
    }

    fn sync(&self) -> Result<(), FsError> {
        // fdatasync persists the data and the length (metadata needed to read it back).
        self.file
            .sync_data()
            .map_err(|e| io_error(&self.path, FsOp::Sync, e))
    }
}

impl FileSystem for RealFs {
    type File = RealFile;

    fn open(&self, path: &Path, mode: OpenMode) -> Result<RealFile, FsError> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::CreateOrOpen => {
                options.create(true);
            }
            OpenMode::CreateNew => {
                options.create_new(true);
            }
        }
        let file = options
            .open(path)
            .map_err(|e| io_error(path, FsOp::Open, e))?;
        Ok(RealFile {
            file,
            path: path.to_path_buf(),
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), FsError> {
        fs::rename(from, to).map_err(|e| io_error(from, FsOp::Rename, e))
    }

    fn remove(&self, path: &Path) -> Result<(), FsError> {
        fs::remove_file(path).map_err(|e| io_error(path, FsOp::Remove, e))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>, FsError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| io_error(dir, FsOp::List, e))? {
            let entry = entry.map_err(|e| io_error(dir, FsOp::List, e))?;
            let file_type = entry
                .file_type()
                .map_err(|e| io_error(dir, FsOp::List, e))?;
            if !file_type.is_file() {
                continue;
            }
            // Names that are not UTF-8 are not Invar's: skip them rather than fail.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> Result<(), FsError> {
        let handle = fs::File::open(dir).map_err(|e| io_error(dir, FsOp::SyncDir, e))?;
        handle
            .sync_all()
            .map_err(|e| io_error(dir, FsOp::SyncDir, e))
    }

    fn create_dir_all(&self, dir: &Path) -> Result<(), FsError> {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, FsOp::CreateDir, e))?;
        // Make the new directory's own entry durable in its parent.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.sync_dir(parent)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_fs_follows_the_contract() {
        let dir = std::env::temp_dir().join(format!("invar-storage-realfs-{}", std::process::id()));
        let fs = RealFs;
        fs.create_dir_all(&dir).unwrap();
        let path = dir.join("a");
        let f = fs.open(&path, OpenMode::CreateNew).unwrap();
        assert!(matches!(
            fs.open(&path, OpenMode::CreateNew),
            Err(FsError::AlreadyExists { .. })
        ));
        f.write_at(2, b"xy").unwrap();
        assert_eq!(f.read_all().unwrap(), b"\0\0xy");
        let mut buf = [0u8; 5];
        assert!(matches!(
            f.read_at(0, &mut buf),
            Err(FsError::ReadPastEnd { .. })
        ));
        assert_eq!(f.append(b"z").unwrap(), 4);
        f.set_len(6).unwrap();
        f.sync().unwrap();
        fs.rename(&path, &dir.join("b")).unwrap();
        fs.sync_dir(&dir).unwrap();
        assert_eq!(fs.list(&dir).unwrap(), ["b"]);
        fs.remove(&dir.join("b")).unwrap();
        assert!(
            fs.open(&path, OpenMode::Existing)
                .unwrap_err()
                .is_not_found()
        );
        fs::remove_dir(&dir).unwrap();
    }
}
