//! Model-based test: thousands of random request sequences (puts, deletes, ranges with every
//! option, nested txns, compactions, lease grants and revokes, hashes, reopens) run on the real
//! store and on the reference model in `common`; every response, error text, event list and
//! the full final state must be identical. Seeds replay: a failure prints its seed. The same
//! runs go again with the entries applied in batches ([`Store::begin_batch`]) of random
//! length, reads and watch matching in the middle of a batch included.

mod common;

use std::collections::BTreeMap;

use common::{Model, Outcome, Rng, apply_store, assert_same_state};
use invar_mvcc::{Config, MemBackend, Store};

/// Opens and commits batches at random (only in batched runs, so that unbatched runs draw
/// the same numbers as before): call before each step and after it.
struct Batcher {
    batched: bool,
    /// Steps left in the open batch (0: none open).
    left: u64,
}

impl Batcher {
    fn new(batched: bool) -> Self {
        Batcher { batched, left: 0 }
    }

    fn before_step(&mut self, store: &mut Store, rng: &mut Rng) {
        if self.batched && self.left == 0 && rng.chance(70) {
            store.begin_batch().expect("begin batch");
            self.left = 1 + rng.below(8);
        }
    }

    fn after_step(&mut self, store: &mut Store) {
        if self.left > 0 {
            self.left -= 1;
            if self.left == 0 {
                store.commit_batch().expect("commit batch");
            }
        }
    }

    fn finish(&mut self, store: &mut Store) {
        if store.in_batch() {
            store.commit_batch().expect("commit batch");
        }
        self.left = 0;
    }
}

fn run_seed(seed: u64, ops: usize, batched: bool, tally: &mut BTreeMap<String, u64>) {
    let mut rng = Rng::new(seed);
    let config = Config {
        commits_per_sync: *rng.pick(&[1, 4, 64]),
        lease_ttl_seconds_min: rng.below(3) as i64,
        ..Config::default()
    };
    let backend = MemBackend::new();
    let mut store = Store::open(Box::new(backend.clone()), config).expect("open");
    let mut model = Model::new(config);
    let mut batcher = Batcher::new(batched);
    for step in 0..ops {
        let index = step as u64 + 1;
        if !store.in_batch() && rng.chance(2) {
            // A clean restart: sync, close, reopen from the same bytes.
            store.sync().expect("sync");
            drop(store);
            store = Store::open(Box::new(backend.clone()), config).expect("reopen");
            assert_eq!(
                store.consistent_index(),
                index - 1,
                "seed {seed}: consistent index"
            );
            assert_same_state(
                &store,
                &model,
                &format!("seed {seed} after reopen at {step}"),
            );
        }
        batcher.before_step(&mut store, &mut rng);
        let op = model.gen_op(&mut rng);
        let revision_before = model.revision();
        let expected = model.apply(&op);
        let (actual, events) = apply_store(&mut store, index, &op);
        assert_eq!(actual, expected, "seed {seed} step {step}: {op:?}");
        *tally.entry(kind(&actual)).or_default() += 1;
        let expected_events = if model.revision() > revision_before {
            model.events_of(model.revision())
        } else {
            vec![]
        };
        assert_eq!(
            events, expected_events,
            "seed {seed} step {step}: events of {op:?}"
        );
        assert_eq!(store.consistent_index(), index);
        if let Err(broken) = store.check_invariants() {
            panic!("seed {seed} step {step}: {broken}");
        }
        if store.in_batch() && rng.chance(10) {
            // Reads in the middle of a batch see its writes.
            assert_same_state(&store, &model, &format!("seed {seed} in a batch at {step}"));
        }
        batcher.after_step(&mut store);
    }
    batcher.finish(&mut store);
    assert_same_state(&store, &model, &format!("seed {seed} at the end"));
}

