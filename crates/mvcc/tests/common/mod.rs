//! A deliberately simple reference model of the store (one full `BTreeMap` state per revision,
//! no redb, no index) and a seeded generator of random requests, shared by the model-based and
//! crash tests.

#![allow(dead_code)]

mod generate;

use std::collections::BTreeMap;

use invar_mvcc::{
    CompactionRequest, CompactionResponse, Compare, CompareResult, CompareTarget, Config,
    DeleteRangeRequest, DeleteRangeResponse, Event, EventType, HashKvResponse, KeyRange, KeyValue,
    LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, MvccError,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp,
    SortOrder, SortTarget, TargetUnion, TxnRequest, TxnResponse, hash_record,
};

/// A tiny deterministic PRNG (SplitMix64) so the tests need no dependency and replay by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One request of a random sequence.
#[derive(Clone, Debug)]
pub enum Op {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Range(RangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
    Grant(LeaseGrantRequest),
    Revoke(LeaseRevokeRequest),
    Hash(i64),
}

/// A response (or the error's text) of either implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Put(PutResponse),
    Delete(DeleteRangeResponse),
    Range(RangeResponse),
    Txn(TxnResponse),
    Compact(CompactionResponse),
    Grant(LeaseGrantResponse),
    Revoke(LeaseRevokeResponse),
    Hash(HashKvResponse),
    Error(String),
}

type Change = (KeyValue, bool);
type State = BTreeMap<Vec<u8>, KeyValue>;

/// The reference model.
#[derive(Clone, Debug)]
pub struct Model {
    /// `states[r]`: every live key after revision `r`. A fresh store is at revision 1, as in
    /// etcd, so `states[0]` and `states[1]` are both empty (`states[0]` is never read: a read
    /// at revision `<= 0` means the current one).
    pub states: Vec<State>,
    /// `changes[r]`: the records revision `r` wrote, in sub-revision order (tombstone kvs hold
    /// only the key). `changes[0]` and `changes[1]` are empty.
    pub changes: Vec<Vec<Change>>,
    pub compact: i64,
    /// Lease ID → (granted TTL, granted-at revision).
    pub leases: BTreeMap<i64, (i64, i64)>,
    pub config: Config,
}

fn err(error: MvccError) -> Outcome {
    Outcome::Error(error.to_string())
}

fn keys_in<'a>(
    state: &'a State,
    key: &'a [u8],
    end: &'a [u8],
) -> impl Iterator<Item = &'a KeyValue> {
    let range = KeyRange::new(key, end);
    state.values().filter(move |kv| range.contains(&kv.key))
}

/// The writes of one request in progress.
struct Work {
    state: State,
    changes: Vec<Change>,
    begin: i64,
}

impl Work {
    fn view(&self) -> i64 {
        self.begin + i64::from(!self.changes.is_empty())
    }
}

impl Model {
    pub fn new(config: Config) -> Self {
        Model {
            states: vec![State::new(), State::new()],
            changes: vec![Vec::new(), Vec::new()],
            compact: -1,
            leases: BTreeMap::new(),
            config,
        }
    }

    /// Every live key, in key order.
    pub fn clone_range_all(&self) -> Vec<KeyValue> {
        self.current().values().cloned().collect()
    }

    pub fn revision(&self) -> i64 {
        self.states.len() as i64 - 1
    }

    fn current(&self) -> &State {
        self.states.last().expect("states[1] exists")
    }

