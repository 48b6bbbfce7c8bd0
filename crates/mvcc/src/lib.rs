//! `invar-mvcc`: etcd's revisioned keyspace (MVCC) with etcd v3's exact semantics, stored in
//! redb through any redb `StorageBackend` (the real disk or the simulated one).
//!
//! What it holds: every revision of every key (`kv` table, keyed by `(main, sub)` revision),
//! the leases (`lease` table), and the current revision, compact revision and consistent
//! index (`meta` table). An in-memory index of each key's revisions is rebuilt on open.
//!
//! What it never does: read a clock, draw randomness, spawn threads or touch `std::fs`. Time
//! (lease expiry) belongs to the member, which calls [`Store::lease_revoke`].
//!
//! # Invariants
//! - The revision never decreases; a mutating request that changes nothing (a delete that
//!   matches no key, a txn whose branch writes nothing) does not bump it.
//! - All changes of one request share one main revision, with sub revisions 0, 1, 2, ….
//! - The compact revision never decreases and never exceeds the current revision.
//! - Compaction at C keeps every record at or above C, a delete made at exactly C included
//!   (etcd #19179, fixed by #18274 and #19249), so a watcher that starts at C gets all of C's
//!   events; the next compaction removes that delete. [`Store::hash_kv`] leaves it out, as
//!   etcd does.
//! - The consistent index is written in the same redb transaction as the changes that its raft
//!   entry produced (in a batch: the changes of all its entries and the last one's index).
//!
//! # Call protocol (for the member)
//! 1. [`Store::open`] on the backend. Replay the WAL from entry
//!    [`Store::consistent_index`]` + 1`: entries at or below it are already applied.
//! 2. Apply committed entries in log order, each with its raft index: [`Store::apply`] with a
//!    [`Request`], or directly [`Store::put`], [`Store::delete_range`], [`Store::txn`],
//!    [`Store::compact`], [`Store::lease_grant`], [`Store::lease_revoke`],
//!    [`Store::lease_checkpoints`]; [`Store::skip`] for entries without a store effect. A
//!    client error still consumes the index (replaying it fails the same way). Each call
//!    commits its own redb transaction, unless a batch is open: between
//!    [`Store::begin_batch`] and [`Store::commit_batch`] (the member brackets the committed
//!    entries of one raft Ready) they share one, committed once with the last index; reads
//!    in between see the batch's writes. Acknowledge nothing of a batch before its commit.
//! 3. Pass each [`Applied::events`] to every [`WatchStream::notify`], and call
//!    [`WatchStream::catch_up`] while [`WatchStream::needs_catch_up`].
//! 4. Serve reads with [`Store::range`], [`Store::txn_read_only`], [`Store::hash_kv`].
//! 5. Only every [`Config::commits_per_sync`]-th backend commit (a batch's counts as one) is
//!    synced, and [`Store::sync`] forces one. Before releasing WAL entries (a raft snapshot),
//!    call [`Store::sync`]: the WAL must keep every entry above
//!    [`Store::durable_consistent_index`].
//!
//! # Crash contract
//! After a crash the store reopens at the state of its last synced commit, which includes the
//! consistent index of the last entry it applied. Replaying the WAL from that index + 1
//! restores exactly the acknowledged state: nothing acknowledged is lost (the WAL was synced
//! before the acknowledgement) and nothing is applied twice (applying an index at or below the
//! consistent index is a caller bug and panics).
//!
//! # Errors
//! Every client-caused failure is an [`MvccError`] whose text is etcd's exact message and whose
//! [`MvccError::code`] is etcd's gRPC code. Backend failures poison the store (reopen it);
//! corrupt bytes are [`MvccError::Corrupted`].

//!
//! # etcd quirks kept on purpose (clients may depend on them)
//! - A range with sort order NONE and a non-KEY sort target fetches only the first
//!   `limit + 1` keys (by key) before sorting them.
//! - In a txn, a range revision below the compact revision is an error even when negative
//!   (a plain Range treats any revision `<= 0` as "latest").
//! - The txn duplicate-key check does not give a delete's `range_end = "\0"` its "all keys"
//!   meaning, so such a delete conflicts with no put.
//! - prev_kv is absent when `mod_revision - 1` is compacted (so a watcher starting at the
//!   compact revision C gets C's events without it).
//!
//! # Deviations from etcd
//! - A write txn that fails midway (a put with `ignore_*` on a key an earlier op of the same
//!   txn deleted, reachable through the quirk above) makes etcd panic; here it fails with
//!   "key not found" and changes nothing.
//! - Txns nest at most [`validate::TXN_DEPTH_MAX`] deep (deeper ones get "too many
//!   operations"), so that no request can exhaust the stack; etcd relies on protobuf limits.
//! - Sorting is stable: ties keep key order (etcd's Go sort is not stable).
//! - HashKV hashes Invar's canonical record form, so values are comparable between Invar
//!   members only, not with a real etcd.
//! - Compaction is one redb transaction (etcd removes in batches of 1000 with pauses).
//! - Compaction at C keeps every record of revision C. etcd drops a put at C that a delete of
//!   the same key at C follows (a txn can write one key twice only through the
//!   `range_end = "\0"` quirk above): a watcher from C gets both events here, only the delete
//!   from etcd.
//! - Leases: the store keeps only the durable part; `LeaseTimeToLive.ttl` is the granted TTL
//!   (the member knows the remaining one) and lease ID 0 is "lease not found" (the member picks
//!   IDs before proposing).
//! - Watch catch-up is driven by the member calling [`WatchStream::catch_up`] (at most
//!   [`Config::watch_catch_up_revisions_max`] revisions per watcher per call) instead of by
//!   a background loop every 100 ms.

#![deny(missing_docs)]

mod apply;
mod backend;
mod batch;
mod codec;
mod compact;
#[cfg(feature = "defects")]
mod defects;
mod defrag;
mod error;
mod hash;
mod image;
mod index;
mod lease;
mod range;
mod revision;
mod store;
mod txn;
mod types;
pub mod validate;
mod watch;
mod write;

pub use apply::{Request, Response};
pub use backend::{FileBackend, MemBackend};
pub use codec::hash_record;
#[cfg(feature = "defects")]
pub use defects::Defects;
pub use error::{GrpcCode, MvccError, Result};
pub use revision::{KeyRange, Revision};
pub use store::{Applied, Config, LEASE_TTL_SECONDS_MAX, Store};
pub use types::*;
pub use watch::WatchStream;

/// A boxed redb storage backend, as [`Store::open`] takes it.
pub type StorageBackendBox = Box<dyn redb::StorageBackend>;
