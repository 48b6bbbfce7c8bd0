//! The etcd model's keyspace: every key's versions by revision (a small MVCC), and the execution
//! of requests against it, as etcd's apply does.

use std::collections::BTreeMap;

use crate::format::{Compare, CompareResult, CompareTarget, KeyValue, Request, Response};

/// The keyspace at every revision so far. The store starts empty at revision 1.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Invariant: each key's versions have strictly increasing revisions; `None` is a deletion.
    keys: BTreeMap<String, Vec<(i64, Option<KeyValue>)>>,
    /// Invariant: `changes[i]` lists the keys changed at revision `i + 2`, in key order.
    changes: Vec<Vec<String>>,
}

/// Whether `key` is in etcd's range `[start, end)` (`end` absent: just `start`; `"\0"`: no upper
/// bound).
#[must_use]
pub fn in_range(key: &str, start: &str, end: Option<&str>) -> bool {
    match end {
        None => key == start,
        Some("\0") => start == "\0" || key >= start,
        Some(end) => key >= start && key < end,
    }
}

impl Store {
    /// The current revision.
    #[must_use]
    pub fn revision(&self) -> i64 {
        self.changes.len() as i64 + 1
    }

    /// `key`'s kv at revision `rev`, if it existed then.
    #[must_use]
    pub fn get(&self, key: &str, rev: i64) -> Option<&KeyValue> {
        let versions = self.keys.get(key)?;
        let at = versions.partition_point(|(r, _)| *r <= rev);
        versions.get(at.checked_sub(1)?)?.1.as_ref()
    }

    /// Every live kv in the range at revision `rev`, in key order.
    #[must_use]
    pub fn range(&self, start: &str, end: Option<&str>, rev: i64) -> Vec<&KeyValue> {
        if end.is_none() {
            return self.get(start, rev).into_iter().collect();
        }
        let lower = if start == "\0" && end == Some("\0") {
            ""
        } else {
            start
        };
        self.keys
            .range::<str, _>((std::ops::Bound::Included(lower), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| in_range(k, start, end) || (start == "\0" && end == Some("\0")))
            .filter_map(|(k, _)| self.get(k, rev))
            .collect()
    }

    /// The keys changed at `rev`.
    #[must_use]
    pub fn changed_at(&self, rev: i64) -> &[String] {
        usize::try_from(rev - 2)
            .ok()
            .and_then(|i| self.changes.get(i))
            .map_or(&[], Vec::as_slice)
    }

    /// Applies one revision's changes (from [`Exec::into_changes`]).
    pub fn commit(&mut self, changes: BTreeMap<String, Option<KeyValue>>) {
        let rev = self.revision() + 1;
        let mut keys = Vec::with_capacity(changes.len());
        for (key, kv) in changes {
            let versions = self.keys.entry(key.clone()).or_default();
            assert!(
                versions.last().is_none_or(|(r, _)| *r < rev),
                "revisions only grow"
            );
            versions.push((rev, kv));
            keys.push(key);
        }
        self.changes.push(keys);
    }

    /// Undoes the last revision.
    pub fn rollback(&mut self) {
        let Some(keys) = self.changes.pop() else {
            return;
        };
        for key in keys {
            if let Some(versions) = self.keys.get_mut(&key) {
                versions.pop();
                if versions.is_empty() {
                    self.keys.remove(&key);
                }
            }
        }
    }
}

/// One request's execution at a revision: reads see the store at `base` plus this revision's
/// own earlier writes; writes would create revision `base + 1`.
pub struct Exec<'a> {
    store: &'a Store,
    base: i64,
    overlay: BTreeMap<String, Option<KeyValue>>,
}

impl<'a> Exec<'a> {
    /// An execution over the store at `base`.
    #[must_use]
    pub fn new(store: &'a Store, base: i64) -> Self {
        Self {
            store,
            base,
            overlay: BTreeMap::new(),
        }
    }

    /// The changes made, to [`Store::commit`]; empty when nothing changed.
    #[must_use]
    pub fn into_changes(self) -> BTreeMap<String, Option<KeyValue>> {
        self.overlay
    }

    fn get(&self, key: &str) -> Option<KeyValue> {
        match self.overlay.get(key) {
            Some(kv) => kv.clone(),
            None => self.store.get(key, self.base).cloned(),
        }
    }

