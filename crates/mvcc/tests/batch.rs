//! Batches ([`Store::begin_batch`] … [`Store::commit_batch`]): many raft entries in one redb
//! write transaction with the consistent index of the last one. Each test opens with its goal;
//! the random comparisons with the model are in `model.rs` and `durability.rs`.

use invar_mvcc::{
    Config, DeleteRangeRequest, EventType, HashKvRequest, MemBackend, PutRequest, RangeRequest,
    RequestOp, Store, TxnRequest,
};

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    }
}

fn open(backend: &MemBackend, commits_per_sync: u64) -> Store {
    let config = Config {
        commits_per_sync,
        ..Config::default()
    };
    Store::open(Box::new(backend.clone()), config).expect("open")
}

fn hash(store: &Store) -> u32 {
    store.hash_kv(&HashKvRequest::default()).expect("hash").hash
}

fn value(store: &Store, key: &str) -> Option<Vec<u8>> {
    let request = RangeRequest {
        key: key.into(),
        ..RangeRequest::default()
    };
    let response = store.range(&request).expect("range");
    response.kvs.first().map(|kv| kv.value.clone())
}

/// A txn that deletes `key` to the end of the keyspace (`range_end = "\0"`, which the
/// duplicate-key check does not see as covering `key`), then puts it with `ignore_value`: the
/// put finds no key and the txn fails midway, after its delete wrote a record.
fn failing_midway(key: &str) -> TxnRequest {
    TxnRequest {
        compare: Vec::new(),
        success: vec![
            RequestOp::DeleteRange(DeleteRangeRequest {
                key: key.into(),
                range_end: vec![0],
                prev_kv: false,
            }),
            RequestOp::Put(PutRequest {
                ignore_value: true,
                ..put(key, "")
            }),
        ],
        failure: Vec::new(),
    }
}

