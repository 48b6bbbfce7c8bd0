//! Unit tests of the WAL: round trips, replacement of suffixes, markers, rotation, release,
//! corruption and torn-tail repair, and decoders fed arbitrary bytes.

use std::path::{Path, PathBuf};

use invar_raft::{Entry, EntryKind, HardState};
use proptest::prelude::*;

use super::record::{self, Record};
use super::*;
use crate::fs::{FileSystem, FsError, SimFs};

pub(super) fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: data.to_vec(),
    }
}

/// Bytes of a segment header record.
fn header_bytes() -> u64 {
    let mut bytes = Vec::new();
    Record::SegmentHeader {
        sequence: 0,
        first_index: 1,
    }
    .encode(&mut bytes);
    bytes.len() as u64
}

/// Bytes of an entries record holding one entry of `data_len` bytes.
fn entry_record_bytes(data_len: usize) -> u64 {
    let mut bytes = Vec::new();
    Record::Entries(vec![entry(1, 1, &vec![0; data_len])]).encode(&mut bytes);
    bytes.len() as u64
}

fn dir() -> PathBuf {
    PathBuf::from("/wal")
}

fn small() -> WalConfig {
    WalConfig {
        segment_bytes_max: 4096,
        ..WalConfig::default()
    }
}

fn reopen(fs: &SimFs) -> Result<(Wal<SimFs>, Recovered), WalError> {
    Wal::open(fs.clone(), &dir(), small())
}

#[test]
fn round_trip_of_hard_state_entries_and_marker() {
    let fs = SimFs::with_seed(1);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    let hs = HardState {
        term: 2,
        vote: 1,
        commit: 2,
    };
    wal.save(Some(&hs), &[entry(1, 1, b"a"), entry(2, 2, b"b")])
        .unwrap();
    wal.save(None, &[entry(3, 2, b"c")]).unwrap();
    wal.save_snapshot_marker(1, 1).unwrap();
    wal.sync().unwrap();
    let (wal2, rec) = reopen(&fs).unwrap();
    assert_eq!(rec.hard_state, hs);
    assert_eq!(rec.snapshot, Some(SnapshotMarker { index: 1, term: 1 }));
    assert_eq!(rec.entries, vec![entry(2, 2, b"b"), entry(3, 2, b"c")]);
    assert_eq!(rec.torn_tail, None);
    assert_eq!(wal2.last_index(), 3);
}

#[test]
fn later_entries_replace_a_conflicting_suffix() {
    let fs = SimFs::with_seed(2);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    let old: Vec<Entry> = (1..=5).map(|i| entry(i, 1, b"old")).collect();
    wal.save(None, &old).unwrap();
    wal.save(None, &[entry(3, 2, b"new")]).unwrap();
    assert_eq!(wal.last_index(), 3);
    wal.sync().unwrap();
    let (_, rec) = reopen(&fs).unwrap();
    let indexes: Vec<(u64, u64)> = rec.entries.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(indexes, [(1, 1), (2, 1), (3, 2)]);
}

#[test]
fn a_marker_the_log_does_not_hold_drops_the_log() {
    let fs = SimFs::with_seed(3);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    wal.save(None, &[entry(1, 1, b""), entry(2, 1, b"")])
        .unwrap();
    wal.save_snapshot_marker(2, 3).unwrap();
    assert_eq!(wal.last_index(), 2);
    wal.save(None, &[entry(3, 3, b"x")]).unwrap();
    wal.save_snapshot_marker(10, 4).unwrap();
    assert_eq!(wal.last_index(), 10);
    wal.sync().unwrap();
    let (_, rec) = reopen(&fs).unwrap();
    assert_eq!(rec.snapshot, Some(SnapshotMarker { index: 10, term: 4 }));
    assert!(rec.entries.is_empty());
}

#[test]
#[should_panic(expected = "a gap")]
fn a_gap_before_saved_entries_is_a_programmer_error() {
    let mut wal = Wal::create(SimFs::with_seed(4), &dir(), small()).unwrap();
    let _ = wal.save(None, &[entry(2, 1, b"")]);
}

fn names(wal: &Wal<SimFs>) -> Vec<String> {
    let paths = wal.segment_paths();
    let names = paths.iter().filter_map(|p| p.file_name()?.to_str());
    names.map(str::to_owned).collect()
}

fn fill(wal: &mut Wal<SimFs>, from: u64, to: u64) {
    for i in from..=to {
        wal.save(None, &[entry(i, 1, &[i as u8; 300])]).unwrap();
    }
}