    pub fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Put(req) => self.put(req),
            Op::Delete(req) => self.delete(req),
            Op::Range(req) => self.range_request(req),
            Op::Txn(req) => self.txn(req),
            Op::Compact(req) => self.compact(req),
            Op::Grant(req) => self.grant(req),
            Op::Revoke(req) => self.revoke(req),
            Op::Hash(revision) => self.hash(*revision),
        }
    }

    /// The events the last revision produced (what `Applied::events` must hold).
    pub fn events_of(&self, revision: i64) -> Vec<Event> {
        self.changes[revision as usize]
            .iter()
            .map(|(kv, tombstone)| {
                if *tombstone {
                    let kv = KeyValue {
                        key: kv.key.clone(),
                        mod_revision: revision,
                        ..Default::default()
                    };
                    Event {
                        r#type: EventType::Delete,
                        kv,
                        prev_kv: None,
                    }
                } else {
                    Event {
                        r#type: EventType::Put,
                        kv: kv.clone(),
                        prev_kv: None,
                    }
                }
            })
            .collect()
    }

    fn range(&self, work: Option<&Work>, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        if req.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        let view = work.map_or(self.revision(), Work::view);
        if req.revision > view {
            return Err(MvccError::FutureRevision);
        }
        let at = if req.revision <= 0 {
            view
        } else {
            req.revision
        };
        if at < self.compact {
            return Err(MvccError::Compacted);
        }
        let state = match work {
            Some(work) if at == view => &work.state,
            _ => &self.states[at as usize],
        };
        let all: Vec<KeyValue> = keys_in(state, &req.key, &req.range_end).cloned().collect();
        let header = ResponseHeader {
            revision: view,
            ..Default::default()
        };
        let count = all.len() as i64;
        if req.count_only {
            return Ok(RangeResponse {
                header,
                kvs: vec![],
                more: false,
                count,
            });
        }
        // etcd's quirk: with sort order NONE (even if the target is not KEY) and no filters,
        // only the first limit + 1 keys are fetched before sorting.
        let mut all = all;
        let no_filters = req.min_mod_revision == 0
            && req.max_mod_revision == 0
            && req.min_create_revision == 0
            && req.max_create_revision == 0;
        if req.sort_order == SortOrder::None && no_filters && req.limit > 0 {
            all.truncate(req.limit as usize + 1);
        }
        let mut kvs: Vec<KeyValue> = all
            .into_iter()
            .filter(|kv| req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
            .filter(|kv| req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
            .filter(|kv| {
                req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision
            })
            .filter(|kv| {
                req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision
            })
            .collect();
        let target = |kv: &KeyValue| -> (Vec<u8>, i64) {
            match req.sort_target {
                SortTarget::Key => (kv.key.clone(), 0),
                SortTarget::Version => (vec![], kv.version),
                SortTarget::Create => (vec![], kv.create_revision),
                SortTarget::Mod => (vec![], kv.mod_revision),
                SortTarget::Value => (kv.value.clone(), 0),
            }
        };
        let order = if req.sort_order == SortOrder::None && req.sort_target != SortTarget::Key {
            SortOrder::Ascend
        } else {
            req.sort_order
        };
        match order {
            SortOrder::None => {}
            SortOrder::Ascend => kvs.sort_by_key(|kv| target(kv)),
            SortOrder::Descend => kvs.sort_by_key(|kv| std::cmp::Reverse(target(kv))),
        }
        let mut more = false;
        if req.limit > 0 && kvs.len() as i64 > req.limit {
            kvs.truncate(req.limit as usize);
            more = true;
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse {
            header,
            kvs,
            more,
            count,
        })
    }

    fn range_request(&self, req: &RangeRequest) -> Outcome {
        self.range(None, req).map_or_else(err, Outcome::Range)
    }

    fn check_put(&self, req: &PutRequest) -> Result<(), MvccError> {
        if req.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        if req.ignore_value && !req.value.is_empty() {
            return Err(MvccError::ValueProvided);
        }
        if req.ignore_lease && req.lease != 0 {
            return Err(MvccError::LeaseProvided);
        }
        Ok(())
    }

    fn work(&self) -> Work {
        Work {
            state: self.current().clone(),
            changes: vec![],
            begin: self.revision(),
        }
    }

    fn commit(&mut self, work: Work) {
        if !work.changes.is_empty() {
            self.states.push(work.state);
            self.changes.push(work.changes);
        }
    }

    fn do_put(&self, work: &mut Work, req: &PutRequest) -> Result<PutResponse, MvccError> {
        let rev = work.begin + 1;
        let prev = work.state.get(&req.key).cloned();
        if (req.ignore_value || req.ignore_lease) && prev.is_none() {
            // etcd panics on this; Invar fails the txn with no effect.
            return Err(MvccError::KeyNotFound);
        }
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            value: if req.ignore_value {
                prev.as_ref().map(|p| p.value.clone()).unwrap_or_default()
            } else {
                req.value.clone()
            },
            lease: if req.ignore_lease {
                prev.as_ref().map_or(0, |p| p.lease)
            } else {
                req.lease
            },
        };
        work.state.insert(req.key.clone(), kv.clone());
        work.changes.push((kv, false));
        Ok(PutResponse {
            header: ResponseHeader {
                revision: rev,
                ..Default::default()
            },
            prev_kv: if req.prev_kv { prev } else { None },
        })
    }

    fn do_delete(&self, work: &mut Work, req: &DeleteRangeRequest) -> DeleteRangeResponse {
        let keys: Vec<KeyValue> = keys_in(&work.state, &req.key, &req.range_end)
            .cloned()
            .collect();
        for kv in &keys {
            work.state.remove(&kv.key);
            work.changes.push((
                KeyValue {
                    key: kv.key.clone(),
                    ..Default::default()
                },
                true,
            ));
        }
        let revision = work.view();
        DeleteRangeResponse {
            header: ResponseHeader {
                revision,
                ..Default::default()
            },
            deleted: keys.len() as i64,
            prev_kvs: if req.prev_kv { keys } else { vec![] },
        }
    }

    fn put(&mut self, req: &PutRequest) -> Outcome {
        if let Err(e) = self.check_put(req) {
            return err(e);
        }
        if req.lease != 0 && !self.leases.contains_key(&req.lease) {
            return err(MvccError::LeaseNotFound);
        }
        if (req.ignore_value || req.ignore_lease) && !self.current().contains_key(&req.key) {
            return err(MvccError::KeyNotFound);
        }
        let mut work = self.work();
        let response = self.do_put(&mut work, req).expect("checked");
        self.commit(work);
        Outcome::Put(response)
    }

    fn delete(&mut self, req: &DeleteRangeRequest) -> Outcome {
        if req.key.is_empty() {
            return err(MvccError::EmptyKey);
        }
        let mut work = self.work();
        let response = self.do_delete(&mut work, req);
        self.commit(work);
        Outcome::Delete(response)
    }

    fn compare(&self, c: &Compare) -> bool {
        let kvs: Vec<&KeyValue> = keys_in(self.current(), &c.key, &c.range_end).collect();
        let zero = KeyValue::default();
        if kvs.is_empty() && c.target == CompareTarget::Value {
            return false;
        }
        let kvs = if kvs.is_empty() { vec![&zero] } else { kvs };
        kvs.iter().all(|kv| {
            let ord = match (c.target, &c.target_union) {
                (CompareTarget::Value, Some(TargetUnion::Value(v))) => kv.value.cmp(v),
                (CompareTarget::Value, _) => kv.value.as_slice().cmp(&[][..]),
                (CompareTarget::Version, Some(TargetUnion::Version(v))) => kv.version.cmp(v),
                (CompareTarget::Version, _) => kv.version.cmp(&0),
                (CompareTarget::Create, Some(TargetUnion::CreateRevision(v))) => {
                    kv.create_revision.cmp(v)
                }
                (CompareTarget::Create, _) => kv.create_revision.cmp(&0),
                (CompareTarget::Mod, Some(TargetUnion::ModRevision(v))) => kv.mod_revision.cmp(v),
                (CompareTarget::Mod, _) => kv.mod_revision.cmp(&0),
                (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => kv.lease.cmp(v),
                (CompareTarget::Lease, _) => kv.lease.cmp(&0),
            };
            match c.result {
                CompareResult::Equal => ord.is_eq(),
                CompareResult::NotEqual => ord.is_ne(),
                CompareResult::Greater => ord.is_gt(),
                CompareResult::Less => ord.is_lt(),
            }
        })
    }

    fn branch<'r>(&self, req: &'r TxnRequest) -> (bool, &'r [RequestOp]) {
        let ok = req.compare.iter().all(|c| self.compare(c));
        (ok, if ok { &req.success } else { &req.failure })
    }

    /// etcd's `checkTxn`: the chosen path, op by op.
    fn check_path(&self, req: &TxnRequest) -> Result<(), MvccError> {
        let (_, ops) = self.branch(req);
        for op in ops {
            match op {
                RequestOp::Put(p) => {
                    if (p.ignore_value || p.ignore_lease) && !self.current().contains_key(&p.key) {
                        return Err(MvccError::KeyNotFound);
                    }
                    if p.lease != 0 && !self.leases.contains_key(&p.lease) {
                        return Err(MvccError::LeaseNotFound);
                    }
                }
                RequestOp::Range(r) if r.revision != 0 => {
                    if r.revision > self.revision() {
                        return Err(MvccError::FutureRevision);
                    }
                    if r.revision < self.compact {
                        return Err(MvccError::Compacted);
                    }
                }
                RequestOp::Txn(t) => self.check_path(t)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn run(&self, work: &mut Work, req: &TxnRequest) -> Result<TxnResponse, MvccError> {
        let (succeeded, ops) = self.branch(req);
        let mut responses = Vec::new();
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) => {
                    ResponseOp::Range(self.range(Some(work), r).expect("checked"))
                }
                RequestOp::Put(p) => ResponseOp::Put(self.do_put(work, p)?),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.do_delete(work, d)),
                RequestOp::Txn(t) => ResponseOp::Txn(self.run(work, t)?),
            });
        }
        Ok(TxnResponse {
            header: ResponseHeader::default(),
            succeeded,
            responses,
        })
    }

    fn txn(&mut self, req: &TxnRequest) -> Outcome {
        if let Err(e) = invar_mvcc::validate::check_txn(req, self.config.txn_ops_max) {
            return err(e);
        }
        if let Err(e) = self.check_path(req) {
            return err(e);
        }
        let mut work = self.work();
        let mut response = match self.run(&mut work, req) {
            Ok(response) => response,
            Err(e) => return err(e),
        };
        response.header.revision = work.view();
        self.commit(work);
        Outcome::Txn(response)
    }

    fn compact(&mut self, req: &CompactionRequest) -> Outcome {
        if req.revision <= self.compact {
            return err(MvccError::Compacted);
        }
        if req.revision > self.revision() {
            return err(MvccError::FutureRevision);
        }
        self.compact = req.revision;
        Outcome::Compact(CompactionResponse {
            header: ResponseHeader {
                revision: self.revision(),
                ..Default::default()
            },
        })
    }

    fn grant(&mut self, req: &LeaseGrantRequest) -> Outcome {
        if req.id == 0 {
            return err(MvccError::LeaseNotFound);
        }
        if req.ttl > invar_mvcc::LEASE_TTL_SECONDS_MAX {
            return err(MvccError::LeaseTtlTooLarge);
        }
        if self.leases.contains_key(&req.id) {
            return err(MvccError::LeaseExists);
        }
        let ttl = req.ttl.max(self.config.lease_ttl_seconds_min);
        self.leases.insert(req.id, (ttl, self.revision()));
        Outcome::Grant(LeaseGrantResponse {
            header: ResponseHeader {
                revision: self.revision(),
                ..Default::default()
            },
            id: req.id,
            ttl,
            error: String::new(),
        })
    }

    /// Keys attached to a lease: the live keys carrying it.
    pub fn lease_keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.current()
            .values()
            .filter(|kv| kv.lease == id)
            .map(|kv| kv.key.clone())
            .collect()
    }

    fn revoke(&mut self, req: &LeaseRevokeRequest) -> Outcome {
        if self.leases.remove(&req.id).is_none() {
            return err(MvccError::LeaseNotFound);
        }
        let mut work = self.work();
        for key in self.lease_keys(req.id) {
            self.do_delete(
                &mut work,
                &DeleteRangeRequest {
                    key,
                    ..Default::default()
                },
            );
        }
        self.commit(work);
        Outcome::Revoke(LeaseRevokeResponse {
            header: ResponseHeader {
                revision: self.revision(),
                ..Default::default()
            },
        })
    }

    /// Every stored event from the compact revision (or 1) to the current one: compaction at C
    /// removes nothing at or above C (a delete at exactly C included), so that is the whole
    /// history from C on.
    pub fn stored_events(&self) -> Vec<Event> {
        (self.compact.max(1)..=self.revision())
            .flat_map(|r| self.events_of(r))
            .collect()
    }

    /// The hash over every record above the compact revision and, at or below it, each key's
    /// latest record if that is not a delete (etcd's `keep` map). Compaction stores more at
    /// the compact revision itself (a delete there, for watchers), but does not hash it.
    fn hash(&self, revision: i64) -> Outcome {
        if revision > 0 && revision < self.compact {
            return err(MvccError::Compacted);
        }
        if revision > 0 && revision > self.revision() {
            return err(MvccError::FutureRevision);
        }
        let upto = if revision == 0 {
            self.revision()
        } else {
            revision
        };
        let mut hash = 0;
        for r in 1..=upto.max(0) {
            for (sub, (kv, tombstone)) in self.changes[r as usize].iter().enumerate() {
                let hashed = r > self.compact
                    || (!tombstone
                        && self.states[self.compact as usize]
                            .get(&kv.key)
                            .is_some_and(|live| live.mod_revision == r));
                if hashed {
                    hash = hash_record(hash, r, sub as i64, kv, *tombstone);
                }
            }
        }
        Outcome::Hash(HashKvResponse {
            header: ResponseHeader {
                revision: self.revision(),
                ..Default::default()
            },
            hash,
            compact_revision: self.compact,
            hash_revision: upto,
        })
    }
}

