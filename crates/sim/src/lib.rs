//! `invar-sim`: the deterministic world. One thread, one seed: `invar-node` members on
//! simulated disks with simulated clocks, a simulated network, clients shaped like etcd's
//! robustness traffic, an operator running maintenance and membership changes, and a
//! schedule of faults, all driven by one discrete-event loop in simulated time (it jumps to
//! the next event; nothing sleeps).
//!
//! # What it checks
//!
//! Properties in the style of Antithesis ([`props`]): `always` properties checked during
//! and after a run (at most one leader per term; one revision per applied raft index on
//! every member and across restarts; members that applied a revision have the same
//! hash-kv; acknowledged puts are kept; the history is linearizable and every watch keeps
//! etcd's guarantees, by `invar-check`; a lease's keys outlive it; members reopen after
//! crashes and stop only for injected disk faults; liveness in liveness mode), and
//! `sometimes` points that a campaign should reach. Every property has a way to make it
//! fail on purpose: a member defect ([`invar_node::Defect`], with the `defects` feature) or a
//! world-level [`Injection`].
//!
//! # Call protocol
//!
//! 1. [`Schedule::draw`] the seed's fault schedule, or read one from a repro file
//!    ([`repro`]).
//! 2. [`run`] the seed with its options and schedule: `Ok(Report)` (with a trace hash:
//!    the same seed, options and schedule give the same hash) or `Err(Failure)` naming the
//!    broken property. [`run_seed`] does both steps.
//! 3. On a failure, [`shrink::shrink`] the schedule to a smaller one that still fails, and
//!    write a [`repro::Repro`].
//!
//! # What it never does
//!
//! Read a clock, spawn a thread, touch a real file, or iterate a hash map (`clippy.toml`).
//! Wall time for speed reports is measured by the caller.

#![deny(missing_docs)]

mod clients;
mod convert;
pub mod options;
pub mod props;
pub mod repro;
pub mod schedule;
pub mod shrink;
mod workload;
mod world;

pub use options::{FaultKind, FaultSelection, Injection, Mode, Options, WorkloadKind};
pub use props::{Coverage, Point, PointKind};
pub use schedule::Schedule;
pub use world::Recording;

/// What a passing run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Hash of every event the world processed and of the recorded history.
    pub trace_hash: u64,
    /// Simulated time at the end, nanoseconds.
    pub sim_nanos: u64,
    /// Events processed.
    pub events: u64,
    /// Operations recorded.
    pub operations: usize,
    /// Operations with an unknown outcome.
    pub unknown_outcomes: usize,
    /// Watch responses recorded.
    pub watch_responses: usize,
    /// Faults that fired.
    pub faults_fired: u64,
    /// Member crashes (of any kind).
    pub crashes: u64,
    /// Partitions started.
    pub partitions: u64,
    /// When the cluster settled after the fault phase (`None`: safety mode gave up waiting).
    pub settled_nanos: Option<u64>,
    /// Safety mode, when the cluster did not settle in time: how it looked then.
    pub unsettled: Option<String>,
    /// Most items queued at once.
    pub queue_max: usize,
    /// The fault kinds this seed enabled.
    pub enabled: Vec<FaultKind>,
    /// Property and coverage counts.
    pub coverage: Coverage,
}

/// A run that broke a property: the seed (and schedule) replays it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("seed {seed}: property `{property}` violated at {sim_nanos} ns: {detail}")]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The property's stable name ([`Point::name`]).
    pub property: String,
    /// What was seen.
    pub detail: String,
    /// The trace hash up to the failure.
    pub trace_hash: u64,
    /// Simulated time of the failure.
    pub sim_nanos: u64,
}

/// Runs `seed` with `options` and the given `schedule` (drawn, read back, or shrunk).
///
/// # Errors
/// A [`Failure`] naming the first property broken.
pub fn run(seed: u64, options: &Options, schedule: Schedule) -> Result<Report, Failure> {
    run_recorded(seed, options, schedule, false).0
}

/// [`run`], also returning (with `keep`) what it recorded: the history in `invar-check`'s
/// JSON-lines format (as far as the run got; `invar check` reads it) and a log of notable
/// events.
pub fn run_recorded(
    seed: u64,
    options: &Options,
    schedule: Schedule,
    keep: bool,
) -> (Result<Report, Failure>, Option<Recording>) {
    if let Err(problem) = options.validate() {
        let failure = Failure {
            seed,
            property: "options".into(),
            detail: problem,
            trace_hash: 0,
            sim_nanos: 0,
        };
        return (Err(failure), None);
    }
    match world::World::new(seed, options, schedule) {
        Ok(world) => world.run(keep),
        Err(failure) => (Err(failure), None),
    }
}

/// Draws the schedule of `seed` and runs it.
///
/// # Errors
/// A [`Failure`] naming the first property broken.
pub fn run_seed(seed: u64, options: &Options) -> Result<Report, Failure> {
    run(seed, options, Schedule::draw(seed, options))
}