#[test]
fn store_matches_model_on_random_sequences() {
    let seeds: u64 = std::env::var("MVCC_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut tally = BTreeMap::new();
    for seed in 0..seeds {
        run_seed(seed, 60, false, &mut tally);
    }
    check_tally(&tally);
}

/// The same random sequences, applied in batches of random length.
#[test]
fn store_in_batches_matches_model_on_random_sequences() {
    let seeds: u64 = std::env::var("MVCC_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut tally = BTreeMap::new();
    for seed in 0..seeds {
        run_seed(seed, 60, true, &mut tally);
    }
    check_tally(&tally);
}

fn check_tally(tally: &BTreeMap<String, u64>) {
    // The generator must reach every interesting outcome, or the comparison proves little.
    for wanted in [
        "put",
        "delete:0",
        "delete:n",
        "range:more",
        "range:kvs",
        "txn:ok:write",
        "txn:ok:read",
        "txn:else",
        "compact",
        "grant",
        "revoke",
        "hash",
        "etcdserver: key is not provided",
        "etcdserver: key not found",
        "etcdserver: value is provided",
        "etcdserver: lease is provided",
        "etcdserver: duplicate key given in txn request",
        "etcdserver: mvcc: required revision has been compacted",
        "etcdserver: mvcc: required revision is a future revision",
        "etcdserver: requested lease not found",
        "etcdserver: lease already exists",
        "etcdserver: too large lease TTL",
    ] {
        let hits = tally.get(wanted).copied().unwrap_or(0);
        assert!(
            hits >= 10,
            "outcome {wanted:?} reached only {hits} times: {tally:#?}"
        );
    }
}

/// A coarse name for an outcome, to check that the generator covers the space.
fn kind(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Put(_) => "put".into(),
        Outcome::Delete(r) => if r.deleted == 0 {
            "delete:0"
        } else {
            "delete:n"
        }
        .into(),
        Outcome::Range(r) if r.more => "range:more".into(),
        Outcome::Range(r) => if r.kvs.is_empty() {
            "range:empty"
        } else {
            "range:kvs"
        }
        .into(),
        Outcome::Txn(t) if !t.succeeded => "txn:else".into(),
        Outcome::Txn(t) => {
            let writes = t
                .responses
                .iter()
                .any(|r| !matches!(r, invar_mvcc::ResponseOp::Range(_)));
            if writes {
                "txn:ok:write"
            } else {
                "txn:ok:read"
            }
            .into()
        }
        Outcome::Compact(_) => "compact".into(),
        Outcome::Grant(_) => "grant".into(),
        Outcome::Revoke(_) => "revoke".into(),
        Outcome::Hash(_) => "hash".into(),
        Outcome::Error(text) => text.clone(),
    }
}

#[test]
fn store_matches_model_on_long_sequences() {
    let mut tally = BTreeMap::new();
    for seed in 10_000..10_020 {
        run_seed(seed, 600, false, &mut tally);
        run_seed(seed, 600, true, &mut tally);
    }
}

/// What a watcher must have received, computed from the model alone.
struct ExpectedWatcher {
    id: i64,
    key: Vec<u8>,
    range_end: Vec<u8>,
    start: i64,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    /// The compact revision when the watcher was created.
    compact_at_create: i64,
    /// The store revision when the watcher was created (later events arrive live).
    revision_at_create: i64,
    /// Events received so far, from the create response on.
    received: Vec<invar_mvcc::Event>,
}

impl ExpectedWatcher {
    /// Every event the model history holds for this watcher, with prev_kv read at the
    /// revision before each event.
    fn expected(&self, model: &Model) -> Vec<invar_mvcc::Event> {
        let range = invar_mvcc::KeyRange::new(&self.key, &self.range_end);
        let mut events = Vec::new();
        for revision in self.start.max(1)..=model.revision() {
            for mut event in model.events_of(revision) {
                let filtered = match event.r#type {
                    invar_mvcc::EventType::Put => self.no_put,
                    invar_mvcc::EventType::Delete => self.no_delete,
                };
                if filtered || !range.contains(&event.kv.key) {
                    continue;
                }
                let create = event.r#type == invar_mvcc::EventType::Put && event.kv.version == 1;
                // Catch-up reads prev_kv at creation, when revision - 1 may be compacted; a live
                // event's previous revision is never compacted.
                let compacted =
                    revision <= self.revision_at_create && revision - 1 < self.compact_at_create;
                if self.prev_kv && !create && !compacted {
                    event.prev_kv = model.states[revision as usize - 1]
                        .get(&event.kv.key)
                        .cloned();
                }
                events.push(event);
            }
        }
        events
    }
}

/// Watchers created at random points (past, current and future start revisions, ranges,
/// filters, prev_kv) must receive exactly the model's matching events, each once and in
/// revision order, or be canceled when their start revision is compacted.
#[test]
fn watchers_match_model_history() {
    watchers_match_model(false);
}

/// The same, with the entries applied in batches: live events (with their previous kv) and
/// catch-up are matched in the middle of a batch.
#[test]
fn watchers_match_model_history_in_batches() {
    watchers_match_model(true);
}

