//! Goal: a seed is a replay. The same seed and options give the same trace hash and report,
//! twice in a row, for every workload and both modes; different seeds give different traces.
//! (The command line's `--threads` independence is tested in the `invar` crate.)

mod common;

use common::short;
use invar_sim::{Mode, WorkloadKind, run_seed};

#[test]
fn same_seed_same_trace_for_every_workload_and_mode() {
    for workload in WorkloadKind::ALL {
        for mode in Mode::ALL {
            let options = short(workload, mode, 8);
            let mut traces = Vec::new();
            for seed in [11, 12] {
                let first = run_seed(seed, &options);
                let second = run_seed(seed, &options);
                assert_eq!(
                    first, second,
                    "{workload} {mode} seed {seed} is not deterministic"
                );
                let trace = match &first {
                    Ok(report) => report.trace_hash,
                    Err(failure) => failure.trace_hash,
                };
                traces.push(trace);
            }
            assert_ne!(
                traces[0], traces[1],
                "{workload} {mode}: seeds 11 and 12 ran the same"
            );
        }
    }
}
