//! Crash tests: random WAL workloads on [`SimFs`], crashed at random points (during appends,
//! rotations, syncs, releases), then reopened.
//!
//! A reference model (a plain vector of entries, a hard state and a marker) records the state
//! after every record written. The reopened WAL must equal the model after some prefix of the
//! records: at least every record covered by a completed sync (nothing synced is lost), at most
//! every record written (nothing invented, nothing duplicated). Opens are crashed too (during
//! their repair and their final sync), and each workload continues on the reopened WAL and
//! crashes again, so repairs are themselves crash-tested.

use std::path::PathBuf;

use invar_raft::{Entry, HardState};

use super::tests::entry;
use super::*;
use crate::fs::{FsError, SimFs};
use crate::rng::SplitMix64;

/// The simple reference: what the log holds after each record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    hard_state: HardState,
    marker: Option<SnapshotMarker>,
    entries: Vec<Entry>,
}

impl Model {
    fn base(&self) -> SnapshotMarker {
        self.marker.unwrap_or_default()
    }

    fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.base().index, |e| e.index)
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.base().index {
            return Some(self.base().term);
        }
        self.entries
            .iter()
            .find(|e| e.index == index)
            .map(|e| e.term)
    }

    fn append(&mut self, entries: &[Entry]) {
        let first = entries[0].index;
        self.entries.retain(|e| e.index < first);
        self.entries.extend_from_slice(entries);
    }

    fn mark(&mut self, marker: SnapshotMarker) {
        if self.term_at(marker.index) == Some(marker.term) {
            self.entries.retain(|e| e.index > marker.index);
        } else {
            self.entries.clear();
        }
        self.marker = Some(marker);
    }

    fn matches(&self, recovered: &Recovered) -> bool {
        self.hard_state == recovered.hard_state
            && self.marker == recovered.snapshot
            && self.entries == recovered.entries
    }
}

/// One workload run: the model state after each record, and how many were synced.
struct Run {
    states: Vec<Model>,
    synced: usize,
}

