//! Reads that return flipped bits (a failing medium) must surface as errors, never as a panic
//! or as a wrong answer: the store is filled on a healthy disk, then reopened and read while
//! the simulated disk flips one bit in some reads.

mod common;

use std::path::Path;

use common::{Model, Op, Outcome, Rng, apply_store};
use invar_mvcc::{Config, FileBackend, Store};
use invar_storage::fs::SimFs;

#[test]
fn flipped_bits_on_read_are_errors_not_panics_or_wrong_answers() {
    let (mut detected, mut answers) = (0, 0);
    for seed in 0..40u64 {
        let config = Config {
            commits_per_sync: 8,
            ..Config::default()
        };
        let fs = SimFs::with_seed(seed);
        let path = Path::new("/flips.redb");
        let mut model = Model::new(config);
        let mut rng = Rng::new(seed);
        {
            let backend = FileBackend::open(&fs, path).expect("file");
            let mut store = Store::open(Box::new(backend), config).expect("open");
            for index in 1..=200u64 {
                let op = model.gen_op(&mut rng);
                let _ = apply_store(&mut store, index, &op);
                model.apply(&op);
            }
            store.sync().expect("sync");
        }
        fs.set_read_bit_flip_per_million(
            std::env::var("FLIPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1 + rng.below(300_000)),
        );
        let backend = FileBackend::open(&fs, path).expect("file");
        let store = match Store::open(Box::new(backend), config) {
            Ok(store) => store,
            Err(error) => {
                assert!(!error.is_client_error(), "seed {seed}: {error}");
                if detected == 0 {
                    eprintln!("example: {error}");
                }
                detected += 1;
                continue;
            }
        };
        let mut store = store;
        for index in 201..=400u64 {
            let op = match model.gen_op(&mut rng) {
                op @ (Op::Range(_) | Op::Hash(_)) => op,
                _ => continue,
            };
            let (outcome, _) = apply_store(&mut store, index, &op);
            match outcome {
                Outcome::Error(text) if !text.starts_with("etcdserver") => {
                    eprintln!("example: {text}");
                    detected += 1;
                    break;
                }
                outcome => {
                    assert_eq!(
                        outcome,
                        model.apply(&op),
                        "seed {seed} index {index}: wrong answer"
                    );
                    answers += 1;
                }
            }
        }
    }
    eprintln!("{answers} answers checked, {detected} runs stopped by a detected error");
    assert!(detected > 0);
}
