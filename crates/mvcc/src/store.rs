//! The store: redb tables, the in-memory index, open/restore, and the write plumbing that puts
//! every change and its consistent index into one redb transaction.

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition,
    WriteTransaction,
};

use crate::backend::{BoxedBackend, FileLength};
use crate::batch::Batch;
use crate::codec;
use crate::error::{MvccError, Result, backend};
use crate::index::{IndexEntry, KeyIndex};
use crate::lease::{Lease, Leases};
use crate::revision::{Revision, RevisionKey};
use crate::types::Event;
use crate::write::WriteCtx;

/// Revision records: `(main, sub)` → encoded record (see `codec`).
pub(crate) const KV: TableDefinition<RevisionKey, &[u8]> = TableDefinition::new("kv");
/// Leases: ID → `(granted TTL seconds, granted-at revision, checkpointed remaining TTL
/// seconds or 0)`.
pub(crate) const LEASE: TableDefinition<i64, (i64, i64, i64)> = TableDefinition::new("lease");
/// Scalars: current revision, compact revision, consistent index, number of opens.
pub(crate) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

pub(crate) const META_CURRENT_REVISION: &str = "current_revision";
pub(crate) const META_COMPACT_REVISION: &str = "compact_revision";
pub(crate) const META_CONSISTENT_INDEX: &str = "consistent_index";
pub(crate) const META_OPENS: &str = "opens";

/// The largest TTL a lease may be granted (etcd's `MaxLeaseTTL`).
pub const LEASE_TTL_SECONDS_MAX: i64 = 9_000_000_000;

/// Store options. Every field is a limit or a policy; [`Config::default`] matches etcd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Longest compare list or branch of a txn (etcd's `--max-txn-ops`, 128).
    pub txn_ops_max: usize,
    /// Leases are granted at least this TTL (etcd: 1.5 election timeouts, 2 s by default).
    pub lease_ttl_seconds_min: i64,
    /// Every this many backend commits, one is durable (synced); the others are not. 1 makes
    /// every commit durable. [`Store::sync`] forces one at any time.
    pub commits_per_sync: u64,
    /// Most revisions in one catch-up watch response (etcd's `watchBatchMaxRevs`, 1000).
    pub watch_catch_up_revisions_max: usize,
    /// Deliberate defects (only with the `defects` feature; all off by default).
    #[cfg(feature = "defects")]
    pub defects: crate::Defects,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            txn_ops_max: 128,
            lease_ttl_seconds_min: 2,
            commits_per_sync: 1,
            watch_catch_up_revisions_max: 1000,
            #[cfg(feature = "defects")]
            defects: crate::Defects::default(),
        }
    }
}

impl Config {
    /// Checks that the limits make sense.
    pub fn validate(&self) -> std::result::Result<(), &'static str> {
        if self.txn_ops_max == 0 {
            return Err("txn_ops_max must be at least 1");
        }
        if self.commits_per_sync == 0 {
            return Err("commits_per_sync must be at least 1");
        }
        if self.watch_catch_up_revisions_max == 0 {
            return Err("watch_catch_up_revisions_max must be at least 1");
        }
        if !(0..=LEASE_TTL_SECONDS_MAX).contains(&self.lease_ttl_seconds_min) {
            return Err("lease_ttl_seconds_min must be in [0, LEASE_TTL_SECONDS_MAX]");
        }
        Ok(())
    }
}

/// A response together with the watch events the request produced (empty for reads and for
/// writes that changed nothing). Events carry no `prev_kv`; watch matching adds it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Applied<T> {
    /// The response for the client.
    pub response: T,
    /// The events, all at one revision, in sub-revision order.
    pub events: Vec<Event>,
}

