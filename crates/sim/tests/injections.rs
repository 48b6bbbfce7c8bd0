//! Goal: every property of the world has teeth. Each world-level injection falsifies one
//! observation (a recorded value, a watch event, a leader's term, a hash, a revision, an
//! acknowledged write, a lease's keys, the final probe); a run with it must fail on exactly
//! the property that guards that observation, and the same seed must pass without it. The
//! member defects (`defects.rs`) prove the same for real bugs.

mod common;

use common::short;
use invar_sim::{Injection, Mode, Options, Point, WorkloadKind, run_seed};

fn expected(injection: Injection) -> (Point, WorkloadKind, Mode) {
    match injection {
        Injection::CorruptReadValue => (Point::Linearizable, WorkloadKind::Kv, Mode::Safety),
        Injection::DropWatchEvent => (Point::WatchGuarantees, WorkloadKind::Watch, Mode::Safety),
        Injection::SecondLeader => (Point::OneLeaderPerTerm, WorkloadKind::Kv, Mode::Safety),
        Injection::AlterHash => (Point::HashKvAgrees, WorkloadKind::Kv, Mode::Safety),
        Injection::LowerRevision => (Point::RevisionAgreesAtIndex, WorkloadKind::Kv, Mode::Safety),
        Injection::RegressAnswer => (
            Point::AnsweredRevisionNeverBackwards,
            WorkloadKind::Kv,
            Mode::Safety,
        ),
        Injection::ForgetAcknowledgedWrite => {
            (Point::AcknowledgedWriteKept, WorkloadKind::Kv, Mode::Safety)
        }
        Injection::EarlyLeaseLoss => (
            Point::LeaseKeysOutliveLease,
            WorkloadKind::Lease,
            Mode::Safety,
        ),
        Injection::WithholdProbe => (Point::Liveness, WorkloadKind::Kv, Mode::Liveness),
    }
}

#[test]
fn every_injection_fails_its_property_and_only_with_it() {
    for injection in Injection::ALL {
        let (point, workload, mode) = expected(injection);
        let clean = short(workload, mode, 6);
        let injected = Options {
            inject: Some(injection),
            ..clean.clone()
        };
        let found = (0..10).find_map(|seed| run_seed(seed, &injected).err().map(|f| (seed, f)));
        let Some((seed, failure)) = found else {
            panic!("{} never failed in 10 seeds", injection.name());
        };
        assert_eq!(
            failure.property,
            point.name(),
            "{} failed the wrong property: {failure}",
            injection.name()
        );
        if let Err(failure) = run_seed(seed, &clean) {
            panic!(
                "seed {seed} fails without {} too: {failure}",
                injection.name()
            );
        }
    }
}
