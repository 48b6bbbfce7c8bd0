//! `watch`: watchers over the kv keys, as etcd robustness' watch loop: read a key for the
//! current revision, then watch the prefix (or one key) from that revision plus an offset in
//! [-100, +100], so past (possibly compacted), present and future starts all occur; with
//! prev_kv, progress notifications and filters drawn per watch; each watch lives a while,
//! and on-demand progress is asked for now and then. A watch that ends is resumed from the
//! revision after the last one it saw. Between watches the client writes kv traffic.

use invar_mvcc::{FilterType, WatchCreateRequest};
use invar_node::ClientRequest;
use invar_raft::Prng;

use super::kv::Kv;
use super::{get, prefix_end, revision_of};
use crate::clients::{Command, Cx, End, Plan, Workload};
use crate::options::{NANOS_PER_MILLI, NANOS_PER_SECOND};

const PREFIX: &[u8] = b"kv/";

pub(crate) struct Watchers {
    /// Watches this client keeps open.
    want: usize,
    /// Revisions to resume ended watches from.
    resumes: Vec<i64>,
    /// A read for the current revision is in flight.
    reading: bool,
    /// The revision the last read returned, to open the next watch from.
    base: Option<i64>,
    writer: Kv,
}

impl Watchers {
    pub(crate) fn new(rng: &mut Prng) -> Watchers {
        Watchers {
            want: rng.range(1, 4) as usize,
            resumes: Vec::new(),
            reading: false,
            base: None,
            writer: Kv::new("kv/", 10),
        }
    }

    fn open(cx: &mut Cx<'_>, start_revision: i64) {
        let single = cx.percent(20);
        let key = if single {
            format!("kv/k{}", cx.between(0, 10)).into_bytes()
        } else {
            PREFIX.to_vec()
        };
        let range_end = if single {
            Vec::new()
        } else {
            prefix_end(PREFIX)
        };
        let filters = match cx.between(0, 20) {
            0 => vec![FilterType::NoPut],
            1 => vec![FilterType::NoDelete],
            _ => Vec::new(),
        };
        let progress_notify = cx.percent(50);
        let prev_kv = cx.percent(50);
        let lifetime_nanos = cx.between(500 * NANOS_PER_MILLI, 5 * NANOS_PER_SECOND);
        cx.command(Command::OpenWatch {
            request: WatchCreateRequest {
                key,
                range_end,
                start_revision,
                progress_notify,
                filters,
                prev_kv,
                ..WatchCreateRequest::default()
            },
            lifetime_nanos,
        });
    }
}

impl Workload for Watchers {
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan {
        if let Some(resume) = self.resumes.pop() {
            Watchers::open(cx, resume);
        }
        if let Some(base) = self.base.take() {
            let start = match cx.between(0, 5) {
                0 => 0,
                _ => (base + cx.between(0, 201) as i64 - 100).max(1),
            };
            Watchers::open(cx, start);
        }
        if cx.streams.len() < self.want && !self.reading {
            self.reading = true;
            return Plan::Op(get(format!("kv/k{}", cx.between(0, 10)).into_bytes()));
        }
        if !cx.streams.is_empty() && cx.percent(10) {
            let pick = cx.between(0, cx.streams.len() as u64) as usize;
            let stream = cx.streams[pick].stream;
            cx.command(Command::Progress { stream });
        }
        if cx.percent(70) {
            self.writer.next(cx)
        } else {
            Plan::Sleep(cx.between(5 * NANOS_PER_MILLI, 100 * NANOS_PER_MILLI))
        }
    }

    fn outcome(&mut self, cx: &mut Cx<'_>, request: &ClientRequest, end: &End<'_>, invoke: u64) {
        if std::mem::take(&mut self.reading) {
            self.base = revision_of(end);
            return;
        }
        self.writer.outcome(cx, request, end, invoke);
    }

    fn watch_ended(&mut self, cx: &mut Cx<'_>, _: invar_node::StreamId, resume: i64) {
        if resume > 0 && cx.percent(70) {
            self.resumes.push(resume);
        }
    }
}
