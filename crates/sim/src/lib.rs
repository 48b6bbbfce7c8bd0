//! `invar-sim`: the deterministic world. One thread, one seed: three `invar-node` members on
//! simulated disks ([`invar_storage::fs::SimFs`]), a simulated network (seeded per-message
//! delay with a bound, loss, partitions that heal), simulated time (the loop jumps to the next
//! message delivery or member deadline; nothing sleeps), member crashes (a disk crash image,
//! then a reopen after a delay), and a few clients issuing Put, linearizable Range,
//! DeleteRange and Txn with unique values to random members (retrying on the leader a
//! "not leader" answer names).
//!
//! Every client operation is recorded as an `invar-check` history (invoke and return times in
//! simulated nanoseconds; no return time when the outcome is unknown: "leader changed", a
//! timeout, a lost request). A run has a fault phase, then a heal phase; at its end the history
//! goes to [`invar_check::report::check_etcd_history`] (etcd model), and the members' `hash_kv`
//! at the same revision must agree (convergence).
//!
//! # Call protocol
//! [`run_seed`] with a seed and [`Options`]: `Ok(Report)` (with a trace hash: the same seed and
//! options give the same hash) or `Err(Failure)` naming the seed and the broken property.
//!
//! # What it never does
//! Read a clock, spawn a thread, touch a real file, or iterate a hash map (`clippy.toml`).

#![deny(missing_docs)]

mod convert;
mod world;

/// How a run is shaped. Every rate is drawn from the seed; these are the bounds.
#[derive(Clone, Debug)]
pub struct Options {
    /// Members in the cluster.
    pub members: u64,
    /// Clients issuing operations concurrently.
    pub clients: usize,
    /// Keys the workload touches.
    pub keys: usize,
    /// Length of the fault phase, simulated nanoseconds.
    pub fault_nanos: u64,
    /// Length of the heal phase (no faults; the cluster must converge), simulated nanoseconds.
    pub heal_nanos: u64,
    /// Smallest one-way network delay, nanoseconds.
    pub delay_min_nanos: u64,
    /// Largest one-way network delay, nanoseconds (the bound that keeps queues small).
    pub delay_max_nanos: u64,
    /// Largest message loss rate a seed may draw during the fault phase, per million.
    pub loss_per_million_max: u64,
    /// Inject partitions.
    pub partitions: bool,
    /// Inject member crashes.
    pub crashes: bool,
    /// Raft snapshot every this many applied entries.
    pub snapshot_entries: u64,
    /// Test-only: alter one recorded response before checking, to prove the check has teeth.
    pub corrupt_recorded_response: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            members: 3,
            clients: 4,
            keys: 4,
            fault_nanos: 20_000_000_000,
            heal_nanos: 10_000_000_000,
            delay_min_nanos: 500_000,
            delay_max_nanos: 15_000_000,
            loss_per_million_max: 50_000,
            partitions: true,
            crashes: true,
            snapshot_entries: 200,
            corrupt_recorded_response: false,
        }
    }
}

/// What a passing run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Hash of every event the world processed and of the recorded history: the same seed and
    /// options give the same hash.
    pub trace_hash: u64,
    /// Simulated time at the end, nanoseconds.
    pub sim_nanos: u64,
    /// Events processed.
    pub events: u64,
    /// Operations recorded.
    pub operations: usize,
    /// Operations with an unknown outcome.
    pub unknown_outcomes: usize,
    /// Member crashes injected.
    pub crashes: u64,
    /// Partitions injected.
    pub partitions: u64,
    /// The revision every member converged to.
    pub revision: i64,
    /// Most items (messages, requests, replies, timers) queued at once.
    pub queue_max: usize,
}

/// A run that broke a property: the seed replays it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("sim seed {seed}: property `{property}` violated: {detail}")]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The property's stable name (`linearizable`, `convergence`, `liveness`, ...).
    pub property: String,
    /// What was seen.
    pub detail: String,
    /// The trace hash up to the failure.
    pub trace_hash: u64,
}

/// Runs one seed: the fault phase, the heal phase, then the history check and the convergence
/// check.
///
/// # Errors
/// A [`Failure`] naming the seed and the first property broken.
pub fn run_seed(seed: u64, options: &Options) -> Result<Report, Failure> {
    world::World::new(seed, options)?.run()
}