impl Run {
    fn record(&mut self, model: &Model) {
        self.states.push(model.clone());
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/wal")
}

fn config() -> WalConfig {
    WalConfig {
        segment_bytes_max: 4096,
        record_bytes_max: 2048,
        ..WalConfig::default()
    }
}

/// Runs `steps` random operations until the first error, mirroring each record in the model.
fn workload(wal: &mut Wal<SimFs>, model: &mut Model, rng: &mut SplitMix64, steps: u64) -> Run {
    let mut run = Run {
        states: vec![model.clone()],
        synced: 0,
    };
    for _ in 0..steps {
        if step(wal, model, rng, &mut run).is_err() {
            break;
        }
    }
    run
}

fn step(
    wal: &mut Wal<SimFs>,
    model: &mut Model,
    rng: &mut SplitMix64,
    run: &mut Run,
) -> Result<(), WalError> {
    match rng.below(10) {
        0..=5 => {
            let hard_state = rng.chance(1, 3).then(|| HardState {
                term: model.hard_state.term + rng.below(2),
                vote: rng.below(4),
                commit: model
                    .hard_state
                    .commit
                    .max(rng.below(model.last_index() + 1)),
            });
            // Mostly append; sometimes overwrite a suffix.
            let lowest = model.base().index + 1;
            let first = if rng.chance(1, 4) {
                rng.between(lowest, model.last_index() + 1)
            } else {
                model.last_index() + 1
            };
            let term = model.hard_state.term.max(1);
            let entries: Vec<Entry> = (0..rng.between(1, 4))
                .map(|i| {
                    let data = vec![rng.below(256) as u8; rng.below(700) as usize];
                    entry(first + i, term, &data)
                })
                .collect();
            let split = wal.split_entries(&entries)?.len();
            wal.save(hard_state.as_ref(), &entries)?;
            // One model state per entries record, as the WAL split them, then the hard state
            // (written after the entries it may commit).
            let mut done = 0;
            for batch in wal.split_entries(&entries)?.iter().take(split) {
                model.append(batch);
                done += batch.len();
                run.record(model);
            }
            assert_eq!(done, entries.len());
            if let Some(hs) = hard_state {
                model.hard_state = hs;
                run.record(model);
            }
        }
        6 => {
            let base = model.base().index;
            let marker = if rng.chance(2, 3) {
                let index = rng.between(base, model.last_index());
                let term = model.term_at(index).unwrap_or(1);
                SnapshotMarker { index, term }
            } else {
                let index = model.last_index() + rng.between(0, 5);
                SnapshotMarker {
                    index,
                    term: model.hard_state.term + 1,
                }
            };
            wal.save_snapshot_marker(marker.index, marker.term)?;
            model.mark(marker);
            run.record(model);
        }
        7 | 8 => {
            wal.sync()?;
            run.synced = run.states.len() - 1;
        }
        _ => {
            wal.release()?;
        }
    }
    Ok(())
}

/// Checks a reopened WAL against the runs since the last open; returns the matching state.
fn check(recovered: &Recovered, run: &Run, seed: u64, round: usize) -> Model {
    let found = (run.synced..run.states.len()).find(|&p| run.states[p].matches(recovered));
    let Some(prefix) = found else {
        panic!(
            "seed {seed} round {round}: the reopened WAL matches no prefix in {}..{} \
             (recovered {} entries, marker {:?}, hard state {:?}; synced model has {} entries)",
            run.synced,
            run.states.len(),
            recovered.entries.len(),
            recovered.snapshot,
            recovered.hard_state,
            run.states[run.synced].entries.len(),
        )
    };
    run.states[prefix].clone()
}

/// Reopens the WAL, sometimes crashing during the open (its repair and its final sync) and
/// reopening again.
fn reopen_crashing(
    fs: &SimFs,
    rng: &mut SplitMix64,
    seed: u64,
    round: usize,
) -> (Wal<SimFs>, Recovered) {
    for _attempt in 0..3 {
        if rng.chance(1, 3) {
            fs.arm_crash_after(rng.below(4));
        }
        match Wal::open(fs.clone(), &dir(), config()) {
            Ok(opened) => {
                fs.disarm_crash();
                return opened;
            }
            Err(WalError::Fs(FsError::Crashed { .. })) => {
                fs.crash();
            }
            Err(error) => panic!("seed {seed} round {round}: reopen failed: {error}"),
        }
    }
    match Wal::open(fs.clone(), &dir(), config()) {
        Ok(opened) => opened,
        Err(error) => panic!("seed {seed} round {round}: reopen failed: {error}"),
    }
}

/// One seed: rounds of (workload, crash at a random point, reopen, check).
fn crash_and_recover(seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let fs = SimFs::with_seed(seed ^ 0x5eed);
    let mut wal = Wal::create(fs.clone(), &dir(), config()).expect("create");
    let mut model = Model::default();
    for round in 0..4 {
        fs.arm_crash_after(rng.below(120));
        let run = workload(&mut wal, &mut model, &mut rng, 60);
        // Mostly power losses; sometimes only the process dies and the OS cache survives.
        if rng.chance(1, 4) {
            fs.crash_process();
        } else {
            fs.crash();
        }
        let (reopened, recovered) = reopen_crashing(&fs, &mut rng, seed, round);
        model = check(&recovered, &run, seed, round);
        wal = reopened;
    }
}

#[test]
fn reopened_wal_is_a_synced_prefix_after_random_crashes() {
    for seed in 0..300 {
        crash_and_recover(seed);
    }
}

#[test]
fn same_seed_same_crash_image() {
    let image = |seed: u64| {
        let mut rng = SplitMix64::new(seed);
        let fs = SimFs::with_seed(seed);
        let mut wal = Wal::create(fs.clone(), &dir(), config()).expect("create");
        let mut model = Model::default();
        fs.arm_crash_after(50);
        workload(&mut wal, &mut model, &mut rng, 80);
        fs.crash()
    };
    assert_eq!(image(7), image(7));
    assert_ne!(image(7), image(8));
}

/// Raft may act on whatever a restart read back (acknowledge it to a leader, vote with it), so
/// unsynced records that a process crash left in the OS cache must be made durable by the open
/// itself, before a power loss can take them.
#[test]
fn what_an_open_reads_survives_the_next_crash() {
    for seed in 0..20 {
        let fs = SimFs::with_seed(seed);
        let mut wal = Wal::create(fs.clone(), &dir(), config()).expect("create");
        let entries: Vec<Entry> = (1..=3).map(|i| entry(i, 1, &[i as u8; 100])).collect();
        wal.save(None, &entries).expect("save");
        fs.crash_process();
        let (_, first) = Wal::open(fs.clone(), &dir(), config()).expect("first open");
        assert_eq!(first.entries, entries, "seed {seed}");
        fs.crash();
        let (_, second) = Wal::open(fs.clone(), &dir(), config()).expect("second open");
        assert_eq!(second.entries, entries, "seed {seed}");
    }
}
