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

use redb::ReadableDatabase;

use crate::codec::{self, hash_record};
use crate::error::{MvccError, Result, backend};
use crate::revision::Revision;
use crate::store::{KV, Store};
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
            let read = self.db.begin_read().map_err(backend)?;
            let table = read.open_table(KV).map_err(backend)?;
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
        }
        Ok(HashKvResponse {
            header: ResponseHeader::at(self.current_revision),
            hash,
            compact_revision: self.compact_revision,
            hash_revision: revision,
        })
    }
}
