//! Pruning for the replay's choices: an unknown-outcome put of a value that no other put writes
//! and no response or watch shows cannot have taken effect at a revision if a read of its key
//! must have seen it there (the read lies between that revision and the next revision that could
//! change the key).

use std::collections::BTreeMap;

use super::Context;
use super::classify::{Class, put_values};
use crate::format::{History, Request};
use crate::probe_map::ProbeMap;

/// What the pruning needs, computed once per history.
#[derive(Debug, Default)]
pub(super) struct Hidden {
    /// Candidate ops that are plain puts of a unique value nobody observed: op → key.
    puts: BTreeMap<usize, String>,
    /// Base revisions of the successful single-key reads of each key, sorted.
    reads: BTreeMap<String, Vec<i64>>,
    /// Revisions whose placed writer may change each key (single-key writes), sorted.
    key_writes: BTreeMap<String, Vec<i64>>,
    /// Revisions whose placed writer may change many keys, or that no writer claims (a
    /// candidate may change any key there), sorted.
    any_writes: Vec<i64>,
}

impl Hidden {
    pub(super) fn new(ctx: &Context<'_>, history: &History) -> Self {
        let mut hidden = Hidden::default();
        // Only probed below, never iterated.
        let mut counts: ProbeMap<(&str, &str), usize> =
            ProbeMap::with_capacity_and_hasher(history.ops.len(), Default::default());
        for (_, op) in &history.ops {
            let mut values = Vec::new();
            put_values(&op.request, &mut values);
            for kv in values {
                *counts.entry(kv).or_default() += 1;
            }
        }
        for &i in &ctx.candidates {
            if let Request::Put {
                key,
                value,
                ignore_value: false,
                ..
            } = &ctx.ops[i].request
                && counts.get(&(key.as_str(), value.as_str())) == Some(&1)
            {
                hidden.puts.insert(i, key.clone());
            }
        }
        for (i, op) in ctx.ops.iter().enumerate() {
            let (Class::Reader { rev } | Class::Stale { rev }) = ctx.classes[i] else {
                continue;
            };
            if let Request::Range {
                key,
                range_end: None,
                revision,
                ..
            } = &op.request
            {
                let base = if *revision > 0 { *revision } else { rev };
                hidden.reads.entry(key.clone()).or_default().push(base);
            }
        }
        for list in hidden.reads.values_mut() {
            list.sort_unstable();
        }
        for rev in 2..=ctx.max_rev {
            match ctx.writers.get(&rev).map(|&w| &ctx.ops[w].request) {
                Some(
                    Request::Put { key, .. }
                    | Request::DeleteRange {
                        key,
                        range_end: None,
                        ..
                    },
                ) => {
                    hidden.key_writes.entry(key.clone()).or_default().push(rev);
                }
                _ => hidden.any_writes.push(rev),
            }
        }
        hidden
    }

    /// Whether candidate `op`, placed at `rev`, would have been seen by a read that did not see
    /// it (so it cannot be at `rev`).
    pub(super) fn contradicted(&self, op: usize, rev: i64) -> bool {
        let Some(key) = self.puts.get(&op) else {
            return false;
        };
        let Some(reads) = self.reads.get(key) else {
            return false;
        };
        let next_after = |revs: &[i64]| revs.get(revs.partition_point(|&r| r <= rev)).copied();
        let key_next = self.key_writes.get(key).and_then(|w| next_after(w));
        let any_next = next_after(&self.any_writes);
        let end = match (key_next, any_next) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => i64::MAX,
        };
        // A read with base in [rev, end) sees the key as this put left it.
        let first = reads.partition_point(|&b| b < rev);
        reads.get(first).is_some_and(|&b| b < end)
    }
}