/// etcd's revisioned keyspace on redb. See the crate docs for the call protocol.
pub struct Store {
    pub(crate) db: Database,
    pub(crate) config: Config,
    pub(crate) index: KeyIndex,
    pub(crate) leases: Leases,
    /// Invariant: never decreases; equals the highest main revision ever written, or 1 for a
    /// store never written (etcd starts a fresh store at revision 1, so the first write is 2).
    pub(crate) current_revision: i64,
    /// Invariant: -1 (never compacted) or in `[0, current_revision]`; never decreases.
    pub(crate) compact_revision: i64,
    /// The last applied raft index. Invariant: strictly increases with every apply.
    pub(crate) consistent_index: u64,
    /// The consistent index of the last durable (synced) commit.
    durable_consistent_index: u64,
    /// Backend commits since the last durable one.
    pub(crate) commits_since_sync: u64,
    /// Set by a backend failure; every later call fails with [`MvccError::Poisoned`].
    pub(crate) poisoned: bool,
    /// How many times the store was opened, this time included. Invariant: durable, and
    /// above the value of every earlier open of the same file.
    opens: u64,
    /// The backend file's length. Invariant: equals the file's length (every change to it
    /// goes through the store's backend).
    file_length: FileLength,
    /// The batch in progress, between [`Store::begin_batch`] and [`Store::commit_batch`].
    pub(crate) batch: Option<Batch>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("current_revision", &self.current_revision)
            .field("compact_revision", &self.compact_revision)
            .field("consistent_index", &self.consistent_index)
            .field("keys", &self.index.key_count())
            .field("poisoned", &self.poisoned)
            .field("in_batch", &self.batch.is_some())
            .finish_non_exhaustive()
    }
}

fn corrupted(what: impl Into<String>) -> MvccError {
    MvccError::Corrupted(what.into())
}

impl Store {
    /// Opens (or creates) a store on `storage`: checks the redb file's integrity, then rebuilds
    /// the index and the leases from the tables. Bad bytes are [`MvccError::Corrupted`].
    pub fn open(storage: Box<dyn StorageBackend>, config: Config) -> Result<Store> {
        config.validate().map_err(MvccError::InvalidConfig)?;
        let (storage, file_length) = BoxedBackend::new(storage).map_err(backend)?;
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create_with_backend(storage)
            .map_err(backend)?;
        let mut store = Store {
            db,
            config,
            index: KeyIndex::default(),
            leases: Leases::default(),
            current_revision: 1,
            compact_revision: -1,
            consistent_index: 0,
            durable_consistent_index: 0,
            commits_since_sync: 0,
            poisoned: false,
            opens: 0,
            file_length,
            batch: None,
        };
        store.create_tables()?;
        store.restore()?;
        store.attach_restored_leases()?;
        Ok(store)
    }

    fn create_tables(&mut self) -> Result<()> {
        let txn = self.db.begin_write().map_err(backend)?;
        {
            txn.open_table(KV).map_err(backend)?;
            txn.open_table(LEASE).map_err(backend)?;
            let mut meta = txn.open_table(META).map_err(backend)?;
            if meta.get(META_CURRENT_REVISION).map_err(backend)?.is_none() {
                // etcd's fresh store is at revision 1 (nothing is stored at it).
                meta.insert(META_CURRENT_REVISION, 1).map_err(backend)?;
                meta.insert(META_COMPACT_REVISION, -1).map_err(backend)?;
                meta.insert(META_CONSISTENT_INDEX, 0).map_err(backend)?;
            }
            let opens = meta
                .get(META_OPENS)
                .map_err(backend)?
                .map_or(0, |g| g.value());
            let opens = opens
                .checked_add(1)
                .filter(|opens| *opens > 0)
                .ok_or_else(|| corrupted(format!("meta {META_OPENS} is {opens}")))?;
            meta.insert(META_OPENS, opens).map_err(backend)?;
            self.opens = opens.unsigned_abs();
        }
        // Durable (redb's default), so that a later open counts past this one.
        txn.commit().map_err(backend)
    }

