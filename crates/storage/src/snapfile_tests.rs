//! Tests of snapshot files: round trip, corruption detection, fallback, pruning, atomic writes
//! under crashes (alone and with the WAL marker protocol), and decoders on arbitrary bytes.

use std::path::PathBuf;

use invar_raft::{ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta};
use proptest::prelude::*;

use super::*;
use crate::fs::SimFs;
use crate::rng::SplitMix64;
use crate::wal::{Wal, WalConfig};

fn snap(index: u64, term: u64, data: &[u8]) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            conf_state: ConfState {
                voters: [1, 2, 3].into_iter().collect(),
                learners: [9].into_iter().collect(),
            },
        },
        data: data.to_vec(),
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/snap")
}

#[test]
fn round_trip_and_newest_first() {
    let fs = SimFs::with_seed(1);
    let mut store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
    assert_eq!(store.load_newest().unwrap(), None);
    store.save(&snap(10, 2, b"ten")).unwrap();
    store.save(&snap(20, 3, b"twenty")).unwrap();
    let loaded = store.load_newest().unwrap().unwrap();
    assert_eq!(loaded.snapshot, snap(20, 3, b"twenty"));
    assert!(loaded.skipped.is_empty());
    assert_eq!(store.list().unwrap(), [(10, 2), (20, 3)]);
    let marker = SnapshotMarker { index: 10, term: 2 };
    assert_eq!(store.load_for(marker).unwrap(), snap(10, 2, b"ten"));
    let absent = SnapshotMarker { index: 11, term: 2 };
    assert!(matches!(
        store.load_for(absent),
        Err(SnapError::Missing { .. })
    ));
}

#[test]
fn a_corrupt_newest_snapshot_is_reported_and_the_previous_used() {
    let fs = SimFs::with_seed(2);
    let mut store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
    store.save(&snap(10, 2, b"ten")).unwrap();
    let newest = store.save(&snap(20, 3, &[7; 1000])).unwrap();
    let data_at = encode(&snap(20, 3, b"")).len() as u64 - 4;
    assert!(fs.corrupt_byte(&newest, data_at + 500, 0x10));
    let loaded = store.load_newest().unwrap().unwrap();
    assert_eq!(loaded.snapshot.meta.index, 10);
    assert_eq!(loaded.skipped.len(), 1);
    assert!(
        loaded.skipped[0].contains("data crc32c"),
        "{}",
        loaded.skipped[0]
    );
    let marker = SnapshotMarker { index: 20, term: 3 };
    match store.load_for(marker) {
        Err(SnapError::Corrupted { file, offset, .. }) => {
            assert_eq!(file, newest);
            assert_eq!(offset, data_at + 1000);
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn a_flipped_header_byte_is_detected_by_the_header_checksum() {
    let fs = SimFs::with_seed(3);
    let mut store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
    let path = store.save(&snap(5, 1, b"x")).unwrap();
    fs.corrupt_byte(&path, 13, 0x01);
    let error = store.load_path(&path).unwrap_err();
    assert!(error.to_string().contains("header crc32c"), "{error}");
}

#[test]
fn prune_keeps_the_newest_and_removes_leftover_temp_files() {
    let fs = SimFs::with_seed(4);
    let mut store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
    for i in 1..=5 {
        store.save(&snap(i * 10, 1, b"")).unwrap();
    }
    let tmp = dir().join("0000000000000001-0000000000000063.snap.tmp");
    fs.open(&tmp, OpenMode::CreateNew).unwrap();
    assert_eq!(store.prune(2).unwrap(), 4);
    assert_eq!(store.list().unwrap(), [(40, 1), (50, 1)]);
    assert_eq!(fs.list(&dir()).unwrap().len(), 2);
}

#[test]
fn a_crash_during_save_leaves_the_old_or_the_new_snapshot() {
    for seed in 0..200 {
        let fs = SimFs::with_seed(seed);
        let mut store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
        store.save(&snap(10, 1, &[1; 3000])).unwrap();
        fs.arm_crash_after(seed % 7);
        let saved = store.save(&snap(20, 1, &[2; 3000])).is_ok();
        fs.crash();
        let store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
        let loaded = store.load_newest().unwrap().unwrap();
        assert!(
            loaded.skipped.is_empty(),
            "seed {seed}: {:?}",
            loaded.skipped
        );
        let index = loaded.snapshot.meta.index;
        assert!(
            index == 20 || (index == 10 && !saved),
            "seed {seed}: {index}"
        );
    }
}

/// The restart protocol end to end: a WAL marker is only written after its snapshot is durable,
/// so after any crash the marker the WAL returns names a valid snapshot file.
#[test]
fn after_any_crash_the_wal_marker_names_a_valid_snapshot() {
    let config = WalConfig {
        segment_bytes_max: 4096,
        ..WalConfig::default()
    };
    let wal_dir = PathBuf::from("/wal");
    for seed in 0..150 {
        let mut rng = SplitMix64::new(seed);
        let fs = SimFs::with_seed(seed);
        let mut wal = Wal::create(fs.clone(), &wal_dir, config.clone()).unwrap();
        let mut store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
        fs.arm_crash_after(rng.below(200));
        let _ = snapshot_workload(&mut wal, &mut store, &mut rng);
        fs.crash();
        let (_, recovered) = Wal::open(fs.clone(), &wal_dir, config.clone()).unwrap();
        let store = SnapshotStore::open(fs.clone(), &dir()).unwrap();
        if let Some(marker) = recovered.snapshot {
            let snapshot = store.load_for(marker).unwrap();
            assert_eq!(snapshot.data, marker.index.to_le_bytes(), "seed {seed}");
        }
    }
}

fn snapshot_workload(
    wal: &mut Wal<SimFs>,
    store: &mut SnapshotStore<SimFs>,
    rng: &mut SplitMix64,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut last = 0;
    for _ in 0..40 {
        let entries: Vec<Entry> = (1..=rng.between(1, 5))
            .map(|i| Entry {
                term: 1,
                index: last + i,
                kind: EntryKind::Normal,
                data: vec![0; 200],
            })
            .collect();
        last += entries.len() as u64;
        let hs = HardState {
            term: 1,
            vote: 1,
            commit: last,
        };
        wal.save(Some(&hs), &entries)?;
        wal.sync()?;
        if rng.chance(1, 4) {
            let lowest = last
                .saturating_sub(3)
                .max(wal.snapshot_marker().index)
                .max(1);
            let index = rng.between(lowest, last);
            store.save(&snap(index, 1, &index.to_le_bytes()))?;
            wal.save_snapshot_marker(index, 1)?;
            wal.sync()?;
            wal.release()?;
            store.prune(2)?;
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_header(&bytes);
        let _ = decode(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_damaged_valid_files(
        data in proptest::collection::vec(any::<u8>(), 0..100),
        at in any::<usize>(),
        mask in 1u8..,
        cut in any::<usize>(),
    ) {
        let mut bytes = encode(&snap(7, 3, &data));
        let at = at % bytes.len();
        bytes[at] ^= mask;
        prop_assert!(decode(&bytes).is_err());
        bytes[at] ^= mask;
        prop_assert_eq!(decode(&bytes).unwrap(), snap(7, 3, &data));
        bytes.truncate(cut % bytes.len());
        prop_assert!(decode(&bytes).is_err());
    }
}