/// Goal: a txn that fails midway inside a batch undoes its own changes only, in the index and
/// in the batch's redb transaction (which holds the other entries' changes too), so the store
/// ends exactly as one that applied each entry alone. Method: the same entries batched and
/// not; compare values, hashes, revisions and the stored history, also after a reopen.
#[test]
fn a_txn_failing_midway_in_a_batch_undoes_only_itself() {
    let backend = MemBackend::new();
    let mut batched = open(&backend, 1);
    let mut alone = open(&MemBackend::new(), 1);
    batched.begin_batch().expect("begin");
    for store in [&mut batched, &mut alone] {
        let _ = store.put(1, &put("a", "1")).expect("put");
        let error = store
            .txn(2, &failing_midway("a"))
            .expect_err("fails midway");
        assert_eq!(error.to_string(), "etcdserver: key not found");
        let _ = store.put(3, &put("b", "2")).expect("put");
    }
    assert_eq!(
        value(&batched, "a"),
        Some(b"1".to_vec()),
        "read inside the batch"
    );
    batched.commit_batch().expect("commit");
    for store in [&batched, &alone] {
        assert_eq!(store.revision(), 3);
        assert_eq!(store.consistent_index(), 3);
        let events = store.events(1, 3).expect("events");
        let kinds: Vec<(Vec<u8>, i64, EventType)> = events
            .iter()
            .map(|e| (e.kv.key.clone(), e.kv.mod_revision, e.r#type))
            .collect();
        assert_eq!(
            kinds,
            [
                (b"a".to_vec(), 2, EventType::Put),
                (b"b".to_vec(), 3, EventType::Put)
            ],
            "no record of the failed txn"
        );
        store.check_invariants().expect("invariants");
    }
    assert_eq!(hash(&batched), hash(&alone));
    drop(batched);
    let reopened = open(&backend, 1);
    assert_eq!(reopened.consistent_index(), 3);
    assert_eq!(hash(&reopened), hash(&alone));
    assert_eq!(value(&reopened, "a"), Some(b"1".to_vec()));
}

/// Goal: a batch is one backend commit toward `commits_per_sync`, holding the consistent
/// index of its last entry (a trailing skip included); a crash loses exactly the batches
/// after the last durable one, and an open batch entirely. Method: commits_per_sync 2; two
/// batches, crashing (the in-memory backend's durable bytes) after each, and one left open.
#[test]
fn a_batch_is_one_commit_with_its_last_index() {
    let backend = MemBackend::new();
    let mut store = open(&backend, 2);
    store.begin_batch().expect("begin");
    let _ = store.put(1, &put("a", "1")).expect("put");
    store.skip(2).expect("skip");
    let _ = store.put(3, &put("b", "1")).expect("put");
    store.skip(4).expect("skip");
    store.commit_batch().expect("commit");
    assert_eq!(store.consistent_index(), 4);
    assert_eq!(
        store.durable_consistent_index(),
        0,
        "the first of two commits"
    );
    let after_first = open(&backend.crash(), 2);
    assert_eq!(after_first.consistent_index(), 0);
    assert_eq!(
        after_first.revision(),
        1,
        "nothing of the non-durable batch"
    );

    store.begin_batch().expect("begin");
    let _ = store.put(5, &put("c", "1")).expect("put");
    store.skip(6).expect("skip");
    store.commit_batch().expect("commit");
    assert_eq!(
        store.durable_consistent_index(),
        6,
        "the second commit is durable"
    );
    let after_second = open(&backend.crash(), 2);
    assert_eq!(
        after_second.consistent_index(),
        6,
        "the trailing skip's index"
    );
    assert_eq!(after_second.revision(), 4);
    assert_eq!(value(&after_second, "a"), Some(b"1".to_vec()));

    store.begin_batch().expect("begin");
    for index in 7..=9 {
        let _ = store.put(index, &put("d", "open")).expect("put");
    }
    let crashed = open(&backend.crash(), 2);
    assert_eq!(
        crashed.consistent_index(),
        6,
        "an open batch is not durable"
    );
    assert_eq!(value(&crashed, "d"), None);
    store.commit_batch().expect("commit");
    assert_eq!(store.consistent_index(), 9);
}

/// Goal: a batch that writes nothing (only skips or failed requests) commits nothing, as a
/// skip alone does not: its index becomes durable with the next commit, and until then a
/// crash reopens below it (those entries are replayed, harmlessly). Method: commits_per_sync
/// 1; a write, a batch of a skip and a failed put, a crash; then a write and a crash.
#[test]
fn a_batch_that_writes_nothing_commits_nothing() {
    let backend = MemBackend::new();
    let mut store = open(&backend, 1);
    let _ = store.put(1, &put("a", "1")).expect("put");
    assert_eq!(store.durable_consistent_index(), 1);
    store.begin_batch().expect("begin");
    store.skip(2).expect("skip");
    let missing_lease = PutRequest {
        lease: 42,
        ..put("b", "1")
    };
    assert!(store.put(3, &missing_lease).is_err());
    store.commit_batch().expect("commit");
    assert_eq!(store.consistent_index(), 3);
    assert_eq!(store.durable_consistent_index(), 1);
    assert_eq!(open(&backend.crash(), 1).consistent_index(), 1);
    let _ = store.put(4, &put("c", "1")).expect("put");
    assert_eq!(open(&backend.crash(), 1).consistent_index(), 4);
}

/// Goal: reads inside a batch see its writes (a txn's compare on a key put earlier in the
/// same batch, and a range). Method: a put, then a txn comparing its value, in one batch.
#[test]
fn reads_in_a_batch_see_its_writes() {
    let mut store = open(&MemBackend::new(), 1);
    store.begin_batch().expect("begin");
    let _ = store.put(1, &put("a", "1")).expect("put");
    let compare = TxnRequest {
        compare: vec![invar_mvcc::Compare {
            result: invar_mvcc::CompareResult::Equal,
            target: invar_mvcc::CompareTarget::Value,
            key: b"a".to_vec(),
            target_union: Some(invar_mvcc::TargetUnion::Value(b"1".to_vec())),
            range_end: Vec::new(),
        }],
        success: vec![RequestOp::Put(put("b", "seen"))],
        failure: vec![RequestOp::Put(put("b", "missed"))],
    };
    let applied = store.txn(2, &compare).expect("txn");
    assert!(
        applied.response.succeeded,
        "the compare saw the batch's put"
    );
    assert_eq!(value(&store, "b"), Some(b"seen".to_vec()));
    store.commit_batch().expect("commit");
    assert_eq!(value(&store, "b"), Some(b"seen".to_vec()));
}

/// Goal: what needs a transaction of its own (a forced sync, an image, a defragment) refuses
/// to run inside a batch: a caller bug, not a silent deadlock on redb's one writer.
#[test]
#[should_panic(expected = "sync while a batch is open")]
fn sync_inside_a_batch_is_a_caller_bug() {
    let mut store = open(&MemBackend::new(), 1);
    store.begin_batch().expect("begin");
    let _ = store.put(1, &put("a", "1")).expect("put");
    let _ = store.sync();
}
