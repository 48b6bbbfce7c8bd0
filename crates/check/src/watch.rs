//! The watch checker: judges every watch stream against the keyspace that the etcd checker
//! replayed (so it runs only on histories whose operations are linearizable).
//!
//! Properties, each reported under its own name:
//! - `watch filter`: every event is in the watch's key range and not filtered out;
//! - `watch ordered`: event revisions never decrease within a watch;
//! - `watch unique`: no event (revision, key) twice;
//! - `watch atomic`: one revision's events never split across responses;
//! - `watch bookmarkable`: no event at or below an earlier progress notification's revision;
//!   notification revisions never decrease nor fall below the last event;
//! - `watch start`: a watch from a (future) start revision S never gets an event below S nor
//!   a notification below S − 1 (a notification at S − 1 promises nothing the watch wants:
//!   etcd itself sends one for a watch created at the next revision, which is synced at once;
//!   one further below would let a client resuming from it get events it never asked for,
//!   etcd #20221);
//! - `watch resumable`: a watch from revision R starts with the first matching change at or
//!   after R;
//! - `watch reliable`: the events are exactly the matching changes between the first expected
//!   and the last observed revision;
//! - `watch prev_kv`: a prev_kv equals the key's kv just before the event;
//! - `watch create flag`: create_revision == mod_revision exactly when the key did not exist;
//! - `watch compaction`: a cancel with a compact revision follows a real compaction above the
//!   watch's next revision, nothing follows it, and events are never missing silently below a
//!   compaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::etcd::store::{Store, in_range};
use crate::format::{
    EventType, History, Request, WatchEvent, WatchFilter, WatchRecord, WatchResponseRecord,
};
use crate::verdict::Violation;

/// A change as the replay has it: (revision, key, type, value).
type Change = (i64, String, EventType, String);

/// Checks every watch of `history` against `store`, the replayed keyspace. Returns every
/// violation found (at most one per property and watch), in watch order.
#[must_use]
pub fn check_watches(history: &History, store: &Store) -> Vec<Violation> {
    let compactions: Vec<(i64, u64)> = history
        .ops
        .iter()
        .filter_map(|(_, op)| match (&op.request, &op.error) {
            (Request::Compact { revision, .. }, None) => Some((*revision, op.invoke)),
            _ => None,
        })
        .collect();
    let mut responses: BTreeMap<u64, Vec<(u64, &WatchResponseRecord)>> = BTreeMap::new();
    for (line, r) in &history.watch_responses {
        responses.entry(r.watch).or_default().push((*line, r));
    }
    let mut violations = Vec::new();
    for (line, watch) in &history.watches {
        let stream = responses.get(&watch.watch).map_or(&[][..], Vec::as_slice);
        let mut checker = WatchCheck {
            watch,
            line: *line,
            store,
            compactions: &compactions,
            found: BTreeMap::new(),
        };
        checker.run(stream);
        violations.extend(checker.found.into_values());
    }
    violations
}

struct WatchCheck<'a> {
    watch: &'a WatchRecord,
    line: u64,
    store: &'a Store,
    compactions: &'a [(i64, u64)],
    /// The first violation of each property.
    found: BTreeMap<&'static str, Violation>,
}

