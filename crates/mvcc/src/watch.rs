//! Watch matching for one watch stream: which watchers an applied revision's events reach,
//! catch-up from history for watchers that start in the past, and the compaction cancel.
//!
//! Protocol (every call returns responses in the order to send):
//! 1. [`WatchStream::create`] returns the created response (or a compacted cancel).
//! 2. After every apply, pass that apply's events to [`WatchStream::notify`] of every stream:
//!    synced watchers get them at once.
//! 3. While [`WatchStream::needs_catch_up`], call [`WatchStream::catch_up`]: watchers that
//!    started in the past get the history, a bounded piece per call, until they are synced.

use std::collections::BTreeMap;

use redb::ReadableTable;

use crate::batch::with_kv;
use crate::codec;
use crate::error::{MvccError, Result, backend};
use crate::revision::{KeyRange, Revision, RevisionKey};
use crate::store::Store;
use crate::types::{
    Event, EventType, FilterType, KeyValue, RangeRequest, ResponseHeader, WatchCreateRequest,
    WatchResponse,
};

/// One watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Watcher {
    key: Vec<u8>,
    range_end: Vec<u8>,
    /// Events below this revision are not reported (they were sent, or precede the start).
    next_revision: i64,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
}

impl Watcher {
    /// The watcher a create request asks for, with the store at revision `current`.
    fn new(req: &WatchCreateRequest, current: i64) -> Self {
        Watcher {
            key: if req.key.is_empty() {
                vec![0]
            } else {
                req.key.clone()
            },
            range_end: req.range_end.clone(),
            next_revision: if req.start_revision == 0 {
                current + 1
            } else {
                req.start_revision
            },
            no_put: req.filters.contains(&FilterType::NoPut),
            no_delete: req.filters.contains(&FilterType::NoDelete),
            prev_kv: req.prev_kv,
        }
    }

    fn wants(&self, event: &Event) -> bool {
        if event.kv.mod_revision < self.next_revision {
            return false;
        }
        let filtered = match event.r#type {
            EventType::Put => self.no_put,
            EventType::Delete => self.no_delete,
        };
        !filtered && KeyRange::new(&self.key, &self.range_end).contains(&event.kv.key)
    }
}

/// The watchers of one gRPC watch stream, by watch ID.
#[derive(Debug, Default)]
pub struct WatchStream {
    watchers: BTreeMap<i64, Watcher>,
    /// The next automatically assigned ID (IDs start at 0, as in etcd).
    next_id: i64,
}

fn canceled(watch_id: i64, revision: i64, reason: &MvccError) -> WatchResponse {
    WatchResponse {
        header: ResponseHeader::at(revision),
        watch_id,
        created: true,
        canceled: true,
        cancel_reason: reason.to_string(),
        ..Default::default()
    }
}

impl WatchStream {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The active watch IDs, ascending.
    pub fn watch_ids(&self) -> Vec<i64> {
        self.watchers.keys().copied().collect()
    }

    /// Creates a watcher. Returns the created response, followed by a cancel with
    /// `compact_revision` when the start revision is compacted. A watcher that starts in the
    /// past is unsynced: [`WatchStream::catch_up`] sends it the history.
    pub fn create(
        &mut self,
        store: &Store,
        req: &WatchCreateRequest,
    ) -> Result<Vec<WatchResponse>> {
        store.check_usable()?;
        let current = store.revision();
        if req.start_revision < 0 {
            return Ok(vec![canceled(-1, current, &MvccError::Compacted)]);
        }
        let id = if req.watch_id == 0 {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        } else if self.watchers.contains_key(&req.watch_id) {
            return Ok(vec![canceled(-1, current, &MvccError::WatchDuplicateId)]);
        } else {
            req.watch_id
        };
        let watcher = Watcher::new(req, current);
        let created = WatchResponse {
            header: ResponseHeader::at(current),
            watch_id: id,
            created: true,
            ..Default::default()
        };
        let mut responses = vec![created];
        if watcher.next_revision < store.compact_revision() {
            responses.push(compacted(id, store));
            return Ok(responses);
        }
        self.watchers.insert(id, watcher);
        Ok(responses)
    }

    /// Whether some watcher is behind the store (it started in the past, or `notify` missed a
    /// revision): call [`WatchStream::catch_up`] until this is false.
    pub fn needs_catch_up(&self, store: &Store) -> bool {
        let current = store.revision();
        self.watchers
            .values()
            .any(|watcher| watcher.next_revision <= current)
    }

    /// Sends every unsynced watcher its next piece of history: at most
    /// [`crate::Config::watch_catch_up_revisions_max`] revisions each, so memory stays bounded.
    /// A watcher whose next revision was compacted meanwhile is canceled with the compact
    /// revision, as etcd does for a slow watcher.
    pub fn catch_up(&mut self, store: &Store) -> Result<Vec<WatchResponse>> {
        store.check_usable()?;
        let current = store.revision();
        let revisions_max =
            i64::try_from(store.config().watch_catch_up_revisions_max).unwrap_or(i64::MAX);
        let mut responses = Vec::new();
        let mut compacted_ids = Vec::new();
        for (id, watcher) in &mut self.watchers {
            if watcher.next_revision > current {
                continue;
            }
            if watcher.next_revision < store.compact_revision() {
                responses.push(compacted(*id, store));
                compacted_ids.push(*id);
                continue;
            }
            let last = current.min(watcher.next_revision.saturating_add(revisions_max - 1));
            let events: Vec<Event> = history(store, watcher.next_revision, last)?
                .into_iter()
                .filter(|event| watcher.wants(event))
                .map(|event| with_prev_kv(store, watcher, event))
                .collect();
            watcher.next_revision = last + 1;
            if !events.is_empty() {
                responses.push(events_response(*id, current, events));
            }
        }
        for id in compacted_ids {
            self.watchers.remove(&id);
        }
        Ok(responses)
    }

