//! The recorded history, in `invar-check`'s format: operations (with invoke and return
//! times in simulated nanoseconds; no return time when the outcome is unknown), watch
//! requests, and every watch response as the client received it.

use invar_check::format::{
    EventType, History, OpRecord, Response, WatchEvent, WatchFilter, WatchRecord,
    WatchResponseRecord,
};
use invar_mvcc::{FilterType, WatchCreateRequest, WatchResponse};

use crate::convert;

/// The history being recorded.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    ops: Vec<OpRecord>,
    watches: Vec<WatchRecord>,
    responses: Vec<WatchResponseRecord>,
    next_client: u64,
    next_watch: u64,
    /// Counter behind unique values.
    pub(crate) values: u64,
    /// Injection `corrupt-read-value` has been applied.
    pub(crate) corrupted: bool,
    /// Injection `drop-watch-event` has been applied.
    pub(crate) dropped: bool,
    /// The counts, once the records were taken.
    counts: Option<(usize, usize, usize)>,
}

impl Recorder {
    /// A history client id never used before.
    pub(crate) fn fresh_client(&mut self) -> u64 {
        self.next_client += 1;
        self.next_client
    }

    /// Appends an operation.
    pub(crate) fn push_op(&mut self, record: OpRecord) {
        self.ops.push(record);
    }

    /// The operations so far.
    pub(crate) fn ops(&self) -> &[OpRecord] {
        &self.ops
    }

    /// Records a watch request sent at `time` by history client `client`; returns its id.
    pub(crate) fn open_watch(
        &mut self,
        client: u64,
        time: u64,
        request: &WatchCreateRequest,
    ) -> u64 {
        self.next_watch += 1;
        let filters = request
            .filters
            .iter()
            .map(|f| match f {
                FilterType::NoPut => WatchFilter::NoPut,
                FilterType::NoDelete => WatchFilter::NoDelete,
            })
            .collect();
        self.watches.push(WatchRecord {
            watch: self.next_watch,
            client,
            time,
            key: convert::text(&request.key),
            range_end: convert::range_end(&request.range_end),
            start_revision: request.start_revision,
            prev_kv: request.prev_kv,
            filters,
            progress_notify: request.progress_notify,
        });
        self.next_watch
    }

    /// Records a watch response received at `time`; with `drop_one`, the first event of the
    /// first response that has one is left out (injection `drop-watch-event`).
    pub(crate) fn watch_response(
        &mut self,
        watch: u64,
        time: u64,
        response: &WatchResponse,
        drop_one: bool,
    ) {
        let mut events: Vec<WatchEvent> = response
            .events
            .iter()
            .map(|event| WatchEvent {
                event_type: match event.r#type {
                    invar_mvcc::EventType::Put => EventType::Put,
                    invar_mvcc::EventType::Delete => EventType::Delete,
                },
                kv: convert::kv(&event.kv),
                prev_kv: event.prev_kv.as_ref().map(convert::kv),
            })
            .collect();
        let progress_notify = !response.created && !response.canceled && events.is_empty();
        if drop_one && !self.dropped && !events.is_empty() {
            events.remove(0);
            self.dropped = true;
        }
        self.responses.push(WatchResponseRecord {
            watch,
            time,
            revision: response.header.revision,
            created: response.created,
            canceled: response.canceled,
            compact_revision: response.compact_revision,
            progress_notify,
            events,
        });
    }

    /// (operations, of which with an unknown outcome, watch responses) recorded.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        self.counts.unwrap_or_else(|| {
            (
                self.ops.len(),
                self.ops.iter().filter(|r| r.return_time.is_none()).count(),
                self.responses.len(),
            )
        })
    }

    /// The history, with `extra` operations (the possible lease expiries) after the
    /// recorded ones. Lines are numbered as in the written file (the header is line 1).
    pub(crate) fn history(&self, extra: Vec<OpRecord>) -> History {
        numbered(
            self.ops.iter().cloned().chain(extra),
            self.watches.iter().cloned(),
            self.responses.iter().cloned(),
        )
    }

    /// [`Recorder::history`], moving the records out (a long run's history is the biggest
    /// thing in the world: the final check must not hold it twice). The counts stay.
    pub(crate) fn take_history(&mut self, extra: Vec<OpRecord>) -> History {
        self.counts = Some(self.counts());
        numbered(
            std::mem::take(&mut self.ops).into_iter().chain(extra),
            std::mem::take(&mut self.watches).into_iter(),
            std::mem::take(&mut self.responses).into_iter(),
        )
    }
}

/// Numbers the records as in the written file (the header is line 1): operations, then
/// watches, then watch responses.
fn numbered(
    ops: impl Iterator<Item = OpRecord>,
    watches: impl Iterator<Item = WatchRecord>,
    responses: impl Iterator<Item = WatchResponseRecord>,
) -> History {
    let mut line = 1;
    let mut next = || {
        line += 1;
        line
    };
    let ops = ops.map(|op| (next(), op)).collect();
    let watches = watches.map(|w| (next(), w)).collect();
    let watch_responses = responses.map(|r| (next(), r)).collect();
    History {
        ops,
        watches,
        watch_responses,
    }
}

/// Injection `corrupt-read-value`: a read that saw a value reports one nobody wrote.
/// Returns whether it changed anything.
pub(crate) fn corrupt_read(response: &mut Response) -> bool {
    if let Some(kv) = response.kvs.first_mut() {
        kv.value = "corrupted-by-injection".to_string();
        return true;
    }
    false
}
