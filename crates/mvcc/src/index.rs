//! The in-memory key index (etcd's `treeIndex`): for every key, its revisions in order.
//! Rebuilt from the `kv` table on open; values stay on disk.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::revision::{KeyRange, Revision};

/// One revision of one key as the index sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// Where the record is stored.
    pub(crate) revision: Revision,
    /// Create revision of the key's current life (0 for a tombstone).
    pub(crate) create_revision: i64,
    /// Version (0 marks a tombstone).
    pub(crate) version: i64,
    /// Attached lease (0 for none or a tombstone).
    pub(crate) lease: i64,
}

impl IndexEntry {
    pub(crate) fn is_tombstone(&self) -> bool {
        self.version == 0
    }
}

/// All keys with their entries.
///
/// Invariant: each key's entries are strictly increasing by revision, non-empty, and two
/// tombstones are never adjacent. The first one is not a tombstone, except a delete made at
/// exactly the compact revision: compaction keeps it for watchers that start there (see
/// [`KeyIndex::compact`]), so a key may consist of that tombstone alone.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    keys: BTreeMap<Vec<u8>, Vec<IndexEntry>>,
}

/// The live entry of `entries` at revision `at`, if any.
fn live_at(entries: &[IndexEntry], at: i64) -> Option<&IndexEntry> {
    let position = entries.partition_point(|entry| entry.revision.main <= at);
    let entry = entries.get(position.checked_sub(1)?)?;
    (!entry.is_tombstone()).then_some(entry)
}

impl KeyIndex {
    /// The key's live entry at revision `at`.
    pub(crate) fn get(&self, key: &[u8], at: i64) -> Option<&IndexEntry> {
        live_at(self.keys.get(key)?, at)
    }

