//! MVCC benchmarks: puts (256-byte values, batched commits) on the in-memory backend and on
//! the real disk (`RealFs`, one sync per 100 commits), the same puts applied in batches of 10
//! and 100 entries per commit ([`Store::begin_batch`], as the member applies one raft Ready),
//! and a range scan of 1,000 keys.
//! Run: `CARGO_TARGET_DIR=/work/target-mvcc cargo bench -p invar-mvcc`.

#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use invar_mvcc::{Config, FileBackend, MemBackend, PutRequest, RangeRequest, Store};
use invar_storage::fs::RealFs;

fn put(i: u64) -> PutRequest {
    PutRequest {
        key: format!("key/{i:08}").into_bytes(),
        value: vec![7; 256],
        ..Default::default()
    }
}

fn config() -> Config {
    Config {
        commits_per_sync: 100,
        ..Config::default()
    }
}

fn puts(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_256b");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    group.bench_function("mem_backend_1000_puts", |b| {
        b.iter_batched(
            || Store::open(Box::new(MemBackend::new()), config()).expect("open"),
            |mut store| {
                for i in 1..=1000 {
                    let _ = store.put(i, &put(i)).expect("put");
                }
                store
            },
            BatchSize::PerIteration,
        );
    });
    for batch in [10u64, 100] {
        group.bench_function(format!("mem_backend_1000_puts_batches_of_{batch}"), |b| {
            b.iter_batched(
                || Store::open(Box::new(MemBackend::new()), config()).expect("open"),
                |mut store| {
                    for first in (1..=1000).step_by(batch as usize) {
                        store.begin_batch().expect("begin");
                        for i in first..first + batch {
                            let _ = store.put(i, &put(i)).expect("put");
                        }
                        store.commit_batch().expect("commit");
                    }
                    store
                },
                BatchSize::PerIteration,
            );
        });
    }
    let dir = std::env::temp_dir().join(format!("invar-mvcc-bench-{}", std::process::id()));
    invar_storage::fs::FileSystem::create_dir_all(&RealFs, &dir).expect("temp dir");
    let mut run = 0u64;
    group.bench_function("real_fs_1000_puts_sync_every_100", |b| {
        b.iter_batched(
            || {
                run += 1;
                let path = dir.join(format!("bench-{run}.redb"));
                let backend = FileBackend::open(&RealFs, &path).expect("file");
                Store::open(Box::new(backend), config()).expect("open")
            },
            |mut store| {
                for i in 1..=1000 {
                    let _ = store.put(i, &put(i)).expect("put");
                }
                store.sync().expect("sync");
                store
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn ranges(c: &mut Criterion) {
    let mut store = Store::open(Box::new(MemBackend::new()), config()).expect("open");
    for i in 1..=10_000 {
        let _ = store.put(i, &put(i)).expect("put");
    }
    let req = RangeRequest {
        key: b"key/00001000".to_vec(),
        range_end: b"key/00002000".to_vec(),
        ..Default::default()
    };
    assert_eq!(store.range(&req).expect("range").kvs.len(), 1000);
    let mut group = c.benchmark_group("range");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_keys_of_10000", |b| {
        b.iter(|| store.range(&req).expect("range"))
    });
    group.finish();
}

criterion_group!(benches, puts, ranges);
criterion_main!(benches);
