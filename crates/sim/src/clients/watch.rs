//! Client watch streams: one watcher per stream (so an on-demand progress response, watch
//! ID -1, belongs to it), opened on the client's member, recorded from the first request to
//! the last response the client took, and ended by the client (its lifetime), by a cancel
//! (compaction), or by the member going down. The workload then decides whether to resume.

use invar_mvcc::{WatchCreateRequest, WatchResponse};
use invar_node::StreamId;

use super::StreamView;
use crate::options::Injection;
use crate::props::{Point, Violated};
use crate::world::{Input, Item, World};

/// One client watch stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) client: usize,
    /// Its id in the history.
    pub(crate) watch: u64,
    /// The slot it was sent to.
    pub(crate) slot: usize,
    /// The incarnation it reached (`None` until delivered).
    pub(crate) incarnation: Option<u64>,
    pub(crate) start_revision: i64,
    /// When the last response is due to arrive (responses of a stream stay in order).
    pub(crate) arrival: u64,
    pub(crate) ended: bool,
    pub(crate) opened_at: u64,
    /// The created response's header revision (0 until it came).
    pub(crate) created_revision: i64,
    /// The highest revision seen: an event's, or a progress notification's.
    pub(crate) last_revision: i64,
    /// It started in the past and has not yet reached the revision it was created at.
    pub(crate) catching_up: bool,
}

impl World {
    /// The open streams of client `c`.
    pub(crate) fn client_streams(&self, c: usize) -> Vec<StreamView> {
        self.streams
            .iter()
            .filter(|(_, s)| s.client == c && !s.ended)
            .map(|(&stream, _)| StreamView { stream })
            .collect()
    }

    pub(crate) fn open_watch(&mut self, c: usize, request: WatchCreateRequest, lifetime: u64) {
        let stream = self.next_stream;
        self.next_stream += 1;
        let slot = self.client_target_slot(c);
        let history_client = self.clients[c].history_id;
        let watch = self.recorder.open_watch(history_client, self.now, &request);
        self.streams.insert(
            stream,
            Stream {
                client: c,
                watch,
                slot,
                incarnation: None,
                start_revision: request.start_revision,
                arrival: 0,
                ended: false,
                opened_at: self.now,
                created_revision: 0,
                last_revision: 0,
                catching_up: false,
            },
        );
        let delay = self.client_delay();
        self.schedule_at(
            self.now + delay,
            Item::ToMember {
                slot,
                input: Input::WatchCreate { stream, request },
            },
        );
        self.schedule_at(self.now + lifetime, Item::StreamExpired { stream });
    }

    fn client_target_slot(&mut self, c: usize) -> usize {
        let target = self.clients[c].target;
        if self.slots.get(target).is_some_and(|s| s.id != 0) {
            target
        } else {
            let members = self.member_slots();
            members[self.clients[c].rng.range(0, members.len() as u64) as usize]
        }
    }

    pub(crate) fn request_progress(&mut self, stream: StreamId) {
        let Some(state) = self.streams.get(&stream) else {
            return;
        };
        if state.ended || state.incarnation.is_none() {
            return;
        }
        let slot = state.slot;
        let delay = self.client_delay();
        self.schedule_at(
            self.now + delay,
            Item::ToMember {
                slot,
                input: Input::WatchProgress { stream },
            },
        );
    }

    /// The client closes `stream` now (its lifetime ran out, or its workload asked).
    pub(crate) fn close_stream(&mut self, stream: StreamId) {
        let Some(state) = self.streams.get_mut(&stream) else {
            return;
        };
        if state.ended {
            return;
        }
        state.ended = true;
        let (slot, c, resume) = (state.slot, state.client, state.last_revision);
        let delay = self.client_delay();
        self.schedule_at(
            self.now + delay,
            Item::ToMember {
                slot,
                input: Input::WatchClose { stream },
            },
        );
        self.ended_for_workload(c, stream, resume);
    }

    pub(crate) fn stream_expired(&mut self, stream: StreamId) -> Result<(), Violated> {
        self.close_stream(stream);
        Ok(())
    }

    pub(crate) fn stream_broken(&mut self, stream: StreamId) -> Result<(), Violated> {
        let Some(state) = self.streams.get_mut(&stream) else {
            return Ok(());
        };
        if state.ended {
            return Ok(());
        }
        state.ended = true;
        let (c, resume) = (state.client, state.last_revision);
        self.ended_for_workload(c, stream, resume);
        Ok(())
    }

    fn ended_for_workload(&mut self, c: usize, stream: StreamId, last_revision: i64) {
        let resume = if last_revision > 0 {
            last_revision + 1
        } else {
            0
        };
        let _ = self.with_workload(c, |w, cx| w.watch_ended(cx, stream, resume));
        self.forget_ended_streams();
    }

    /// Ended streams stay in the map only while responses may still arrive for them; past
    /// a bound, the oldest ended ones are dropped (late responses are then ignored).
    fn forget_ended_streams(&mut self) {
        const ENDED_KEPT_MAX: usize = 256;
        let ended: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| s.ended)
            .map(|(&id, _)| id)
            .collect();
        if ended.len() > ENDED_KEPT_MAX {
            for id in &ended[..ended.len() - ENDED_KEPT_MAX] {
                self.streams.remove(id);
            }
        }
    }

    /// A watch response reached its client.
    pub(crate) fn watch_response(
        &mut self,
        stream: StreamId,
        response: WatchResponse,
    ) -> Result<(), Violated> {
        let drop_one = self.injects(Injection::DropWatchEvent);
        let last_compaction = self.last_compaction_at;
        let now = self.now;
        let Some(state) = self.streams.get_mut(&stream) else {
            return Ok(());
        };
        if state.ended {
            return Ok(());
        }
        self.recorder
            .watch_response(state.watch, now, &response, drop_one);
        let revision = response.header.revision;
        if response.created {
            state.created_revision = revision;
            state.catching_up = state.start_revision > 0 && state.start_revision <= revision;
        }
        let progress = !response.created && !response.canceled && response.events.is_empty();
        if progress {
            state.last_revision = state.last_revision.max(revision);
            self.props.sometimes(Point::WatchProgressNotified, true);
        }
        if let Some(last) = response.events.last() {
            state.last_revision = state.last_revision.max(last.kv.mod_revision);
        }
        let compacted_meanwhile = last_compaction.is_some_and(|at| at > state.opened_at);
        if state.catching_up && state.last_revision >= state.created_revision {
            state.catching_up = false;
            self.props
                .sometimes(Point::CompactionDuringWatchCatchUp, compacted_meanwhile);
        }
        if response.canceled {
            state.ended = true;
            if state.catching_up && response.compact_revision > 0 {
                self.props
                    .sometimes(Point::CompactionDuringWatchCatchUp, true);
            }
            self.props.sometimes(
                Point::WatchCanceledByCompaction,
                response.compact_revision > 0,
            );
            let (c, last) = (state.client, state.last_revision);
            let resume = if response.compact_revision > 0 {
                // Resume where history is still kept (the events in between are gone).
                response.compact_revision.max(last + 1) - 1
            } else {
                last
            };
            self.ended_for_workload(c, stream, resume);
        }
        Ok(())
    }
}
