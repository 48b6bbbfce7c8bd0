//! The etcd model checker: linearizability of a history whose responses carry revisions.
//!
//! etcd numbers every change of its keyspace with a revision, and every response carries the
//! revision it was served at. The checker uses that as a fast path instead of searching:
//! 1. each successful write claims the revision in its header; two claims on one revision are a
//!    violation;
//! 2. a write with an unknown outcome is placed where a read or watch event reveals it (it put a
//!    value no other operation puts, and some kv shows that value with its mod revision); a
//!    revision that no operation claims must be filled by an unrevealed unknown write, and the
//!    checker branches over the candidates (depth first, bounded by the budget);
//! 3. the writes are replayed in revision order on a model keyspace ([`store::Store`]), checking
//!    each write's response against the model and each read (and non-writing txn) against the
//!    state at its header revision (or at its `revision` option);
//! 4. real-time order: an operation that started after another returned must not be linearized
//!    before it (writes at `(rev, 0)`, reads at `(rev, 1)`), one sort and sweep;
//! 5. compaction: a read below a compaction that finished before it started must fail.
//!
//! Serializable reads are checked against the state at their header revision, outside real
//! time. The whole is near-linear in the history when nothing is unknown.

pub mod classify;
mod hidden;
mod precheck;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use classify::{Class, ERR_COMPACTED, classify, revealed_revisions};
use store::Store;

use crate::budget::Budget;
use crate::format::{EventType, History, OpRecord, Request};
use crate::probe_map::ProbeMap;
use crate::verdict::{Verdict, Violation};

/// What the etcd checker found.
#[derive(Debug, Clone)]
pub struct EtcdOutcome {
    /// The verdict on linearizability (watches are judged by [`crate::watch`]).
    pub verdict: Verdict,
    /// Operations (indices into `history.ops`) in linearization order, as far as it got.
    pub linearized: Vec<usize>,
    /// The operation where it failed, if any.
    pub failed_op: Option<usize>,
    /// The replayed keyspace, when the history is linearizable: the watch checker's reference.
    pub store: Option<Store>,
}

/// The linearization key of an operation: writes at `(rev, 0)`, reads at `(rev, 1)`.
type Key = (i64, u8);

/// Checks `history`'s operations against the etcd model.
#[must_use]
pub fn check_etcd(history: &History, budget: &mut Budget<'_>) -> EtcdOutcome {
    let ops: Vec<&OpRecord> = history.ops.iter().map(|(_, op)| op).collect();
    let lines: Vec<u64> = history.ops.iter().map(|(l, _)| *l).collect();
    let mut ctx = Context::new(&ops, &lines);
    ctx.spans = WatchSpan::of(history);
    for (_, response) in &history.watch_responses {
        for event in &response.events {
            let value = match event.event_type {
                EventType::Put => Some(event.kv.clone()),
                EventType::Delete => None,
            };
            let seen = ctx.watched.entry(event.kv.mod_revision).or_default();
            seen.push((event.kv.key.clone(), value));
            if let Some(prev) = &event.prev_kv {
                let before = ctx.watched_prev.entry(event.kv.mod_revision).or_default();
                before.push((event.kv.key.clone(), prev.clone()));
            }
        }
    }
    let result = ctx
        .claim_revisions()
        .and_then(|()| ctx.reveal_unknown(history))
        .and_then(|()| ctx.place_revokes_and_readers())
        .and_then(|()| ctx.check_real_time())
        .and_then(|()| ctx.check_compaction())
        .and_then(|()| ctx.check_provenance(history))
        .and_then(|()| ctx.check_stale_reads());
    if let Err(v) = result {
        return ctx.failure(v);
    }
    ctx.max_rev = ctx.max_rev.max(max_observed_revision(history));
    if let Err(v) = ctx.check_revision_bounds() {
        return ctx.failure(v);
    }
    let hidden = hidden::Hidden::new(&ctx, history);
    let strict = ctx.replay(budget, true, &hidden);
    if strict.verdict.is_violation() && (!ctx.watched.is_empty() || !ctx.spans.is_empty()) {
        return ctx.replay(budget, false, &hidden);
    }
    strict
}

fn max_observed_revision(history: &History) -> i64 {
    let mut max = 1;
    for kv in classify::observed_kvs(history) {
        max = max.max(kv.mod_revision);
    }
    for (_, r) in &history.watch_responses {
        // A header (or progress) revision says the store reached it.
        max = max.max(r.revision);
        for e in &r.events {
            max = max.max(e.kv.mod_revision);
        }
    }
    max
}

