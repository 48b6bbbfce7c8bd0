//! One test per easy-to-get-wrong etcd semantic (etcd reference notes, section 4.3), each named
//! after the rule it proves.

use invar_mvcc::{
    CompactionRequest, Compare, CompareResult, CompareTarget, Config, DeleteRangeRequest,
    EventType, GrpcCode, HashKvRequest, LeaseGrantRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, MemBackend, MvccError, PutRequest, RangeRequest, RequestOp, ResponseOp,
    SortOrder, SortTarget, Store, TargetUnion, TxnRequest,
};

struct Harness {
    store: Store,
    index: u64,
}

impl Harness {
    fn new() -> Self {
        let store = Store::open(Box::new(MemBackend::new()), Config::default()).unwrap();
        Harness { store, index: 0 }
    }
    fn next(&mut self) -> u64 {
        self.index += 1;
        self.index
    }
    fn put(&mut self, key: &str, value: &str) -> i64 {
        let req = put(key, value);
        let index = self.next();
        self.store
            .put(index, &req)
            .unwrap()
            .response
            .header
            .revision
    }
    fn put_lease(&mut self, key: &str, lease: i64) -> Result<i64, MvccError> {
        let req = PutRequest {
            lease,
            ..put(key, "v")
        };
        let index = self.next();
        self.store
            .put(index, &req)
            .map(|a| a.response.header.revision)
    }
    fn delete(&mut self, key: &str, end: &str) -> (i64, i64) {
        let req = DeleteRangeRequest {
            key: key.into(),
            range_end: end.into(),
            prev_kv: false,
        };
        let index = self.next();
        let response = self.store.delete_range(index, &req).unwrap().response;
        (response.deleted, response.header.revision)
    }
    fn txn(&mut self, req: &TxnRequest) -> Result<invar_mvcc::TxnResponse, MvccError> {
        let index = self.next();
        self.store.txn(index, req).map(|a| a.response)
    }
    fn keys(&self, key: &str, end: &str) -> Vec<String> {
        let req = RangeRequest {
            key: key.into(),
            range_end: end.into(),
            ..Default::default()
        };
        let kvs = self.store.range(&req).unwrap().kvs;
        kvs.into_iter()
            .map(|kv| String::from_utf8(kv.key).unwrap())
            .collect()
    }
    fn compact(&mut self, revision: i64) -> Result<(), MvccError> {
        let index = self.next();
        let req = CompactionRequest {
            revision,
            physical: true,
        };
        self.store.compact(index, &req).map(|_| ())
    }
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn txn(success: Vec<RequestOp>) -> TxnRequest {
    TxnRequest {
        compare: vec![],
        success,
        failure: vec![],
    }
}

/// etcd starts a fresh store at revision 1 (nothing is stored at it): reads and hashes answer
/// revision 1, revision 1 may be read and compacted, 2 is the future, and the first write
/// gets revision 2.
#[test]
fn a_fresh_store_is_at_revision_1_like_etcd() {
    let mut h = Harness::new();
    assert_eq!((h.store.revision(), h.store.compact_revision()), (1, -1));
    let all = |revision| RangeRequest {
        key: vec![0],
        range_end: vec![0],
        revision,
        ..Default::default()
    };
    let response = h.store.range(&all(0)).unwrap();
    assert_eq!((response.header.revision, response.count), (1, 0));
    assert_eq!(h.store.range(&all(1)).unwrap().count, 0);
    assert_eq!(
        h.store.range(&all(2)).unwrap_err().to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    let hash = h.store.hash_kv(&HashKvRequest { revision: 0 }).unwrap();
    assert_eq!((hash.header.revision, hash.hash_revision), (1, 1));
    assert_eq!(
        h.compact(2).unwrap_err().to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    h.compact(1).unwrap();
    assert_eq!((h.store.revision(), h.store.compact_revision()), (1, 1));
    assert_eq!(
        h.compact(1).unwrap_err().to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(h.store.range(&all(1)).unwrap().count, 0);
    assert_eq!(h.put("a", "1"), 2);
    let kv = &h.store.range(&all(0)).unwrap().kvs[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
}

#[test]
fn delete_of_nothing_does_not_bump_the_revision() {
    let mut h = Harness::new();
    assert_eq!(h.put("a", "1"), 2);
    assert_eq!(h.delete("zzz", ""), (0, 2));
    assert_eq!(h.store.revision(), 2);
    assert_eq!(h.delete("a", ""), (1, 3));
}

#[test]
fn read_only_txn_and_txn_writing_nothing_do_not_bump_the_revision() {
    let mut h = Harness::new();
    h.put("a", "1");
    let read = txn(vec![RequestOp::Range(RangeRequest {
        key: "a".into(),
        ..Default::default()
    })]);
    assert_eq!(h.txn(&read).unwrap().header.revision, 2);
    let noop_delete = txn(vec![RequestOp::DeleteRange(DeleteRangeRequest {
        key: "nope".into(),
        ..Default::default()
    })]);
    let response = h.txn(&noop_delete).unwrap();
    assert_eq!(response.header.revision, 2);
    assert_eq!(h.store.revision(), 2);
}

#[test]
fn txn_is_one_revision_with_sub_revisions_and_reads_its_own_writes() {
    let mut h = Harness::new();
    h.put("a", "1");
    let req = txn(vec![
        RequestOp::Put(put("b", "2")),
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: "a".into(),
            ..Default::default()
        }),
        RequestOp::Range(RangeRequest {
            key: "a".into(),
            range_end: "z".into(),
            ..Default::default()
        }),
    ]);
    let index = h.next();
    let applied = h.store.txn(index, &req).unwrap();
    assert_eq!(applied.response.header.revision, 3);
    assert_eq!(applied.events.len(), 2);
    assert!(applied.events.iter().all(|e| e.kv.mod_revision == 3));
    assert_eq!(applied.events[1].r#type, EventType::Delete);
    let ResponseOp::Range(range) = &applied.response.responses[2] else {
        panic!()
    };
    assert_eq!(
        range.kvs.len(),
        1,
        "the range inside the txn sees the put and the delete"
    );
    assert_eq!(range.kvs[0].key, b"b");
}

#[test]
fn txn_duplicate_keys_are_rejected_like_etcd() {
    let mut h = Harness::new();
    let dup = "etcdserver: duplicate key given in txn request";
    let twice = txn(vec![
        RequestOp::Put(put("a", "1")),
        RequestOp::Put(put("a", "2")),
    ]);
    assert_eq!(h.txn(&twice).unwrap_err().to_string(), dup);
    let put_in_delete = txn(vec![
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: "a".into(),
            range_end: "c".into(),
            prev_kv: false,
        }),
        RequestOp::Put(put("b", "1")),
    ]);
    assert_eq!(
        h.txn(&put_in_delete).unwrap_err().code(),
        GrpcCode::InvalidArgument
    );
    // The same key in the then and else branches of a nested txn is fine.
    let nested = TxnRequest {
        compare: vec![],
        success: vec![RequestOp::Put(put("a", "1")), RequestOp::Put(put("b", "1"))],
        failure: vec![RequestOp::Put(put("a", "2"))],
    };
    assert!(h.txn(&txn(vec![RequestOp::Txn(nested.clone())])).is_ok());
    // But not a nested put of a key the outer branch also puts.
    let clash = txn(vec![RequestOp::Put(put("b", "x")), RequestOp::Txn(nested)]);
    assert_eq!(h.txn(&clash).unwrap_err().to_string(), dup);
    // Deletes may overlap each other.
    let deletes = txn(vec![
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: "a".into(),
            ..Default::default()
        }),
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: "a".into(),
            range_end: "z".into(),
            prev_kv: false,
        }),
    ]);
    assert!(h.txn(&deletes).is_ok());
    // A rejected txn changes nothing.
    assert_eq!(h.store.revision(), 3);
}