    fn range(&self, start: &str, end: Option<&str>) -> Vec<KeyValue> {
        let mut merged: BTreeMap<String, KeyValue> = self
            .store
            .range(start, end, self.base)
            .into_iter()
            .map(|kv| (kv.key.clone(), kv.clone()))
            .collect();
        for (key, kv) in &self.overlay {
            if in_range(key, start, end) {
                match kv {
                    Some(kv) => merged.insert(key.clone(), kv.clone()),
                    None => merged.remove(key),
                };
            }
        }
        merged.into_values().collect()
    }

    /// Executes `request`, returning the response etcd would give (header revision left 0) or
    /// the error it would return.
    ///
    /// # Errors
    /// The etcd error string for a request that etcd rejects in this state.
    pub fn run(&mut self, request: &Request) -> Result<Response, String> {
        let new_rev = self.base + 1;
        match request {
            Request::Range {
                key,
                range_end,
                limit,
                keys_only,
                count_only,
                ..
            } => {
                let mut kvs = self.range(key, range_end.as_deref());
                let count = kvs.len() as i64;
                let more = *limit > 0 && count > *limit;
                if *limit > 0 {
                    kvs.truncate(usize::try_from(*limit).unwrap_or(usize::MAX));
                }
                if *keys_only {
                    kvs.iter_mut().for_each(|kv| kv.value.clear());
                }
                if *count_only {
                    kvs.clear();
                }
                Ok(Response {
                    kvs,
                    count: Some(count),
                    more,
                    ..Response::default()
                })
            }
            Request::Put {
                key,
                value,
                lease,
                prev_kv,
                ignore_value,
                ignore_lease,
            } => {
                let previous = self.get(key);
                if (*ignore_value || *ignore_lease) && previous.is_none() {
                    return Err("etcdserver: key not found".to_owned());
                }
                let old = previous.clone().unwrap_or_default();
                let kv = KeyValue {
                    key: key.clone(),
                    value: if *ignore_value {
                        old.value.clone()
                    } else {
                        value.clone()
                    },
                    create_revision: if previous.is_some() {
                        old.create_revision
                    } else {
                        new_rev
                    },
                    mod_revision: new_rev,
                    version: old.version + 1,
                    lease: if *ignore_lease { old.lease } else { *lease },
                };
                self.overlay.insert(key.clone(), Some(kv));
                let prev_kv = if *prev_kv { previous } else { None };
                Ok(Response {
                    prev_kv,
                    ..Response::default()
                })
            }
            Request::DeleteRange {
                key,
                range_end,
                prev_kv,
            } => {
                let doomed = self.range(key, range_end.as_deref());
                for kv in &doomed {
                    self.overlay.insert(kv.key.clone(), None);
                }
                let deleted = Some(doomed.len() as i64);
                let prev_kvs = if *prev_kv { doomed } else { Vec::new() };
                Ok(Response {
                    deleted,
                    prev_kvs,
                    ..Response::default()
                })
            }
            Request::Txn {
                compare,
                success,
                failure,
            } => {
                let succeeded = compare.iter().all(|c| self.holds(c));
                let branch = if succeeded { success } else { failure };
                let mut responses = Vec::with_capacity(branch.len());
                for op in branch {
                    responses.push(self.run(op)?);
                }
                Ok(Response {
                    succeeded: Some(succeeded),
                    responses,
                    ..Response::default()
                })
            }
            Request::LeaseRevoke { id } => {
                let all = self.range("\0", Some("\0"));
                for kv in all.iter().filter(|kv| kv.lease == *id) {
                    self.overlay.insert(kv.key.clone(), None);
                }
                Ok(Response::default())
            }
            Request::Compact { .. }
            | Request::LeaseGrant { .. }
            | Request::LeaseKeepAlive { .. }
            | Request::Defragment {} => Ok(Response::default()),
        }
    }

    fn holds(&self, compare: &Compare) -> bool {
        let kvs: Vec<Option<KeyValue>> = match &compare.range_end {
            None => vec![self.get(&compare.key)],
            Some(end) => self
                .range(&compare.key, Some(end))
                .into_iter()
                .map(Some)
                .collect(),
        };
        kvs.iter().all(|kv| compare_one(kv.as_ref(), compare))
    }
}

