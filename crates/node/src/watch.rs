//! The watch hub: every client watch stream of this member over `invar_mvcc::WatchStream`.
//!
//! Order of a watcher's responses: the created response; then events in revision order,
//! either live (each apply's events are matched at once, while the watcher is synced) or
//! from history (bounded pieces, one per stream per event, while it is behind); progress
//! notifications only while the watcher (periodic) or the whole stream (on demand) is
//! synced, so a progress revision never precedes an event at or below it. Watches are
//! served from this member's applied store, on followers too, and do not survive a restart.

use std::collections::{BTreeMap, BTreeSet};

use invar_mvcc::{Event, ResponseHeader, WatchCreateRequest, WatchResponse, WatchStream};
use invar_storage::fs::FileSystem;

use crate::error::NodeError;
use crate::event::{Effect, StreamId};
use crate::member::Member;

/// One client stream.
#[derive(Debug, Default)]
struct Stream {
    watchers: WatchStream,
    /// Watchers created with `progress_notify`, each with whether it got no events since
    /// the last periodic round (etcd sends periodic progress only to quiet watchers).
    progress_notify: BTreeMap<i64, bool>,
    /// Watchers created with `fragment`.
    fragment: BTreeSet<i64>,
    /// An on-demand progress request waits for every watcher to be synced.
    progress_requested: bool,
}

impl Stream {
    fn forget(&mut self, watch_id: i64) {
        self.progress_notify.remove(&watch_id);
        self.fragment.remove(&watch_id);
    }
}

/// Every watch stream of a member.
#[derive(Debug, Default)]
pub(crate) struct WatchHub {
    streams: BTreeMap<StreamId, Stream>,
    /// Ticks since the last periodic progress round.
    ticks_since_progress: u64,
}

impl WatchHub {
    /// Number of watchers on all streams.
    pub(crate) fn watchers(&self) -> usize {
        self.streams
            .values()
            .map(|s| s.watchers.watch_ids().len())
            .sum()
    }
}

fn store_error(error: invar_mvcc::MvccError) -> NodeError {
    NodeError::Store(error)
}

/// Rough size of an event for fragmenting: its keys and values.
fn event_bytes(event: &Event) -> usize {
    let kv = event.kv.key.len() + event.kv.value.len();
    let prev = event
        .prev_kv
        .as_ref()
        .map_or(0, |p| p.key.len() + p.value.len());
    kv + prev + 32
}

/// Splits an events response into pieces of at most `bytes_max` bytes (at least one event
/// each); every piece but the last has `fragment` set.
fn fragments(response: WatchResponse, bytes_max: usize) -> Vec<WatchResponse> {
    let total: usize = response.events.iter().map(event_bytes).sum();
    if total <= bytes_max || response.events.len() <= 1 {
        return vec![response];
    }
    let mut pieces: Vec<WatchResponse> = Vec::new();
    let mut current: Vec<Event> = Vec::new();
    let mut bytes = 0;
    for event in response.events.iter().cloned() {
        let size = event_bytes(&event);
        if !current.is_empty() && bytes + size > bytes_max {
            pieces.push(WatchResponse {
                events: std::mem::take(&mut current),
                fragment: true,
                ..response.clone()
            });
            bytes = 0;
        }
        bytes += size;
        current.push(event);
    }
    pieces.push(WatchResponse {
        events: current,
        fragment: false,
        ..response
    });
    pieces
}

impl<F: FileSystem> Member<F> {
    /// Number of watchers on all streams of this member.
    pub fn watchers(&self) -> usize {
        self.watches.watchers()
    }

    /// Emits a watch response with this member's header fields, fragmented if asked.
    fn emit_watch(&mut self, stream: StreamId, mut response: WatchResponse) {
        response.header.cluster_id = self.config.cluster_id;
        response.header.member_id = self.raft.id();
        response.header.raft_term = self.raft.term();
        let mut fragment = false;
        if !response.events.is_empty()
            && let Some(state) = self.watches.streams.get_mut(&stream)
        {
            fragment = state.fragment.contains(&response.watch_id);
            if let Some(quiet) = state.progress_notify.get_mut(&response.watch_id) {
                *quiet = false;
            }
        }
        let pieces = if fragment {
            fragments(response, self.config.watch_fragment_bytes_max)
        } else {
            vec![response]
        };
        for response in pieces {
            self.effects.push(Effect::Watch { stream, response });
        }
    }

    /// Emits responses of one stream, forgetting the watchers they cancel.
    fn emit_all(&mut self, stream: StreamId, responses: Vec<WatchResponse>) {
        for response in responses {
            if response.canceled
                && let Some(state) = self.watches.streams.get_mut(&stream)
            {
                state.forget(response.watch_id);
            }
            self.emit_watch(stream, response);
        }
    }

    pub(crate) fn watch_create(
        &mut self,
        stream: StreamId,
        request: &WatchCreateRequest,
    ) -> Result<(), NodeError> {
        let state = self.watches.streams.entry(stream).or_default();
        let responses = state
            .watchers
            .create(&self.store, request)
            .map_err(store_error)?;
        if let [created] = responses.as_slice()
            && !created.canceled
        {
            let id = created.watch_id;
            if request.progress_notify {
                state.progress_notify.insert(id, true);
            }
            if request.fragment {
                state.fragment.insert(id);
            }
        }
        self.emit_all(stream, responses);
        Ok(())
    }