#[test]
fn rotation_and_release_keep_what_the_marker_does_not_cover() {
    let fs = SimFs::with_seed(5);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    let hs = HardState {
        term: 1,
        vote: 3,
        commit: 40,
    };
    wal.save(Some(&hs), &[]).unwrap();
    fill(&mut wal, 1, 60);
    wal.sync().unwrap();
    let segments = wal.segment_paths().len();
    assert!(segments >= 4, "{segments} segments");
    assert_eq!(wal.release().unwrap(), 0);
    wal.save_snapshot_marker(40, 1).unwrap();
    assert_eq!(
        wal.release().unwrap(),
        0,
        "an unsynced marker releases nothing"
    );
    wal.sync().unwrap();
    let released = wal.release().unwrap();
    assert!(released >= 2);
    assert_eq!(fs.list(&dir()).unwrap(), names(&wal));
    fill(&mut wal, 61, 70);
    wal.sync().unwrap();
    let (_, rec) = reopen(&fs).unwrap();
    assert_eq!(rec.hard_state, hs);
    assert_eq!(rec.snapshot, Some(SnapshotMarker { index: 40, term: 1 }));
    let indexes: Vec<u64> = rec.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (41..=70).collect::<Vec<_>>());
}

#[test]
fn a_flipped_byte_in_a_middle_record_names_file_and_offset() {
    let fs = SimFs::with_seed(6);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fill(&mut wal, 1, 30);
    wal.sync().unwrap();
    let first = wal.segment_paths()[0].clone();
    let record = entry_record_bytes(300);
    let offset = header_bytes() + record + 100;
    assert!(fs.corrupt_byte(&first, offset, 0x40));
    drop(wal);
    match reopen(&fs) {
        Err(WalError::Corrupted {
            file,
            offset,
            expected,
        }) => {
            assert_eq!(file, first);
            assert_eq!(offset, header_bytes() + record);
            assert!(expected.contains("payload crc32c"), "{expected}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_the_last_segment_is_corruption_not_a_tear() {
    let fs = SimFs::with_seed(7);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fill(&mut wal, 1, 3);
    wal.sync().unwrap();
    let last = wal.segment_paths()[0].clone();
    let at = header_bytes() + entry_record_bytes(300);
    fs.corrupt_byte(&last, at + 50, 0x01);
    let error = reopen(&fs).unwrap_err();
    assert!(matches!(error, WalError::Corrupted { offset, .. } if offset == at));
    assert!(error.to_string().contains("/wal/"), "{error}");
}

#[test]
fn a_torn_tail_is_cut_and_the_log_continues() {
    let fs = SimFs::with_seed(8);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fill(&mut wal, 1, 3);
    wal.sync().unwrap();
    let path = wal.segment_paths()[0].clone();
    let end = header_bytes() + 3 * entry_record_bytes(300);
    // A partial fourth record: its header and then zeros where sectors never landed.
    let mut bytes = Vec::new();
    Record::Entries(vec![entry(4, 1, &[9; 1000])]).encode(&mut bytes);
    let torn: Vec<u8> = bytes[..20].iter().copied().chain([0; 600]).collect();
    fs.open(&path, crate::fs::OpenMode::Existing)
        .unwrap()
        .write_at(end, &torn)
        .unwrap();
    drop(wal);
    let (mut wal, rec) = reopen(&fs).unwrap();
    assert_eq!(rec.entries.len(), 3);
    let tail = rec.torn_tail.unwrap();
    assert_eq!((tail.offset, tail.dropped_bytes), (end, 620));
    fill(&mut wal, 4, 5);
    wal.sync().unwrap();
    let (_, rec) = reopen(&fs).unwrap();
    assert_eq!(rec.entries.len(), 5);
    assert_eq!(rec.torn_tail, None);
}

#[test]
fn a_short_tail_is_cut() {
    let fs = SimFs::with_seed(9);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fill(&mut wal, 1, 2);
    wal.sync().unwrap();
    let path = wal.segment_paths()[0].clone();
    let file = fs.open(&path, crate::fs::OpenMode::Existing).unwrap();
    let len = file.len().unwrap();
    file.set_len(len - 5).unwrap();
    let (_, rec) = reopen(&fs).unwrap();
    assert_eq!(rec.entries.len(), 1);
    assert_eq!(
        rec.torn_tail.unwrap().offset,
        header_bytes() + entry_record_bytes(300)
    );
}

#[test]
fn poisoned_after_the_first_io_error() {
    let fs = SimFs::with_seed(10);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fs.arm_crash_after(0);
    assert!(matches!(
        wal.save(None, &[entry(1, 1, b"")]),
        Err(WalError::Fs(_))
    ));
    fs.crash();
    assert!(matches!(wal.sync(), Err(WalError::Poisoned)));
    assert!(matches!(wal.save(None, &[]), Err(WalError::Poisoned)));
}

#[test]
fn create_refuses_an_existing_log_and_open_an_absent_one() {
    let fs = SimFs::with_seed(11);
    assert!(matches!(
        reopen(&fs),
        Err(WalError::Fs(_) | WalError::NotFound { .. })
    ));
    fs.create_dir_all(Path::new("/wal")).unwrap();
    assert!(matches!(reopen(&fs), Err(WalError::NotFound { .. })));
    Wal::create(fs.clone(), &dir(), small()).unwrap();
    assert!(matches!(
        Wal::create(fs.clone(), &dir(), small()),
        Err(WalError::AlreadyExists { .. })
    ));
}

#[test]
fn an_entry_too_large_for_a_record_is_refused_before_writing() {
    let config = WalConfig {
        record_bytes_max: 100,
        ..small()
    };
    let mut wal = Wal::create(SimFs::with_seed(12), &dir(), config).unwrap();
    let error = wal.save(None, &[entry(1, 1, &[0; 100])]).unwrap_err();
    assert!(matches!(error, WalError::EntryTooLarge { index: 1, .. }));
    // Many small entries are split into several records.
    let many: Vec<Entry> = (1..=20).map(|i| entry(i, 1, &[1; 30])).collect();
    wal.save(None, &many).unwrap();
    assert_eq!(wal.last_index(), 20);
}

#[test]
fn segment_names_parse_back() {
    let name = segment_name(3, 0x1234);
    assert_eq!(parse_segment_name(&name), Some((3, 0x1234)));
    assert_eq!(parse_segment_name("3-4.wal"), None);
    assert_eq!(
        parse_segment_name("zzzzzzzzzzzzzzzz-0000000000000000.wal"),
        None
    );
    assert_eq!(parse_segment_name("snap.tmp"), None);
}

proptest! {
    #[test]
    fn frame_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok((record_type, payload, len)) = record::decode_frame(&bytes, 1 << 20) {
            prop_assert!(len <= bytes.len());
            let _ = Record::decode(record_type, &payload);
        }
        for offset in 0..bytes.len() {
            if let Err(error) = record::decode_frame(&bytes[offset..], 64) {
                let _ = record::looks_torn(&bytes, offset, &error, 512);
                let _ = error.expected();
            }
        }
    }

    #[test]
    fn payload_decoders_never_panic(
        kind in 1u8..=4,
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut frame = Vec::new();
        let record_type = match kind {
            1 => record::RecordType::SegmentHeader,
            2 => record::RecordType::HardState,
            3 => record::RecordType::Entries,
            _ => record::RecordType::SnapshotMarker,
        };
        record::encode_frame(&mut frame, record_type, &payload);
        let (decoded_type, decoded_payload, _) = record::decode_frame(&frame, 1 << 20).unwrap();
        prop_assert_eq!(decoded_type, record_type);
        prop_assert_eq!(&decoded_payload, &payload);
        let _ = Record::decode(decoded_type, &decoded_payload);
    }

    #[test]
    fn records_round_trip(
        term in any::<u64>(),
        index in 1u64..u64::MAX / 2,
        data in proptest::collection::vec(any::<u8>(), 0..100),
        reset in any::<bool>(),
    ) {
        let records = [
            Record::HardState(HardState { term, vote: index, commit: term / 2 }),
            Record::Entries(vec![entry(index, term, &data), entry(index + 1, term, &[])]),
            Record::SnapshotMarker { index, term, reset },
            Record::SegmentHeader { sequence: term, first_index: index },
        ];
        for record in records {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            let (record_type, payload, len) = record::decode_frame(&bytes, 1 << 20).unwrap();
            prop_assert_eq!(len, bytes.len());
            prop_assert_eq!(Record::decode(record_type, &payload).unwrap(), record);
        }
    }

    #[test]
    fn wal_open_never_panics_on_garbage_segments(
        garbage in proptest::collection::vec(any::<u8>(), 0..600),
        at in 0usize..400,
    ) {
        let fs = SimFs::with_seed(13);
        let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
        fill(&mut wal, 1, 1);
        wal.sync().unwrap();
        let path = wal.segment_paths()[0].clone();
        let file = fs.open(&path, crate::fs::OpenMode::Existing).unwrap();
        file.write_at(at as u64, &garbage).unwrap();
        drop(wal);
        let _ = reopen(&fs);
    }
}

#[test]
fn a_damaged_length_in_the_last_segment_is_corruption_not_a_short_tail() {
    // Without a header checksum, a larger length would look like a record cut short by a
    // crash, and the open would silently drop synced records after it.
    let fs = SimFs::with_seed(14);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fill(&mut wal, 1, 3);
    wal.sync().unwrap();
    let path = wal.segment_paths()[0].clone();
    let at = header_bytes() + entry_record_bytes(300);
    fs.corrupt_byte(&path, at + 1, 0x08);
    match reopen(&fs) {
        Err(WalError::Corrupted {
            offset, expected, ..
        }) => {
            assert_eq!(offset, at);
            assert!(expected.contains("header crc32c"), "{expected}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn injected_read_bit_flips_are_never_silent() {
    let mut errors = 0;
    for seed in 0..100 {
        let fs = SimFs::with_seed(seed);
        let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
        let mut expected = Vec::new();
        for i in 1..=20u64 {
            let data: Vec<u8> = (0..200).map(|j| (i * 7 + j * 13 + 1) as u8 | 1).collect();
            expected.push(entry(i, 1, &data));
            wal.save(None, &expected[expected.len() - 1..]).unwrap();
        }
        wal.sync().unwrap();
        fs.set_read_bit_flip_per_million(300_000);
        match reopen(&fs) {
            Ok((_, rec)) => assert_eq!(rec.entries, expected, "seed {seed}"),
            Err(WalError::Corrupted { .. }) => errors += 1,
            Err(other) => panic!("seed {seed}: {other}"),
        }
    }
    assert!(errors > 10, "{errors} of 100 opens saw a flip");
}

#[test]
fn damage_to_a_record_of_zeros_in_the_last_segment_is_corruption_not_a_tear() {
    // Entry data of zeros would hold all-zero sector pieces without whitening, and a damaged
    // record would then pass for a torn one and be silently dropped with what follows it.
    let fs = SimFs::with_seed(15);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    wal.save(None, &[entry(1, 1, &[0; 2000])]).unwrap();
    wal.save(None, &[entry(2, 1, b"after")]).unwrap();
    wal.sync().unwrap();
    let path = wal.segment_paths()[0].clone();
    fs.corrupt_byte(&path, header_bytes() + 1500, 0x04);
    match reopen(&fs) {
        Err(WalError::Corrupted { offset, .. }) => assert_eq!(offset, header_bytes()),
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn a_full_disk_poisons_the_log_and_a_reopen_keeps_what_was_synced() {
    let fs = SimFs::with_seed(16);
    let mut wal = Wal::create(fs.clone(), &dir(), small()).unwrap();
    fill(&mut wal, 1, 5);
    wal.sync().unwrap();
    fs.set_capacity_bytes(Some(2500));
    let error = (6..100)
        .find_map(|i| wal.save(None, &[entry(i, 1, &[1; 300])]).err())
        .unwrap();
    assert!(
        matches!(error, WalError::Fs(FsError::NoSpace { .. })),
        "{error}"
    );
    assert!(matches!(wal.sync(), Err(WalError::Poisoned)));
    fs.set_capacity_bytes(None);
    let (_, rec) = reopen(&fs).unwrap();
    assert!(rec.entries.len() >= 5);
    assert_eq!(
        rec.entries[..5],
        (1..=5)
            .map(|i| entry(i, 1, &[i as u8; 300]))
            .collect::<Vec<_>>()[..]
    );
}

#[test]
fn the_same_log_works_on_the_real_file_system() {
    use crate::fs::RealFs;
    let dir = std::env::temp_dir().join(format!("invar-storage-wal-{}", std::process::id()));
    let mut wal = Wal::create(RealFs, &dir, small()).unwrap();
    let hs = HardState {
        term: 3,
        vote: 2,
        commit: 10,
    };
    wal.save(Some(&hs), &[]).unwrap();
    for i in 1..=30 {
        wal.save(None, &[entry(i, 3, &[i as u8; 300])]).unwrap();
    }
    wal.save_snapshot_marker(20, 3).unwrap();
    wal.sync().unwrap();
    assert!(wal.release().unwrap() >= 1);
    drop(wal);
    let (wal, rec) = Wal::open(RealFs, &dir, small()).unwrap();
    assert_eq!(rec.hard_state, hs);
    assert_eq!(rec.snapshot, Some(SnapshotMarker { index: 20, term: 3 }));
    assert_eq!(rec.entries.len(), 10);
    for path in wal.segment_paths() {
        RealFs.remove(&path).unwrap();
    }
    assert!(RealFs.list(&dir).unwrap().is_empty());
    std::fs::remove_dir(&dir).unwrap();
}
