//! Tests of [`SimFs`]: each clause of the file contract, and each fault it injects.

use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

fn setup(seed: u64) -> SimFs {
    let fs = SimFs::with_seed(seed);
    fs.create_dir_all(&p("/d")).unwrap();
    fs
}

#[test]
fn reads_past_the_end_fail_and_extension_zero_fills() {
    let fs = setup(1);
    let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
    f.write_at(4, b"xy").unwrap();
    let mut buf = [9u8; 6];
    f.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"\0\0\0\0xy");
    let mut big = [0u8; 7];
    assert!(matches!(
        f.read_at(0, &mut big),
        Err(FsError::ReadPastEnd { file_len: 6, .. })
    ));
    f.set_len(8).unwrap();
    assert_eq!(f.read_all().unwrap(), b"\0\0\0\0xy\0\0");
    f.set_len(5).unwrap();
    assert_eq!(f.read_all().unwrap(), b"\0\0\0\0x");
    assert_eq!(f.append(b"z").unwrap(), 5);
}

#[test]
fn synced_data_and_synced_names_survive_a_crash() {
    for seed in 0..50 {
        let fs = setup(seed);
        let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
        f.append(&[7; 1500]).unwrap();
        f.sync().unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        f.append(&[8; 1500]).unwrap();
        let image = fs.crash();
        let bytes = &image.files[&p("/d/a")];
        assert!(bytes.len() >= 1500 && bytes.len() <= 3000, "seed {seed}");
        assert_eq!(&bytes[..1500], &[7; 1500][..]);
        // Whatever survived of the unsynced write is the data or zeros, sector by sector.
        for (i, &b) in bytes[1500..].iter().enumerate() {
            assert!(b == 8 || b == 0, "seed {seed} byte {i}");
        }
        assert!(matches!(f.len(), Err(FsError::Crashed { .. })));
    }
}

#[test]
fn unsynced_names_may_vanish_and_synced_file_without_dir_sync_may_too() {
    let mut vanished = 0;
    for seed in 0..40 {
        let fs = setup(seed);
        let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
        f.append(b"data").unwrap();
        f.sync().unwrap();
        let image = fs.crash();
        match image.files.get(&p("/d/a")) {
            None => vanished += 1,
            Some(bytes) => assert_eq!(bytes, b"data"),
        }
    }
    assert!(vanished > 0 && vanished < 40);
}

#[test]
fn rename_then_dir_sync_is_atomic_replace() {
    for seed in 0..40 {
        let fs = setup(seed);
        let old = fs.open(&p("/d/snap"), OpenMode::CreateNew).unwrap();
        old.append(b"old").unwrap();
        old.sync().unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        let tmp = fs.open(&p("/d/snap.tmp"), OpenMode::CreateNew).unwrap();
        tmp.append(b"new").unwrap();
        tmp.sync().unwrap();
        fs.rename(&p("/d/snap.tmp"), &p("/d/snap")).unwrap();
        let synced = seed % 2 == 0;
        if synced {
            fs.sync_dir(&p("/d")).unwrap();
        }
        let image = fs.crash();
        let snap = &image.files[&p("/d/snap")];
        assert!(snap == b"new" || (!synced && snap == b"old"), "seed {seed}");
    }
}

#[test]
fn same_seed_same_crash_image() {
    let run = |seed| {
        let fs = setup(seed);
        let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
        for i in 0..20u8 {
            f.append(&[i; 700]).unwrap();
            if i % 7 == 0 {
                f.sync().unwrap();
            }
        }
        fs.sync_dir(&p("/d")).unwrap();
        let g = fs.open(&p("/d/b"), OpenMode::CreateNew).unwrap();
        g.append(b"b").unwrap();
        (fs.crash(), fs.take_latency_nanos())
    };
    assert_eq!(run(42), run(42));
    let differ = (0..10).any(|s| run(s).0 != run(s + 100).0);
    assert!(differ);
}

#[test]
fn armed_crash_point_stops_every_operation() {
    let fs = setup(3);
    let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
    fs.arm_crash_after(2);
    f.append(b"1").unwrap();
    f.append(b"2").unwrap();
    assert!(matches!(f.sync(), Err(FsError::Crashed { .. })));
    assert!(fs.is_halted());
    let mut b = [0u8; 1];
    assert!(f.read_at(0, &mut b).is_err());
    assert!(fs.list(&p("/d")).is_err());
    fs.crash();
    assert!(!fs.is_halted());
    assert!(fs.list(&p("/d")).is_ok());
}

#[test]
fn writes_past_capacity_fail_with_no_space() {
    let fs = setup(4);
    fs.set_capacity_bytes(Some(100));
    let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
    f.append(&[1; 60]).unwrap();
    assert!(matches!(f.append(&[1; 60]), Err(FsError::NoSpace { .. })));
    assert_eq!(f.len().unwrap(), 60);
    f.write_at(0, &[2; 60]).unwrap();
}