/// Applies `op` to the store as raft entry `index`; returns the outcome and the events.
pub fn apply_store(store: &mut invar_mvcc::Store, index: u64, op: &Op) -> (Outcome, Vec<Event>) {
    fn split<T>(
        result: invar_mvcc::Result<invar_mvcc::Applied<T>>,
        wrap: fn(T) -> Outcome,
    ) -> (Outcome, Vec<Event>) {
        match result {
            Ok(applied) => (wrap(applied.response), applied.events),
            Err(e) => (err(e), vec![]),
        }
    }
    match op {
        Op::Put(req) => split(store.put(index, req), Outcome::Put),
        Op::Delete(req) => split(store.delete_range(index, req), Outcome::Delete),
        Op::Range(req) => {
            store.skip(index).expect("skip");
            (store.range(req).map_or_else(err, Outcome::Range), vec![])
        }
        Op::Txn(req) => split(store.txn(index, req), Outcome::Txn),
        Op::Compact(req) => split(store.compact(index, req), Outcome::Compact),
        Op::Grant(req) => (
            store
                .lease_grant(index, req)
                .map_or_else(err, Outcome::Grant),
            vec![],
        ),
        Op::Revoke(req) => split(store.lease_revoke(index, req), Outcome::Revoke),
        Op::Hash(revision) => {
            store.skip(index).expect("skip");
            let req = invar_mvcc::HashKvRequest {
                revision: *revision,
            };
            (store.hash_kv(&req).map_or_else(err, Outcome::Hash), vec![])
        }
    }
}

