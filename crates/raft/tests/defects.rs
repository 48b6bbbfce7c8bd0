//! Proof that the safety harness has teeth: each test is compiled only with one deliberately
//! injected defect (a cargo feature of this crate) and passes only if the randomized harness
//! catches it, through the property that the defect breaks.
//!
//! ```text
//! cargo test --release -p invar-raft --features defect-commit-old-term --test defects
//! cargo test --release -p invar-raft --features defect-forget-vote --test defects
//! cargo test --release -p invar-raft --features defect-vote-without-log-check --test defects
//! cargo test --release -p invar-raft --features defect-read-index-without-heartbeat --test defects
//! ```
//!
//! Without a defect feature the file holds one test: that no defect is compiled in.

#![allow(dead_code)]

use invar_raft::testkit::{SimOptions, Violation, ViolationKind, run_seed};

/// Runs seeds until one fails; returns the first violation.
fn first_violation(seeds_max: u64) -> Option<Violation> {
    (0..seeds_max).find_map(|seed| {
        let options = SimOptions {
            voters: if seed.is_multiple_of(2) { 3 } else { 5 },
            ..SimOptions::default()
        };
        run_seed(seed, &options).err()
    })
}

/// `INVAR_DEFECT_SEEDS` overrides the search bound.
fn seeds_max(default: u64) -> u64 {
    std::env::var("INVAR_DEFECT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn assert_caught(expected: &[ViolationKind]) {
    assert_caught_within(5_000, expected);
}

fn assert_caught_within(seeds: u64, expected: &[ViolationKind]) {
    let violation =
        first_violation(seeds_max(seeds)).expect("the harness never noticed the defect");
    eprintln!("caught: {violation}");
    assert!(
        expected.contains(&violation.kind),
        "caught by an unexpected property: {violation}"
    );
}

#[cfg(feature = "defect-commit-old-term")]
#[test]
fn counting_old_term_replicas_toward_commit_is_caught() {
    // Figure 8 needs three leadership changes in a precise order; about one seed in 9,000
    // produces it (first at seed 8759 when this was written), so the bound is larger.
    assert_caught_within(
        30_000,
        &[
            ViolationKind::StateMachineSafety,
            ViolationKind::LeaderCompleteness,
        ],
    );
}

#[cfg(feature = "defect-forget-vote")]
#[test]
fn forgetting_the_vote_on_restart_is_caught() {
    assert_caught(&[ViolationKind::ElectionSafety]);
}

#[cfg(feature = "defect-vote-without-log-check")]
#[test]
fn voting_without_the_log_check_is_caught() {
    assert_caught(&[
        ViolationKind::LeaderCompleteness,
        ViolationKind::StateMachineSafety,
    ]);
}

#[cfg(feature = "defect-read-index-without-heartbeat")]
#[test]
fn read_index_without_a_heartbeat_round_is_caught() {
    assert_caught(&[ViolationKind::StaleRead]);
}

#[cfg(not(any(
    feature = "defect-commit-old-term",
    feature = "defect-forget-vote",
    feature = "defect-vote-without-log-check",
    feature = "defect-read-index-without-heartbeat"
)))]
#[test]
fn no_defect_is_compiled_in_by_default() {
    assert!(first_violation(50).is_none());
}
