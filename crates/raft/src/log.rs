//! The in-memory view of the replicated log: what is persisted, what is not yet, what is
//! committed and what is applied.
//!
//! Raft keeps every entry after the last compaction point in memory (as etcd does with its
//! `MemoryStorage`); the caller persists what `Ready` hands out and compacts through
//! [`crate::Raft::compact`]. Positions are always log indexes; the offset into `entries` is
//! derived in one place, [`RaftLog::position`].

use crate::types::{Entry, Index, Snapshot, Term};

/// The log of one member.
#[derive(Debug)]
pub(crate) struct RaftLog {
    /// Index of the entry just before `entries[0]`: the compaction point.
    /// Invariant: `offset_index <= committed`.
    offset_index: Index,
    /// Term of the entry at `offset_index` (0 for the empty log).
    offset_term: Term,
    /// Invariant: `entries[k].index == offset_index + 1 + k`, and terms never decrease.
    entries: Vec<Entry>,
    /// Invariant: `applied <= committed <= last_index()`.
    committed: Index,
    /// The highest index the application has applied (or restored from a snapshot).
    applied: Index,
    /// Entries up to here are durable. Invariant: `offset_index <= stable_index <= last_index()`.
    stable_index: Index,
    /// The newest snapshot the application took or installed: what a leader sends to a
    /// follower whose next entry has been compacted away.
    snapshot: Option<Snapshot>,
    /// A snapshot received from the leader that the caller has not yet persisted and applied.
    pending_snapshot: Option<Snapshot>,
}

impl RaftLog {
    /// A log that starts after `offset_index`/`offset_term` and holds `entries`, all durable.
    pub(crate) fn new(offset_index: Index, offset_term: Term, entries: Vec<Entry>) -> RaftLog {
        let log = RaftLog {
            offset_index,
            offset_term,
            stable_index: offset_index + entries.len() as u64,
            entries,
            committed: offset_index,
            applied: offset_index,
            snapshot: None,
            pending_snapshot: None,
        };
        log.check_invariants();
        log
    }

    pub(crate) fn check_invariants(&self) {
        for (k, entry) in self.entries.iter().enumerate() {
            assert_eq!(entry.index, self.offset_index + 1 + k as u64, "log gap");
        }
        assert!(
            self.offset_index <= self.committed,
            "committed below offset"
        );
        assert!(self.applied <= self.committed, "applied past committed");
        assert!(self.committed <= self.last_index(), "committed past last");
        assert!(self.offset_index <= self.stable_index);
        assert!(self.stable_index <= self.last_index());
    }

    fn position(&self, index: Index) -> usize {
        debug_assert!(index > self.offset_index && index <= self.last_index());
        (index - self.offset_index - 1) as usize
    }

    pub(crate) fn first_index(&self) -> Index {
        self.offset_index + 1
    }