    /// Cancels a watcher; `None` if it does not exist.
    pub fn cancel(&mut self, store: &Store, watch_id: i64) -> Option<WatchResponse> {
        self.watchers.remove(&watch_id)?;
        Some(WatchResponse {
            header: ResponseHeader::at(store.revision()),
            watch_id,
            canceled: true,
            ..Default::default()
        })
    }

    /// Whether watcher `watch_id` is synced: it has every event up to the store's revision
    /// and waits for the next one (false for an unknown ID, a watcher behind the store, or
    /// one waiting for a future start revision). A periodic progress notification for one
    /// watcher is only sent while it is synced.
    pub fn is_synced(&self, store: &Store, watch_id: i64) -> bool {
        self.watchers
            .get(&watch_id)
            .is_some_and(|watcher| watcher.next_revision == store.revision() + 1)
    }

    /// Answers a progress request: a response with watch ID -1 whose header revision promises
    /// that every later event on the stream has a higher revision. As in etcd, none is sent
    /// while a watcher is unsynced or waits for a future start revision (`None`).
    pub fn progress(&self, store: &Store) -> Option<WatchResponse> {
        let current = store.revision();
        let synced = |watcher: &Watcher| watcher.next_revision == current + 1;
        if !self.watchers.values().all(synced) {
            return None;
        }
        Some(WatchResponse {
            header: ResponseHeader::at(current),
            watch_id: -1,
            ..Default::default()
        })
    }

    /// Matches one apply's events (all of one revision, as [`crate::Applied::events`]) against
    /// every synced watcher: one response per watcher that wants any of them, by watch ID.
    /// Unsynced watchers get these events later from [`WatchStream::catch_up`].
    pub fn notify(&mut self, store: &Store, events: &[Event]) -> Result<Vec<WatchResponse>> {
        store.check_usable()?;
        let mut responses = Vec::new();
        let Some(revision) = events.first().map(|event| event.kv.mod_revision) else {
            return Ok(responses);
        };
        assert!(
            events.iter().all(|event| event.kv.mod_revision == revision),
            "notify takes the events of one revision"
        );
        for (id, watcher) in &mut self.watchers {
            if watcher.next_revision != revision {
                continue; // unsynced (behind) or waiting for a future start revision
            }
            let matched: Vec<Event> = events
                .iter()
                .filter(|event| watcher.wants(event))
                .map(|event| with_prev_kv(store, watcher, event.clone()))
                .collect();
            watcher.next_revision = revision + 1;
            if !matched.is_empty() {
                responses.push(events_response(*id, store.revision(), matched));
            }
        }
        Ok(responses)
    }
}

/// The cancel sent to a watcher whose next revision is compacted.
fn compacted(watch_id: i64, store: &Store) -> WatchResponse {
    WatchResponse {
        header: ResponseHeader::at(store.revision()),
        watch_id,
        canceled: true,
        compact_revision: store.compact_revision(),
        ..Default::default()
    }
}

fn events_response(watch_id: i64, revision: i64, events: Vec<Event>) -> WatchResponse {
    WatchResponse {
        header: ResponseHeader::at(revision),
        watch_id,
        events,
        ..Default::default()
    }
}

/// Adds the previous kv as etcd's watch server does: the key read at `mod_revision - 1`,
/// left out for creations and when that revision is compacted.
fn with_prev_kv(store: &Store, watcher: &Watcher, mut event: Event) -> Event {
    let is_create =
        event.r#type == EventType::Put && event.kv.create_revision == event.kv.mod_revision;
    if !watcher.prev_kv || is_create {
        return event;
    }
    let request = RangeRequest {
        key: event.kv.key.clone(),
        revision: event.kv.mod_revision - 1,
        ..Default::default()
    };
    event.prev_kv = store
        .range(&request)
        .ok()
        .and_then(|response| response.kvs.into_iter().next());
    event
}

/// Every stored event with main revision in `[from, to]`, in revision order.
pub(crate) fn history(store: &Store, from: i64, to: i64) -> Result<Vec<Event>> {
    let (Ok(from), Ok(to)) = (u64::try_from(from.max(1)), u64::try_from(to)) else {
        return Ok(Vec::new());
    };
    if from > to {
        return Ok(Vec::new());
    }
    with_kv!(store, |table| history_of(&table, from, to))
}

/// The events of the records of `table` with main revision in `[from, to]`.
fn history_of<T>(table: &T, from: u64, to: u64) -> Result<Vec<Event>>
where
    T: ReadableTable<RevisionKey, &'static [u8]>,
{
    let mut events = Vec::new();
    for item in table.range((from, 0)..=(to, u64::MAX)).map_err(backend)? {
        let (key, value) = item.map_err(backend)?;
        let revision = Revision::from_key(key.value())?;
        let record = codec::decode(revision, value.value())?;
        events.push(if record.tombstone {
            let kv = KeyValue {
                key: record.kv.key,
                mod_revision: revision.main,
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
                kv: record.kv,
                prev_kv: None,
            }
        });
    }
    Ok(events)
}

impl Store {
    /// Every event still stored with revision in `[from, to]`, in revision order (the
    /// history watch catch-up reads). `from` below the compact revision is an error.
    pub fn events(&self, from: i64, to: i64) -> Result<Vec<Event>> {
        self.check_usable()?;
        if from < self.compact_revision {
            return Err(MvccError::Compacted);
        }
        history(self, from, to)
    }
}
