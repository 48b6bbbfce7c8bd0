//! Watch matching: live notification by key and range, filters, prev_kv, catch-up from
//! history for a start revision in the past, a future start, and the compaction cancel.

use invar_mvcc::{
    CompactionRequest, Config, DeleteRangeRequest, EventType, FilterType, HashKvRequest,
    MemBackend, PutRequest, RangeRequest, RequestOp, Store, TxnRequest, WatchCreateRequest,
    WatchResponse, WatchStream,
};

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

struct World {
    backend: MemBackend,
    store: Store,
    index: u64,
    stream: WatchStream,
}

impl World {
    fn config() -> Config {
        Config {
            watch_catch_up_revisions_max: 2,
            ..Config::default()
        }
    }
    fn new() -> Self {
        let backend = MemBackend::new();
        let store = Store::open(Box::new(backend.clone()), World::config()).unwrap();
        World {
            backend,
            store,
            index: 0,
            stream: WatchStream::new(),
        }
    }
    /// A clean restart: sync, close, reopen from the same bytes, with a new watch stream.
    fn restart(&mut self) {
        self.store.sync().unwrap();
        let reopened = Store::open(Box::new(self.backend.clone()), World::config()).unwrap();
        drop(std::mem::replace(&mut self.store, reopened));
        self.stream = WatchStream::new();
    }
    fn compact(&mut self, revision: i64) {
        self.index += 1;
        let req = CompactionRequest {
            revision,
            physical: true,
        };
        let _ = self.store.compact(self.index, &req).unwrap();
    }
    fn put(&mut self, key: &str, value: &str) -> Vec<WatchResponse> {
        self.index += 1;
        let applied = self.store.put(self.index, &put(key, value)).unwrap();
        self.stream.notify(&self.store, &applied.events).unwrap()
    }
    fn delete(&mut self, key: &str) -> Vec<WatchResponse> {
        self.index += 1;
        let req = DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        };
        let applied = self.store.delete_range(self.index, &req).unwrap();
        self.stream.notify(&self.store, &applied.events).unwrap()
    }
    fn watch(&mut self, req: WatchCreateRequest) -> Vec<WatchResponse> {
        let mut responses = self.stream.create(&self.store, &req).unwrap();
        responses.extend(self.drain());
        responses
    }
    fn drain(&mut self) -> Vec<WatchResponse> {
        let mut responses = Vec::new();
        while self.stream.needs_catch_up(&self.store) {
            responses.extend(self.stream.catch_up(&self.store).unwrap());
        }
        responses
    }
}

type Summary = Vec<(i64, Vec<(String, i64, EventType)>)>;

fn summary(responses: &[WatchResponse]) -> Summary {
    responses
        .iter()
        .map(|r| {
            let events = r
                .events
                .iter()
                .map(|e| {
                    (
                        String::from_utf8(e.kv.key.clone()).unwrap(),
                        e.kv.mod_revision,
                        e.r#type,
                    )
                })
                .collect();
            (r.watch_id, events)
        })
        .collect()
}

#[test]
fn live_events_reach_matching_watchers_with_filters_and_prev_kv() {
    let mut w = World::new();
    let single = w.watch(WatchCreateRequest {
        key: "a".into(),
        ..Default::default()
    });
    assert!(single[0].created && single[0].watch_id == 0);
    let prefix = WatchCreateRequest {
        key: "b".into(),
        range_end: "c".into(),
        prev_kv: true,
        filters: vec![FilterType::NoPut],
        ..Default::default()
    };
    assert_eq!(w.watch(prefix)[0].watch_id, 1);
    let all = WatchCreateRequest {
        key: vec![],
        range_end: vec![0],
        ..Default::default()
    };
    assert_eq!(w.watch(all)[0].watch_id, 2);
    assert_eq!(
        summary(&w.put("a", "1")),
        [
            (0, vec![("a".into(), 2, EventType::Put)]),
            (2, vec![("a".into(), 2, EventType::Put)])
        ]
    );
    assert_eq!(
        summary(&w.put("b1", "1")),
        [(2, vec![("b1".into(), 3, EventType::Put)])]
    );
    let deleted = w.delete("b1");
    assert_eq!(
        summary(&deleted),
        [
            (1, vec![("b1".into(), 4, EventType::Delete)]),
            (2, vec![("b1".into(), 4, EventType::Delete)])
        ]
    );
    let prev = deleted[0].events[0]
        .prev_kv
        .as_ref()
        .expect("prev_kv asked for");
    assert_eq!((prev.value.as_slice(), prev.mod_revision), (&b"1"[..], 3));
    assert!(deleted[1].events[0].prev_kv.is_none(), "not asked for");
    assert!(w.stream.cancel(&w.store, 2).unwrap().canceled);
    assert!(w.put("zz", "1").is_empty());
}

