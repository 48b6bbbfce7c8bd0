//! The client traffic, shaped like etcd's robustness traffic (`tests/robustness/traffic`):
//! `kv` (EtcdPutDeleteLease without leases), `k8s` (the Kubernetes traffic), `lease`, and
//! `watch` (watchers over kv writers); plus the compactor every run has and the final probe.
//! Each workload keeps to its own key prefix, so that in `mixed` runs they do not step on
//! one another's assumptions (k8s' known mod revisions, lease keys that only revokes delete).

mod k8s;
mod kv;
mod lease;
mod watch;

use invar_mvcc::{
    CompactionRequest, Compare, CompareResult, CompareTarget, PutRequest, RangeRequest, TargetUnion,
};
use invar_node::{ClientRequest, ClientResponse};
use invar_raft::Prng;

use crate::clients::{Command, Cx, End, Plan, Workload};
use crate::options::{NANOS_PER_MILLI, NANOS_PER_SECOND, WorkloadKind};

/// A new client's workload.
pub(crate) fn new(kind: WorkloadKind, index: usize, rng: &mut Prng) -> Box<dyn Workload> {
    match kind {
        WorkloadKind::Kv | WorkloadKind::Mixed => Box::new(kv::Kv::new("kv/", 10)),
        WorkloadKind::K8s => Box::new(k8s::K8s::new()),
        WorkloadKind::Lease => Box::new(lease::Leases::new(index)),
        WorkloadKind::Watch => Box::new(watch::Watchers::new(rng)),
    }
}

/// The end of a key prefix: the first key after every key that starts with it.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A linearizable read of one key.
pub(crate) fn get(key: Vec<u8>) -> ClientRequest {
    ClientRequest::Range(RangeRequest {
        key,
        ..RangeRequest::default()
    })
}

/// A linearizable read of every key under `prefix`.
pub(crate) fn list(prefix: &[u8]) -> ClientRequest {
    ClientRequest::Range(RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        ..RangeRequest::default()
    })
}

/// A put.
pub(crate) fn put(key: Vec<u8>, value: Vec<u8>, lease: i64) -> PutRequest {
    PutRequest {
        key,
        value,
        lease,
        ..PutRequest::default()
    }
}

/// "The key's mod revision equals `revision`" (0: the key does not exist).
pub(crate) fn mod_equals(key: &[u8], revision: i64) -> Compare {
    Compare {
        result: CompareResult::Equal,
        target: CompareTarget::Mod,
        key: key.to_vec(),
        target_union: Some(TargetUnion::ModRevision(revision)),
        range_end: Vec::new(),
    }
}

/// Every run has one compactor (etcd robustness' compaction loop): every period it compacts
/// to a random revision between its last one and a few past the head, so that both the
/// "compacted" and the "future revision" errors come up.
pub(crate) fn compactor(rng: &mut Prng) -> Box<dyn Workload> {
    let period = crate::schedule::log_uniform(rng, 100 * NANOS_PER_MILLI, 5 * NANOS_PER_SECOND);
    Box::new(Compactor {
        period,
        next_at: period,
        last: 1,
    })
}

struct Compactor {
    period: u64,
    next_at: u64,
    last: i64,
}

impl Workload for Compactor {
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan {
        if cx.now < self.next_at {
            return Plan::Sleep(self.next_at - cx.now);
        }
        self.next_at = cx.now + self.period;
        let low = self.last.max(1) as u64;
        let high = (cx.head + 5).max(self.last + 1) as u64;
        let revision = cx.between(low, high + 1) as i64;
        Plan::Op(ClientRequest::Compact(CompactionRequest {
            revision,
            physical: true,
        }))
    }

    fn outcome(&mut self, cx: &mut Cx<'_>, request: &ClientRequest, end: &End<'_>, _: u64) {
        if let (ClientRequest::Compact(compact), End::Ok(_)) = (request, end) {
            self.last = self.last.max(compact.revision);
            cx.command(Command::Compacted);
        }
    }
}

/// The final probe: one put of a fresh value that must succeed once faults are over (etcd
/// robustness requires the last operation to succeed).
pub(crate) fn probe() -> Box<dyn Workload> {
    Box::new(Probe)
}

struct Probe;

impl Workload for Probe {
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan {
        let value = cx.value();
        Plan::Op(ClientRequest::Put(put(b"tombstone".to_vec(), value, 0)))
    }

    fn outcome(&mut self, _: &mut Cx<'_>, _: &ClientRequest, _: &End<'_>, _: u64) {}
}

/// The header revision of a successful answer.
pub(crate) fn revision_of(end: &End<'_>) -> Option<i64> {
    match end {
        End::Ok(response) => Some(response.header().revision),
        _ => None,
    }
}

/// The kvs of a successful range.
pub(crate) fn range_kvs<'a>(end: &End<'a>) -> Option<&'a [invar_mvcc::KeyValue]> {
    match end {
        End::Ok(ClientResponse::Range(range)) => Some(&range.kvs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"kv/"), b"kv0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
