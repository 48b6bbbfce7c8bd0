//! Restart, crash and corruption tests.
//!
//! - A clean restart reopens the same state, compact revision, consistent index and hash.
//! - A crash (in-memory backend with batched commits, and the simulated disk of
//!   `invar-storage` with crash points anywhere, mid redb commit and mid compaction) reopens
//!   at exactly the state the model had after the stored consistent index, never below the
//!   last synced index; replaying the rest of the log then gives the same final state.
//! - The same with the entries applied in batches ([`Store::begin_batch`]): the store
//!   reopens at the end of a committed batch (a crash inside a batch loses all of it).
//! - A flipped byte in the redb file is either harmless or a clear error, never a panic.

mod common;

use std::path::Path;

use common::{Model, Op, Outcome, Rng, apply_store, assert_same_state};
use invar_mvcc::{
    Config, FileBackend, HashKvRequest, MemBackend, RangeRequest, StorageBackendBox, Store,
};
use invar_storage::fs::{FileSystem, SimFs};

/// A random log of requests with the model's state after each entry (`models[i]` after `i`
/// entries) and each entry's outcome.
struct Log {
    ops: Vec<Op>,
    outcomes: Vec<Outcome>,
    models: Vec<Model>,
}

fn log(seed: u64, len: usize, config: Config) -> Log {
    let mut rng = Rng::new(seed);
    let mut model = Model::new(config);
    let mut log = Log {
        ops: vec![],
        outcomes: vec![],
        models: vec![model.clone()],
    };
    for _ in 0..len {
        let op = model.gen_op(&mut rng);
        log.outcomes.push(model.apply(&op));
        log.ops.push(op);
        log.models.push(model.clone());
    }
    log
}

/// Applies log entries `from..` (1-based raft indexes) and checks every outcome.
fn replay(store: &mut Store, log: &Log, from: u64, context: &str) {
    for index in from..=log.ops.len() as u64 {
        let at = index as usize - 1;
        let (outcome, _) = apply_store(store, index, &log.ops[at]);
        assert_eq!(
            outcome, log.outcomes[at],
            "{context}: replay of index {index}"
        );
    }
}

fn hash(store: &Store) -> u32 {
    store.hash_kv(&HashKvRequest { revision: 0 }).unwrap().hash
}

#[test]
fn clean_restart_reopens_the_same_state() {
    for seed in 0..20 {
        let config = Config {
            commits_per_sync: 16,
            ..Config::default()
        };
        let log = log(seed, 200, config);
        let backend = MemBackend::new();
        let mut store = Store::open(Box::new(backend.clone()), config).unwrap();
        replay(&mut store, &log, 1, &format!("seed {seed}"));
        store.sync().unwrap();
        let before = (
            store.revision(),
            store.compact_revision(),
            store.consistent_index(),
            hash(&store),
        );
        drop(store);
        let store = Store::open(Box::new(backend.clone()), config).unwrap();
        let after = (
            store.revision(),
            store.compact_revision(),
            store.consistent_index(),
            hash(&store),
        );
        assert_eq!(before, after, "seed {seed}");
        assert_eq!(store.consistent_index(), 200);
        assert_same_state(
            &store,
            log.models.last().unwrap(),
            &format!("seed {seed} reopened"),
        );
    }
}

#[test]
fn crash_with_batched_commits_reopens_at_the_durable_index_and_replays() {
    for seed in 0..40 {
        let mut rng = Rng::new(seed ^ 0xC0FFEE);
        let config = Config {
            commits_per_sync: 1 + rng.below(12),
            ..Config::default()
        };
        let log = log(seed, 150, config);
        let backend = MemBackend::new();
        let mut store = Store::open(Box::new(backend.clone()), config).unwrap();
        let crash_at = 1 + rng.below(150) as usize;
        replay_prefix(&mut store, &log, crash_at);
        let durable = store.durable_consistent_index();
        // Crash first: closing the database cleanly would make its last commit durable.
        let crashed = backend.crash();
        drop(store);
        let mut store = Store::open(Box::new(crashed), config).unwrap();
        let context = format!("seed {seed} crash after {crash_at}");
        assert_eq!(store.consistent_index(), durable, "{context}");
        assert_same_state(&store, &log.models[durable as usize], &context);
        replay(&mut store, &log, durable + 1, &context);
        assert_same_state(&store, log.models.last().unwrap(), &context);
    }
}

