//! Seeded random runs: clients write, delete, run txns and read linearizably while members
//! crash (their disks losing unsynced writes, sometimes at an armed crash point in the middle
//! of an operation), restart and get cut off. After healing, every member must hold the same
//! store, and every acknowledged answer must agree with the final history:
//!
//! - an acknowledged put (or txn branch) is in the history at its revision (nothing lost);
//! - an acknowledged delete removed its key at its revision;
//! - a linearizable read saw exactly the history at its header revision, and that revision is
//!   at least that of every write acknowledged before the read was sent (real-time order).
//!
//! Applying an entry twice trips the store's assertion, and the hashes would differ.

mod harness;

use std::collections::BTreeMap;

use harness::{Cluster, get, put};
use invar_mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    Response, TargetUnion, TxnRequest,
};
use invar_node::{ClientRequest, ClientResponse, RequestId};
use invar_raft::{NodeId, Prng};

/// What a client sent, kept until the answer comes.
#[derive(Clone, Debug)]
enum Sent {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    Txn {
        key: String,
        value: String,
        other: String,
    },
    Read {
        key: String,
        revision_floor: i64,
    },
}

struct Run {
    cluster: Cluster,
    rng: Prng,
    sent: BTreeMap<RequestId, Sent>,
    /// Acknowledged answers, in order.
    answered: Vec<(Sent, ClientResponse)>,
    /// The highest revision of an acknowledged write so far.
    revision_acknowledged: i64,
    /// Members that are down, with the step at which they come back.
    down: BTreeMap<NodeId, u64>,
    /// Cut members, with the step at which they are healed.
    cut_until: BTreeMap<NodeId, u64>,
    next_value: u64,
}

impl Run {
    fn new(seed: u64) -> Run {
        let cluster = Cluster::new(3, seed, |config| {
            config.snapshot_entries = 25;
            config.snapshot_keep_entries = 5;
            config.mvcc.commits_per_sync = 3;
        });
        Run {
            cluster,
            rng: Prng::new(seed ^ 0x5eed),
            sent: BTreeMap::new(),
            answered: Vec::new(),
            revision_acknowledged: 0,
            down: BTreeMap::new(),
            cut_until: BTreeMap::new(),
            next_value: 0,
        }
    }

    fn random_member(&mut self) -> NodeId {
        self.rng.range(1, 4)
    }

    fn key(&mut self) -> String {
        format!("k{}", self.rng.range(0, 5))
    }

    fn value(&mut self) -> String {
        self.next_value += 1;
        format!("v{}", self.next_value)
    }

    fn send_request(&mut self) {
        let target = match self.cluster.leader() {
            Some(leader) if self.rng.chance(4, 5) => leader,
            _ => self.random_member(),
        };
        let key = self.key();
        let (sent, request) = match self.rng.range(0, 20) {
            0..=9 => {
                let value = self.value();
                let request = put(&key, &value);
                (Sent::Put { key, value }, request)
            }
            10..=12 => {
                let request = ClientRequest::DeleteRange(DeleteRangeRequest {
                    key: key.clone().into_bytes(),
                    ..DeleteRangeRequest::default()
                });
                (Sent::Delete { key }, request)
            }
            13..=15 => {
                let value = self.value();
                let other = self.key();
                let request = txn(&key, &value, &other);
                (Sent::Txn { key, value, other }, request)
            }
            _ => {
                let revision_floor = self.revision_acknowledged;
                (
                    Sent::Read {
                        key: key.clone(),
                        revision_floor,
                    },
                    get(&key, false),
                )
            }
        };
        let id = self.cluster.request(target, request);
        self.sent.insert(id, sent);
    }

    fn collect_replies(&mut self) {
        for (id, result) in std::mem::take(&mut self.cluster.replies) {
            let sent = self
                .sent
                .remove(&id)
                .expect("a reply to a request that was sent");
            let Ok(response) = result else {
                continue;
            };
            if !matches!(sent, Sent::Read { .. }) {
                self.revision_acknowledged =
                    self.revision_acknowledged.max(response.header().revision);
            }
            self.answered.push((sent, response));
        }
    }

