//! `invar sim`: the deterministic simulation of whole clusters over many seeds (see
//! `invar-sim`). Seeds run on `--threads` worker threads; each seed's run is single-threaded
//! and deterministic, so the results (and the summary's trace hash, folded in seed order)
//! do not depend on the thread count. A failing seed gets a repro file, a shrunk schedule,
//! and the one command that replays it.
//!
//! Exit code: 0 when no seed failed, 1 when one did, 2 on bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::ProgressBar;
use invar_node::Defect;
use invar_sim::options::{format_duration, parse_duration};
use invar_sim::repro::{Broken, REPRO_FORMAT, REPRO_VERSION, Repro};
use invar_sim::{
    Coverage, Failure, FaultSelection, Injection, Mode, Options, Point, PointKind, Report,
    Schedule, WorkloadKind,
};

/// Options of `invar sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Run this one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Seeds to run: `A..B` (B excluded) or `N` (0..N).
    #[arg(long, default_value = "0..20")]
    seeds: String,
    /// Members of the initial cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Length of the fault phase of each run (`60s`, `500ms`, `1h`).
    #[arg(long, default_value = "60s")]
    time: String,
    /// Safety (faults anywhere, then everything heals) or liveness (a healed quorum must
    /// converge).
    #[arg(long, default_value = "safety")]
    mode: String,
    /// Client traffic: kv, k8s, lease, watch or mixed.
    #[arg(long, default_value = "mixed")]
    workload: String,
    /// Fault kinds: `default` (swarm: a random subset per seed), `all`, `none`, or a
    /// comma-separated list (see --list-faults).
    #[arg(long, default_value = "default")]
    faults: String,
    /// Worker threads (the results do not depend on it).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Where repro files go.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
    /// Replay a repro file.
    #[arg(long, conflicts_with_all = ["seed", "defect"])]
    replay: Option<PathBuf>,
    /// Compile-time defect to switch on in every member (needs `--features defects`).
    #[arg(long)]
    defect: Option<String>,
    /// List the defects (one per line, name first) and exit.
    #[arg(long)]
    list_defects: bool,
    /// List the fault kinds and exit.
    #[arg(long)]
    list_faults: bool,
    /// A world-level injection that must make one property fail (see invar-sim's Injection).
    #[arg(long, hide = true)]
    inject: Option<String>,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Runs the shrinker may spend per failing seed (0: no shrinking).
    #[arg(long, default_value_t = 60)]
    shrink_runs: usize,
    /// How long the cluster has to settle after the fault phase.
    #[arg(long, default_value = "30s")]
    settle: String,
    /// Leave out the table of properties and coverage points.
    #[arg(long)]
    quiet: bool,
    /// With --seed or --replay: write the recorded history (JSON lines, for `invar check`)
    /// to this file.
    #[arg(long)]
    history: Option<PathBuf>,
    /// With --seed or --replay: print the run's notable events (faults, crashes, restarts,
    /// operator steps).
    #[arg(long)]
    events: bool,
}

/// One seed's result.
enum Ran {
    Passed(Report),
    Failed(Failure, Schedule),
}

fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    let (low, high) = match text.split_once("..") {
        Some((low, high)) => (low.trim().parse::<u64>()?, high.trim().parse::<u64>()?),
        None => (0, text.trim().parse::<u64>()?),
    };
    if high <= low {
        bail!("--seeds {text}: the range is empty");
    }
    Ok((low..high).collect())
}