/// On a fresh store (revision 1, as in etcd) a watcher from "now" (start 0) and one from
/// revision 1 both get the first write, at revision 2, and are synced before it.
#[test]
fn watchers_on_a_fresh_store_get_the_first_write_at_revision_2() {
    let mut w = World::new();
    let now = w.watch(WatchCreateRequest {
        key: "a".into(),
        ..Default::default()
    });
    let from_1 = w.watch(WatchCreateRequest {
        key: "a".into(),
        start_revision: 1,
        ..Default::default()
    });
    assert_eq!((now[0].header.revision, from_1.len()), (1, 1));
    assert!(w.stream.is_synced(&w.store, 0) && w.stream.is_synced(&w.store, 1));
    assert_eq!(
        summary(&w.put("a", "1")),
        [
            (0, vec![("a".into(), 2, EventType::Put)]),
            (1, vec![("a".into(), 2, EventType::Put)])
        ]
    );
}

#[test]
fn a_txn_is_one_response_per_watcher() {
    let mut w = World::new();
    w.watch(WatchCreateRequest {
        key: "a".into(),
        range_end: "z".into(),
        ..Default::default()
    });
    let req = TxnRequest {
        success: vec![RequestOp::Put(put("a", "1")), RequestOp::Put(put("b", "1"))],
        ..Default::default()
    };
    let applied = w.store.txn(1, &req).unwrap();
    let responses = w.stream.notify(&w.store, &applied.events).unwrap();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].events.len(), 2);
}

#[test]
fn catch_up_from_the_past_in_batches_then_live() {
    let mut w = World::new();
    for (key, value) in [("a", "1"), ("b", "1"), ("a", "2"), ("a", "3")] {
        w.put(key, value);
    }
    w.delete("a");
    let req = WatchCreateRequest {
        key: "a".into(),
        start_revision: 3,
        prev_kv: true,
        ..Default::default()
    };
    let responses = w.watch(req);
    assert!(responses[0].created);
    // Each catch-up call scans at most two revisions: [3, 4] then [5, 6].
    assert_eq!(
        summary(&responses[1..]),
        [
            (0, vec![("a".into(), 4, EventType::Put)]),
            (
                0,
                vec![
                    ("a".into(), 5, EventType::Put),
                    ("a".into(), 6, EventType::Delete)
                ]
            )
        ]
    );
    let prev = responses[1].events[0].prev_kv.as_ref().unwrap();
    assert_eq!(prev.value, b"1");
    assert_eq!(
        summary(&w.put("a", "4")),
        [(0, vec![("a".into(), 7, EventType::Put)])]
    );
}

#[test]
fn future_start_waits_for_its_revision() {
    let mut w = World::new();
    w.watch(WatchCreateRequest {
        key: "a".into(),
        start_revision: 4,
        ..Default::default()
    });
    assert!(w.put("a", "1").is_empty());
    assert!(w.put("a", "2").is_empty());
    assert_eq!(
        summary(&w.put("a", "3")),
        [(0, vec![("a".into(), 4, EventType::Put)])]
    );
}

