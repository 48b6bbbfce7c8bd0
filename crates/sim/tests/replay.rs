//! Goal: a failure is a file that replays. A failing run's schedule shrinks to a smaller one
//! that fails the same way, goes into a repro file, and the file read back runs to the same
//! failure and trace hash. Method: an injection whose failure needs no fault at all, so the
//! shrinker must remove every fault (ddmin to the empty schedule).

mod common;

use common::short;
use invar_sim::repro::{Broken, REPRO_FORMAT, REPRO_VERSION, Repro};
use invar_sim::shrink::shrink;
use invar_sim::{Injection, Mode, Options, Schedule, WorkloadKind, run};

#[test]
fn a_failure_shrinks_writes_and_replays() {
    let options = Options {
        inject: Some(Injection::CorruptReadValue),
        faults: invar_sim::FaultSelection::All,
        ..short(WorkloadKind::Kv, Mode::Safety, 6)
    };
    let seed = 4;
    let schedule = Schedule::draw(seed, &options);
    let drawn = schedule.faults.len();
    assert!(drawn > 5, "the schedule has faults to shrink ({drawn})");
    let failure = run(seed, &options, schedule.clone()).expect_err("the injection fails it");
    let mut progress = 0;
    let shrunk = shrink(seed, &options, schedule, failure.clone(), 40, |runs, _| {
        progress = runs
    });
    assert_eq!(shrunk.failure.property, failure.property);
    assert!(shrunk.runs > 0 && progress == shrunk.runs);
    assert!(
        shrunk.schedule.faults.is_empty(),
        "a failure that needs no fault shrinks to none: {} left of {drawn}",
        shrunk.schedule.faults.len()
    );
    let repro = Repro {
        format: REPRO_FORMAT.into(),
        version: REPRO_VERSION,
        seed,
        options: options.clone(),
        faults_drawn: drawn,
        schedule: shrunk.schedule.clone(),
        broken: Broken {
            property: shrunk.failure.property.clone(),
            detail: shrunk.failure.detail.clone(),
            trace_hash: format!("{:016x}", shrunk.failure.trace_hash),
        },
    };
    let back = Repro::from_json(&repro.to_json()).expect("the repro reads back");
    let replayed = run(back.seed, &back.options, back.schedule).expect_err("it fails again");
    assert_eq!(
        replayed, shrunk.failure,
        "the replay is the same failure, bit for bit"
    );
}