    pub(crate) fn restore(&mut self) -> Result<()> {
        let read = self.db.begin_read().map_err(backend)?;
        let meta = read.open_table(META).map_err(backend)?;
        let scalar = |name: &str| -> Result<i64> {
            let value = meta.get(name).map_err(backend)?;
            value
                .map(|guard| guard.value())
                .ok_or_else(|| corrupted(format!("meta {name} missing")))
        };
        self.current_revision = scalar(META_CURRENT_REVISION)?;
        self.compact_revision = scalar(META_COMPACT_REVISION)?;
        let index = scalar(META_CONSISTENT_INDEX)?;
        self.consistent_index =
            u64::try_from(index).map_err(|_| corrupted("negative consistent index"))?;
        self.durable_consistent_index = self.consistent_index;
        if self.current_revision < 1
            || self.compact_revision < -1
            || self.compact_revision > self.current_revision
        {
            return Err(corrupted(format!(
                "meta revisions inconsistent: current {}, compact {}",
                self.current_revision, self.compact_revision
            )));
        }
        let leases = read.open_table(LEASE).map_err(backend)?;
        for item in leases.iter().map_err(backend)? {
            let (id, value) = item.map_err(backend)?;
            let (ttl, granted_revision, remaining) = value.value();
            self.leases.insert(
                id.value(),
                Lease {
                    remaining_ttl_seconds: remaining,
                    ..Lease::new(ttl, granted_revision)
                },
            );
        }
        let kv = read.open_table(KV).map_err(backend)?;
        for item in kv.iter().map_err(backend)? {
            let (key, value) = item.map_err(backend)?;
            let revision = Revision::from_key(key.value())?;
            let record = codec::decode(revision, value.value())?;
            self.restore_record(revision, record)?;
        }
        Ok(())
    }

    fn restore_record(&mut self, revision: Revision, record: codec::Record) -> Result<()> {
        if revision.main > self.current_revision {
            return Err(corrupted(format!(
                "record at revision {} is above the current revision {}",
                revision.main, self.current_revision
            )));
        }
        let entry = if record.tombstone {
            IndexEntry {
                revision,
                create_revision: 0,
                version: 0,
                lease: 0,
            }
        } else {
            IndexEntry {
                revision,
                create_revision: record.kv.create_revision,
                version: record.kv.version,
                lease: record.kv.lease,
            }
        };
        if !self
            .index
            .restore(&record.kv.key, entry, self.compact_revision)
        {
            return Err(corrupted(format!(
                "record at revision {revision:?} breaks its key's history"
            )));
        }
        Ok(())
    }

    /// Rebuilds the lease attachments from the index (after restore).
    pub(crate) fn attach_restored_leases(&mut self) -> Result<()> {
        let live: Vec<(Vec<u8>, i64)> = self
            .index
            .live_in(crate::revision::KeyRange::From(&[]), self.current_revision)
            .filter(|(_, entry)| entry.lease != 0)
            .map(|(key, entry)| (key.to_vec(), entry.lease))
            .collect();
        for (key, lease) in live {
            if !self.leases.attach(lease, &key) {
                return Err(corrupted(format!("key attached to missing lease {lease}")));
            }
        }
        Ok(())
    }

    /// The current store revision: 1 for a fresh store, as in etcd (nothing is stored at it,
    /// and the first write gets revision 2).
    pub fn revision(&self) -> i64 {
        self.current_revision
    }

    /// The compacted revision: -1 if never compacted.
    pub fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    /// How many times this store's file was opened, this time included (durable before
    /// [`Store::open`] returns): it tells this run of the member from every earlier one.
    pub fn opens(&self) -> u64 {
        self.opens
    }

    /// The last applied raft index (durable or not).
    pub fn consistent_index(&self) -> u64 {
        self.consistent_index
    }

    /// The length of the store's file in bytes (etcd's `dbSize`), known without a file
    /// system call: the store's backend sees every change of it.
    pub fn db_size_bytes(&self) -> u64 {
        self.file_length.get()
    }