impl WatchCheck<'_> {
    fn fail(&mut self, property: &'static str, line: u64, what: String) {
        self.found.entry(property).or_insert_with(|| {
            let explanation = format!(
                "watch {} (line {}), response on line {line}: {what}",
                self.watch.watch, self.line
            );
            Violation::new(property, format!("{property}: {explanation}"), None)
        });
    }

    fn matches(&self, key: &str, event_type: EventType) -> bool {
        let filtered = match event_type {
            EventType::Put => self.watch.filters.contains(&WatchFilter::NoPut),
            EventType::Delete => self.watch.filters.contains(&WatchFilter::NoDelete),
        };
        let start = if self.watch.key.is_empty() {
            "\0"
        } else {
            self.watch.key.as_str()
        };
        !filtered && in_range(key, start, self.watch.range_end.as_deref())
    }

    /// The replay's matching changes with revisions in `[first, last]`.
    fn expected_changes(&self, first: i64, last: i64) -> Vec<Change> {
        let mut out = Vec::new();
        for rev in first.max(2)..=last.min(self.store.revision()) {
            for key in self.store.changed_at(rev) {
                let (event_type, value) = match self.store.get(key, rev) {
                    Some(kv) => (EventType::Put, kv.value.clone()),
                    None => (EventType::Delete, String::new()),
                };
                if self.matches(key, event_type) {
                    out.push((rev, key.clone(), event_type, value));
                }
            }
        }
        out
    }

    fn run(&mut self, stream: &[(u64, &WatchResponseRecord)]) {
        let start = self.watch.start_revision;
        let mut received: Vec<(u64, Change)> = Vec::new();
        let mut seen: BTreeSet<(i64, String)> = BTreeSet::new();
        let (mut last_event, mut last_progress): (i64, i64) = (0, 0);
        let mut previous_last: Option<i64> = None;
        let mut created_rev: Option<i64> = None;
        let mut first_progress: Option<i64> = None;
        let mut canceled_at: Option<(u64, i64)> = None;
        for &(line, response) in stream {
            if let Some((cancel_line, _)) = canceled_at
                && !response.events.is_empty()
            {
                self.fail(
                    "watch compaction",
                    line,
                    format!("events after the cancel on line {cancel_line}"),
                );
            }
            if response.created {
                created_rev.get_or_insert(response.revision);
            }
            if response.canceled {
                self.check_cancel(line, response, last_event.max(start.saturating_sub(1)));
                canceled_at.get_or_insert((line, response.compact_revision));
            }
            let is_progress = response.events.is_empty() && !response.created && !response.canceled;
            if is_progress {
                self.check_progress(line, response.revision, last_event, last_progress);
                last_progress = last_progress.max(response.revision);
                first_progress.get_or_insert(response.revision);
            }
            if let (Some(prev), Some(first)) = (previous_last, response.events.first())
                && prev == first.kv.mod_revision
            {
                self.fail(
                    "watch atomic",
                    line,
                    format!("revision {prev} split across two responses"),
                );
            }
            for event in &response.events {
                self.check_event(line, event, last_event, last_progress, &mut seen);
                last_event = last_event.max(event.kv.mod_revision);
                let value = if event.event_type == EventType::Put {
                    event.kv.value.clone()
                } else {
                    String::new()
                };
                received.push((
                    line,
                    (
                        event.kv.mod_revision,
                        event.kv.key.clone(),
                        event.event_type,
                        value,
                    ),
                ));
            }
            if let Some(last) = response.events.last() {
                previous_last = Some(last.kv.mod_revision);
            }
        }
        let first = if start > 0 {
            start
        } else if let Some(c) = created_rev {
            c.saturating_add(1)
        } else if let Some(p) = first_progress {
            p.saturating_add(1)
        } else {
            received.first().map_or(i64::MAX, |(_, c)| c.0)
        };
        let last = last_event.max(last_progress);
        if canceled_at.is_none() || !received.is_empty() {
            self.check_reliable(&received, first, last);
        }
        if start > 0 && canceled_at.is_none() {
            self.check_resumable(&received, start);
        }
    }

    fn check_cancel(&mut self, line: u64, response: &WatchResponseRecord, delivered: i64) {
        let c = response.compact_revision;
        if c <= 0 {
            return;
        }
        let next = delivered.saturating_add(1);
        if next >= c {
            self.fail(
                "watch compaction",
                line,
                format!(
                    "canceled as compacted at {c}, but its next revision {next} is not compacted"
                ),
            );
        }
        if !self
            .compactions
            .iter()
            .any(|&(rev, invoke)| rev >= c && invoke <= response.time)
        {
            self.fail(
                "watch compaction",
                line,
                format!("canceled as compacted at {c}, but no compaction to {c} had begun"),
            );
        }
    }

    fn check_progress(&mut self, line: u64, rev: i64, last_event: i64, last_progress: i64) {
        if rev < last_progress {
            self.fail(
                "watch bookmarkable",
                line,
                format!("progress revision {rev} below an earlier one, {last_progress}"),
            );
        }
        if rev < last_event {
            self.fail(
                "watch bookmarkable",
                line,
                format!("progress revision {rev} below the last event's, {last_event}"),
            );
        }
        if self.watch.start_revision > 0 && rev < self.watch.start_revision - 1 {
            let start = self.watch.start_revision;
            self.fail(
                "watch start",
                line,
                format!(
                    "progress revision {rev} below the start revision {start} (less one, {})",
                    start - 1
                ),
            );
        }
    }

    fn check_event(
        &mut self,
        line: u64,
        event: &WatchEvent,
        last_event: i64,
        last_progress: i64,
        seen: &mut BTreeSet<(i64, String)>,
    ) {
        let (rev, key) = (event.kv.mod_revision, &event.kv.key);
        if !self.matches(key, event.event_type) {
            self.fail(
                "watch filter",
                line,
                format!(
                    "{:?} event on {key:?} does not match the watch",
                    event.event_type
                ),
            );
        }
        if rev < last_event {
            self.fail(
                "watch ordered",
                line,
                format!("event at revision {rev} after one at {last_event}"),
            );
        }
        if !seen.insert((rev, key.clone())) {
            self.fail(
                "watch unique",
                line,
                format!("event on {key:?} at revision {rev} received twice"),
            );
        }
        if rev <= last_progress {
            self.fail(
                "watch bookmarkable",
                line,
                format!("event at revision {rev} after a progress notification at {last_progress}"),
            );
        }
        if self.watch.start_revision > 0 && rev < self.watch.start_revision {
            let start = self.watch.start_revision;
            self.fail(
                "watch start",
                line,
                format!("event at revision {rev} below the start revision {start}"),
            );
        }
        let before = self.store.get(key, rev.saturating_sub(1));
        if let Some(prev) = &event.prev_kv
            && Some(prev) != before
        {
            self.fail(
                "watch prev_kv",
                line,
                format!("prev_kv {prev:?} on {key:?} at revision {rev}, expected {before:?}"),
            );
        }
        if event.event_type == EventType::Put {
            let is_create = event.kv.create_revision == rev;
            if is_create != before.is_none() {
                let what = format!(
                    "event on {key:?} at revision {rev} has create flag {is_create}, but the key {} before",
                    if before.is_none() {
                        "did not exist"
                    } else {
                        "existed"
                    }
                );
                self.fail("watch create flag", line, what);
            }
        }
    }

    fn check_reliable(&mut self, received: &[(u64, Change)], first: i64, last: i64) {
        if first > last {
            return;
        }
        // Events outside the watch's filter are the filter property's business.
        let mut got: Vec<&Change> = received
            .iter()
            .map(|(_, c)| c)
            .filter(|c| c.0 >= first && c.0 <= last && self.matches(&c.1, c.2))
            .collect();
        got.sort();
        got.dedup();
        let expected = self.expected_changes(first, last);
        let expected_refs: Vec<&Change> = expected.iter().collect();
        if got == expected_refs {
            return;
        }
        let line = received.last().map_or(self.line, |(l, _)| *l);
        let missing = expected.iter().find(|c| !got.contains(c));
        let extra = got.iter().find(|c| !expected.contains(c));
        if let Some(m) = missing {
            let compacted = self.compactions.iter().map(|&(r, _)| r).max().unwrap_or(0);
            if m.0 < compacted {
                let what = format!(
                    "event {m:?} below compaction {compacted} silently missing (no cancel)"
                );
                self.fail("watch compaction", line, what);
                return;
            }
        }
        let what = match (missing, extra) {
            (Some(m), _) => format!("missing event {m:?} between revisions {first} and {last}"),
            (None, Some(e)) => format!("event {e:?} is not a matching change of the history"),
            (None, None) => {
                format!("events differ from the history's changes between {first} and {last}")
            }
        };
        self.fail("watch reliable", line, what);
    }

    fn check_resumable(&mut self, received: &[(u64, Change)], start: i64) {
        let Some((line, first)) = received.iter().find(|(_, c)| self.matches(&c.1, c.2)) else {
            return;
        };
        let expected = self.expected_changes(start, first.0.max(start));
        let compacted = self.compactions.iter().map(|&(r, _)| r).max().unwrap_or(0);
        if expected.first().is_some_and(|e| e.0 < compacted) {
            return; // missing below a compaction: the compaction property's business
        }
        // Within one revision (a txn's), events come in the txn's order, which the replay
        // does not keep: any of the first revision's changes may come first.
        let first_revision = expected.first().map(|e| e.0);
        let starts_right = first_revision == Some(first.0)
            && expected
                .iter()
                .take_while(|e| Some(e.0) == first_revision)
                .any(|e| e == first);
        if !starts_right {
            let what = format!(
                "first event {first:?}, expected the first matching change from revision {start}: {:?}",
                expected.first()
            );
            self.fail("watch resumable", *line, what);
        }
    }
}
