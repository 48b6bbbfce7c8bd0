//! Batches: many applied raft entries in one redb write transaction, committed once with the
//! consistent index of the last of them (etcd's batched backend commits).
//!
//! Between [`Store::begin_batch`] and [`Store::commit_batch`] every mutating call shares the
//! batch's transaction (opened by its first write; a batch that writes nothing commits
//! nothing, as [`Store::skip`] alone does not), and every read sees the batch's own writes:
//! the apply path reads the store (a txn's compares, a watcher's previous kv) between the
//! writes of one batch. A client error undoes only its own request's changes. The commit
//! counts as one toward [`crate::Config::commits_per_sync`]; a crash before it loses the
//! whole batch, and the store reopens at its last durable consistent index.

use redb::WriteTransaction;

use crate::error::{Result, backend};
use crate::store::Store;
use crate::types::Event;
use crate::write::WriteCtx;

/// The batch in progress.
#[derive(Default)]
pub(crate) struct Batch {
    /// Opened by the batch's first write.
    pub(crate) txn: Option<WriteTransaction>,
}

/// Runs `$body` with `$table` bound to the `kv` table as the store sees it now: the open
/// batch's writes included (its write transaction's table), or else the last commit (a read
/// transaction's). The body is compiled for both table types, so it must be generic over
/// `ReadableTable`; the enclosing function returns `crate::Result`.
macro_rules! with_kv {
    ($store:expr, |$table:ident| $body:expr) => {{
        let store: &$crate::store::Store = $store;
        match store.batch.as_ref().and_then(|batch| batch.txn.as_ref()) {
            Some(txn) => {
                let $table = txn
                    .open_table($crate::store::KV)
                    .map_err($crate::error::backend)?;
                $body
            }
            None => {
                let read = redb::ReadableDatabase::begin_read(&store.db)
                    .map_err($crate::error::backend)?;
                let $table = read
                    .open_table($crate::store::KV)
                    .map_err($crate::error::backend)?;
                $body
            }
        }
    }};
}
pub(crate) use with_kv;

impl Store {
    /// Starts a batch: the applies that follow share one redb write transaction, committed
    /// by [`Store::commit_batch`] (see the module docs of `batch`).
    ///
    /// # Panics
    /// If a batch is already open.
    pub fn begin_batch(&mut self) -> Result<()> {
        self.check_usable()?;
        assert!(self.batch.is_none(), "a batch is already open");
        self.batch = Some(Batch::default());
        Ok(())
    }

    /// Whether a batch is open.
    pub fn in_batch(&self) -> bool {
        self.batch.is_some()
    }

    /// Commits the open batch: its changes, the revisions and the consistent index (the last
    /// applied entry's, skipped ones included) in one redb commit, durable if it is the
    /// [`crate::Config::commits_per_sync`]-th since the last durable one. A batch that wrote
    /// nothing commits nothing. A failure poisons the store.
    ///
    /// # Panics
    /// If no batch is open.
    pub fn commit_batch(&mut self) -> Result<()> {
        self.check_usable()?;
        let batch = self.batch.take().expect("commit_batch without begin_batch");
        let Some(txn) = batch.txn else {
            return Ok(());
        };
        let result = self.commit_txn(txn, false);
        if result.is_err() {
            self.poison();
        }
        result
    }

    /// One write in the open batch's transaction (opened by the first).
    pub(crate) fn write_in_batch<R>(
        &mut self,
        body: impl FnOnce(&mut WriteCtx<'_>) -> Result<R>,
    ) -> Result<(R, Vec<Event>)> {
        let mut batch = self.batch.take().expect("write_in_batch outside a batch");
        let txn = match batch.txn.take() {
            Some(txn) => txn,
            None => match self.db.begin_write() {
                Ok(txn) => txn,
                Err(error) => {
                    self.batch = Some(batch);
                    return Err(backend(error));
                }
            },
        };
        let result = self.write_body(&txn, body);
        batch.txn = Some(txn);
        self.batch = Some(batch);
        result
    }

    /// Calls that need a transaction of their own (or a committed state) refuse to run
    /// inside a batch: a caller bug.
    pub(crate) fn assert_no_batch(&self, call: &str) {
        assert!(self.batch.is_none(), "{call} while a batch is open");
    }
}