    fn inject_faults(&mut self) {
        let step = self.cluster.steps;
        let member = self.random_member();
        let up = !self.down.contains_key(&member);
        if up && self.rng.chance(1, 600) {
            self.cluster.crash(member);
            self.down.insert(member, step + self.rng.range(50, 400));
        } else if up && self.rng.chance(1, 800) {
            let slot = (member - 1) as usize;
            let ops = self.rng.range(0, 150);
            self.cluster.disks[slot].arm_crash_after(ops);
        } else if self.rng.chance(1, 700) {
            self.cluster.cut.insert(member);
            self.cut_until
                .insert(member, step + self.rng.range(100, 600));
        }
        for id in std::mem::take(&mut self.cluster.crashed) {
            self.down.insert(id, step + self.rng.range(50, 400));
        }
        let back: Vec<NodeId> = self
            .down
            .iter()
            .filter(|(_, at)| **at <= step)
            .map(|(id, _)| *id)
            .collect();
        for id in back {
            self.down.remove(&id);
            self.cluster.disks[(id - 1) as usize].disarm_crash();
            self.cluster.restart(id);
        }
        let healed: Vec<NodeId> = self
            .cut_until
            .iter()
            .filter(|(_, at)| **at <= step)
            .map(|(id, _)| *id)
            .collect();
        for id in healed {
            self.cut_until.remove(&id);
            self.cluster.cut.remove(&id);
        }
    }

    fn heal_everything(&mut self) {
        self.cluster.cut.clear();
        self.cut_until.clear();
        for disk in &self.cluster.disks {
            disk.disarm_crash();
        }
        self.cluster.crashed.clear();
        for id in std::mem::take(&mut self.down).into_keys() {
            self.cluster.restart(id);
        }
    }
}

fn txn(key: &str, value: &str, other: &str) -> ClientRequest {
    let put_op = |key: &str| {
        RequestOp::Put(PutRequest {
            key: key.into(),
            value: value.into(),
            ..PutRequest::default()
        })
    };
    ClientRequest::Txn(TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Greater,
            target: CompareTarget::Version,
            key: key.into(),
            target_union: Some(TargetUnion::Version(0)),
            range_end: Vec::new(),
        }],
        success: vec![put_op(key)],
        failure: vec![put_op(other)],
    })
}

/// The value of `key` at `revision` in the final history (`None`: absent).
fn value_at(cluster: &Cluster, leader: NodeId, key: &str, revision: i64) -> Option<(Vec<u8>, i64)> {
    let request = RangeRequest {
        key: key.into(),
        revision,
        ..RangeRequest::default()
    };
    let response = cluster
        .member(leader)
        .store()
        .range(&request)
        .expect("history read");
    response
        .kvs
        .first()
        .map(|kv| (kv.value.clone(), kv.mod_revision))
}

fn check(run: &Run, leader: NodeId) {
    let cluster = &run.cluster;
    for (sent, response) in &run.answered {
        let revision = response.header().revision;
        match (sent, response) {
            (Sent::Put { key, value }, _) => {
                let found = value_at(cluster, leader, key, revision);
                assert_eq!(
                    found,
                    Some((value.clone().into_bytes(), revision)),
                    "{sent:?}"
                );
            }
            (Sent::Delete { key }, ClientResponse::Applied(Response::DeleteRange(r))) => {
                if r.deleted > 0 {
                    assert_eq!(value_at(cluster, leader, key, revision), None, "{sent:?}");
                }
            }
            (Sent::Txn { key, value, other }, ClientResponse::Applied(Response::Txn(r))) => {
                let written = if r.succeeded { key } else { other };
                let found = value_at(cluster, leader, written, revision);
                assert_eq!(
                    found,
                    Some((value.clone().into_bytes(), revision)),
                    "{sent:?}"
                );
            }
            (
                Sent::Read {
                    key,
                    revision_floor,
                },
                ClientResponse::Range(r),
            ) => {
                assert!(
                    revision >= *revision_floor,
                    "stale read: {sent:?} at {revision}"
                );
                let seen = r.kvs.first().map(|kv| (kv.value.clone(), kv.mod_revision));
                assert_eq!(seen, value_at(cluster, leader, key, revision), "{sent:?}");
            }
            other => panic!("mismatched answer: {other:?}"),
        }
    }
}

fn run_seed(seed: u64) -> usize {
    let mut run = Run::new(seed);
    run.cluster.wait_for_leader();
    for _ in 0..4_000 {
        if run.rng.chance(1, 6) {
            run.send_request();
        }
        run.inject_faults();
        run.cluster.step();
        run.collect_replies();
    }
    run.heal_everything();
    run.cluster.settle();
    run.cluster.assert_converged();
    let leader = run.cluster.leader().expect("a leader after settling");
    check(&run, leader);
    run.answered.len()
}

/// Goal and method: see the module doc; 12 seeds.
#[test]
fn random_runs_keep_every_acknowledged_answer() {
    let mut answered = 0;
    for seed in 0..12 {
        answered += run_seed(seed);
    }
    assert!(
        answered > 500,
        "too few answers to mean anything: {answered}"
    );
}
