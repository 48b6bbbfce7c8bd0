//! Sorting a history's operations for the etcd model: which wrote which revision, which only
//! read at a revision, which have unknown outcomes, and what later reads reveal about them.

use std::collections::BTreeMap;

use crate::format::{History, KeyValue, OpRecord, Request, Response};
use crate::probe_map::ProbeMap;

/// Errors after which etcd definitely did not apply the request.
const DEFINITE_ERRORS: &[&str] = &[
    "etcdserver: mvcc: required revision has been compacted",
    "etcdserver: mvcc: required revision is a future revision",
    "etcdserver: requested lease not found",
    "etcdserver: key not found",
    "etcdserver: duplicate key given in txn request",
    "etcdserver: too many operations in txn request",
    "etcdserver: value is provided",
    "etcdserver: lease is provided",
    "etcdserver: key is not provided",
    "etcdserver: lease already exists",
    "etcdserver: too large lease TTL",
    "etcdserver: invalid sort option",
    // Refused by the quota check before proposing (or, in Invar, applied as a no-op on every
    // member by the NOSPACE capped applier): the keyspace never changes.
    "etcdserver: mvcc: database space exceeded",
];

/// The compacted-revision error.
pub const ERR_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// How the etcd model treats one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Not linearized: defragment, keep-alive, failed reads, definite failures.
    Skip,
    /// Succeeded and wrote revision `rev` (its header revision).
    Writer {
        /// The revision it created.
        rev: i64,
    },
    /// Succeeded without writing; linearized at header revision `rev`.
    Reader {
        /// Its header revision.
        rev: i64,
    },
    /// A lease revoke that succeeded: it wrote `rev` iff it deleted keys.
    Revoke {
        /// Its header revision.
        rev: i64,
    },
    /// A serializable (stale) read: checked against the state at `rev`, not in real time.
    Stale {
        /// Its header revision.
        rev: i64,
    },
    /// A request that may have changed the keyspace, with an unknown outcome.
    Unknown,
}

/// Whether `error` means the request definitely had no effect.
#[must_use]
pub fn is_definite_error(error: &str) -> bool {
    DEFINITE_ERRORS.iter().any(|e| error.contains(e))
}

/// Classifies one operation.
#[must_use]
pub fn classify(op: &OpRecord) -> Class {
    match (&op.response, &op.error, op.return_time) {
        (Some(response), _, Some(_)) => classify_success(&op.request, response),
        (_, Some(error), Some(_)) if is_definite_error(error) => Class::Skip,
        _ if op.request.may_write() => Class::Unknown,
        _ => Class::Skip,
    }
}

fn classify_success(request: &Request, response: &Response) -> Class {
    let rev = response.revision;
    match request {
        Request::Range {
            serializable: true, ..
        } => Class::Stale { rev },
        Request::LeaseRevoke { .. } => Class::Revoke { rev },
        Request::Defragment {} | Request::LeaseKeepAlive { .. } => Class::Skip,
        _ if wrote(request, response) => Class::Writer { rev },
        _ => Class::Reader { rev },
    }
}

/// Whether a successful response says that the request changed the keyspace.
#[must_use]
pub fn wrote(request: &Request, response: &Response) -> bool {
    match request {
        Request::Put { .. } => true,
        Request::DeleteRange { .. } => {
            response.deleted.unwrap_or(response.prev_kvs.len() as i64) > 0
        }
        Request::Txn {
            success, failure, ..
        } => {
            let branch = if response.succeeded.unwrap_or(false) {
                success
            } else {
                failure
            };
            branch
                .iter()
                .enumerate()
                .any(|(i, sub)| match response.responses.get(i) {
                    Some(sub_response) => wrote(sub, sub_response),
                    None => matches!(sub, Request::Put { .. }),
                })
        }
        _ => false,
    }
}

/// Every kv that the history shows: read results, previous kvs, watch events.
#[must_use]
pub fn observed_kvs(history: &History) -> Vec<&KeyValue> {
    let mut out = response_kvs(history);
    for (_, r) in &history.watch_responses {
        for event in &r.events {
            if event.event_type == crate::format::EventType::Put {
                out.push(&event.kv);
            }
            out.extend(event.prev_kv.iter());
        }
    }
    out
}

/// Every kv that the operations' responses show: read results and previous kvs.
#[must_use]
pub fn response_kvs(history: &History) -> Vec<&KeyValue> {
    fn from_response<'a>(r: &'a Response, out: &mut Vec<&'a KeyValue>) {
        out.extend(r.kvs.iter());
        out.extend(r.prev_kv.iter());
        out.extend(r.prev_kvs.iter());
        for sub in &r.responses {
            from_response(sub, out);
        }
    }
    let mut out = Vec::new();
    for (_, op) in &history.ops {
        if let Some(r) = &op.response {
            from_response(r, &mut out);
        }
    }
    out
}

/// Every (key, value) that some put in `request` writes.
pub fn put_values<'a>(request: &'a Request, out: &mut Vec<(&'a str, &'a str)>) {
    match request {
        Request::Put {
            key,
            value,
            ignore_value: false,
            ..
        } => out.push((key, value)),
        Request::Txn {
            success, failure, ..
        } => {
            for sub in success.iter().chain(failure) {
                put_values(sub, out);
            }
        }
        _ => {}
    }
}

/// For each op index, the revisions at which reads and watches saw one of its unique put values.
#[must_use]
pub fn revealed_revisions(history: &History) -> BTreeMap<usize, Vec<(i64, &KeyValue)>> {
    // Only probed below, never iterated.
    let mut writers: ProbeMap<(&str, &str), Vec<usize>> =
        ProbeMap::with_capacity_and_hasher(history.ops.len(), Default::default());
    for (i, (_, op)) in history.ops.iter().enumerate() {
        let mut values = Vec::new();
        put_values(&op.request, &mut values);
        values.sort_unstable();
        values.dedup();
        for kv in values {
            writers.entry(kv).or_default().push(i);
        }
    }
    let mut seen: BTreeMap<usize, Vec<(i64, &KeyValue)>> = BTreeMap::new();
    // What is already in `seen`; only probed.
    let mut noted: ProbeMap<(usize, i64, &str, &str), ()> = ProbeMap::default();
    for kv in observed_kvs(history) {
        if let Some(ops) = writers.get(&(kv.key.as_str(), kv.value.as_str()))
            && ops.len() == 1
            && noted
                .insert((ops[0], kv.mod_revision, &kv.key, &kv.value), ())
                .is_none()
        {
            let entry = seen.entry(ops[0]).or_default();
            entry.push((kv.mod_revision, kv));
        }
    }
    seen
}

/// Every key that some put in `request` writes with `ignore_value` (keeping the old value).
pub fn ignore_value_keys<'a>(request: &'a Request, out: &mut std::collections::BTreeSet<&'a str>) {
    match request {
        Request::Put {
            key,
            ignore_value: true,
            ..
        } => {
            out.insert(key);
        }
        Request::Txn {
            success, failure, ..
        } => {
            for sub in success.iter().chain(failure) {
                ignore_value_keys(sub, out);
            }
        }
        _ => {}
    }
}