/// Applies log entries `1..=len` in batches of 1 to `batch_max` entries, the last one left
/// open if `len` ends inside it; returns the open batch's first index (0: none open).
fn replay_prefix_in_batches(
    store: &mut Store,
    log: &Log,
    len: usize,
    batch_max: u64,
    rng: &mut Rng,
) -> u64 {
    let mut index = 1u64;
    while index <= len as u64 {
        let end = (index + rng.below(batch_max)).min(log.ops.len() as u64);
        store.begin_batch().unwrap();
        for at in index..=end {
            if at > len as u64 {
                return index;
            }
            let _ = apply_store(store, at, &log.ops[at as usize - 1]);
        }
        store.commit_batch().unwrap();
        index = end + 1;
    }
    0
}

#[test]
fn crash_with_batches_reopens_at_the_end_of_a_durable_batch_and_replays() {
    for seed in 0..40 {
        let mut rng = Rng::new(seed ^ 0xBA7C4);
        let config = Config {
            commits_per_sync: 1 + rng.below(4),
            ..Config::default()
        };
        let log = log(seed, 150, config);
        let backend = MemBackend::new();
        let mut store = Store::open(Box::new(backend.clone()), config).unwrap();
        let crash_at = 1 + rng.below(150) as usize;
        let open_from = replay_prefix_in_batches(&mut store, &log, crash_at, 10, &mut rng);
        let durable = store.durable_consistent_index();
        let context = format!("seed {seed} crash after {crash_at} (open batch from {open_from})");
        if open_from > 0 {
            assert!(
                durable < open_from,
                "{context}: an open batch is not durable"
            );
        }
        let crashed = backend.crash();
        drop(store);
        let mut store = Store::open(Box::new(crashed), config).unwrap();
        assert_eq!(store.consistent_index(), durable, "{context}");
        assert_same_state(&store, &log.models[durable as usize], &context);
        replay(&mut store, &log, durable + 1, &context);
        assert_same_state(&store, log.models.last().unwrap(), &context);
    }
}

fn replay_prefix(store: &mut Store, log: &Log, len: usize) {
    for index in 1..=len as u64 {
        let _ = apply_store(store, index, &log.ops[index as usize - 1]);
    }
}

const DB: &str = "/mvcc.redb";

fn open_sim(fs: &SimFs, config: Config) -> invar_mvcc::Result<Store> {
    let backend = FileBackend::open(fs, Path::new(DB))
        .map_err(|e| invar_mvcc::MvccError::Backend(e.to_string()))?;
    Store::open(Box::new(backend) as StorageBackendBox, config)
}

/// Runs the log on the simulated disk with a crash point `ops_before_crash` mutating disk
/// operations in; after the crash, reopens and checks the prefix property, then replays.
fn sim_crash_case(seed: u64, log: &Log, config: Config, ops_before_crash: u64) {
    sim_crash_case_batched(seed, log, config, ops_before_crash, 1);
}