fn compare_one(kv: Option<&KeyValue>, compare: &Compare) -> bool {
    let zero = KeyValue::default();
    let actual = kv.unwrap_or(&zero);
    let ordering = match &compare.target {
        CompareTarget::Version(v) => actual.version.cmp(v),
        CompareTarget::CreateRevision(v) => actual.create_revision.cmp(v),
        CompareTarget::ModRevision(v) => actual.mod_revision.cmp(v),
        CompareTarget::Lease(v) => actual.lease.cmp(v),
        CompareTarget::Value(v) => match kv {
            None => return false,
            Some(kv) => kv.value.as_str().cmp(v.as_str()),
        },
    };
    match compare.result {
        CompareResult::Equal => ordering.is_eq(),
        CompareResult::NotEqual => ordering.is_ne(),
        CompareResult::Greater => ordering.is_gt(),
        CompareResult::Less => ordering.is_lt(),
    }
}

/// Compares a recorded response with the model's, field by field (the header revision is the
/// caller's business; fields the recording left out are not compared). Returns what differs.
#[must_use]
pub fn diff_response(expected: &Response, got: &Response) -> Option<String> {
    if expected.kvs != got.kvs {
        return Some(format!(
            "kvs {} expected {}",
            show_kvs(&got.kvs),
            show_kvs(&expected.kvs)
        ));
    }
    if got.count.is_some() && got.count != expected.count {
        return Some(format!(
            "count {:?} expected {:?}",
            got.count, expected.count
        ));
    }
    if got.more != expected.more {
        return Some(format!("more {} expected {}", got.more, expected.more));
    }
    if got.prev_kv.is_some() && got.prev_kv != expected.prev_kv {
        return Some(format!(
            "prev_kv {:?} expected {:?}",
            got.prev_kv, expected.prev_kv
        ));
    }
    if got.deleted.is_some() && got.deleted != expected.deleted {
        return Some(format!(
            "deleted {:?} expected {:?}",
            got.deleted, expected.deleted
        ));
    }
    if !got.prev_kvs.is_empty() && got.prev_kvs != expected.prev_kvs {
        return Some(format!(
            "prev_kvs {} expected {}",
            show_kvs(&got.prev_kvs),
            show_kvs(&expected.prev_kvs)
        ));
    }
    if got.succeeded.is_some() && got.succeeded != expected.succeeded {
        return Some(format!(
            "txn succeeded {:?} expected {:?}",
            got.succeeded, expected.succeeded
        ));
    }
    if !got.responses.is_empty() {
        if got.responses.len() != expected.responses.len() {
            return Some(format!(
                "txn has {} responses expected {}",
                got.responses.len(),
                expected.responses.len()
            ));
        }
        for (i, (e, g)) in expected.responses.iter().zip(&got.responses).enumerate() {
            if let Some(d) = diff_response(e, g) {
                return Some(format!("txn response {i}: {d}"));
            }
        }
    }
    None
}

fn show_kvs(kvs: &[KeyValue]) -> String {
    let items: Vec<String> = kvs
        .iter()
        .map(|kv| {
            format!(
                "{}={:?}@{}(c{} v{})",
                kv.key, kv.value, kv.mod_revision, kv.create_revision, kv.version
            )
        })
        .collect();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Request {
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
            prev_kv: true,
            ignore_value: false,
            ignore_lease: false,
        }
    }

    #[test]
    fn versions_and_revisions_follow_etcd() {
        let mut store = Store::default();
        let mut exec = Exec::new(&store, 1);
        exec.run(&put("a", "1")).unwrap();
        store.commit(exec.into_changes());
        let mut exec = Exec::new(&store, 2);
        let response = exec.run(&put("a", "2")).unwrap();
        assert_eq!(response.prev_kv.unwrap().value, "1");
        store.commit(exec.into_changes());
        let kv = store.get("a", 3).unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert_eq!(store.get("a", 2).unwrap().value, "1");
        assert!(store.get("a", 1).is_none());
        store.rollback();
        assert_eq!(store.revision(), 2);
        assert_eq!(store.get("a", 5).unwrap().value, "1");
    }

    #[test]
    fn ranges_follow_etcd_conventions() {
        let mut store = Store::default();
        let mut exec = Exec::new(&store, 1);
        for k in ["a", "b", "c"] {
            exec.run(&put(k, "x")).unwrap();
        }
        store.commit(exec.into_changes());
        assert_eq!(store.range("b", Some("\0"), 2).len(), 2);
        assert_eq!(store.range("\0", Some("\0"), 2).len(), 3);
        assert_eq!(store.range("a", Some("c"), 2).len(), 2);
        assert_eq!(store.range("b", None, 2).len(), 1);
    }
}