struct Context<'a> {
    ops: &'a [&'a OpRecord],
    lines: &'a [u64],
    classes: Vec<Class>,
    /// Whether the client never learned the outcome (it may take effect after it "returned").
    uncertain: Vec<bool>,
    /// Invariant: each revision has at most one writer.
    writers: BTreeMap<i64, usize>,
    /// Operations checked at each header revision, after its writer.
    readers: BTreeMap<i64, Vec<usize>>,
    /// Unknown-outcome writes not placed by any observation, in invoke order.
    candidates: Vec<usize>,
    max_rev: i64,
    linearized: Vec<usize>,
    /// The changes watch events show at each revision: (key, kv or `None` for a delete). In the
    /// strict pass the replay must agree with them; the loose pass ignores them (so that a watch
    /// that lies is reported by the watch checker, not as a linearizability violation).
    watched: BTreeMap<i64, Vec<(String, Option<crate::format::KeyValue>)>>,
    /// The prev_kvs watch events show at each revision: (key, kv just before that revision). In
    /// the strict pass the replay's state before the revision must agree with them.
    watched_prev: BTreeMap<i64, Vec<(String, crate::format::KeyValue)>>,
    /// Revisions that successful revokes name and no other write claims: one of them may have
    /// written it (by deleting keys), the others deleted nothing; by invoke time.
    revoke_groups: BTreeMap<i64, Vec<usize>>,
    /// What each watch saw completely: in the strict pass, a change the replay makes in a
    /// watch's range and span must be among that watch's events (its silence is an
    /// observation too).
    spans: Vec<WatchSpan>,
}

/// The revisions a watch covered without a gap (from its first expected revision to the last
/// it observed), its range and filters, and the (revision, key) of each event it got.
#[derive(Debug)]
struct WatchSpan {
    first: i64,
    last: i64,
    key: String,
    range_end: Option<String>,
    no_put: bool,
    no_delete: bool,
    seen: std::collections::BTreeSet<(i64, String)>,
}

impl WatchSpan {
    /// The spans of every watch in `history` (a canceled one covers nothing past its last
    /// observation; one with nothing observed covers nothing).
    fn of(history: &History) -> Vec<WatchSpan> {
        let mut by_watch: BTreeMap<u64, Vec<&crate::format::WatchResponseRecord>> = BTreeMap::new();
        for (_, response) in &history.watch_responses {
            by_watch.entry(response.watch).or_default().push(response);
        }
        let mut spans = Vec::new();
        for (_, watch) in &history.watches {
            let responses = by_watch.get(&watch.watch).map_or(&[][..], Vec::as_slice);
            let created = responses.iter().find(|r| r.created).map(|r| r.revision);
            let first_progress = responses
                .iter()
                .find(|r| r.progress_notify && !r.created)
                .map(|r| r.revision);
            let mut seen = std::collections::BTreeSet::new();
            let mut last = 0;
            for response in responses {
                if response.progress_notify && !response.created {
                    last = last.max(response.revision);
                }
                for event in &response.events {
                    last = last.max(event.kv.mod_revision);
                    seen.insert((event.kv.mod_revision, event.kv.key.clone()));
                }
            }
            let first = if watch.start_revision > 0 {
                watch.start_revision
            } else if let Some(c) = created {
                c + 1
            } else if let Some(p) = first_progress {
                p + 1
            } else {
                seen.first().map_or(i64::MAX, |(r, _)| *r)
            };
            if first > last {
                continue;
            }
            let start = if watch.key.is_empty() {
                "\0".to_owned()
            } else {
                watch.key.clone()
            };
            spans.push(WatchSpan {
                first,
                last,
                key: start,
                range_end: watch.range_end.clone(),
                no_put: watch.filters.contains(&crate::format::WatchFilter::NoPut),
                no_delete: watch
                    .filters
                    .contains(&crate::format::WatchFilter::NoDelete),
                seen,
            });
        }
        spans
    }

    /// Whether this watch should have reported a change of `key` (a put when `put`) at `rev`.
    fn expects(&self, rev: i64, key: &str, put: bool) -> bool {
        let filtered = if put { self.no_put } else { self.no_delete };
        (self.first..=self.last).contains(&rev)
            && !filtered
            && store::in_range(key, &self.key, self.range_end.as_deref())
    }
}