/// As [`sim_crash_case`], with the entries applied in batches of 1 to `batch_max` (1: no
/// batches at all, every entry in its own transaction).
fn sim_crash_case_batched(
    seed: u64,
    log: &Log,
    config: Config,
    ops_before_crash: u64,
    batch_max: u64,
) {
    let context = format!("seed {seed} crash after {ops_before_crash} disk ops");
    let mut rng = Rng::new(seed ^ 0xB47);
    let mut batch_end = 0u64;
    let fs = SimFs::with_seed(seed);
    let mut store = open_sim(&fs, config).unwrap();
    fs.sync_dir(Path::new("/")).unwrap();
    fs.arm_crash_after(ops_before_crash);
    let mut durable = store.durable_consistent_index();
    let mut revision_durable = log.models[durable as usize].revision();
    let mut applied = 0u64;
    for index in 1..=log.ops.len() as u64 {
        if batch_max > 1 && index > batch_end {
            batch_end = index + rng.below(batch_max);
            if store.begin_batch().is_err() {
                break;
            }
        }
        let (outcome, _) = apply_store(&mut store, index, &log.ops[index as usize - 1]);
        if let Outcome::Error(text) = &outcome
            && text.contains("backend")
        {
            break;
        }
        assert_eq!(
            outcome,
            log.outcomes[index as usize - 1],
            "{context}: before the crash"
        );
        if batch_max > 1 && (index == batch_end || index == log.ops.len() as u64) {
            if store.commit_batch().is_err() {
                break;
            }
            batch_end = index;
        }
        applied = index;
        durable = store.durable_consistent_index();
        revision_durable = log.models[durable as usize].revision();
    }
    fs.crash();
    drop(store);
    let mut store = open_sim(&fs, config).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    let index = store.consistent_index();
    eprintln!("{context}: applied {applied}, synced {durable}, reopened at {index}");
    assert!(
        index >= durable,
        "{context}: lost synced index {durable} (reopened at {index})"
    );
    assert!(
        index <= applied.max(durable),
        "{context}: index {index} beyond what was applied"
    );
    assert!(
        store.revision() >= revision_durable,
        "{context}: revision went backwards"
    );
    assert_same_state(&store, &log.models[index as usize], &context);
    replay(&mut store, log, index + 1, &context);
    assert_same_state(&store, log.models.last().unwrap(), &context);
}

#[test]
fn crash_on_the_simulated_disk_at_random_points() {
    for seed in 0..24 {
        let mut rng = Rng::new(seed ^ 0x5EED);
        let config = Config {
            commits_per_sync: 1 + rng.below(6),
            ..Config::default()
        };
        let log = log(seed, 80, config);
        let ops_before_crash = rng.below(400);
        sim_crash_case(seed, &log, config, ops_before_crash);
    }
}

#[test]
fn crash_on_the_simulated_disk_at_random_points_in_batches() {
    for seed in 0..24 {
        let mut rng = Rng::new(seed ^ 0xBA5EED);
        let config = Config {
            commits_per_sync: 1 + rng.below(3),
            ..Config::default()
        };
        let log = log(seed, 80, config);
        let ops_before_crash = rng.below(300);
        sim_crash_case_batched(seed, &log, config, ops_before_crash, 8);
    }
}

#[test]
fn crash_during_compaction_on_the_simulated_disk() {
    let config = Config::default();
    let mut model = Model::new(config);
    let mut rng = Rng::new(77);
    let mut ops = Vec::new();
    for i in 0..60 {
        let key = [b'a' + (i % 7) as u8];
        let op = Op::Put(invar_mvcc::PutRequest {
            key: key.to_vec(),
            value: vec![i as u8],
            ..Default::default()
        });
        ops.push(op);
    }
    ops.push(Op::Compact(invar_mvcc::CompactionRequest {
        revision: 56,
        physical: true,
    }));
    ops.push(Op::Put(invar_mvcc::PutRequest {
        key: b"z".to_vec(),
        value: b"after".to_vec(),
        ..Default::default()
    }));
    let mut log = Log {
        ops: vec![],
        outcomes: vec![],
        models: vec![model.clone()],
    };
    for op in ops {
        log.outcomes.push(model.apply(&op));
        log.ops.push(op);
        log.models.push(model.clone());
    }
    // Count the disk operations of the run up to the compaction, then crash inside it.
    let fs = SimFs::with_seed(1);
    let mut store = open_sim(&fs, config).unwrap();
    fs.sync_dir(Path::new("/")).unwrap();
    let start = fs.mutating_ops();
    replay_prefix(&mut store, &log, 60);
    let before_compaction = fs.mutating_ops() - start;
    let _ = apply_store(&mut store, 61, &log.ops[60]);
    let compaction_ops = fs.mutating_ops() - start - before_compaction;
    assert!(compaction_ops > 0);
    for offset in 0..compaction_ops {
        let _ = rng.next();
        sim_crash_case(offset, &log, config, before_compaction + offset);
    }
}

