//! Model-based test: thousands of random request sequences (puts, deletes, ranges with every
//! option, nested txns, compactions, lease grants and revokes, hashes, reopens) run on the real
//! store and on the reference model in `common`; every response, error text, event list and
//! the full final state must be identical. Seeds replay: a failure prints its seed.

mod common;

use common::{Model, Rng, apply_store, assert_same_state};
use invar_mvcc::{Config, MemBackend, Store};

fn run_seed(seed: u64, ops: usize) {
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
    for seed in 0..seeds {
        run_seed(seed, 60);
    }
}

#[test]
fn store_matches_model_on_long_sequences() {
    for seed in 10_000..10_020 {
        run_seed(seed, 600);
    }
}