fn watchers_match_model(batched: bool) {
    for seed in 0..300u64 {
        let mut rng = Rng::new(seed ^ 0xAB);
        let config = Config {
            watch_catch_up_revisions_max: 1 + rng.below(3) as usize,
            ..Config::default()
        };
        let mut store = Store::open(Box::new(MemBackend::new()), config).expect("open");
        let mut model = Model::new(config);
        let mut stream = invar_mvcc::WatchStream::new();
        let mut watchers: Vec<ExpectedWatcher> = Vec::new();
        let mut batcher = Batcher::new(batched);
        for step in 0..80u64 {
            batcher.before_step(&mut store, &mut rng);
            if rng.chance(10) {
                let keys: [&[u8]; 4] = [b"a", b"b", b"c", b"\x00"];
                let ends: [&[u8]; 4] = [b"", b"", b"\x00", b"c"];
                let start = match rng.below(4) {
                    0 => 0,
                    1 => model.revision() + 1 + rng.below(3) as i64,
                    _ => rng.below(model.revision() as u64 + 1) as i64,
                };
                let mut filters = Vec::new();
                if rng.chance(20) {
                    filters.push(invar_mvcc::FilterType::NoPut);
                }
                if rng.chance(20) {
                    filters.push(invar_mvcc::FilterType::NoDelete);
                }
                let req = invar_mvcc::WatchCreateRequest {
                    key: rng.pick(&keys).to_vec(),
                    range_end: rng.pick(&ends).to_vec(),
                    start_revision: start,
                    prev_kv: rng.chance(50),
                    filters,
                    ..Default::default()
                };
                let responses = stream.create(&store, &req).expect("create");
                assert!(responses[0].created);
                let id = responses[0].watch_id;
                let compacted = start != 0 && start < model.compact;
                if compacted {
                    assert!(responses.len() == 2 && responses[1].canceled, "seed {seed}");
                    assert_eq!(responses[1].compact_revision, model.compact);
                    continue;
                }
                let mut watcher = ExpectedWatcher {
                    id,
                    key: req.key.clone(),
                    range_end: req.range_end.clone(),
                    start: if start == 0 {
                        model.revision() + 1
                    } else {
                        start
                    },
                    no_put: req.filters.contains(&invar_mvcc::FilterType::NoPut),
                    no_delete: req.filters.contains(&invar_mvcc::FilterType::NoDelete),
                    prev_kv: req.prev_kv,
                    compact_at_create: model.compact,
                    revision_at_create: model.revision(),
                    received: Vec::new(),
                };
                if watcher.key.is_empty() {
                    watcher.key = vec![0];
                }
                watchers.push(watcher);
                if rng.chance(50) {
                    drain(&mut stream, &store, &mut watchers);
                }
            }
            let op = model.gen_op(&mut rng);
            if matches!(op, common::Op::Compact(_)) || rng.chance(30) {
                // Watchers catch up before a compaction, so the expectation stays exact.
                drain(&mut stream, &store, &mut watchers);
            }
            let expected = model.apply(&op);
            let (actual, events) = apply_store(&mut store, step + 1, &op);
            assert_eq!(actual, expected, "seed {seed} step {step}");
            for response in stream.notify(&store, &events).expect("notify") {
                let watcher = watchers
                    .iter_mut()
                    .find(|w| w.id == response.watch_id)
                    .expect("known id");
                let revisions: Vec<i64> =
                    response.events.iter().map(|e| e.kv.mod_revision).collect();
                assert!(
                    revisions.windows(2).all(|w| w[0] == w[1]),
                    "one revision per live response"
                );
                watcher.received.extend(response.events);
            }
            batcher.after_step(&mut store);
        }
        batcher.finish(&mut store);
        drain(&mut stream, &store, &mut watchers);
        for watcher in &watchers {
            assert_eq!(
                watcher.received,
                watcher.expected(&model),
                "seed {seed} watcher {}",
                watcher.id
            );
        }
    }
}

/// Runs catch-up until every watcher is synced, recording what each one receives.
fn drain(stream: &mut invar_mvcc::WatchStream, store: &Store, watchers: &mut [ExpectedWatcher]) {
    for _ in 0..10_000 {
        if !stream.needs_catch_up(store) {
            return;
        }
        for response in stream.catch_up(store).expect("catch up") {
            assert!(!response.canceled, "no compaction while watchers lag");
            let watcher = watchers
                .iter_mut()
                .find(|w| w.id == response.watch_id)
                .expect("known id");
            watcher.received.extend(response.events);
        }
    }
    panic!("catch-up did not converge");
}