#[test]
fn too_many_ops_in_a_txn() {
    let mut h = Harness::new();
    let ops = (0..129)
        .map(|i| RequestOp::Put(put(&format!("k{i}"), "v")))
        .collect();
    let error = h.txn(&txn(ops)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "etcdserver: too many operations in txn request"
    );
}

#[test]
fn nested_compares_see_the_state_before_the_txn() {
    let mut h = Harness::new();
    let inner = TxnRequest {
        compare: vec![Compare {
            target: CompareTarget::Version,
            result: CompareResult::Equal,
            key: "a".into(),
            target_union: Some(TargetUnion::Version(0)),
            range_end: vec![],
        }],
        success: vec![RequestOp::Put(put("b", "inner-success"))],
        failure: vec![RequestOp::Put(put("b", "inner-failure"))],
    };
    let outer = txn(vec![RequestOp::Put(put("a", "1")), RequestOp::Txn(inner)]);
    let response = h.txn(&outer).unwrap();
    let ResponseOp::Txn(inner) = &response.responses[1] else {
        panic!()
    };
    assert!(
        inner.succeeded,
        "the nested compare saw `a` missing (version 0)"
    );
    assert_eq!(
        inner.header.revision, 0,
        "etcd leaves nested txn headers empty"
    );
}

#[test]
fn value_compare_on_a_missing_key_always_fails() {
    let mut h = Harness::new();
    for result in [
        CompareResult::Equal,
        CompareResult::NotEqual,
        CompareResult::Less,
    ] {
        let req = TxnRequest {
            compare: vec![Compare {
                result,
                target: CompareTarget::Value,
                key: "missing".into(),
                target_union: Some(TargetUnion::Value(vec![])),
                range_end: vec![],
            }],
            ..Default::default()
        };
        assert!(!h.txn(&req).unwrap().succeeded);
    }
}

