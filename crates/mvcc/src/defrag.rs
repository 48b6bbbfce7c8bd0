//! Defragmentation and space accounting of the store's redb file (etcd's Defragment and the
//! `dbSizeInUse` of its Status).

use crate::error::{Result, backend};
use crate::store::Store;

impl Store {
    /// Bytes of the file that hold live pages (etcd's `dbSizeInUse`); the rest of the file
    /// is free space a [`Store::defragment`] gives back.
    pub fn space_in_use(&self) -> Result<u64> {
        self.check_usable()?;
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
    pub fn defragment(&mut self) -> Result<bool> {
        self.sync()?;
        match self.db.compact() {
            Ok(compacted) => Ok(compacted),
            Err(error) => {
                self.poisoned = true;
                Err(backend(error))
            }
        }
    }
}
