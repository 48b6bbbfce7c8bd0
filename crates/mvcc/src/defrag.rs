//! Defragmentation and space accounting of the store's redb file (etcd's Defragment and the
//! `dbSizeInUse` of its Status).

use crate::error::{Result, backend};
use crate::store::Store;

impl Store {
    /// Bytes of the file that hold live pages (etcd's `dbSizeInUse`); the rest of the file
    /// is free space a [`Store::defragment`] gives back.
    ///
    /// # Panics
    /// While a batch is open (it holds the one write transaction redb allows).
    pub fn space_in_use(&self) -> Result<u64> {
        self.check_usable()?;
        self.assert_no_batch("space_in_use");
        let txn = self.db.begin_write().map_err(backend)?;
        let stats = txn.stats().map_err(backend)?;
        txn.abort().map_err(backend)?;
        Ok(stats
            .allocated_pages()
            .saturating_mul(stats.page_size() as u64))
    }

    /// Moves the live pages to the front of the file and truncates it (redb's compaction),
    /// after a durable commit of everything applied so far. Contents, revisions and the
    /// consistent index are unchanged. Returns whether the file changed. A failure poisons
    /// the store (reopen it): redb's compaction is crash safe, so the file still holds the
    /// last durable state.
    ///
    /// # Panics
    /// While a batch is open.
    pub fn defragment(&mut self) -> Result<bool> {
        self.assert_no_batch("defragment");
        self.sync()?;
        match self.db.compact() {
            Ok(compacted) => Ok(compacted),
            Err(error) => {
                self.poison();
                Err(backend(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use invar_storage::fs::{File, FileSystem, OpenMode, SimFs};

    use crate::{
        CompactionRequest, Config, DeleteRangeRequest, FileBackend, MemBackend, PutRequest,
        Request, Store,
    };

    /// Writes 200 values of 1 KiB, deletes them, compacts, defragments; after each step
    /// `check` compares the store's in-memory file length with the file's. Returns the
    /// lengths seen after the writes and after the defragment.
    fn exercise(store: &mut Store, check: &dyn Fn(&Store, &str)) -> (u64, u64) {
        check(store, "open");
        let mut index = 0;
        let mut apply = |store: &mut Store, request: Request| {
            index += 1;
            let _ = store.apply(index, &request).expect("apply");
        };
        for k in 0..200 {
            let put = PutRequest {
                key: format!("k{k:03}").into_bytes(),
                value: vec![b'x'; 1024],
                ..PutRequest::default()
            };
            apply(store, Request::Put(put));
        }
        check(store, "puts");
        let grown = store.db_size_bytes();
        let delete = DeleteRangeRequest {
            key: b"k".to_vec(),
            range_end: b"l".to_vec(),
            prev_kv: false,
        };
        apply(store, Request::DeleteRange(delete));
        check(store, "delete");
        let compact = CompactionRequest {
            revision: store.revision(),
            physical: true,
        };
        apply(store, Request::Compact(compact));
        check(store, "compact");
        store.defragment().expect("defragment");
        check(store, "defragment");
        (grown, store.db_size_bytes())
    }

    /// Goal: the length the store keeps in memory (for Status and the quota, with no file
    /// system call) is the file's length after writes, compaction, defragment and a
    /// reopen. Method: the same workload on the in-memory backend (its live bytes) and on
    /// a file of the simulated file system (its length through the file trait); the
    /// defragment must shrink the file, so the check covers a truncation too.
    #[test]
    fn in_memory_length_is_the_file_length() {
        let config = Config {
            commits_per_sync: 3,
            ..Config::default()
        };
        let memory = MemBackend::new();
        let mut store = Store::open(Box::new(memory.clone()), config).expect("open");
        let check = |store: &Store, step: &str| {
            let live = memory.live_bytes().len() as u64;
            assert_eq!(store.db_size_bytes(), live, "mem backend after {step}");
        };
        let (grown, defragmented) = exercise(&mut store, &check);
        assert!(defragmented < grown, "defragment freed nothing: {grown}");
        drop(store);
        let store = Store::open(Box::new(memory.clone()), config).expect("reopen");
        check(&store, "reopen");

        let fs = SimFs::with_seed(9);
        let path = std::path::Path::new("/store.redb");
        let open = || {
            Store::open(
                Box::new(FileBackend::open(&fs, path).expect("file")),
                config,
            )
        };
        let mut store = open().expect("open");
        let check = |store: &Store, step: &str| {
            let file = fs.open(path, OpenMode::Existing).expect("open the file");
            let len = file.len().expect("file length");
            assert_eq!(store.db_size_bytes(), len, "sim fs file after {step}");
        };
        let (grown, defragmented) = exercise(&mut store, &check);
        assert!(defragmented < grown, "defragment freed nothing: {grown}");
        drop(store);
        let store = open().expect("reopen");
        check(&store, "reopen");
    }
}
