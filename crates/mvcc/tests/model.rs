//! Model-based test: thousands of random request sequences (puts, deletes, ranges with every
//! option, nested txns, compactions, lease grants and revokes, hashes, reopens) run on the real
//! store and on the reference model in `common`; every response, error text, event list and
//! the full final state must be identical. Seeds replay: a failure prints its seed.

mod common;

use std::collections::BTreeMap;

use common::{Model, Outcome, Rng, apply_store, assert_same_state};
use invar_mvcc::{Config, MemBackend, Store};

fn run_seed(seed: u64, ops: usize, tally: &mut BTreeMap<String, u64>) {
    let mut rng = Rng::new(seed);
    let config = Config {
        commits_per_sync: *rng.pick(&[1, 4, 64]),
        lease_ttl_seconds_min: rng.below(3) as i64,
        ..Config::default()
    };
    let backend = MemBackend::new();
    let mut store = Store::open(Box::new(backend.clone()), config).expect("open");
    let mut model = Model::new(config);
    for step in 0..ops {
        let index = step as u64 + 1;
        if rng.chance(2) {
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
    }
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
        run_seed(seed, 60, &mut tally);
    }
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
        run_seed(seed, 600, &mut tally);
    }
}