/// Compares everything observable of the store's latest state with the model's.
pub fn assert_same_state(store: &invar_mvcc::Store, model: &Model, context: &str) {
    assert_eq!(store.revision(), model.revision(), "{context}: revision");
    assert_eq!(
        store.compact_revision(),
        model.compact,
        "{context}: compact revision"
    );
    let all = RangeRequest {
        key: vec![0],
        range_end: vec![0],
        ..Default::default()
    };
    let expected = model.range(None, &all).map_err(|e| e.to_string());
    assert_eq!(
        store.range(&all).map_err(|e| e.to_string()),
        expected,
        "{context}: all keys"
    );
    for id in 1..4 {
        assert_eq!(
            store.lease_keys(id),
            model.lease_keys(id),
            "{context}: lease {id} keys"
        );
        let granted = model.leases.get(&id).map(|(_, rev)| *rev);
        assert_eq!(
            store.lease_granted_revision(id),
            granted,
            "{context}: lease {id}"
        );
    }
    assert_eq!(
        store
            .events(model.compact.max(1), store.revision())
            .map_err(|e| e.to_string()),
        Ok(model.stored_events()),
        "{context}: stored history"
    );
    store
        .check_invariants()
        .unwrap_or_else(|e| panic!("{context}: {e}"));
}
