//! Shrinking a failing schedule: delta debugging (Zeller's ddmin, removing chunks of faults
//! while the run still breaks the same property), then calming the standing settings one at
//! a time (no loss, no duplication, calm delays, true clocks, plain disks). The seed stays
//! the same; each fault keeps its own salt, so the faults that remain do what they did.

use crate::options::Options;
use crate::schedule::{ClockProfile, LinkProfile, Schedule};
use crate::{Failure, run};

/// A shrunk schedule and what it still breaks.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing schedule found.
    pub schedule: Schedule,
    /// Its failure.
    pub failure: Failure,
    /// Runs spent.
    pub runs: usize,
}

/// Shrinks `schedule`, whose run of `seed` broke `failure.property`, spending at most
/// `runs_max` runs. `progress` is told after each run (runs so far, faults left).
pub fn shrink(
    seed: u64,
    options: &Options,
    schedule: Schedule,
    failure: Failure,
    runs_max: usize,
    mut progress: impl FnMut(usize, usize),
) -> Shrunk {
    let mut best = Shrunk {
        schedule,
        failure,
        runs: 0,
    };
    let mut attempt = |best: &mut Shrunk, candidate: Schedule| -> bool {
        if best.runs >= runs_max {
            return false;
        }
        best.runs += 1;
        let result = run(seed, options, candidate.clone());
        progress(best.runs, candidate.faults.len());
        match result {
            Err(failure) if failure.property == best.failure.property => {
                best.schedule = candidate;
                best.failure = failure;
                true
            }
            _ => false,
        }
    };
    // ddmin over the timed faults, by complements.
    let mut chunks = 2;
    while best.schedule.faults.len() >= 2 && best.runs < runs_max {
        let len = best.schedule.faults.len();
        let size = len.div_ceil(chunks);
        let mut reduced = false;
        for start in (0..len).step_by(size) {
            let mut candidate = best.schedule.clone();
            candidate.faults.drain(start..(start + size).min(len));
            if attempt(&mut best, candidate) {
                chunks = (chunks - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if chunks >= len {
                break;
            }
            chunks = (chunks * 2).min(len);
        }
    }
    if best.schedule.faults.len() == 1 {
        let mut candidate = best.schedule.clone();
        candidate.faults.clear();
        let _ = attempt(&mut best, candidate);
    }
    // The standing settings, one at a time.
    let calmings: [fn(&mut Schedule); 4] = [
        |s| {
            for link in &mut s.profile.links {
                link.loss_ppm = 0;
                link.duplicate_ppm = 0;
            }
        },
        |s| {
            for link in &mut s.profile.links {
                *link = LinkProfile {
                    delay_min_nanos: 500_000,
                    delay_mean_nanos: 200_000,
                    ..link.clone()
                };
            }
        },
        |s| {
            for clock in &mut s.profile.clocks {
                *clock = ClockProfile {
                    offset_nanos: 0,
                    drift_ppm: 0,
                };
            }
        },
        |s| {
            for percent in &mut s.profile.disk_latency_percent {
                *percent = 100;
            }
        },
    ];
    for calm in calmings {
        let mut candidate = best.schedule.clone();
        calm(&mut candidate);
        if candidate != best.schedule {
            let _ = attempt(&mut best, candidate);
        }
    }
    best
}
