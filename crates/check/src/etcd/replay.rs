//! Step 3 of the etcd checker: replaying the writes in revision order, branching over the
//! unknown-outcome writes that may fill revisions nobody claimed.

use super::classify::Class;
use super::hidden::Hidden;
use super::store::{Exec, Store, diff_response};
use super::{Context, EtcdOutcome};
use crate::budget::Budget;
use crate::format::Request;
use crate::verdict::{Verdict, Violation};

/// The strict pass's property for a change that a gap-free watch did not show.
const SILENCE: &str = "watch silence";

/// A revision filled by a choice among the candidates, to come back to on a failure.
struct Choice {
    rev: i64,
    /// The candidates eligible at `rev` were those at positions below this.
    end: usize,
    /// Position in `Context::candidates`.
    position: usize,
    /// Length of `Context::linearized` before this revision.
    linearized_len: usize,
}

impl Context<'_> {
    /// Replays the writes in revision order. `strict`: watch events count as observations that
    /// the replay must agree with.
    pub(super) fn replay(
        &mut self,
        budget: &mut Budget<'_>,
        strict: bool,
        hidden: &Hidden,
    ) -> EtcdOutcome {
        self.linearized.clear();
        let latest_invoke = self.latest_invoke_by_revision();
        let mut store = Store::default();
        let mut used = vec![false; self.candidates.len()];
        let mut choices: Vec<Choice> = Vec::new();
        // The first candidate touching each failed reader's keys, computed once per reader.
        let mut first_touching: std::collections::BTreeMap<usize, Option<usize>> =
            std::collections::BTreeMap::new();
        // What each candidate may touch, for backjumping.
        let touches: Vec<Vec<KeyRange>> = self
            .candidates
            .iter()
            .map(|&i| {
                let mut ranges = Vec::new();
                touched(&self.ops[i].request, &mut ranges);
                ranges
            })
            .collect();
        // The failure that got furthest: its explanation is the one reported.
        let mut deepest: Option<(i64, Violation)> = None;
        if let Err(v) = self.check_readers(&store, 1, None) {
            return self.failure(v);
        }
        let mut rev = 2;
        // Candidates are tried latest-invoked first (an unknown write usually takes effect soon
        // after it is sent); `below` bounds the positions still to try at a revision.
        let mut below: Option<usize> = None;
        while rev <= self.max_rev {
            if budget.tick() {
                let linearized = self.linearized.clone();
                let verdict = Verdict::Unknown(budget.exhausted_reason());
                return EtcdOutcome {
                    verdict,
                    linearized,
                    failed_op: None,
                    store: None,
                };
            }
            let linearized_len = self.linearized.len();
            let result = match self.writers.get(&rev) {
                Some(&writer) => self
                    .apply_writer(&mut store, writer, rev)
                    .map(|()| Some(writer)),
                None => match self.try_revokes(&mut store, rev) {
                    Some(revoke) => Ok(Some(revoke)),
                    None => match self.try_candidates(
                        &mut store,
                        rev,
                        below,
                        &used,
                        hidden,
                        &latest_invoke,
                    ) {
                        Some(position) => {
                            used[position] = true;
                            choices.push(Choice {
                                rev,
                                end: self.in_time_end(rev, &latest_invoke),
                                position,
                                linearized_len,
                            });
                            Ok(None)
                        }
                        None => Err(self.no_writer(rev)),
                    },
                },
            }
            .and_then(|writer| self.check_readers(&store, rev, writer))
            .and_then(|()| {
                if strict {
                    self.check_watched(&store, rev)
                } else {
                    Ok(())
                }
            });
            below = None;
            let Err(violation) = result else {
                rev += 1;
                continue;
            };
            if strict && violation.property == SILENCE && self.writers.contains_key(&rev) {
                // An acknowledged write at `rev` that a gap-free watch did not show: no
                // choice can fix it; the loose pass (and the watch checker) will judge.
                return self.failure(violation);
            }
            // Conflict-directed backjumping: a read that failed can only be fixed by a choice
            // whose eligible candidates touch the keys it reads; later choices are skipped.
            let relevant = match self.read_keys_of(&violation) {
                Some(keys) => {
                    let op = violation.op.unwrap_or(usize::MAX);
                    let first = *first_touching
                        .entry(op)
                        .or_insert_with(|| Self::first_candidate_touching(&touches, &keys));
                    choices
                        .iter()
                        .rposition(|c| first.is_some_and(|f| f < c.end))
                }
                None => choices.len().checked_sub(1),
            };
            if deepest.as_ref().is_none_or(|(r, _)| rev > *r) {
                deepest = Some((rev, violation));
            }
            if let Some(target) = relevant {
                while choices.len() > target + 1 {
                    if let Some(skipped) = choices.pop() {
                        used[skipped.position] = false;
                    }
                }
            }
            let choice = relevant.and_then(|_| choices.pop());
            let Some(choice) = choice else {
                let (_, violation) = deepest.unwrap_or((rev, self.no_writer(rev)));
                return self.failure(violation);
            };
            while store.revision() >= choice.rev {
                store.rollback();
            }
            used[choice.position] = false;
            self.linearized.truncate(choice.linearized_len);
            rev = choice.rev;
            below = Some(choice.position);
        }
        EtcdOutcome {
            verdict: Verdict::Ok,
            linearized: self.linearized.clone(),
            failed_op: None,
            store: Some(store),
        }
    }

    /// In the strict pass: the watch events at `rev` must show what the replay wrote.
    fn check_watched(&self, store: &Store, rev: i64) -> Result<(), Violation> {
        for (key, prev) in self.watched_prev.get(&rev).into_iter().flatten() {
            if store.get(key, rev - 1) != Some(prev) {
                let what =
                    format!("a watch event at revision {rev} shows {key:?} before it as {prev:?}");
                return Err(Violation::new("watch", what, None));
            }
        }
        for key in store.changed_at(rev) {
            let put = store.get(key, rev).is_some();
            let silent = self.spans.iter().find(|span| {
                span.expects(rev, key, put) && !span.seen.contains(&(rev, key.clone()))
            });
            if let Some(span) = silent {
                let what = format!(
                    "a watch of {:?} that saw revisions {} to {} without a gap shows no change \
                     of {key:?} at revision {rev}",
                    span.key, span.first, span.last
                );
                return Err(Violation::new(SILENCE, what, None));
            }
        }
        let Some(seen) = self.watched.get(&rev) else {
            return Ok(());
        };
        for (key, kv) in seen {
            let changed = store.changed_at(rev).iter().any(|k| k == key);
            let agrees = changed && store.get(key, rev) == kv.as_ref();
            if !agrees {
                let what = format!("a watch event shows {key:?} as {kv:?} at revision {rev}");
                return Err(Violation::new("watch", what, None));
            }
        }
        Ok(())
    }

    fn no_writer(&self, rev: i64) -> Violation {
        let what = format!(
            "revision {rev} was observed but no acknowledged write claims it and no \
             unknown-outcome write can fill it"
        );
        Violation::new("linearizability", what, None)
    }

    /// The end of the candidates that may have started in time to write `rev`.
    fn in_time_end(&self, rev: i64, latest_invoke: &[u64]) -> usize {
        let latest = usize::try_from(rev)
            .ok()
            .and_then(|r| latest_invoke.get(r))
            .copied();
        match latest {
            Some(l) => self
                .candidates
                .partition_point(|&i| self.ops[i].invoke <= l),
            None => self.candidates.len(),
        }
    }

    /// The key ranges a failed reader depends on, when the failure is a reader's (a check of a
    /// response against the state); `None` for any other failure.
    fn read_keys_of(&self, violation: &Violation) -> Option<Vec<KeyRange>> {
        let i = violation.op?;
        let is_writer = match self.classes[i] {
            Class::Writer { .. } => true,
            Class::Revoke { rev } => self.writers.get(&rev) == Some(&i),
            _ => false,
        };
        if is_writer {
            return None;
        }
        let mut keys = Vec::new();
        touched(&self.ops[i].request, &mut keys);
        Some(keys)
    }

    /// The first candidate position whose request may touch one of `keys`.
    fn first_candidate_touching(touches: &[Vec<KeyRange>], keys: &[KeyRange]) -> Option<usize> {
        touches
            .iter()
            .position(|ranges| ranges.iter().any(|t| keys.iter().any(|k| overlaps(t, k))))
    }

    /// Tries the unused candidates at positions below `below` (all when `None`) that may have
    /// started in time, latest invoke first, at `rev`; commits and returns the first that changes
    /// the keyspace.
    fn try_candidates(
        &self,
        store: &mut Store,
        rev: i64,
        below: Option<usize>,
        used: &[bool],
        hidden: &Hidden,
        latest_invoke: &[u64],
    ) -> Option<usize> {
        // Candidates are sorted by invoke time: those after the latest start cannot be at `rev`.
        let in_time = self.in_time_end(rev, latest_invoke);
        let end = below.map_or(in_time, |b| b.min(in_time));
        for position in (0..end).rev() {
            let i = self.candidates[position];
            if used[position] {
                continue;
            }
            if hidden.contradicted(i, rev) {
                continue;
            }
            let mut exec = Exec::new(store, rev - 1);
            if exec.run(&self.ops[i].request).is_err() {
                continue;
            }
            let changes = exec.into_changes();
            if !changes.is_empty() {
                store.commit(changes);
                return Some(position);
            }
        }
        None
    }

    fn apply_writer(&mut self, store: &mut Store, i: usize, rev: i64) -> Result<(), Violation> {
        let op = self.ops[i];
        let mut exec = Exec::new(store, rev - 1);
        let expected = exec.run(&op.request).map_err(|e| {
            self.violation(
                i,
                format!("at revision {rev} the model fails it with {e:?}"),
            )
        })?;
        if let Some(got) = &op.response
            && let Some(diff) = diff_response(&expected, got)
        {
            return Err(self.violation(
                i,
                format!("wrote revision {rev} but the response has {diff}"),
            ));
        }
        let changes = exec.into_changes();
        if changes.is_empty() {
            let what = format!(
                "claims revision {rev} but in the model's state at {} it changes nothing",
                rev - 1
            );
            return Err(self.violation(i, what));
        }
        store.commit(changes);
        self.linearized.push(i);
        Ok(())
    }

    /// At `rev`, which no write claims: the first revoke naming it (by invoke time) that
    /// deletes keys there, and that no other reader of `rev` returned before, wrote it.
    fn try_revokes(&mut self, store: &mut Store, rev: i64) -> Option<usize> {
        let group = self.revoke_groups.get(&rev)?;
        let readers = self.readers.get(&rev).map_or(&[][..], Vec::as_slice);
        for &i in group {
            let invoke = self.ops[i].invoke;
            let early = readers
                .iter()
                .any(|&r| r != i && self.ops[r].return_time.is_some_and(|ret| ret < invoke));
            if early {
                continue;
            }
            let mut exec = Exec::new(store, rev - 1);
            if exec.run(&self.ops[i].request).is_err() {
                continue;
            }
            let changes = exec.into_changes();
            if !changes.is_empty() {
                store.commit(changes);
                self.linearized.push(i);
                return Some(i);
            }
        }
        None
    }

    /// Checks the readers at `rev` (`writer`, when it is one of them, wrote it instead).
    fn check_readers(
        &mut self,
        store: &Store,
        rev: i64,
        writer: Option<usize>,
    ) -> Result<(), Violation> {
        let readers = self.readers.get(&rev).cloned().unwrap_or_default();
        for i in readers {
            if writer == Some(i) {
                continue;
            }
            self.check_reader(store, i, rev)?;
            self.linearized.push(i);
        }
        Ok(())
    }

    fn check_reader(&self, store: &Store, i: usize, rev: i64) -> Result<(), Violation> {
        let op = self.ops[i];
        let base = match &op.request {
            Request::Range { revision, .. } if *revision > rev => {
                let what =
                    format!("read revision {revision} above its header revision {rev} succeeded");
                return Err(self.violation(i, what));
            }
            Request::Range { revision, .. } if *revision > 0 => *revision,
            Request::Compact { revision, .. } if *revision > rev => {
                let what =
                    format!("compacted revision {revision}, above the current revision {rev}");
                return Err(self.violation(i, what));
            }
            _ => rev,
        };
        let mut exec = Exec::new(store, base);
        let expected = exec.run(&op.request).map_err(|e| {
            self.violation(
                i,
                format!("at revision {rev} the model fails it with {e:?}"),
            )
        })?;
        if let Some(got) = &op.response
            && let Some(diff) = diff_response(&expected, got)
        {
            return Err(self.violation(i, format!("at revision {base} the response has {diff}")));
        }
        if !exec.into_changes().is_empty() {
            let what =
                format!("returned revision {rev} without writing, but in the model it writes");
            return Err(self.violation(i, what));
        }
        Ok(())
    }
}