#[test]
fn range_end_conventions() {
    let mut h = Harness::new();
    for key in ["a", "b", "b1", "c"] {
        h.put(key, "v");
    }
    assert_eq!(h.keys("b", ""), ["b"]);
    assert_eq!(h.keys("b", "c"), ["b", "b1"]);
    assert_eq!(h.keys("b", "\0"), ["b", "b1", "c"]);
    assert_eq!(h.keys("\0", "\0"), ["a", "b", "b1", "c"]);
    assert!(h.keys("c", "a").is_empty(), "range_end below key is empty");
    let empty = RangeRequest::default();
    assert_eq!(
        h.store.range(&empty).unwrap_err().to_string(),
        "etcdserver: key is not provided"
    );
}

#[test]
fn limit_sets_more_and_count_ignores_limit_and_filters() {
    let mut h = Harness::new();
    for key in ["a", "b", "c", "d"] {
        h.put(key, "v");
    }
    let mut req = RangeRequest {
        key: "a".into(),
        range_end: "z".into(),
        limit: 2,
        ..Default::default()
    };
    let response = h.store.range(&req).unwrap();
    assert_eq!(
        (response.kvs.len(), response.more, response.count),
        (2, true, 4)
    );
    req.limit = 4;
    let response = h.store.range(&req).unwrap();
    assert_eq!(
        (response.kvs.len(), response.more, response.count),
        (4, false, 4)
    );
    req.min_mod_revision = 4;
    let response = h.store.range(&req).unwrap();
    assert_eq!((response.kvs.len(), response.count), (2, 4));
    req.count_only = true;
    let response = h.store.range(&req).unwrap();
    assert_eq!(
        (response.kvs.len(), response.more, response.count),
        (0, false, 4)
    );
}

#[test]
fn sort_descending_by_mod_revision_then_limit() {
    let mut h = Harness::new();
    for key in ["a", "b", "c"] {
        h.put(key, "v");
    }
    h.put("a", "again");
    let req = RangeRequest {
        key: "a".into(),
        range_end: "z".into(),
        limit: 2,
        sort_order: SortOrder::Descend,
        sort_target: SortTarget::Mod,
        keys_only: true,
        ..Default::default()
    };
    let response = h.store.range(&req).unwrap();
    let keys: Vec<_> = response.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, [b"a".to_vec(), b"c".to_vec()]);
    assert!(response.more);
    assert!(response.kvs.iter().all(|kv| kv.value.is_empty()));
}