impl<'a> Context<'a> {
    fn new(ops: &'a [&'a OpRecord], lines: &'a [u64]) -> Self {
        let classes: Vec<Class> = ops.iter().map(|op| classify(op)).collect();
        let uncertain = classes.iter().map(|c| *c == Class::Unknown).collect();
        Self {
            ops,
            lines,
            classes,
            uncertain,
            writers: BTreeMap::new(),
            readers: BTreeMap::new(),
            candidates: Vec::new(),
            max_rev: 1,
            linearized: Vec::new(),
            watched: BTreeMap::new(),
            watched_prev: BTreeMap::new(),
            spans: Vec::new(),
            revoke_groups: BTreeMap::new(),
        }
    }

    fn describe(&self, i: usize) -> String {
        let op = self.ops[i];
        let name = match &op.request {
            Request::Range { key, .. } => format!("range {key:?}"),
            Request::Put { key, value, .. } => format!("put {key:?}={value:?}"),
            Request::DeleteRange { key, .. } => format!("delete {key:?}"),
            Request::Txn { .. } => "txn".to_owned(),
            Request::Compact { revision, .. } => format!("compact {revision}"),
            Request::LeaseGrant { .. } => "lease grant".to_owned(),
            Request::LeaseRevoke { id } => format!("lease revoke {id}"),
            Request::LeaseKeepAlive { id } => format!("lease keep-alive {id}"),
            Request::Defragment {} => "defragment".to_owned(),
        };
        format!("client {} {name} (line {})", op.client, self.lines[i])
    }

    fn violation(&self, i: usize, what: String) -> Violation {
        Violation::new(
            "linearizability",
            format!("{}: {what}", self.describe(i)),
            Some(i),
        )
    }

    /// A violation outcome. When it was found before the replay (claims, real time), the prefix
    /// shown is every operation ordered below the failing one.
    fn failure(&self, v: Violation) -> EtcdOutcome {
        let failed_op = v.op;
        let mut linearized = self.linearized.clone();
        if linearized.is_empty()
            && let Some(limit) = failed_op.and_then(|i| self.key_of(i))
        {
            let mut below: Vec<(Key, usize)> = (0..self.ops.len())
                .filter_map(|j| self.key_of(j).map(|k| (k, j)))
                .filter(|&(k, j)| k < limit && Some(j) != failed_op)
                .collect();
            below.sort_unstable();
            linearized = below.into_iter().map(|(_, j)| j).collect();
        }
        EtcdOutcome {
            verdict: Verdict::Violation(v),
            linearized,
            failed_op,
            store: None,
        }
    }

    fn claim(&mut self, rev: i64, i: usize) -> Result<(), Violation> {
        if rev < 2 {
            return Err(self.violation(
                i,
                format!("a write at revision {rev} (the first write is 2)"),
            ));
        }
        if let Some(&other) = self.writers.get(&rev) {
            let what = format!(
                "claims revision {rev}, already written by {}",
                self.describe(other)
            );
            return Err(self.violation(i, what));
        }
        self.writers.insert(rev, i);
        self.max_rev = self.max_rev.max(rev);
        Ok(())
    }

    fn claim_revisions(&mut self) -> Result<(), Violation> {
        for i in 0..self.ops.len() {
            match self.classes[i] {
                Class::Writer { rev } => self.claim(rev, i)?,
                Class::Reader { rev } | Class::Stale { rev } | Class::Revoke { rev } => {
                    self.max_rev = self.max_rev.max(rev);
                }
                Class::Skip | Class::Unknown => {}
            }
        }
        Ok(())
    }

    /// After the unknown writes that observations reveal have claimed their revisions,
    /// readers are filed by revision. A successful revoke is a reader at its header revision
    /// unless it deleted keys, which only the replay knows: at a revision no write claims,
    /// the replay first tries the revokes that name it (see `revoke_groups`).
    fn place_revokes_and_readers(&mut self) -> Result<(), Violation> {
        for i in 0..self.ops.len() {
            match self.classes[i] {
                Class::Revoke { rev } => {
                    self.readers.entry(rev).or_default().push(i);
                    if rev >= 2 && !self.writers.contains_key(&rev) {
                        self.revoke_groups.entry(rev).or_default().push(i);
                    }
                }
                Class::Reader { rev } | Class::Stale { rev } => {
                    self.readers.entry(rev).or_default().push(i);
                }
                _ => {}
            }
        }
        for group in self.revoke_groups.values_mut() {
            group.sort_by_key(|&i| (self.ops[i].invoke, i));
        }
        Ok(())
    }

    fn reveal_unknown(&mut self, history: &History) -> Result<(), Violation> {
        let shown = |kv: &crate::format::KeyValue| format!("{}={:?}", kv.key, kv.value);
        for (i, seen) in revealed_revisions(history) {
            let claimed = match self.classes[i] {
                Class::Writer { rev } => Some(rev),
                _ => None,
            };
            let first = claimed.or_else(|| seen.first().map(|(r, _)| *r));
            let Some(rev) = first else { continue };
            if seen.iter().any(|(r, _)| *r != rev) {
                let mut revs: BTreeSet<i64> = seen.iter().map(|(r, _)| *r).collect();
                revs.extend(claimed);
                let seen: Vec<(i64, String)> = seen.iter().map(|(r, kv)| (*r, shown(kv))).collect();
                let what = format!(
                    "took effect more than once: at revisions {revs:?} (acknowledged or seen: {seen:?})"
                );
                return Err(self.violation(i, what));
            }
            match self.classes[i] {
                Class::Writer { rev: claimed } if claimed != rev => {
                    let what = format!(
                        "acknowledged at revision {claimed} but {} was seen written at revision {rev}",
                        shown(seen[0].1)
                    );
                    return Err(self.violation(i, what));
                }
                Class::Unknown => {
                    self.classes[i] = Class::Writer { rev };
                    self.claim(rev, i)?;
                }
                Class::Skip | Class::Reader { .. } => {
                    let what = format!(
                        "failed or wrote nothing, yet {} was seen written at revision {rev}",
                        shown(seen[0].1)
                    );
                    return Err(self.violation(i, what));
                }
                _ => {}
            }
        }
        let mut candidates: Vec<usize> = (0..self.ops.len())
            .filter(|&i| self.classes[i] == Class::Unknown)
            .collect();
        candidates.sort_by_key(|&i| (self.ops[i].invoke, i));
        self.candidates = candidates;
        Ok(())
    }

    fn key_of(&self, i: usize) -> Option<Key> {
        match self.classes[i] {
            Class::Writer { rev } => Some((rev, 0)),
            Class::Revoke { rev } if self.writers.get(&rev) == Some(&i) => Some((rev, 0)),
            Class::Reader { rev } | Class::Revoke { rev } => Some((rev, 1)),
            _ => None,
        }
    }

    /// One sort and sweep: no operation may linearize before one that returned before it began.
    fn check_real_time(&self) -> Result<(), Violation> {
        let mut by_invoke: Vec<(u64, usize, Key)> = Vec::new();
        let mut by_return: Vec<(u64, usize, Key)> = Vec::new();
        for i in 0..self.ops.len() {
            let Some(key) = self.key_of(i) else { continue };
            by_invoke.push((self.ops[i].invoke, i, key));
            if let Some(ret) = self.ops[i].return_time
                && !self.uncertain[i]
            {
                by_return.push((ret, i, key));
            }
        }
        by_invoke.sort_unstable();
        by_return.sort_unstable();
        let mut returned = by_return.iter().peekable();
        let mut max: Option<(Key, usize)> = None;
        for &(invoke, i, key) in &by_invoke {
            while let Some(&&(ret, j, k)) = returned.peek() {
                if ret >= invoke {
                    break;
                }
                if max.is_none_or(|(m, _)| k > m) {
                    max = Some((k, j));
                }
                returned.next();
            }
            if let Some((m, j)) = max
                && key < m
            {
                let what = format!(
                    "linearized at revision {} but started after {} returned at revision {}",
                    key.0,
                    self.describe(j),
                    m.0
                );
                return Err(self.violation(i, what));
            }
        }
        Ok(())
    }

    /// A read below a compaction that finished before the read began must fail; a compacted
    /// error needs a compaction that could have come first.
    fn check_compaction(&self) -> Result<(), Violation> {
        let compacts: Vec<(i64, u64, Option<u64>)> = (0..self.ops.len())
            .filter_map(|i| match (&self.ops[i].request, self.classes[i]) {
                (Request::Compact { revision, .. }, Class::Reader { .. }) => {
                    Some((*revision, self.ops[i].invoke, self.ops[i].return_time))
                }
                (Request::Compact { revision, .. }, _)
                    if self.ops[i]
                        .error
                        .as_deref()
                        .is_none_or(|e| !classify::is_definite_error(e)) =>
                {
                    Some((*revision, self.ops[i].invoke, None))
                }
                _ => None,
            })
            .collect();
        for (i, op) in self.ops.iter().enumerate() {
            let Request::Range { revision, .. } = &op.request else {
                continue;
            };
            if *revision <= 0 {
                continue;
            }
            if op.response.is_some() {
                let before = compacts
                    .iter()
                    .find(|(c, _, ret)| *c > *revision && ret.is_some_and(|r| r < op.invoke));
                if let Some((c, _, _)) = before {
                    let what = format!(
                        "read at revision {revision} succeeded after a compaction to {c} had returned"
                    );
                    return Err(self.violation(i, what));
                }
            } else if op
                .error
                .as_deref()
                .is_some_and(|e| e.contains(ERR_COMPACTED))
            {
                let end = op.return_time.unwrap_or(u64::MAX);
                if !compacts
                    .iter()
                    .any(|(c, inv, _)| *c > *revision && *inv <= end)
                {
                    let what = format!(
                        "read at revision {revision} failed as compacted, but no compaction above {revision} had begun"
                    );
                    return Err(self.violation(i, what));
                }
            }
        }
        Ok(())
    }

    /// Every value seen in a kv was written by some put of that key and value, and by the write
    /// of its mod revision when that write is known. Cheap, and it spares the replay a hopeless
    /// search over unknown writes for a value that nothing could have produced.
    fn check_provenance(&self, history: &History) -> Result<(), Violation> {
        // Only probed below, never iterated.
        let mut writes: ProbeMap<(&str, &str), Vec<usize>> =
            ProbeMap::with_capacity_and_hasher(self.ops.len(), Default::default());
        let mut keep_value: BTreeSet<&str> = BTreeSet::new();
        for (i, op) in self.ops.iter().enumerate() {
            if self.classes[i] == Class::Skip {
                continue;
            }
            let mut values = Vec::new();
            classify::put_values(&op.request, &mut values);
            for kv in values {
                writes.entry(kv).or_default().push(i);
            }
            classify::ignore_value_keys(&op.request, &mut keep_value);
        }
        // Watch events are the watch checker's business (it names the property they break).
        for kv in classify::response_kvs(history) {
            if kv.value.is_empty() || keep_value.contains(kv.key.as_str()) {
                continue;
            }
            let shown = || {
                format!(
                    "{}={:?} at mod revision {}",
                    kv.key, kv.value, kv.mod_revision
                )
            };
            let Some(writers) = writes.get(&(kv.key.as_str(), kv.value.as_str())) else {
                let what = format!("a response shows {}, a value that no write wrote", shown());
                return Err(Violation::new("linearizability", what, None));
            };
            if let Some(&w) = self.writers.get(&kv.mod_revision)
                && !writers.contains(&w)
            {
                let what = format!(
                    "a response shows {}, but that revision was written by {}, which does not write it",
                    shown(),
                    self.describe(w)
                );
                return Err(Violation::new("linearizability", what, Some(w)));
            }
        }
        Ok(())
    }

    /// Every header revision is at least 1 (the empty store's), and no revision is observed
    /// beyond what the writes in the history could have reached (which also bounds the replay).
    fn check_revision_bounds(&self) -> Result<(), Violation> {
        for (i, class) in self.classes.iter().enumerate() {
            if let Class::Reader { rev } | Class::Stale { rev } | Class::Revoke { rev } = *class
                && rev < 1
            {
                return Err(self.violation(i, format!("header revision {rev} below 1")));
            }
        }
        // Each revision a revoke names may be one it wrote.
        let reachable = 1
            + self.writers.len() as i64
            + self.revoke_groups.len() as i64
            + self.candidates.len() as i64;
        if self.max_rev > reachable {
            let what = format!(
                "revision {} observed, but the history's writes reach at most revision {reachable}",
                self.max_rev
            );
            return Err(Violation::new("linearizability", what, None));
        }
        Ok(())
    }

    /// The latest invoke time a write at `rev` may have: no later-linearized operation may have
    /// returned before it began. `suffix[r]` covers keys above `(r, 0)`.
    fn latest_invoke_by_revision(&self) -> Vec<u64> {
        let size = usize::try_from(self.max_rev + 2).unwrap_or(0);
        let mut at = vec![u64::MAX; size];
        for i in 0..self.ops.len() {
            let (Some((rev, kind)), Some(ret)) = (self.key_of(i), self.ops[i].return_time) else {
                continue;
            };
            if self.uncertain[i] {
                continue;
            }
            // A read at rev r sits above (r, 0); a write at r sits above (r - 1, 0).
            let slot = if kind == 1 { rev } else { rev - 1 };
            if let Ok(s) = usize::try_from(slot)
                && s < size
            {
                at[s] = at[s].min(ret);
            }
        }
        for r in (0..size.saturating_sub(1)).rev() {
            at[r] = at[r].min(at[r + 1]);
        }
        at
    }
}

mod replay;
