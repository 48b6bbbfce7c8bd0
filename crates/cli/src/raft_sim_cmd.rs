//! `invar raft-sim`: the consensus-only world, over many seeds.
//!
//! The world is the consensus layer alone (`invar_raft::testkit`): raft state machines with
//! in-memory logs, a faulty network, crashes, pauses, clock drift, snapshots and membership
//! changes, with Raft's safety properties checked after every step. It is far faster than
//! `invar sim` (no storage, no store), so it explores consensus schedules more widely.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use invar_raft::testkit::{SimOptions, SimReport, run_seed};

/// Options of `invar raft-sim`.
#[derive(Args, Debug)]
pub struct RaftSimArgs {
    /// Run this one seed (the seed a failure prints) instead of a range.
    #[arg(long)]
    seed: Option<u64>,
    /// How many seeds to run, starting at --first-seed.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// The first seed of the range.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Initial voters per cluster (0: alternate 3 and 5 by seed).
    #[arg(long, default_value_t = 0)]
    voters: usize,
    /// Ticks of the fault phase of each run.
    #[arg(long, default_value_t = 400)]
    fault_ticks: u64,
    /// Ticks allowed after the faults heal for the cluster to commit on every member.
    #[arg(long, default_value_t = 200)]
    liveness_ticks: u64,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
}

pub fn run(args: RaftSimArgs) -> anyhow::Result<ExitCode> {
    let seeds: Vec<u64> = match args.seed {
        Some(seed) => vec![seed],
        None => (args.first_seed..args.first_seed.saturating_add(args.seeds)).collect(),
    };
    let progress = crate::progress::bar(seeds.len() as u64);
    let started = Instant::now();
    let mut totals = SimReport::default();
    let mut failures = Vec::new();
    for &seed in &seeds {
        let voters = match args.voters {
            0 if seed.is_multiple_of(2) => 3,
            0 => 5,
            n => n,
        };
        let options = SimOptions {
            voters,
            fault_ticks: args.fault_ticks,
            liveness_ticks: args.liveness_ticks,
            // A single replayed seed explains its failure with the events that led to it.
            event_log: args.seed.is_some(),
            ..SimOptions::default()
        };
        match run_seed(seed, &options) {
            Ok(report) => {
                if args.seed.is_some() {
                    println!("seed {seed}: trace hash {:016x}", report.trace_hash);
                }
                accumulate(&mut totals, &report);
            }
            Err(violation) => {
                progress.suspend(|| {
                    println!("FAIL {violation}");
                    println!("  replay: invar raft-sim --seed {seed}");
                });
                failures.push(seed);
                if args.fail_fast {
                    break;
                }
            }
        }
        progress.inc(1);
        let done = progress.position() as usize;
        crate::progress::plain_line(&progress, seeds.len(), done, failures.len(), 1000);
    }
    progress.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let ran = seeds.len() as u64;
    println!(
        "{ran} seeds, {} failed | {} entries committed, {} elections, {} reads checked, \
         {} crashes, {} pauses, {} partitions, {} conf changes",
        failures.len(),
        totals.committed_entries,
        totals.elections,
        totals.reads_checked,
        totals.crashes,
        totals.pauses,
        totals.partitions,
        totals.conf_changes_proposed,
    );
    println!(
        "speed: {:.1} seeds/s, {:.0} simulated ticks per wall second ({} ticks in {wall:.2}s)",
        ran as f64 / wall,
        totals.ticks as f64 / wall,
        totals.ticks,
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn accumulate(totals: &mut SimReport, report: &SimReport) {
    totals.committed_entries += report.committed_entries;
    totals.elections += report.elections;
    totals.messages_delivered += report.messages_delivered;
    totals.crashes += report.crashes;
    totals.pauses += report.pauses;
    totals.partitions += report.partitions;
    totals.reads_checked += report.reads_checked;
    totals.conf_changes_proposed += report.conf_changes_proposed;
    totals.ticks += report.ticks;
}
