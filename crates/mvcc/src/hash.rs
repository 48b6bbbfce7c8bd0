//! HashKV: a CRC32C over the stored revisions up to a revision, so that members can compare
//! their keyspaces. Only equal `compact_revision`s make two hashes comparable, as in etcd.
//! The bytes hashed are Invar's canonical form ([`crate::hash_record`]), not etcd's protobuf,
//! so the values differ from a real etcd's.

use redb::ReadableDatabase;

use crate::codec::{self, hash_record};
use crate::error::{MvccError, Result, backend};
use crate::revision::Revision;
use crate::store::{KV, Store};
use crate::types::{HashKvRequest, HashKvResponse, ResponseHeader};

impl Store {
    /// Hashes every stored revision with main revision `<= req.revision` (0: current).
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