    /// The consistent index as of the last durable commit: after a crash the store reopens
    /// with exactly this index, so the WAL must keep every entry above it.
    pub fn durable_consistent_index(&self) -> u64 {
        self.durable_consistent_index
    }

    /// Checks the store's invariants (O(keys); for tests and the simulator after each event):
    /// revisions, the index's per-key order, and the lease attachments.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        if self.current_revision < 1 {
            return Err(format!(
                "current revision {} below 1",
                self.current_revision
            ));
        }
        if self.compact_revision < -1 || self.compact_revision > self.current_revision {
            return Err(format!(
                "compact revision {} outside [-1, {}]",
                self.compact_revision, self.current_revision
            ));
        }
        if self.durable_consistent_index > self.consistent_index {
            return Err("durable consistent index above the consistent index".into());
        }
        self.index
            .check(self.current_revision, self.compact_revision)?;
        self.check_lease_invariants()
    }

    /// The store's limits and policies.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        if self.poisoned {
            Err(MvccError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Starts applying raft entry `index`: every mutating call (even one that fails with a
    /// client error) consumes one index.
    ///
    /// # Panics
    /// If `index` does not exceed the consistent index: the caller must skip entries that the
    /// store already holds (`index <= consistent_index()`) when replaying the WAL.
    pub(crate) fn begin_apply(&mut self, index: u64) -> Result<()> {
        self.check_usable()?;
        assert!(
            index > self.consistent_index,
            "raft index {index} applied twice (consistent index {})",
            self.consistent_index
        );
        self.consistent_index = index;
        Ok(())
    }

    /// Makes everything applied so far durable: one synced backend commit.
    ///
    /// # Panics
    /// While a batch is open ([`Store::begin_batch`]): commit it first.
    pub fn sync(&mut self) -> Result<()> {
        self.assert_no_batch("sync");
        self.write(true, |_| Ok(())).map(|_| ())
    }

    /// Records that raft entry `index` carries nothing for this store (e.g. a membership change).
    pub fn skip(&mut self, index: u64) -> Result<()> {
        self.begin_apply(index)
    }

    /// Runs `body` in a redb write transaction: its own one, committed with the consistent
    /// index and the revision scalars, or the open batch's (committed by
    /// [`Store::commit_batch`]). If `body` fails with a client error (only a put with
    /// `ignore_*` on a key that an earlier op of the same txn deleted), its changes are
    /// undone, in memory and in the transaction; any other failure poisons the store.
    pub(crate) fn write<R>(
        &mut self,
        force_sync: bool,
        body: impl FnOnce(&mut WriteCtx<'_>) -> Result<R>,
    ) -> Result<(R, Vec<Event>)> {
        self.check_usable()?;
        let result = if self.batch.is_some() {
            assert!(!force_sync, "a synced commit inside a batch");
            self.write_in_batch(body)
        } else {
            self.write_alone(force_sync, body)
        };
        if let Err(error) = &result
            && !error.is_client_error()
        {
            self.poison();
        }
        result
    }

    /// Marks the store unusable after a backend failure; an open batch is dropped (its
    /// redb transaction aborts).
    pub(crate) fn poison(&mut self) {
        self.poisoned = true;
        self.batch = None;
    }

    /// One write in its own transaction, committed at once.
    fn write_alone<R>(
        &mut self,
        force_sync: bool,
        body: impl FnOnce(&mut WriteCtx<'_>) -> Result<R>,
    ) -> Result<(R, Vec<Event>)> {
        let txn = self.db.begin_write().map_err(backend)?;
        let (result, changes) = self.write_body(&txn, body)?;
        self.commit_txn(txn, force_sync)?;
        Ok((result, changes))
    }

    /// Runs `body` on the tables of `txn` and takes the revisions it leaves.
    pub(crate) fn write_body<R>(
        &mut self,
        txn: &WriteTransaction,
        body: impl FnOnce(&mut WriteCtx<'_>) -> Result<R>,
    ) -> Result<(R, Vec<Event>)> {
        let mut ctx = WriteCtx {
            kv: txn.open_table(KV).map_err(backend)?,
            lease: txn.open_table(LEASE).map_err(backend)?,
            index: &mut self.index,
            leases: &mut self.leases,
            begin_revision: self.current_revision,
            compact_revision: self.compact_revision,
            changes: Vec::new(),
            undo: Vec::new(),
        };
        let result = match body(&mut ctx) {
            Ok(result) => result,
            Err(error) if error.is_client_error() => {
                // etcd panics here (a write txn failing midway); Invar undoes the changes
                // instead, so the transaction (a batch's, with other entries' changes in
                // it) holds none of them.
                ctx.roll_back()?;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        let revision = ctx.view_revision();
        let compact_revision = ctx.compact_revision;
        let changes = std::mem::take(&mut ctx.changes);
        drop(ctx);
        assert!(revision >= self.current_revision, "revision went backwards");
        assert!(
            compact_revision >= self.compact_revision,
            "compact revision went backwards"
        );
        self.current_revision = revision;
        self.compact_revision = compact_revision;
        Ok((result, changes))
    }

    /// Commits `txn` with the revision scalars and the consistent index: durable (synced)
    /// if forced or if it is the [`Config::commits_per_sync`]-th commit since the last
    /// durable one.
    pub(crate) fn commit_txn(&mut self, mut txn: WriteTransaction, force_sync: bool) -> Result<()> {
        let sync = force_sync || self.commits_since_sync + 1 >= self.config.commits_per_sync;
        let durability = if sync {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability).map_err(backend)?;
        let separate_index = self.index_in_separate_txn();
        let consistent_index = i64::try_from(self.consistent_index)
            .map_err(|_| MvccError::Backend("consistent index above i64::MAX".into()))?;
        {
            let mut meta = txn.open_table(META).map_err(backend)?;
            meta.insert(META_CURRENT_REVISION, self.current_revision)
                .map_err(backend)?;
            meta.insert(META_COMPACT_REVISION, self.compact_revision)
                .map_err(backend)?;
            if !separate_index {
                meta.insert(META_CONSISTENT_INDEX, consistent_index)
                    .map_err(backend)?;
            }
        }
        txn.commit().map_err(backend)?;
        if separate_index {
            // Defect `consistent-index-separate-txn`: the index follows in its own, lazily
            // durable transaction.
            let mut txn = self.db.begin_write().map_err(backend)?;
            txn.set_durability(Durability::None).map_err(backend)?;
            txn.open_table(META)
                .map_err(backend)?
                .insert(META_CONSISTENT_INDEX, consistent_index)
                .map_err(backend)?;
            txn.commit().map_err(backend)?;
        }
        if sync {
            self.commits_since_sync = 0;
            self.durable_consistent_index = self.consistent_index;
        } else {
            self.commits_since_sync += 1;
        }
        Ok(())
    }

    /// Whether the consistent index is written apart from the data (a deliberate defect).
    fn index_in_separate_txn(&self) -> bool {
        #[cfg(feature = "defects")]
        if self.config.defects.consistent_index_separate_txn {
            return true;
        }
        false
    }

    /// Reads one record that the index says exists.
    pub(crate) fn read_record<T>(table: &T, revision: Revision) -> Result<codec::Record>
    where
        T: ReadableTable<RevisionKey, &'static [u8]>,
    {
        let guard = table.get(revision.to_key()).map_err(backend)?;
        let guard = guard.ok_or_else(|| {
            corrupted(format!(
                "index names revision {revision:?}, absent from the kv table"
            ))
        })?;
        codec::decode(revision, guard.value())
    }
}

// The production shell moves the store to its apply thread: it must stay `Send`.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
    assert_send::<crate::WatchStream>();
};
