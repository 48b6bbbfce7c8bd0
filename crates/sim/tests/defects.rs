//! Goal: the simulator's properties catch real bugs. Each deliberate member defect
//! (`invar_node::Defect`, compiled in with the `defects` feature) must make
//! `invar sim --defect NAME` fail within 200 seeds of the default run (60 s, safety mode,
//! mixed workload, swarm faults), on a property that guards what the defect breaks.
//! Method: run the seeds in order until the first failure; check its property.

#![cfg(feature = "defects")]

use invar_node::Defect;
use invar_sim::{Options, Point, run_seed};

/// The properties that may catch each defect (the first to fail depends on the schedule).
fn catchers(defect: Defect) -> &'static [Point] {
    match defect {
        // A crash loses an acknowledged write: the durable log contradicts itself, a member
        // cannot restart, or the history lost the write.
        Defect::AckBeforeWalSync => &[
            Point::MemberReopens,
            Point::RevisionAgreesAtIndex,
            Point::Linearizable,
            Point::AcknowledgedWriteKept,
            Point::HashKvAgrees,
        ],
        // A crash between the data and the index makes replay apply an entry twice.
        Defect::ConsistentIndexSeparateTxn => &[
            Point::RevisionAgreesAtIndex,
            Point::HashKvAgrees,
            Point::MemberInvariants,
            Point::Linearizable,
        ],
        Defect::LinearizableReadLocal => &[Point::Linearizable],
        Defect::LeaseExpiryFollowerClock => &[Point::LeaseKeysOutliveLease],
        Defect::WatchCatchUpDropsEvents => &[Point::WatchGuarantees],
        // The store itself refuses a key history with a hole (at a reopen, or when a later
        // write finds it).
        Defect::CompactDropsLatest => &[
            Point::MemberReopens,
            Point::MemberRuns,
            Point::MemberInvariants,
            Point::Linearizable,
            Point::HashKvAgrees,
            Point::AcknowledgedWriteKept,
            Point::WatchGuarantees,
        ],
        Defect::ForgetVoteOnRestart => &[Point::OneLeaderPerTerm],
    }
}

#[test]
fn every_defect_is_found_within_200_seeds() {
    let mut missed = Vec::new();
    for defect in Defect::ALL {
        let options = Options {
            defect: Some(defect),
            ..Options::default()
        };
        let found = (0..200).find_map(|seed| run_seed(seed, &options).err().map(|f| (seed, f)));
        match found {
            Some((seed, failure)) => {
                eprintln!(
                    "{defect}: first failing seed {seed}, `{}`",
                    failure.property
                );
                let allowed: Vec<&str> = catchers(defect).iter().map(|p| p.name()).collect();
                assert!(
                    allowed.contains(&failure.property.as_str()),
                    "{defect} at seed {seed} failed `{}`, not one of {allowed:?}: {failure}",
                    failure.property
                );
            }
            None => missed.push(defect.name()),
        }
    }
    assert!(
        missed.is_empty(),
        "defects not found within 200 seeds: {missed:?}"
    );
}