    /// Every key in `range` alive at `at`, in key order.
    pub(crate) fn live_in<'a>(
        &'a self,
        range: KeyRange<'a>,
        at: i64,
    ) -> Box<dyn Iterator<Item = (&'a [u8], &'a IndexEntry)> + 'a> {
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = match range {
            KeyRange::Single(key) => (Bound::Included(key), Bound::Included(key)),
            KeyRange::From(key) => (Bound::Included(key), Bound::Unbounded),
            KeyRange::Between(key, end) if key < end => {
                (Bound::Included(key), Bound::Excluded(end))
            }
            KeyRange::Between(..) => return Box::new(std::iter::empty()),
        };
        Box::new(
            self.keys
                .range::<[u8], _>(bounds)
                .filter_map(move |(key, entries)| Some((key.as_slice(), live_at(entries, at)?))),
        )
    }

    /// Records a put of `key` at `revision`; returns the new entry and the previous live one.
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        revision: Revision,
        lease: i64,
    ) -> (IndexEntry, Option<IndexEntry>) {
        let entries = self.keys.entry(key.to_vec()).or_default();
        let previous = entries
            .last()
            .copied()
            .filter(|entry| !entry.is_tombstone());
        if let Some(last) = entries.last() {
            assert!(last.revision < revision, "index revisions must grow");
        }
        let entry = match previous {
            Some(previous) => IndexEntry {
                revision,
                create_revision: previous.create_revision,
                version: previous.version + 1,
                lease,
            },
            None => IndexEntry {
                revision,
                create_revision: revision.main,
                version: 1,
                lease,
            },
        };
        entries.push(entry);
        (entry, previous)
    }

    /// Records the deletion of a live key at `revision`; returns the entry it ended.
    pub(crate) fn tombstone(&mut self, key: &[u8], revision: Revision) -> Option<IndexEntry> {
        let entries = self.keys.get_mut(key)?;
        let previous = entries
            .last()
            .copied()
            .filter(|entry| !entry.is_tombstone())?;
        assert!(previous.revision < revision, "index revisions must grow");
        entries.push(IndexEntry {
            revision,
            create_revision: 0,
            version: 0,
            lease: 0,
        });
        Some(previous)
    }

    /// Removes the newest entry of `key` (rolling back a failed write).
    pub(crate) fn pop(&mut self, key: &[u8]) {
        if let Some(entries) = self.keys.get_mut(key) {
            entries.pop();
            if entries.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// Appends an entry read from disk (in revision order) to a store compacted at `compact`;
    /// false if it breaks an invariant. A key's history may open with a tombstone only at
    /// `compact` (etcd's v3.5.18 fix, #19249, restores exactly such a tombstone: without it,
    /// a restart would forget the delete and the next compaction would not remove it).
    pub(crate) fn restore(&mut self, key: &[u8], entry: IndexEntry, compact: i64) -> bool {
        let entries = self.keys.entry(key.to_vec()).or_default();
        let fits = match entries.last() {
            None => !entry.is_tombstone() || entry.revision.main == compact,
            Some(last) => {
                last.revision < entry.revision && !(last.is_tombstone() && entry.is_tombstone())
            }
        };
        if fits {
            entries.push(entry);
        }
        fits
    }

    /// Drops every revision that compaction at `at` makes unreachable. For each key: if it
    /// changed at `at`, every record of revision `at` stays (deletes included) and all below
    /// go; otherwise its latest record below `at` stays if it is live, and all others below
    /// `at` go. Everything above `at` stays. So a watcher that starts at `at` (allowed: only
    /// revisions below it are compacted) gets all of `at`'s events: etcd lost a delete made
    /// at exactly the compact revision (#19179; fixed in #18274, v3.5.16, and #19249,
    /// v3.5.18); reads at or after `at` see a deleted key absent either way. A delete kept
    /// this way goes at the next compaction. (A txn can write two records of one key in a
    /// revision only through the `range_end = "\0"` duplicate-key quirk; here both stay,
    /// while etcd drops a put at `at` that a delete at `at` follows.)
    ///
    /// Returns the removed revisions in key order. `drop_latest` is the deliberate defect
    /// `compact-drops-latest`: an off-by-one that drains through the latest revision `<= at`
    /// (`..=latest`), so a live key whose latest revision is at or below `at` disappears.
    pub(crate) fn compact(&mut self, at: i64, drop_latest: bool) -> Vec<Revision> {
        let mut removed = Vec::new();
        self.keys.retain(|_, entries| {
            let position = entries.partition_point(|entry| entry.revision.main <= at);
            let Some(latest) = position.checked_sub(1) else {
                return true;
            };
            let first_at = entries[..position].partition_point(|entry| entry.revision.main < at);
            let keep_from = if drop_latest {
                latest + 1
            } else if first_at < position {
                first_at
            } else if entries[latest].is_tombstone() {
                latest + 1
            } else {
                latest
            };
            removed.extend(entries.drain(..keep_from).map(|entry| entry.revision));
            !entries.is_empty()
        });
        removed
    }

    /// The key's last entry at or below revision `at`, live or a delete.
    pub(crate) fn latest(&self, key: &[u8], at: i64) -> Option<&IndexEntry> {
        let entries = self.keys.get(key)?;
        let position = entries.partition_point(|entry| entry.revision.main <= at);
        entries.get(position.checked_sub(1)?)
    }

    /// Checks the struct invariant for a store compacted at `compact`, and that no revision
    /// exceeds `current` (O(entries)).
    pub(crate) fn check(&self, current: i64, compact: i64) -> Result<(), String> {
        for (key, entries) in &self.keys {
            let Some(first) = entries.first() else {
                return Err(format!("key {key:?} has no entries"));
            };
            if first.is_tombstone() && first.revision.main != compact {
                return Err(format!(
                    "key {key:?} starts with a tombstone at {}, not at the compact revision {compact}",
                    first.revision.main
                ));
            }
            for pair in entries.windows(2) {
                if pair[0].revision >= pair[1].revision {
                    return Err(format!("key {key:?}: revisions not increasing"));
                }
                if pair[0].is_tombstone() && pair[1].is_tombstone() {
                    return Err(format!("key {key:?}: two tombstones in a row"));
                }
            }
            if entries.iter().any(|entry| entry.revision.main > current) {
                return Err(format!("key {key:?}: revision above the current {current}"));
            }
        }
        Ok(())
    }

    /// Number of keys with any entry (live or not).
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }
}