fn options_from(args: &SimArgs) -> anyhow::Result<Options> {
    let defect = match &args.defect {
        None => None,
        Some(name) => Some(name.parse::<Defect>().map_err(|e| {
            let names: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
            anyhow::anyhow!("{e} (one of: {})", names.join(", "))
        })?),
    };
    let inject = match &args.inject {
        None => None,
        Some(name) => Some(name.parse::<Injection>().map_err(anyhow::Error::msg)?),
    };
    let options = Options {
        nodes: args.nodes,
        time_nanos: parse_duration(&args.time).map_err(anyhow::Error::msg)?,
        mode: args.mode.parse::<Mode>().map_err(anyhow::Error::msg)?,
        workload: args
            .workload
            .parse::<WorkloadKind>()
            .map_err(anyhow::Error::msg)?,
        faults: FaultSelection::parse(&args.faults).map_err(anyhow::Error::msg)?,
        defect,
        inject,
        settle_nanos: parse_duration(&args.settle).map_err(anyhow::Error::msg)?,
        ..Options::default()
    };
    options.validate().map_err(anyhow::Error::msg)?;
    Ok(options)
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    if args.list_defects {
        for defect in Defect::ALL {
            println!("{}\t{}", defect.name(), defect.description());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.list_faults {
        for kind in invar_sim::FaultKind::ALL {
            println!("{}\t{}", kind.name(), kind.description());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.replay {
        return replay(path, &args);
    }
    let options = options_from(&args)?;
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    let seeds = match args.seed {
        Some(seed) => vec![seed],
        None => parse_seeds(&args.seeds)?,
    };
    if let Some(seed) = args.seed
        && (args.history.is_some() || args.events)
    {
        let schedule = Schedule::draw(seed, &options);
        record(&args, seed, &options, schedule)?;
    }
    campaign(&args, &options, &seeds)
}

fn campaign(args: &SimArgs, options: &Options, seeds: &[u64]) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress = crate::progress::bar(seeds.len() as u64);
    let results = run_seeds(seeds, options, args.threads, args.fail_fast, &progress);
    progress.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let mut coverage = Coverage::default();
    let mut sim_nanos: u64 = 0;
    let mut trace: u64 = 0xcbf2_9ce4_8422_2325;
    let mut failures = Vec::new();
    for (&seed, result) in seeds.iter().zip(&results) {
        let Some(result) = result else { continue };
        match result {
            Ran::Passed(report) => {
                coverage.add(&report.coverage);
                sim_nanos += report.sim_nanos;
                trace = fold(trace, report.trace_hash);
                if args.seed.is_some() {
                    print_report(report);
                }
            }
            Ran::Failed(failure, schedule) => {
                sim_nanos += failure.sim_nanos;
                trace = fold(trace, failure.trace_hash);
                failures.push((seed, failure.clone(), schedule.clone()));
            }
        }
    }
    for (seed, failure, schedule) in &failures {
        report_failure(args, options, *seed, failure, schedule)?;
    }
    if !args.quiet {
        print_points(&coverage, results.iter().flatten().count());
    }
    let ran = results.iter().flatten().count();
    println!(
        "sim: seeds={ran} failed={} sim_time={} wall={wall:.1}s speed={:.0}x seeds_per_min={:.1} trace={trace:016x}",
        failures.len(),
        format_duration(sim_nanos),
        sim_nanos as f64 / 1e9 / wall.max(1e-9),
        ran as f64 * 60.0 / wall.max(1e-9),
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn fold(mut hash: u64, value: u64) -> u64 {
    for byte in value.to_le_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Runs every seed on `threads` workers; results in seed order (`None`: not run, after
/// --fail-fast stopped the campaign).
fn run_seeds(
    seeds: &[u64],
    options: &Options,
    threads: usize,
    fail_fast: bool,
    progress: &ProgressBar,
) -> Vec<Option<Ran>> {
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let seeds: Arc<Vec<u64>> = Arc::new(seeds.to_vec());
    let (sender, receiver) = mpsc::channel::<(usize, Ran)>();
    let mut workers = Vec::new();
    for _ in 0..threads.min(seeds.len()).max(1) {
        let (next, stop, seeds, sender) =
            (next.clone(), stop.clone(), seeds.clone(), sender.clone());
        let options = options.clone();
        workers.push(std::thread::spawn(move || {
            loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(index) else { break };
                let schedule = Schedule::draw(seed, &options);
                let ran = match invar_sim::run(seed, &options, schedule.clone()) {
                    Ok(report) => Ran::Passed(report),
                    Err(failure) => Ran::Failed(failure, schedule),
                };
                if sender.send((index, ran)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(sender);
    let mut results: Vec<Option<Ran>> = (0..seeds.len()).map(|_| None).collect();
    let mut failed = 0;
    let mut done = 0;
    for (index, ran) in receiver {
        if let Ran::Failed(failure, _) = &ran {
            failed += 1;
            progress.suspend(|| println!("FAIL {failure}"));
            if fail_fast {
                stop.store(true, Ordering::SeqCst);
            }
        }
        results[index] = Some(ran);
        done += 1;
        progress.inc(1);
        crate::progress::plain_line(progress, seeds.len(), done, failed, 20);
    }
    for worker in workers {
        let _ = worker.join();
    }
    results
}

fn print_report(report: &Report) {
    let enabled: Vec<&str> = report.enabled.iter().map(|k| k.name()).collect();
    println!(
        "seed {}: ok, trace {:016x}, {} simulated, {} events, {} operations ({} unknown), \
         {} watch responses, {} faults fired ({} crashes, {} partitions), settled {}",
        report.seed,
        report.trace_hash,
        format_duration(report.sim_nanos),
        report.events,
        report.operations,
        report.unknown_outcomes,
        report.watch_responses,
        report.faults_fired,
        report.crashes,
        report.partitions,
        report.settled_nanos.map_or(
            "never (safety mode does not require it)".to_string(),
            format_duration
        ),
    );
    println!(
        "  faults enabled: {}",
        if enabled.is_empty() {
            "none".into()
        } else {
            enabled.join(",")
        }
    );
    if let Some(status) = &report.unsettled {
        println!("  not settled: {status}");
    }
}

/// Writes the repro, shrinks it, rewrites it, and prints how to replay it.
fn report_failure(
    args: &SimArgs,
    options: &Options,
    seed: u64,
    failure: &Failure,
    schedule: &Schedule,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join(format!(
        "seed-{seed}-{}-{}.json",
        options.mode.name(),
        options.workload.name()
    ));
    let drawn = schedule.faults.len();
    write_repro(&path, seed, options, drawn, schedule, failure)?;
    let (schedule, failure) = if args.shrink_runs > 0 {
        let started = Instant::now();
        let shrunk = invar_sim::shrink::shrink(
            seed,
            options,
            schedule.clone(),
            failure.clone(),
            args.shrink_runs,
            |_, _| {},
        );
        println!(
            "seed {seed}: shrunk from {drawn} to {} faults in {} runs ({:.1}s)",
            shrunk.schedule.faults.len(),
            shrunk.runs,
            started.elapsed().as_secs_f64()
        );
        (shrunk.schedule, shrunk.failure)
    } else {
        (schedule.clone(), failure.clone())
    };
    write_repro(&path, seed, options, drawn, &schedule, &failure)?;
    println!("seed {seed}: {}: {}", failure.property, failure.detail);
    println!("  replay: invar sim --replay {}", path.display());
    Ok(())
}

fn write_repro(
    path: &Path,
    seed: u64,
    options: &Options,
    drawn: usize,
    schedule: &Schedule,
    failure: &Failure,
) -> anyhow::Result<()> {
    let repro = Repro {
        format: REPRO_FORMAT.into(),
        version: REPRO_VERSION,
        seed,
        options: options.clone(),
        faults_drawn: drawn,
        schedule: schedule.clone(),
        broken: Broken {
            property: failure.property.clone(),
            detail: failure.detail.clone(),
            trace_hash: format!("{:016x}", failure.trace_hash),
        },
    };
    std::fs::write(path, repro.to_json() + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs `seed` once more, recording, then writes its history (--history) and prints its
/// events (--events).
fn record(args: &SimArgs, seed: u64, options: &Options, schedule: Schedule) -> anyhow::Result<()> {
    let (_, recording) = invar_sim::run_recorded(seed, options, schedule, true);
    let recording = recording.unwrap_or_default();
    if args.events {
        for line in &recording.events {
            println!("{line}");
        }
    }
    if let Some(path) = &args.history {
        std::fs::write(path, &recording.history)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("history of seed {seed} written to {}", path.display());
    }
    Ok(())
}

fn replay(path: &Path, args: &SimArgs) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let repro = Repro::from_json(&text).with_context(|| format!("{}", path.display()))?;
    repro.options.validate().map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let result = invar_sim::run(repro.seed, &repro.options, repro.schedule.clone());
    let wall = started.elapsed().as_secs_f64();
    let (failed, sim_nanos, trace) = match &result {
        Ok(report) => {
            print_report(report);
            println!(
                "replay: passed; the file recorded `{}`: {}",
                repro.broken.property, repro.broken.detail
            );
            (0, report.sim_nanos, report.trace_hash)
        }
        Err(failure) => {
            println!("FAIL {failure}");
            let same = failure.property == repro.broken.property;
            println!(
                "replay: {} the recorded failure (`{}`, trace {})",
                if same { "reproduces" } else { "differs from" },
                repro.broken.property,
                repro.broken.trace_hash
            );
            (1, failure.sim_nanos, failure.trace_hash)
        }
    };
    if args.history.is_some() || args.events {
        record(args, repro.seed, &repro.options, repro.schedule.clone())?;
    }
    println!(
        "sim: seeds=1 failed={failed} sim_time={} wall={wall:.1}s speed={:.0}x trace={trace:016x}",
        format_duration(sim_nanos),
        sim_nanos as f64 / 1e9 / wall.max(1e-9),
    );
    Ok(ExitCode::from(failed))
}

/// The table of properties and coverage points over the campaign.
fn print_points(coverage: &Coverage, seeds: usize) {
    let mut hit = 0;
    let mut sometimes = 0;
    println!("points over {seeds} seeds (evaluated / true):");
    for &point in Point::ALL {
        let (evaluated, times) = coverage.of(point);
        let kind = match point.kind() {
            PointKind::Always => "always",
            PointKind::AlwaysOrUnreachable => "always?",
            PointKind::Sometimes => "sometimes",
            PointKind::Reachable => "reachable",
            PointKind::Unreachable => "unreachable",
        };
        let mark = if coverage.satisfied(point) {
            "ok "
        } else {
            "-- "
        };
        if matches!(point.kind(), PointKind::Sometimes | PointKind::Reachable) {
            sometimes += 1;
            if coverage.satisfied(point) {
                hit += 1;
            }
        }
        println!(
            "  {mark}{kind:<11} {:<40} {evaluated:>9} / {times}",
            point.name()
        );
    }
    println!("points: {hit} of {sometimes} sometimes/reachable points hit");
}
