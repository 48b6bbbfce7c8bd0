//! Entries committed per second by three in-memory members with batched proposals: the cost of
//! the consensus core alone (no disk, no network), driven the way a shell drives it.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use invar_raft::testkit::Network;

const BATCH: u64 = 256;
const ENTRY_BYTES: usize = 128;

fn elected_cluster() -> Network {
    let mut network = Network::with_config(&[1, 2, 3], |c| {
        c.inflight_messages_max = 256;
        c.message_bytes_max = 1024 * 1024;
    });
    network.campaign(1);
    network
}

fn commit_batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("raft");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("commit_256_entries_3_members", |b| {
        b.iter_batched_ref(
            elected_cluster,
            |network| {
                let batch = (0..BATCH).map(|k| vec![k as u8; ENTRY_BYTES]).collect();
                network.raft_mut(1).propose_batch(batch).expect("leader");
                network.stabilize();
                assert!(network.raft(2).committed() >= BATCH);
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, commit_batches);
criterion_main!(benches);