#[test]
fn compacted_start_is_canceled_with_the_compact_revision() {
    let mut w = World::new();
    for value in ["1", "2", "3"] {
        w.put("a", value);
    }
    let _ = w
        .store
        .compact(
            4,
            &CompactionRequest {
                revision: 3,
                physical: true,
            },
        )
        .unwrap();
    let responses = w.watch(WatchCreateRequest {
        key: "a".into(),
        start_revision: 2,
        ..Default::default()
    });
    assert_eq!(responses.len(), 2);
    assert!(responses[1].canceled);
    assert_eq!(responses[1].compact_revision, 3);
    assert!(
        responses[1].cancel_reason.is_empty(),
        "etcd sets no reason on a compaction cancel"
    );
    assert!(w.stream.watch_ids().is_empty());
    // Starting exactly at the compact revision is allowed.
    let responses = w.watch(WatchCreateRequest {
        key: "a".into(),
        start_revision: 3,
        ..Default::default()
    });
    assert_eq!(
        summary(&responses[1..]),
        [(
            1,
            vec![
                ("a".into(), 3, EventType::Put),
                ("a".into(), 4, EventType::Put)
            ]
        )]
    );
    let negative = w.watch(WatchCreateRequest {
        key: "a".into(),
        start_revision: -1,
        ..Default::default()
    });
    assert!(negative[0].canceled && negative[0].watch_id == -1);
}

#[test]
fn chosen_watch_ids_and_duplicates() {
    let mut w = World::new();
    assert_eq!(
        w.watch(WatchCreateRequest {
            key: "a".into(),
            watch_id: 5,
            ..Default::default()
        })[0]
            .watch_id,
        5
    );
    let duplicate = w.watch(WatchCreateRequest {
        key: "a".into(),
        watch_id: 5,
        ..Default::default()
    });
    assert!(duplicate[0].canceled && duplicate[0].watch_id == -1);
    assert_eq!(w.stream.watch_ids(), [5]);
}

#[test]
fn progress_is_withheld_while_a_watcher_waits_for_a_future_revision() {
    let mut w = World::new();
    w.put("a", "1");
    let progress = w.stream.progress(&w.store).expect("no watchers: progress");
    assert_eq!((progress.watch_id, progress.header.revision), (-1, 2));
    w.watch(WatchCreateRequest {
        key: "a".into(),
        start_revision: 4,
        ..Default::default()
    });
    assert!(w.stream.progress(&w.store).is_none());
    w.put("a", "2");
    assert!(
        w.stream.progress(&w.store).is_some(),
        "revision 4 is next: nothing is skipped"
    );
}

#[test]
fn unsynced_watchers_skip_live_events_and_catch_up_in_order() {
    let mut w = World::new();
    w.put("a", "1");
    w.put("a", "2");
    let created = w
        .stream
        .create(
            &w.store,
            &WatchCreateRequest {
                key: "a".into(),
                start_revision: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(created.len(), 1);
    assert!(
        w.stream.progress(&w.store).is_none(),
        "no progress while a watcher is unsynced"
    );
    assert!(
        w.put("a", "3").is_empty(),
        "an unsynced watcher gets live events through catch-up"
    );
    let caught_up = w.drain();
    let revisions: Vec<i64> = caught_up
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.kv.mod_revision))
        .collect();
    assert_eq!(revisions, [2, 3, 4]);
    assert_eq!(
        summary(&w.put("a", "4")),
        [(0, vec![("a".into(), 5, EventType::Put)])]
    );
}

#[test]
fn a_slow_watcher_overtaken_by_compaction_is_canceled() {
    let mut w = World::new();
    for value in ["1", "2", "3", "4", "5"] {
        w.put("a", value);
    }
    let req = WatchCreateRequest {
        key: "a".into(),
        start_revision: 2,
        ..Default::default()
    };
    let _ = w.stream.create(&w.store, &req).unwrap();
    let first = w.stream.catch_up(&w.store).unwrap();
    assert_eq!(first[0].events.len(), 2, "revisions 2 and 3");
    let _ = w
        .store
        .compact(
            6,
            &CompactionRequest {
                revision: 5,
                physical: true,
            },
        )
        .unwrap();
    let rest = w.stream.catch_up(&w.store).unwrap();
    assert!(rest[0].canceled);
    assert_eq!(rest[0].compact_revision, 5);
    assert!(w.stream.watch_ids().is_empty());
}

