//! Memory per key: loads N keys (16-byte keys, 256-byte values, one put per key and so one
//! revision per key, as a stream of client puts would) into a [`Store`] and prints the growth of
//! the process's resident memory (VmRSS in `/proc/self/status`, Linux only) and the size of the
//! redb file (on disk for `file`, the live in-memory bytes for `mem`).
//!
//! Run one backend per process, so that each starts from a clean baseline:
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-bench cargo run --release -p invar-mvcc --example memory -- mem
//! CARGO_TARGET_DIR=/work/target-bench cargo run --release -p invar-mvcc --example memory -- file [DIR]
//! ```
//!
//! Optional further arguments: the number of keys (default 1,000,000) and the store's
//! `commits_per_sync` (default 10,000; every put is one backend commit).
//!
//! This is a measuring tool outside the deterministic core: it reads `/proc` and file metadata
//! with `std::fs` directly, which the crate's clippy.toml bans in the library.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use invar_mvcc::{Config, FileBackend, MemBackend, PutRequest, RangeRequest, Store};
use invar_storage::fs::{FileSystem, RealFs};

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 256;

/// VmRSS of this process, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// Key `i` as exactly 16 bytes.
fn key(i: u64) -> Vec<u8> {
    let key = format!("k/{i:014}").into_bytes();
    debug_assert_eq!(key.len(), KEY_BYTES);
    key
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: memory mem|file [DIR] [KEYS] [COMMITS_PER_SYNC]";
    let mode = args.first().map(String::as_str).expect(usage);
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let (dir, numbers) = match mode {
        "mem" => (None, &rest[..]),
        "file" => {
            let dir = rest
                .first()
                .filter(|a| a.parse::<u64>().is_err())
                .map(PathBuf::from);
            let skip = usize::from(dir.is_some());
            let dir = dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("invar-memory-{}", std::process::id()))
            });
            (Some(dir), &rest[skip..])
        }
        _ => panic!("{usage}"),
    };
    let keys: u64 = numbers
        .first()
        .map_or(1_000_000, |n| n.parse().expect(usage));
    let commits_per_sync: u64 = numbers.get(1).map_or(10_000, |n| n.parse().expect(usage));
    let config = Config {
        commits_per_sync,
        ..Config::default()
    };

    let value = vec![0x5a; VALUE_BYTES];
    let before = rss_bytes();
    let mem = MemBackend::new();
    let (mut store, path) = match &dir {
        None => (
            Store::open(Box::new(mem.clone()), config).expect("open"),
            None,
        ),
        Some(dir) => {
            RealFs.create_dir_all(dir).expect("create dir");
            let path = dir.join("memory.redb");
            assert!(
                !path.exists(),
                "{} exists: give an empty directory",
                path.display()
            );
            let backend = FileBackend::open(&RealFs, &path).expect("open file");
            (
                Store::open(Box::new(backend), config).expect("open"),
                Some(path),
            )
        }
    };
    let started = std::time::Instant::now();
    for i in 0..keys {
        let req = PutRequest {
            key: key(i),
            value: value.clone(),
            ..Default::default()
        };
        let _ = store.put(i + 1, &req).expect("put");
    }
    store.sync().expect("sync");
    let load_seconds = started.elapsed().as_secs_f64();
    let after = rss_bytes();

    // A spot check that the keys are there (and a touch of every index level).
    let all = RangeRequest {
        key: key(0),
        range_end: vec![0],
        count_only: true,
        ..Default::default()
    };
    let count = store.range(&all).expect("range").count;
    assert_eq!(u64::try_from(count).expect("count"), keys);

    let (file_bytes, allocated_bytes) = match &path {
        None => (invar_mvcc_len(&mem), None),
        Some(path) => {
            let metadata = std::fs::metadata(path).expect("metadata");
            // st_blocks counts 512-byte units whatever the file system's block size.
            (metadata.len(), Some(metadata.blocks() * 512))
        }
    };
    let grown = after.saturating_sub(before);
    println!("backend: {mode}");
    println!(
        "keys: {keys} ({KEY_BYTES} B keys, {VALUE_BYTES} B values; commits_per_sync {commits_per_sync})"
    );
    println!(
        "load: {load_seconds:.1} s ({:.0} puts/s)",
        keys as f64 / load_seconds
    );
    println!(
        "rss: {:.1} MiB before, {:.1} MiB after, growth {:.1} MiB = {:.0} B/key",
        mib(before),
        mib(after),
        mib(grown),
        grown as f64 / keys as f64
    );
    println!(
        "redb file: {:.1} MiB = {:.0} B/key{}",
        mib(file_bytes),
        file_bytes as f64 / keys as f64,
        if path.is_none() {
            " (live bytes in memory; MemBackend also keeps a durable copy)"
        } else {
            " (on disk)"
        }
    );
    if let Some(allocated) = allocated_bytes {
        println!(
            "redb file blocks allocated on disk: {:.1} MiB = {:.0} B/key",
            mib(allocated),
            allocated as f64 / keys as f64
        );
    }
    drop(store);
    // Remove what this run created: the file, and the directory if that leaves it empty.
    if let (Some(dir), Some(path)) = (dir, path) {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_dir(dir);
    }
}

/// The length of the in-memory file.
fn invar_mvcc_len(mem: &MemBackend) -> u64 {
    redb::StorageBackend::len(mem).expect("len")
}