#[test]
fn compacted_and_future_revisions_are_errors() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.put("a", "2");
    h.put("a", "3");
    let at = |revision| RangeRequest {
        key: "a".into(),
        revision,
        ..Default::default()
    };
    let future = h.store.range(&at(5)).unwrap_err();
    assert_eq!(
        future.to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    assert_eq!(future.code(), GrpcCode::OutOfRange);
    h.compact(3).unwrap();
    let compacted = h.store.range(&at(2)).unwrap_err();
    assert_eq!(
        compacted.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(
        h.store.range(&at(3)).unwrap().kvs[0].value,
        b"2",
        "reading at the compact revision works"
    );
    assert_eq!(h.compact(3).unwrap_err().to_string(), compacted.to_string());
    assert_eq!(h.compact(10).unwrap_err().to_string(), future.to_string());
    let hash = h.store.hash_kv(&HashKvRequest { revision: 2 }).unwrap_err();
    assert_eq!(hash.to_string(), compacted.to_string());
}

/// Compaction at C keeps each key's latest live revision below C and everything from C on:
/// the delete b@5 at exactly C stays (a watcher may start at 5: etcd #19179) until the next
/// compaction.
#[test]
fn compaction_keeps_the_latest_live_revisions_and_everything_from_the_compact_revision() {
    let mut h = Harness::new();
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.put("b", "1"); // 4
    h.delete("b", ""); // 5
    h.put("c", "1"); // 6
    h.compact(5).unwrap();
    let kept: Vec<(i64, EventType)> = h
        .store
        .events(5, 6)
        .unwrap()
        .iter()
        .map(|e| (e.kv.mod_revision, e.r#type))
        .collect();
    assert_eq!(kept, [(5, EventType::Delete), (6, EventType::Put)]);
    assert!(
        h.store.events(4, 6).is_err(),
        "history below the compact revision is gone"
    );
    let at_compaction = RangeRequest {
        key: "a".into(),
        range_end: "z".into(),
        revision: 5,
        ..Default::default()
    };
    let kvs = h.store.range(&at_compaction).unwrap().kvs;
    let kept: Vec<_> = kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.mod_revision))
        .collect();
    assert_eq!(
        kept,
        [(b"a".to_vec(), 3)],
        "a@3 is kept; a@2 and b@4 are gone; the tombstone b@5 reads as absent"
    );
    h.compact(6).unwrap();
    assert_eq!(
        h.store.events(6, 6).unwrap().len(),
        1,
        "the next compaction removes the tombstone b@5"
    );
    h.store.check_invariants().unwrap();
}

/// A txn can write two records of one key in one revision through the `range_end = "\0"`
/// duplicate-key quirk (a delete from the key to the end does not conflict with a put).
/// Compaction at that revision keeps both, so a watcher starting there gets both events (etcd
/// keeps both of e@3 but drops the put f@4.0 that the delete f@4.1 follows); reads see the
/// last one; HashKV counts only each key's latest record at or below the compact revision if
/// live.
#[test]
fn compaction_at_a_revision_keeps_all_of_its_records_of_one_key() {
    let mut h = Harness::new();
    h.put("e", "0"); // 2
    let to_end = |key: &str| {
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: vec![0],
            prev_kv: false,
        })
    };
    let delete_then_put = txn(vec![to_end("e"), RequestOp::Put(put("e", "1"))]);
    assert_eq!(h.txn(&delete_then_put).unwrap().header.revision, 3);
    let put_then_delete = txn(vec![RequestOp::Put(put("f", "1")), to_end("f")]);
    assert_eq!(h.txn(&put_then_delete).unwrap().header.revision, 4);
    let at = |h: &Harness, from: i64| -> Vec<(String, i64, EventType)> {
        h.store
            .events(from, from)
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8(e.kv.key).unwrap(),
                    e.kv.mod_revision,
                    e.r#type,
                )
            })
            .collect()
    };
    h.compact(3).unwrap();
    h.store.check_invariants().unwrap();
    assert_eq!(
        at(&h, 3),
        [
            ("e".into(), 3, EventType::Delete),
            ("e".into(), 3, EventType::Put)
        ]
    );
    h.compact(4).unwrap();
    h.store.check_invariants().unwrap();
    assert_eq!(
        at(&h, 4),
        [
            ("f".into(), 4, EventType::Put),
            ("f".into(), 4, EventType::Delete)
        ]
    );
    assert_eq!(h.keys("a", "z"), ["e"]);
    let e = h
        .store
        .range(&RangeRequest {
            key: "e".into(),
            ..Default::default()
        })
        .unwrap()
        .kvs
        .remove(0);
    assert_eq!((e.mod_revision, e.version), (3, 1));
    let hash = h.store.hash_kv(&HashKvRequest { revision: 0 }).unwrap();
    assert_eq!(
        hash.hash,
        invar_mvcc::hash_record(0, 3, 1, &e, false),
        "only e@3.1 is hashed: not the delete e@3.0 below the compact revision, nor f@4's two"
    );
}

