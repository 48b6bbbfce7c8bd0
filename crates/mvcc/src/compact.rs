//! Compaction: physical removal of every revision that no read or watch at or after the
//! compact revision can reach, in the same redb transaction as the new compact revision.
//! Every record at or above the compact revision stays, so a watcher that starts exactly at it
//! gets all of that revision's events, deletes included.

use crate::error::{MvccError, Result, backend};
use crate::store::{Applied, Store};
use crate::types::{CompactionRequest, CompactionResponse, ResponseHeader};

impl Store {
    /// Applies a Compact as raft entry `index`. Keeps everything at or above `req.revision`
    /// (a delete at exactly `req.revision` included, for watchers that start there) and, for
    /// every key without a record at `req.revision`, its latest revision below it unless that
    /// is a delete.
    pub fn compact(
        &mut self,
        index: u64,
        req: &CompactionRequest,
    ) -> Result<Applied<CompactionResponse>> {
        self.begin_apply(index)?;
        let revision = req.revision;
        if revision <= self.compact_revision {
            return Err(MvccError::Compacted);
        }
        if revision > self.current_revision {
            return Err(MvccError::FutureRevision);
        }
        #[cfg(feature = "defects")]
        let drop_latest = self.config.defects.compact_drops_latest;
        #[cfg(not(feature = "defects"))]
        let drop_latest = false;
        self.write(false, |ctx| {
            for removed in ctx.index.compact(revision, drop_latest) {
                ctx.kv.remove(removed.to_key()).map_err(backend)?;
            }
            ctx.compact_revision = revision;
            Ok(())
        })?;
        assert_eq!(self.compact_revision, revision, "compaction not recorded");
        let response = CompactionResponse {
            header: ResponseHeader::at(self.current_revision),
        };
        Ok(Applied {
            response,
            events: Vec::new(),
        })
    }
}
