//! HashKV: a CRC32C over the stored revisions up to a revision, so that members can compare
//! their keyspaces. Only equal `compact_revision`s make two hashes comparable, as in etcd.
//! The bytes hashed are Invar's canonical form ([`crate::hash_record`]), not etcd's protobuf,
//! so the values differ from a real etcd's.
//!
//! At or below the compact revision C, a record counts only if it is its key's latest record
//! at or below C and not a delete: what etcd's `keep` map counts. Compaction at C also stores
//! the other records of revision C (a delete at C above all, for watchers that start there:
//! etcd #19179), but they are not hashed. etcd does the same since #18274 (its `keep` map
//! leaves a delete at C out, and its hasher skips it), so that a store compacted before that
//! fix, which removed the delete, hashes equal to one compacted after it; here it keeps the
//! hash of a compacted store what it was before Invar kept those records.

use redb::ReadableTable;

use crate::batch::with_kv;
use crate::codec::{self, hash_record};
use crate::error::{MvccError, Result, backend};
use crate::revision::{Revision, RevisionKey};
use crate::store::Store;
use crate::types::{HashKvRequest, HashKvResponse, ResponseHeader};

impl Store {
    /// Hashes every stored revision with main revision `<= req.revision` (0: current); at or
    /// below the compact revision only each key's latest record there, if it is not a delete.
    pub fn hash_kv(&self, req: &HashKvRequest) -> Result<HashKvResponse> {
        self.check_usable()?;
        let mut revision = req.revision;
        if revision > 0 && revision < self.compact_revision {
            return Err(MvccError::Compacted);
        }
        if revision > 0 && revision > self.current_revision {
            return Err(MvccError::FutureRevision);
        }
        if revision == 0 {
            revision = self.current_revision;
        }
        let mut hash = 0u32;
        if let Ok(upper) = u64::try_from(revision) {
            hash = with_kv!(self, |table| self.hash_table(&table, upper))?;
        }
        Ok(HashKvResponse {
            header: ResponseHeader::at(self.current_revision),
            hash,
            compact_revision: self.compact_revision,
            hash_revision: revision,
        })
    }

    /// The hash of the records of `table` with main revision `<= upper` (see the module
    /// docs for which ones count at or below the compact revision).
    fn hash_table<T>(&self, table: &T, upper: u64) -> Result<u32>
    where
        T: ReadableTable<RevisionKey, &'static [u8]>,
    {
        let mut hash = 0u32;
        for item in table.range(..=(upper, u64::MAX)).map_err(backend)? {
            let (key, value) = item.map_err(backend)?;
            let at = Revision::from_key(key.value())?;
            let record = codec::decode(at, value.value())?;
            if at.main <= self.compact_revision {
                let counted = !record.tombstone
                    && self
                        .index
                        .latest(&record.kv.key, self.compact_revision)
                        .is_some_and(|latest| latest.revision == at);
                if !counted {
                    continue;
                }
            }
            hash = hash_record(hash, at.main, at.sub, &record.kv, record.tombstone);
        }
        Ok(hash)
    }
}