#[test]
fn a_flipped_byte_in_the_redb_file_is_harmless_or_a_clear_error() {
    let config = Config::default();
    let log = log(3, 300, config);
    let fs = SimFs::with_seed(9);
    let mut store = open_sim(&fs, config).unwrap();
    replay(&mut store, &log, 1, "setup");
    store.sync().unwrap();
    let expected_hash = hash(&store);
    drop(store);
    let len = invar_storage::fs::File::len(
        &fs.open(Path::new(DB), invar_storage::fs::OpenMode::Existing)
            .unwrap(),
    )
    .unwrap();
    let mut detected = 0;
    let mut harmless = 0;
    let step = (len / 400).max(1);
    let mut offset = 0;
    while offset < len {
        assert!(fs.corrupt_byte(Path::new(DB), offset, 0x40));
        match open_sim(&fs, config) {
            Ok(store) => {
                // Undetected flips must be in bytes that do not matter (free space, padding).
                let all = RangeRequest {
                    key: vec![0],
                    range_end: vec![0],
                    ..Default::default()
                };
                let same = store.range(&all).ok().map(|r| r.kvs)
                    == Some(log.models.last().unwrap().clone_range_all())
                    && store
                        .hash_kv(&HashKvRequest { revision: 0 })
                        .map(|h| h.hash)
                        .ok()
                        == Some(expected_hash);
                assert!(same, "flip at offset {offset} silently changed the data");
                harmless += 1;
            }
            Err(error) => {
                assert!(!error.is_client_error(), "offset {offset}: {error}");
                detected += 1;
            }
        }
        assert!(
            fs.corrupt_byte(Path::new(DB), offset, 0x40),
            "undo the flip"
        );
        offset += step;
    }
    assert!(detected > 0, "no flip detected out of {harmless}");
    eprintln!("flipped bytes: {detected} detected, {harmless} harmless, file {len} bytes");
}

#[test]
fn real_disk_round_trip() {
    use invar_storage::fs::RealFs;
    let dir = std::env::temp_dir().join(format!("invar-mvcc-test-{}", std::process::id()));
    RealFs.create_dir_all(&dir).unwrap();
    let path = dir.join("store.redb");
    let config = Config::default();
    let log = log(5, 120, config);
    {
        let backend = FileBackend::open(&RealFs, &path).unwrap();
        let mut store = Store::open(Box::new(backend), config).unwrap();
        replay(&mut store, &log, 1, "real disk");
    }
    let backend = FileBackend::open(&RealFs, &path).unwrap();
    let store = Store::open(Box::new(backend), config).unwrap();
    assert_eq!(store.consistent_index(), 120);
    assert_same_state(&store, log.models.last().unwrap(), "real disk reopened");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crash_while_opening_leaves_the_store_openable() {
    let config = Config::default();
    let log = log(11, 100, config);
    let fs = SimFs::with_seed(4);
    {
        let mut store = open_sim(&fs, config).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        replay(&mut store, &log, 1, "setup");
        store.sync().unwrap();
    }
    let start = fs.mutating_ops();
    drop(open_sim(&fs, config).unwrap());
    let open_ops = fs.mutating_ops() - start;
    for crash_after in 0..open_ops {
        fs.arm_crash_after(crash_after);
        let interrupted = open_sim(&fs, config);
        fs.crash();
        drop(interrupted);
        let store = open_sim(&fs, config).unwrap_or_else(|e| panic!("after {crash_after}: {e}"));
        assert_eq!(store.consistent_index(), 100);
        assert_same_state(
            &store,
            log.models.last().unwrap(),
            &format!("crash {crash_after}"),
        );
    }
    assert!(open_ops > 0);
}
