//! WAL appends per second with group commit and real fsync: batches of 1, 16 and 128 entries
//! of 256 bytes, each batch saved with its hard state and then synced once (one `fdatasync` per
//! batch), on `RealFs` in a directory under the system temp dir. Criterion's throughput is
//! entries per second; syncs per second are 1 / (time per iteration).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench -p invar-storage --bench wal`.
//! The temp dir must be on a real disk (not tmpfs) for the sync to mean anything; set `TMPDIR`
//! to choose another one.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use invar_raft::{Entry, EntryKind, HardState};
use invar_storage::fs::RealFs;
use invar_storage::wal::{Wal, WalConfig};

const ENTRY_BYTES: usize = 256;
const BATCHES: [u64; 3] = [1, 16, 128];

/// A fresh directory for one benchmark, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("invar-wal-bench-{}-{name}", std::process::id()));
        // A leftover from an interrupted run would make `Wal::create` refuse the directory.
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_sync_256b");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for batch in BATCHES {
        let dir = TempDir::new(&format!("batch-{batch}"));
        let mut wal = Wal::create(RealFs, &dir.0, WalConfig::default()).expect("create wal");
        let mut entries: Vec<Entry> = (0..batch)
            .map(|k| Entry {
                term: 1,
                index: 0,
                kind: EntryKind::Normal,
                data: vec![k as u8; ENTRY_BYTES],
            })
            .collect();
        let mut next = 1u64;
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("batch_{batch}_per_sync"), |b| {
            b.iter(|| {
                for (offset, entry) in entries.iter_mut().enumerate() {
                    entry.index = next + offset as u64;
                }
                next += batch;
                // As a leader's Ready: the new entries, a hard state committing them, one sync.
                let hard_state = HardState {
                    term: 1,
                    vote: 1,
                    commit: next - 1,
                };
                wal.save(Some(&hard_state), &entries).expect("save");
                wal.sync().expect("sync");
            });
        });
        assert_eq!(wal.last_index(), next - 1);
        drop(wal);
    }
    group.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