/// Goal: `is_synced` is true exactly for a watcher that has every event up to the store's
/// revision. Method: a past-start watcher before and after catch-up, a future-start one,
/// an unknown ID.
#[test]
fn is_synced_follows_catch_up() {
    let mut world = World::new();
    for k in 0..5 {
        let _ = world.put("a", &format!("v{k}"));
    }
    let past = WatchCreateRequest {
        key: b"a".to_vec(),
        start_revision: 2,
        ..Default::default()
    };
    let created = world.stream.create(&world.store, &past).unwrap();
    let id = created[0].watch_id;
    assert!(!world.stream.is_synced(&world.store, id));
    let _ = world.drain();
    assert!(world.stream.is_synced(&world.store, id));
    let future = WatchCreateRequest {
        key: b"a".to_vec(),
        start_revision: 100,
        ..Default::default()
    };
    let created = world.stream.create(&world.store, &future).unwrap();
    assert!(!world.stream.is_synced(&world.store, created[0].watch_id));
    assert!(!world.stream.is_synced(&world.store, 999));
    let _ = world.put("a", "more");
    assert!(world.stream.is_synced(&world.store, id));
}

/// Goal: compaction at R keeps a delete made at exactly R, so that a watcher starting at R
/// (allowed: only start revisions below R are compacted) gets it. etcd lost it (#19179; fixed
/// by keeping the tombstone in #18274 and restoring it on restart in #19249). Also: a read at
/// R sees the key absent, HashKV leaves the kept delete out (as etcd), a restart keeps it, and
/// the next compaction removes it.
/// Method: put k, delete k at R, compact at R, watch k from R (with prev_kv: R - 1 is
/// compacted, so none); the same after a restart; then a write at R + 1, compact at R + 1.
#[test]
fn a_delete_at_the_compact_revision_reaches_a_watcher_starting_there() {
    let mut w = World::new();
    let _ = w.put("k", "1");
    let _ = w.delete("k");
    let r = w.store.revision();
    assert_eq!(r, 3);
    w.compact(r);
    let from_r = WatchCreateRequest {
        key: "k".into(),
        start_revision: r,
        prev_kv: true,
        ..Default::default()
    };
    let responses = w.watch(from_r.clone());
    assert!(responses[0].created && !responses[0].canceled);
    assert_eq!(
        summary(&responses[1..]),
        [(0, vec![("k".into(), r, EventType::Delete)])]
    );
    assert_eq!(
        responses[1].events[0].prev_kv, None,
        "revision R - 1 is compacted"
    );
    let at_r = RangeRequest {
        key: "k".into(),
        revision: r,
        ..Default::default()
    };
    assert_eq!(
        w.store.range(&at_r).unwrap().count,
        0,
        "a delete reads as absent"
    );
    let hash = |store: &Store| store.hash_kv(&HashKvRequest { revision: 0 }).unwrap();
    assert_eq!(
        hash(&w.store).hash,
        0,
        "the only stored record is the kept delete, which HashKV leaves out"
    );
    w.store.check_invariants().unwrap();

    w.restart();
    w.store.check_invariants().unwrap();
    assert_eq!(w.store.compact_revision(), r);
    let responses = w.watch(from_r);
    assert_eq!(
        summary(&responses[1..]),
        [(0, vec![("k".into(), r, EventType::Delete)])],
        "the delete survives a restart"
    );
    assert_eq!(hash(&w.store).hash, 0);

    let _ = w.put("other", "1");
    w.compact(r + 1);
    assert!(
        w.store
            .events(r + 1, r + 1)
            .unwrap()
            .iter()
            .all(|e| e.kv.key == b"other")
    );
    let late = w.watch(WatchCreateRequest {
        key: "k".into(),
        start_revision: r + 1,
        ..Default::default()
    });
    assert_eq!(late.len(), 1, "created, and nothing for k: {late:?}");
    let stale = w.watch(WatchCreateRequest {
        key: "k".into(),
        start_revision: r,
        ..Default::default()
    });
    assert!(stale[1].canceled && stale[1].compact_revision == r + 1);
    w.restart();
    w.store.check_invariants().unwrap();
    assert_eq!(
        w.store.events(r + 1, r + 1).unwrap().len(),
        1,
        "the next compaction removed the delete"
    );
}