#[test]
fn version_resets_after_delete_then_put() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.put("a", "2");
    h.delete("a", "");
    h.put("a", "3");
    let kv = h
        .store
        .range(&RangeRequest {
            key: "a".into(),
            ..Default::default()
        })
        .unwrap()
        .kvs;
    assert_eq!(
        (kv[0].version, kv[0].create_revision, kv[0].mod_revision),
        (1, 5, 5)
    );
    let old = RangeRequest {
        key: "a".into(),
        revision: 3,
        ..Default::default()
    };
    let kv = h.store.range(&old).unwrap().kvs;
    assert_eq!((kv[0].version, kv[0].create_revision), (2, 2));
}

#[test]
fn put_option_errors() {
    let mut h = Harness::new();
    let index = h.next();
    let ignore_missing = PutRequest {
        ignore_value: true,
        ..put("a", "")
    };
    assert_eq!(
        h.store.put(index, &ignore_missing).unwrap_err().to_string(),
        "etcdserver: key not found"
    );
    let index = h.next();
    let both = PutRequest {
        ignore_value: true,
        ..put("a", "x")
    };
    assert_eq!(
        h.store.put(index, &both).unwrap_err().to_string(),
        "etcdserver: value is provided"
    );
    let index = h.next();
    let lease = PutRequest {
        ignore_lease: true,
        lease: 5,
        ..put("a", "x")
    };
    assert_eq!(
        h.store.put(index, &lease).unwrap_err().to_string(),
        "etcdserver: lease is provided"
    );
    assert_eq!(
        h.put_lease("a", 77).unwrap_err().to_string(),
        "etcdserver: requested lease not found"
    );
    assert_eq!(h.store.revision(), 1);
    assert_eq!(
        h.store.consistent_index(),
        4,
        "failed requests still consume their raft index"
    );
}

#[test]
fn lease_revoke_deletes_attached_keys_in_one_revision() {
    let mut h = Harness::new();
    let index = h.next();
    let granted = h
        .store
        .lease_grant(index, &LeaseGrantRequest { ttl: 1, id: 7 })
        .unwrap();
    assert_eq!(granted.ttl, 2, "raised to the minimum TTL");
    h.put_lease("b", 7).unwrap();
    h.put_lease("a", 7).unwrap();
    h.put("c", "no lease");
    h.put_lease("d", 7).unwrap();
    h.put("d", "detached"); // a put without a lease detaches
    let ttl = h
        .store
        .lease_time_to_live(&LeaseTimeToLiveRequest { id: 7, keys: true })
        .unwrap();
    assert_eq!(ttl.keys, [b"a".to_vec(), b"b".to_vec()]);
    let index = h.next();
    let revoked = h
        .store
        .lease_revoke(index, &LeaseRevokeRequest { id: 7 })
        .unwrap();
    assert_eq!(revoked.response.header.revision, 7);
    let deleted: Vec<_> = revoked
        .events
        .iter()
        .map(|e| (e.kv.key.clone(), e.kv.mod_revision))
        .collect();
    assert_eq!(deleted, [(b"a".to_vec(), 7), (b"b".to_vec(), 7)]);
    assert_eq!(h.keys("a", "z"), ["c", "d"]);
    let index = h.next();
    let again = h
        .store
        .lease_revoke(index, &LeaseRevokeRequest { id: 7 })
        .unwrap_err();
    assert_eq!(
        (again.to_string().as_str(), again.code()),
        ("etcdserver: requested lease not found", GrpcCode::NotFound)
    );
    let ttl = h
        .store
        .lease_time_to_live(&LeaseTimeToLiveRequest { id: 7, keys: true })
        .unwrap();
    assert_eq!(ttl.ttl, -1);
}