    pub(crate) fn watch_cancel(&mut self, stream: StreamId, watch_id: i64) {
        let Some(state) = self.watches.streams.get_mut(&stream) else {
            return;
        };
        let canceled = state.watchers.cancel(&self.store, watch_id);
        state.forget(watch_id);
        if let Some(response) = canceled {
            self.emit_watch(stream, response);
        }
    }

    pub(crate) fn watch_progress(&mut self, stream: StreamId) {
        // A stream without watchers is synced: it gets its progress at once.
        let state = self.watches.streams.entry(stream).or_default();
        state.progress_requested = true;
        self.answer_progress_requests();
    }

    pub(crate) fn watch_close(&mut self, stream: StreamId) {
        self.watches.streams.remove(&stream);
    }

    /// Matches one apply's events against every stream's synced watchers.
    pub(crate) fn notify_watchers(&mut self, events: &[Event]) -> Result<(), NodeError> {
        if events.is_empty() || self.watches.streams.is_empty() {
            return Ok(());
        }
        let ids: Vec<StreamId> = self.watches.streams.keys().copied().collect();
        for stream in ids {
            let Some(state) = self.watches.streams.get_mut(&stream) else {
                continue;
            };
            let responses = state
                .watchers
                .notify(&self.store, events)
                .map_err(store_error)?;
            self.emit_all(stream, responses);
        }
        Ok(())
    }

    /// Sends each stream's unsynced watchers their next bounded piece of history (or the
    /// compaction cancel), then the on-demand progress that waited for them.
    pub(crate) fn catch_up_watchers(&mut self) -> Result<(), NodeError> {
        let ids: Vec<StreamId> = self.watches.streams.keys().copied().collect();
        for stream in ids {
            let Some(state) = self.watches.streams.get_mut(&stream) else {
                continue;
            };
            if !state.watchers.needs_catch_up(&self.store) {
                continue;
            }
            #[allow(unused_mut)]
            let mut responses = state.watchers.catch_up(&self.store).map_err(store_error)?;
            #[cfg(feature = "defects")]
            if self
                .config
                .has_defect(crate::Defect::WatchCatchUpDropsEvents)
            {
                // An off-by-one at the piece's end: its last revision's events are lost.
                for response in &mut responses {
                    if let Some(last) = response.events.last().map(|e| e.kv.mod_revision) {
                        response.events.retain(|e| e.kv.mod_revision != last);
                    }
                }
            }
            self.emit_all(stream, responses);
        }
        self.answer_progress_requests();
        Ok(())
    }

    /// Answers the on-demand progress requests of the streams that are synced.
    fn answer_progress_requests(&mut self) {
        let mut ready = Vec::new();
        for (stream, state) in &mut self.watches.streams {
            if !state.progress_requested {
                continue;
            }
            if let Some(response) = state.watchers.progress(&self.store) {
                state.progress_requested = false;
                ready.push((*stream, response));
            }
        }
        for (stream, response) in ready {
            self.emit_watch(stream, response);
        }
    }

    /// Counts a tick; every `watch_progress_interval_ticks` ticks, each synced watcher
    /// created with `progress_notify` that got no events since the last round gets a
    /// progress notification (its own watch ID, the applied revision), as etcd's periodic
    /// progress does.
    pub(crate) fn tick_watch_progress(&mut self, ticks: u64) {
        self.watches.ticks_since_progress += ticks;
        if self.watches.ticks_since_progress < self.config.watch_progress_interval_ticks {
            return;
        }
        self.watches.ticks_since_progress = 0;
        let revision = self.store.revision();
        let mut out = Vec::new();
        for (stream, state) in &mut self.watches.streams {
            for (&watch_id, quiet) in &mut state.progress_notify {
                let was_quiet = std::mem::replace(quiet, true);
                if was_quiet && state.watchers.is_synced(&self.store, watch_id) {
                    let response = WatchResponse {
                        header: ResponseHeader {
                            revision,
                            ..Default::default()
                        },
                        watch_id,
                        ..Default::default()
                    };
                    out.push((*stream, response));
                }
            }
        }
        for (stream, response) in out {
            self.emit_watch(stream, response);
        }
    }
}

#[cfg(test)]
mod tests {
    use invar_mvcc::{EventType, KeyValue};

    use super::*;

    fn event(size: usize) -> Event {
        Event {
            r#type: EventType::Put,
            kv: KeyValue {
                key: vec![b'k'; size],
                ..Default::default()
            },
            prev_kv: None,
        }
    }

    #[test]
    fn fragments_keep_every_event_in_order_and_mark_all_but_the_last() {
        let events: Vec<Event> = (1..=7).map(|i| event(i * 10)).collect();
        let response = WatchResponse {
            watch_id: 3,
            events: events.clone(),
            ..Default::default()
        };
        let pieces = fragments(response, 100);
        assert!(pieces.len() > 2);
        let flat: Vec<Event> = pieces.iter().flat_map(|p| p.events.clone()).collect();
        assert_eq!(flat, events);
        for (i, piece) in pieces.iter().enumerate() {
            assert_eq!(piece.fragment, i + 1 < pieces.len());
            assert_eq!(piece.watch_id, 3);
            assert!(!piece.events.is_empty());
        }
        let one = fragments(
            WatchResponse {
                events: vec![event(1000)],
                ..Default::default()
            },
            10,
        );
        assert_eq!(one.len(), 1);
        assert!(!one[0].fragment);
    }
}