/// A key range as etcd writes it: a key and an optional range end.
type KeyRange = (String, Option<String>);

/// Every key range `request` reads or writes (a lease revoke: everything).
fn touched(request: &Request, out: &mut Vec<KeyRange>) {
    match request {
        Request::Range { key, range_end, .. } | Request::DeleteRange { key, range_end, .. } => {
            out.push((key.clone(), range_end.clone()));
        }
        Request::Put { key, .. } => out.push((key.clone(), None)),
        Request::Txn {
            compare,
            success,
            failure,
        } => {
            out.extend(compare.iter().map(|c| (c.key.clone(), c.range_end.clone())));
            for sub in success.iter().chain(failure) {
                touched(sub, out);
            }
        }
        Request::LeaseRevoke { .. } => out.push(("\0".to_owned(), Some("\0".to_owned()))),
        Request::Compact { .. }
        | Request::LeaseGrant { .. }
        | Request::LeaseKeepAlive { .. }
        | Request::Defragment {} => {}
    }
}

/// Whether two key ranges share a key.
fn overlaps(a: &KeyRange, b: &KeyRange) -> bool {
    /// `[lo, hi)` with `hi` `None` unbounded, or a single key.
    enum Span<'a> {
        Key(&'a str),
        Range(&'a str, Option<&'a str>),
    }
    fn span((key, end): &KeyRange) -> Span<'_> {
        match end.as_deref() {
            None => Span::Key(key),
            Some("\0") if key == "\0" => Span::Range("", None),
            Some("\0") => Span::Range(key, None),
            Some(end) => Span::Range(key, Some(end)),
        }
    }
    let inside = |k: &str, lo: &str, hi: Option<&str>| lo <= k && hi.is_none_or(|h| k < h);
    match (span(a), span(b)) {
        (Span::Key(x), Span::Key(y)) => x == y,
        (Span::Key(k), Span::Range(lo, hi)) | (Span::Range(lo, hi), Span::Key(k)) => {
            inside(k, lo, hi)
        }
        (Span::Range(a_lo, a_hi), Span::Range(b_lo, b_hi)) => {
            b_hi.is_none_or(|h| a_lo < h) && a_hi.is_none_or(|h| b_lo < h)
        }
    }
}