#[test]
fn lease_grant_errors() {
    let mut h = Harness::new();
    let grant = |h: &mut Harness, id, ttl| {
        let index = h.next();
        h.store
            .lease_grant(index, &LeaseGrantRequest { ttl, id })
            .map(|_| ())
    };
    grant(&mut h, 1, 10).unwrap();
    assert_eq!(
        grant(&mut h, 1, 10).unwrap_err().to_string(),
        "etcdserver: lease already exists"
    );
    let too_large = grant(&mut h, 2, invar_mvcc::LEASE_TTL_SECONDS_MAX + 1).unwrap_err();
    assert_eq!(too_large.to_string(), "etcdserver: too large lease TTL");
    assert_eq!(h.store.revision(), 1, "grants do not bump the revision");
}

#[test]
#[should_panic(expected = "applied twice")]
fn applying_an_index_twice_is_a_caller_bug() {
    let mut h = Harness::new();
    h.put("a", "1");
    let _ = h.store.put(1, &put("a", "2"));
}

#[test]
fn a_backend_failure_poisons_the_store() {
    let backend = MemBackend::new();
    let mut store = Store::open(Box::new(backend.clone()), Config::default()).unwrap();
    let _ = store.put(1, &put("a", "1")).unwrap();
    backend.fail_after(Some(0));
    let error = store.put(2, &put("a", "2")).unwrap_err();
    assert!(!error.is_client_error(), "{error}");
    backend.fail_after(None);
    let after = store.range(&RangeRequest {
        key: "a".into(),
        ..Default::default()
    });
    assert!(matches!(after, Err(MvccError::Poisoned)));
}

#[test]
fn apply_dispatches_every_request_kind() {
    use invar_mvcc::{Request, Response};
    let mut h = Harness::new();
    let requests = [
        Request::LeaseGrant(LeaseGrantRequest { ttl: 10, id: 1 }),
        Request::Put(PutRequest {
            lease: 1,
            ..put("a", "1")
        }),
        Request::Txn(txn(vec![RequestOp::Put(put("b", "1"))])),
        Request::DeleteRange(DeleteRangeRequest {
            key: "b".into(),
            ..Default::default()
        }),
        Request::Compact(CompactionRequest {
            revision: 3,
            physical: false,
        }),
        Request::LeaseRevoke(LeaseRevokeRequest { id: 1 }),
    ];
    let mut revisions = Vec::new();
    for request in &requests {
        let index = h.next();
        let applied = h.store.apply(index, request).unwrap();
        revisions.push(match applied.response {
            Response::LeaseGrant(r) => r.header.revision,
            Response::Put(r) => r.header.revision,
            Response::Txn(r) => r.header.revision,
            Response::DeleteRange(r) => r.header.revision,
            Response::Compact(r) => r.header.revision,
            Response::LeaseRevoke(r) => r.header.revision,
            Response::LeaseCheckpoint(header) => header.revision,
        });
    }
    assert_eq!(revisions, [1, 2, 3, 4, 4, 5]);
    assert_eq!(h.store.consistent_index(), 6);
}

#[test]
fn deeply_nested_txns_are_refused_not_a_stack_overflow() {
    let mut h = Harness::new();
    let mut req = txn(vec![RequestOp::Put(put("a", "1"))]);
    for _ in 0..invar_mvcc::validate::TXN_DEPTH_MAX - 1 {
        req = txn(vec![RequestOp::Txn(req)]);
    }
    assert!(h.txn(&req).is_ok(), "the maximum depth is allowed");
    let mut deep = req;
    for _ in 0..100_000 {
        deep = txn(vec![RequestOp::Txn(deep)]);
    }
    let error = h.txn(&deep).unwrap_err();
    assert_eq!(
        error.to_string(),
        "etcdserver: too many operations in txn request"
    );
    // Dropping a 100,000-deep request must not overflow the stack either: dismantle it.
    let mut next = Some(deep);
    while let Some(mut current) = next.take() {
        if let Some(RequestOp::Txn(inner)) = current.success.pop() {
            next = Some(inner);
        }
    }
}

