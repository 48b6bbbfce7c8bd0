//! Invar's durable storage: the file-system trait, the write-ahead log and snapshot files.
//!
//! # What it is
//!
//! - [`fs`]: the [`fs::File`] / [`fs::FileSystem`] traits, the only way Invar's core reaches a
//!   disk, with [`fs::RealFs`] over `std::fs` and [`fs::SimFs`], an in-memory disk that is
//!   deterministic from a seed and models crashes (lost, torn and partly kept unsynced writes;
//!   directory entries durable only after a directory sync), bit flips, a full disk and latency.
//! - [`wal`]: the write-ahead log raft restarts from: hard state, entries, snapshot markers, in
//!   CRC32C-framed records over segment files, with group commit, logical replacement of a
//!   conflicting suffix, release of old segments, and torn-tail repair on open.
//! - [`snapfile`]: checksummed snapshot files written atomically (temp file, sync, rename,
//!   directory sync), the newest valid one found on open.
//!
//! # What it never does
//!
//! No clock, no OS randomness (the simulated disk draws from [`rng::SplitMix64`] seeded by the
//! caller), no threads, no sockets, no `std::fs` outside `fs::real` (clippy.toml bans it), no
//! `HashMap` iteration. Nothing a disk returns can make it panic: bad bytes are reported as
//! `Corrupted { file, offset, expected }`, I/O failures as errors that poison the WAL or the
//! snapshot store (reopen to continue).
//!
//! # Invariants kept
//!
//! - A record or snapshot whose sync returned `Ok` survives any crash of the contract's disk.
//! - A reopened WAL holds the records of some prefix of what was written: never less than what
//!   was synced, never a record twice, never a record that was not written.
//! - A torn tail is cut only when provably a partial write of the last segment; any other damage
//!   stops the open.
//!
//! # Call protocol (a member's storage loop)
//!
//! 1. On first start, [`wal::Wal::create`] and [`snapfile::SnapshotStore::open`]. On restart,
//!    [`wal::Wal::open`] gives a [`wal::Recovered`] (hard state, snapshot marker, entries after
//!    it); load the snapshot it names with [`snapfile::SnapshotStore::load_for`], then restart
//!    raft from the snapshot, the hard state and the entries.
//! 2. For each raft `Ready`: [`wal::Wal::save`] its hard state and entries, then
//!    [`wal::Wal::sync`] once (group commit), and only then send the messages that depend on
//!    them and acknowledge anything.
//! 3. To take or install a snapshot: [`snapfile::SnapshotStore::save`] it (durable on return),
//!    then [`wal::Wal::save_snapshot_marker`] and [`wal::Wal::sync`], then
//!    [`wal::Wal::release`] old segments and [`snapfile::SnapshotStore::prune`] old snapshots
//!    (keep at least two).
//! 4. On any error from the WAL or the snapshot store: stop using it; reopen (the open repairs
//!    what a crash left and reports what it cannot).
#![deny(missing_docs, unreachable_pub)]

pub mod fs;
pub mod rng;
pub mod snapfile;
pub mod wal;