#[test]
fn bit_flips_on_read_are_injected() {
    let fs = setup(5);
    let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
    f.append(&[0; 64]).unwrap();
    fs.set_read_bit_flip_per_million(1_000_000);
    let mut buf = [0u8; 64];
    f.read_at(0, &mut buf).unwrap();
    assert_eq!(buf.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
}

#[test]
fn list_is_sorted_and_remove_needs_dir_sync() {
    let fs = setup(6);
    for name in ["c", "a", "b"] {
        fs.open(&p(&format!("/d/{name}")), OpenMode::CreateNew)
            .unwrap();
    }
    fs.sync_dir(&p("/d")).unwrap();
    assert_eq!(fs.list(&p("/d")).unwrap(), ["a", "b", "c"]);
    fs.remove(&p("/d/b")).unwrap();
    assert_eq!(fs.list(&p("/d")).unwrap(), ["a", "c"]);
    fs.sync_dir(&p("/d")).unwrap();
    let image = fs.crash();
    assert_eq!(image.files.len(), 2);
    assert!(
        fs.open(&p("/nodir/x"), OpenMode::CreateNew)
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn latency_is_reported() {
    let fs = setup(7);
    let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
    fs.take_latency_nanos();
    f.sync().unwrap();
    let latency = fs.take_latency_nanos();
    assert!((500_000..=5_000_000).contains(&latency));
    assert_eq!(fs.take_latency_nanos(), 0);
}

mod model {
    //! SimFs against a plain model: live reads equal a `Vec<u8>` that every write and length
    //! change is applied to; after a crash, each byte is the synced byte, a byte some unsynced
    //! write put there, or zero, and nothing past the longest length reached survives.

    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Write { offset: u16, len: u16, byte: u8 },
        SetLen(u16),
        Sync,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..3000, 1u16..1500, any::<u8>())
                .prop_map(|(offset, len, byte)| Op::Write { offset, len, byte }),
            1 => (0u16..4000).prop_map(Op::SetLen),
            1 => Just(Op::Sync),
        ]
    }

    proptest! {
        #[test]
        fn sim_file_matches_the_model(ops in proptest::collection::vec(op(), 1..30), seed: u64) {
            let fs = setup(seed);
            let path = p("/d/f");
            let f = fs.open(&path, OpenMode::CreateNew).unwrap();
            fs.sync_dir(&p("/d")).unwrap();
            let mut live: Vec<u8> = Vec::new();
            let mut synced: Vec<u8> = Vec::new();
            // Per position, the values unsynced writes put there; and the longest length.
            let mut written: Vec<BTreeSet<u8>> = Vec::new();
            let mut longest = 0usize;
            for op in &ops {
                match *op {
                    Op::Write { offset, len, byte } => {
                        let (offset, end) = (offset as usize, offset as usize + len as usize);
                        f.write_at(offset as u64, &vec![byte; len as usize]).unwrap();
                        if live.len() < end {
                            live.resize(end, 0);
                        }
                        live[offset..end].fill(byte);
                        if written.len() < end {
                            written.resize(end, BTreeSet::new());
                        }
                        for set in &mut written[offset..end] {
                            set.insert(byte);
                        }
                    }
                    Op::SetLen(len) => {
                        f.set_len(u64::from(len)).unwrap();
                        live.resize(len as usize, 0);
                    }
                    Op::Sync => {
                        f.sync().unwrap();
                        synced = live.clone();
                        written.clear();
                        longest = 0;
                    }
                }
                longest = longest.max(live.len()).max(synced.len());
                prop_assert_eq!(f.read_all().unwrap(), live.clone());
            }
            let image = fs.crash();
            let after = &image.files[&path];
            prop_assert!(after.len() <= longest.max(synced.len()));
            if matches!(ops.last(), Some(Op::Sync)) {
                prop_assert_eq!(after, &synced);
            }
            for (i, &b) in after.iter().enumerate() {
                let ok = b == 0
                    || synced.get(i) == Some(&b)
                    || written.get(i).is_some_and(|set| set.contains(&b));
                prop_assert!(ok, "byte {} is {} (synced {:?})", i, b, synced.get(i));
            }
        }
    }
}

#[test]
fn a_process_crash_loses_nothing_but_keeps_unsynced_writes_unsynced() {
    let lost = (0..40).any(|seed| {
        let fs = setup(seed);
        let f = fs.open(&p("/d/a"), OpenMode::CreateNew).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        f.append(&[5; 2000]).unwrap();
        fs.crash_process();
        assert!(matches!(f.len(), Err(FsError::Crashed { .. })));
        let g = fs.open(&p("/d/a"), OpenMode::Existing).unwrap();
        assert_eq!(g.read_all().unwrap(), vec![5; 2000]);
        fs.crash().files[&p("/d/a")] != vec![5; 2000]
    });
    assert!(
        lost,
        "a power loss after a process crash can still lose unsynced writes"
    );
}