#[test]
fn extreme_numbers_from_clients_are_errors_or_empty_never_panics() {
    let mut h = Harness::new();
    h.put("a", "1");
    for revision in [i64::MIN, -1, i64::MAX] {
        let req = RangeRequest {
            key: "a".into(),
            revision,
            limit: i64::MAX,
            ..Default::default()
        };
        let _ = h.store.range(&req);
        let _ = h.store.hash_kv(&HashKvRequest { revision });
        let _ = h.compact(revision);
        let _ = h.store.events(revision, 1);
        let _ = h.store.events(1, revision);
    }
    let req = RangeRequest {
        key: "a".into(),
        limit: i64::MIN,
        ..Default::default()
    };
    assert_eq!(
        h.store.range(&req).unwrap().kvs.len(),
        1,
        "a negative limit is no limit"
    );
    let index = h.next();
    let grant = LeaseGrantRequest {
        ttl: i64::MIN,
        id: i64::MIN,
    };
    assert_eq!(h.store.lease_grant(index, &grant).unwrap().ttl, 2);
}

#[test]
fn lease_checkpoints_survive_a_restart() {
    use invar_mvcc::{LeaseCheckpoint, Request};
    let backend = MemBackend::new();
    let mut store = Store::open(Box::new(backend.clone()), Config::default()).unwrap();
    let _ = store
        .lease_grant(1, &LeaseGrantRequest { ttl: 60, id: 3 })
        .unwrap();
    assert_eq!(store.lease_remaining_ttl(3), Some(0));
    let checkpoints = vec![
        LeaseCheckpoint {
            id: 3,
            remaining_ttl: 41,
        },
        LeaseCheckpoint {
            id: 99,
            remaining_ttl: 5,
        },
    ];
    let _ = store
        .apply(2, &Request::LeaseCheckpoint(checkpoints))
        .unwrap();
    assert_eq!(store.revision(), 1, "checkpoints do not bump the revision");
    drop(store);
    let store = Store::open(Box::new(backend), Config::default()).unwrap();
    assert_eq!(store.lease_remaining_ttl(3), Some(41));
    assert_eq!(store.lease_remaining_ttl(99), None);
    assert_eq!(store.consistent_index(), 2);
}

#[test]
fn any_redb_backend_works_and_bad_configs_are_refused() {
    let backend = redb::backends::InMemoryBackend::new();
    let mut store = Store::open(Box::new(backend), Config::default()).unwrap();
    assert_eq!(
        store
            .put(1, &put("a", "1"))
            .unwrap()
            .response
            .header
            .revision,
        2
    );
    let bad = Config {
        commits_per_sync: 0,
        ..Config::default()
    };
    let error = Store::open(Box::new(MemBackend::new()), bad).unwrap_err();
    assert!(matches!(error, MvccError::InvalidConfig(_)), "{error}");
}

/// The open count tells runs of a member apart: every open raises it, durably (a crash right
/// after an open keeps it), and it is not part of the data (the hash does not change).
#[test]
fn every_open_raises_the_open_count_durably() {
    let backend = MemBackend::new();
    let mut store = Store::open(Box::new(backend.clone()), Config::default()).unwrap();
    assert_eq!(store.opens(), 1);
    let _ = store.put(1, &put("a", "1")).unwrap();
    let hash = store.hash_kv(&HashKvRequest { revision: 0 }).unwrap().hash;
    drop(store);
    let store = Store::open(Box::new(backend.clone()), Config::default()).unwrap();
    assert_eq!(store.opens(), 2);
    let crashed = backend.crash();
    drop(store);
    let store = Store::open(Box::new(crashed), Config::default()).unwrap();
    assert_eq!(store.opens(), 3, "the second open was durable");
    assert_eq!(
        store.hash_kv(&HashKvRequest { revision: 0 }).unwrap().hash,
        hash
    );
}