    pub(crate) fn last_index(&self) -> Index {
        self.offset_index + self.entries.len() as u64
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    pub(crate) fn committed(&self) -> Index {
        self.committed
    }

    pub(crate) fn applied(&self) -> Index {
        self.applied
    }

    pub(crate) fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    pub(crate) fn pending_snapshot(&self) -> Option<&Snapshot> {
        self.pending_snapshot.as_ref()
    }

    /// The term of the entry at `index`, or `None` if it was compacted away or is past the end.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.offset_index {
            Some(self.offset_term)
        } else if index < self.offset_index || index > self.last_index() {
            None
        } else {
            Some(self.entries[self.position(index)].term)
        }
    }

    pub(crate) fn match_term(&self, index: Index, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Whether a candidate whose log ends at (`last_index`, `last_term`) is at least as
    /// up to date as this log (Raft §5.4.1).
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The largest index `<= index` whose term is `<= term`, with that term: the place where
    /// two logs may start to agree. Used on both sides of a rejected append to skip a whole
    /// term of mismatching entries per round trip.
    pub(crate) fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        if index < self.offset_index {
            return (index, 0);
        }
        let mut probe = index.min(self.last_index());
        loop {
            let probe_term = self.term(probe).unwrap_or(0);
            if probe_term <= term {
                return (probe, probe_term);
            }
            if probe == self.offset_index {
                // The answer lies in the compacted prefix: say so with an unknown term, so a
                // leader falls back to a snapshot and a follower is probed below its offset
                // (where everything is committed, hence matching).
                return (probe.saturating_sub(1), 0);
            }
            probe -= 1;
        }
    }

    /// Entries in `[low, high)`, at most `bytes_max` of them but at least one.
    pub(crate) fn slice(&self, low: Index, high: Index, bytes_max: u64) -> Vec<Entry> {
        assert!(low > self.offset_index, "slice below the compaction point");
        let high = high.min(self.last_index() + 1);
        let mut out = Vec::new();
        let mut bytes = 0;
        for index in low..high {
            let entry = &self.entries[self.position(index)];
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > bytes_max {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Appends `entries` as a follower: they follow (`prev_index`, `prev_term`). Returns the
    /// index of the last new entry, or `None` when the log does not match at `prev_index`.
    pub(crate) fn maybe_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        leader_commit: Index,
        entries: &[Entry],
    ) -> Option<Index> {
        if !self.match_term(prev_index, prev_term) {
            return None;
        }
        let last_new_index = prev_index + entries.len() as u64;
        let conflict = entries
            .iter()
            .find(|e| !self.match_term(e.index, e.term))
            .map(|e| e.index);
        if let Some(conflict_index) = conflict {
            assert!(
                conflict_index > self.committed,
                "entry {conflict_index} conflicts with committed entries (committed {})",
                self.committed
            );
            let start = (conflict_index - prev_index - 1) as usize;
            self.append(&entries[start..]);
        }
        self.commit_to(leader_commit.min(last_new_index));
        Some(last_new_index)
    }

    /// Appends entries, replacing any existing suffix from `entries[0].index` on.
    pub(crate) fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        assert!(
            first.index > self.committed,
            "append at {} would overwrite committed entries (committed {})",
            first.index,
            self.committed
        );
        assert!(first.index <= self.last_index() + 1, "append leaves a gap");
        self.entries
            .truncate((first.index - self.offset_index - 1) as usize);
        self.entries.extend_from_slice(entries);
        self.stable_index = self.stable_index.min(first.index - 1);
        debug_assert!(self.entries.windows(2).all(|w| w[0].term <= w[1].term));
    }

    pub(crate) fn commit_to(&mut self, index: Index) {
        if index > self.committed {
            assert!(
                index <= self.last_index(),
                "commit {index} past the last index {}",
                self.last_index()
            );
            self.committed = index;
        }
    }

    pub(crate) fn applied_to(&mut self, index: Index) {
        assert!(index <= self.committed, "apply {index} past commit");
        assert!(index >= self.applied, "applied index went backwards");
        self.applied = index;
    }

    pub(crate) fn stable_to(&mut self, index: Index) {
        assert!(index <= self.last_index());
        self.stable_index = self.stable_index.max(index);
    }

    pub(crate) fn unstable_entries(&self) -> &[Entry] {
        &self.entries[(self.stable_index - self.offset_index) as usize..]
    }

    /// Committed entries not yet applied, at most `bytes_max` of them but at least one.
    pub(crate) fn next_committed_entries(&self, bytes_max: u64) -> Vec<Entry> {
        if self.committed <= self.applied {
            return Vec::new();
        }
        self.slice(self.applied + 1, self.committed + 1, bytes_max)
    }

    /// Replaces the log with a snapshot from the leader; the caller must persist and apply it.
    pub(crate) fn restore(&mut self, snapshot: Snapshot) {
        assert!(snapshot.meta.index > self.committed);
        self.offset_index = snapshot.meta.index;
        self.offset_term = snapshot.meta.term;
        self.entries.clear();
        self.committed = snapshot.meta.index;
        self.stable_index = snapshot.meta.index;
        self.pending_snapshot = Some(snapshot);
        self.check_invariants();
    }

    /// The caller persisted and applied the pending snapshot.
    pub(crate) fn snapshot_applied(&mut self) {
        if let Some(snapshot) = self.pending_snapshot.take() {
            self.applied = self.applied.max(snapshot.meta.index);
            self.snapshot = Some(snapshot);
        }
    }

    /// Records a snapshot the application took at an applied index, and drops the entries
    /// up to `compact_to` (which must not pass the snapshot).
    pub(crate) fn install_local_snapshot(&mut self, snapshot: Snapshot, compact_to: Index) {
        assert!(snapshot.meta.index <= self.applied);
        assert!(compact_to <= snapshot.meta.index);
        if compact_to > self.offset_index {
            let term = self
                .term(compact_to)
                .expect("compaction point is in the log");
            let drop = (compact_to - self.offset_index) as usize;
            self.entries.drain(..drop);
            self.offset_index = compact_to;
            self.offset_term = term;
        }
        self.snapshot = Some(snapshot);
        self.check_invariants();
    }

    /// Records the newest durable snapshot (on restart).
    pub(crate) fn set_snapshot(&mut self, snapshot: Snapshot) {
        self.snapshot = Some(snapshot);
    }

    pub(crate) fn entries_from(&self, low: Index) -> &[Entry] {
        if low > self.last_index() {
            return &[];
        }
        &self.entries[self.position(low.max(self.first_index()))..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EntryKind;

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: vec![index as u8],
        }
    }

    fn log_with_terms(terms: &[Term]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(k, &t)| entry(k as u64 + 1, t))
            .collect();
        RaftLog::new(0, 0, entries)
    }

    #[test]
    fn maybe_append_truncates_conflicting_suffix_only() {
        let mut log = log_with_terms(&[1, 1, 2, 2]);
        log.commit_to(2);
        // Matching prefix plus a conflict at 3: the old 3 and 4 go, 3' and 4' and 5' come.
        let new = [entry(3, 3), entry(4, 3), entry(5, 3)];
        assert_eq!(log.maybe_append(2, 1, 5, &new), Some(5));
        assert_eq!(log.term(3), Some(3));
        assert_eq!(log.last_index(), 5);
        assert_eq!(log.committed(), 5);
        // The rewritten suffix is unstable again.
        assert_eq!(log.unstable_entries().first().map(|e| e.index), Some(3));
        // A stale, shorter append of already present entries truncates nothing.
        assert_eq!(log.maybe_append(2, 1, 5, &[entry(3, 3)]), Some(3));
        assert_eq!(log.last_index(), 5);
        // A mismatch at prev is refused.
        assert_eq!(log.maybe_append(5, 2, 5, &[]), None);
    }

    #[test]
    fn find_conflict_by_term_skips_whole_terms() {
        let log = log_with_terms(&[1, 1, 2, 2, 5, 5, 5]);
        assert_eq!(log.find_conflict_by_term(7, 4), (4, 2));
        assert_eq!(log.find_conflict_by_term(7, 5), (7, 5));
        assert_eq!(log.find_conflict_by_term(10, 1), (2, 1));
        assert_eq!(log.find_conflict_by_term(7, 0), (0, 0));
    }

    /// Regression (seed 2619): a leader whose compaction point has a newer term than the
    /// follower's hint must fall below it (and send a snapshot), not probe the same place
    /// forever.
    #[test]
    fn find_conflict_by_term_below_the_compaction_point() {
        let mut log = RaftLog::new(16, 5, vec![entry(17, 6), entry(18, 6)]);
        log.commit_to(18);
        assert_eq!(log.find_conflict_by_term(16, 3), (15, 0));
        assert_eq!(log.find_conflict_by_term(18, 5), (16, 5));
    }

    #[test]
    fn slice_respects_byte_limit_but_returns_one_entry() {
        let log = log_with_terms(&[1, 1, 1, 1]);
        assert_eq!(log.slice(1, 5, 1).len(), 1);
        assert_eq!(log.slice(1, 5, 2 * 18).len(), 2);
        assert_eq!(log.slice(1, 5, u64::MAX).len(), 4);
    }

    #[test]
    fn compaction_keeps_terms_at_the_offset() {
        let mut log = log_with_terms(&[1, 2, 3, 4]);
        log.commit_to(4);
        log.stable_to(4);
        log.applied_to(3);
        let snapshot = Snapshot {
            meta: crate::types::SnapshotMeta {
                index: 3,
                term: 3,
                conf_state: Default::default(),
            },
            data: vec![],
        };
        log.install_local_snapshot(snapshot, 2);
        assert_eq!(log.term(2), Some(2));
        assert_eq!(log.term(1), None);
        assert_eq!(log.first_index(), 3);
        assert_eq!(log.entries_from(1).len(), 2);
    }

    #[test]
    #[should_panic(expected = "conflicts with committed")]
    fn overwriting_a_committed_entry_is_a_bug() {
        let mut log = log_with_terms(&[1, 1, 1]);
        log.commit_to(3);
        log.maybe_append(1, 1, 3, &[entry(2, 2)]);
    }
}
