//! Clients: one operation at a time each, retried on the answers that say nothing happened
//! ("not leader", "no leader", "too many requests", a member that was down), recorded in the
//! history when their outcome is known, and recorded as unknown when it is not ("leader
//! changed", a timeout, a connection that broke). After an unknown outcome a client goes on
//! under a new history id (the format's rule) and its workload lists the keys next, which
//! reveals what the unknown write did (etcd robustness' rule).
//!
//! What a client does is its [`Workload`]'s choice; `crate::workload` has them.

mod leases;
mod record;
mod watch;

use invar_mvcc::WatchCreateRequest;
use invar_node::{ClientRequest, ClientResponse, RequestError, StreamId};
use invar_raft::Prng;

pub(crate) use leases::LeaseBook;
pub(crate) use record::Recorder;
pub(crate) use watch::Stream;

use crate::convert;
use crate::options::{Injection, NANOS_PER_MILLI};
use crate::props::{Point, Violated};
use crate::world::{Outcome, Owner, Phase, World};

/// Attempts of one operation on answers that say nothing happened, before it is dropped.
const ATTEMPTS_MAX: u32 = 8;

/// How an operation ended, for its workload.
#[derive(Debug)]
pub(crate) enum End<'a> {
    /// It succeeded.
    Ok(&'a ClientResponse),
    /// It failed and had no effect.
    Failed(&'a RequestError),
    /// It may or may not have taken effect.
    Unknown,
    /// Every attempt was refused before doing anything: it is not in the history.
    Abandoned,
}

/// What a workload wants next.
#[derive(Debug)]
pub(crate) enum Plan {
    /// An operation recorded in the history.
    Op(ClientRequest),
    /// An operation the history does not need (status, time-to-live).
    Quiet(ClientRequest),
    /// Nothing for this long.
    Sleep(u64),
}

/// Side requests a workload makes while choosing its next operation.
#[derive(Debug)]
pub(crate) enum Command {
    /// Open a watch that the client closes after `lifetime_nanos`.
    OpenWatch {
        request: WatchCreateRequest,
        lifetime_nanos: u64,
    },
    /// Ask for on-demand progress on a stream.
    Progress { stream: StreamId },
    /// A lease grant sent at `invoke` was acknowledged: (id, granted TTL in seconds).
    LeaseGranted { id: i64, ttl: i64, invoke: u64 },
    /// A keep-alive sent at `invoke` was answered with this TTL.
    LeaseRenewed { id: i64, ttl: i64, invoke: u64 },
    /// A put of `key` with the lease is being sent.
    LeaseKey { id: i64, key: Vec<u8> },
    /// A put with the lease was acknowledged at `revision`.
    LeaseAttached { id: i64, revision: i64 },
    /// A compaction was acknowledged now.
    Compacted,
    /// The workload reached a coverage point.
    Covered(Point),
}

/// A watch stream as its workload sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamView {
    pub(crate) stream: StreamId,
}

/// What a workload may see and do while choosing.
pub(crate) struct Cx<'a> {
    /// Simulated time.
    pub(crate) now: u64,
    /// The client's own generator.
    pub(crate) rng: &'a mut Prng,
    /// The highest revision any response carried.
    pub(crate) head: i64,
    /// The client's index.
    pub(crate) client: usize,
    /// The client's open streams.
    pub(crate) streams: Vec<StreamView>,
    values: &'a mut u64,
    commands: Vec<Command>,
}

impl Cx<'_> {
    /// A value no other write in the run uses.
    pub(crate) fn value(&mut self) -> Vec<u8> {
        *self.values += 1;
        format!("v{}-{}", self.client, self.values).into_bytes()
    }

    /// Queues a side request.
    pub(crate) fn command(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// A draw in `[low, high)` (`low` when the range is empty).
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            low
        } else {
            self.rng.range(low, high)
        }
    }

    /// True with probability `percent` / 100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.rng.chance(percent, 100)
    }
}

/// A client's traffic.
pub(crate) trait Workload {
    /// The next thing to do.
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan;
    /// How the last operation ended (`invoke`: when it was sent).
    fn outcome(&mut self, cx: &mut Cx<'_>, request: &ClientRequest, end: &End<'_>, invoke: u64);
    /// One of its watches ended (closed, canceled or broken); `resume` is the revision to
    /// resume from (0 if none is known).
    fn watch_ended(&mut self, _cx: &mut Cx<'_>, _stream: StreamId, _resume: i64) {}
}

/// An operation a client waits on.
#[derive(Debug)]
pub(crate) struct PendingOp {
    pub(crate) request: ClientRequest,
    pub(crate) recorded: bool,
    pub(crate) invoke: u64,
    pub(crate) attempts: u32,
    pub(crate) id: u64,
}

/// One client.
pub(crate) struct Client {
    /// Its id in the history (a new one after each unknown outcome).
    pub(crate) history_id: u64,
    /// The slot it talks to.
    pub(crate) target: usize,
    workload: Option<Box<dyn Workload>>,
    pub(crate) pending: Option<PendingOp>,
    pub(crate) rng: Prng,
    /// Whether it keeps going after the fault phase (the final probe does).
    pub(crate) settles: bool,
    /// It finished its job (the probe, once its put succeeded).
    pub(crate) finished: bool,
}

impl World {
    /// Creates the profile's clients, the compactor, and wakes them.
    pub(crate) fn start_clients(&mut self, mut rng: Prng) {
        let kinds = self.schedule.profile.client_workloads.clone();
        for (index, kind) in kinds.into_iter().enumerate() {
            let workload = crate::workload::new(kind, index, &mut rng);
            self.add_client(workload, rng.fork(), false);
        }
        let compactor = crate::workload::compactor(&mut rng);
        self.add_client(compactor, rng.fork(), false);
    }

    pub(crate) fn add_client(
        &mut self,
        workload: Box<dyn Workload>,
        mut rng: Prng,
        settles: bool,
    ) -> usize {
        let members = self.member_slots();
        let target = members[rng.range(0, members.len() as u64) as usize];
        let index = self.clients.len();
        let history_id = self.recorder.fresh_client();
        self.clients.push(Client {
            history_id,
            target,
            workload: Some(workload),
            pending: None,
            rng,
            settles,
            finished: false,
        });
        let at = self.now + self.clients[index].rng.range(0, 50 * NANOS_PER_MILLI);
        self.schedule_at(at, crate::world::Item::Wake(index));
        index
    }

    /// Runs `f` with client `c`'s workload and a context, then carries out its commands.
    fn with_workload<T>(
        &mut self,
        c: usize,
        f: impl FnOnce(&mut dyn Workload, &mut Cx<'_>) -> T,
    ) -> Option<T> {
        let mut workload = self.clients[c].workload.take()?;
        let streams = self.client_streams(c);
        let mut rng = std::mem::replace(&mut self.clients[c].rng, Prng::new(0));
        let mut cx = Cx {
            now: self.now,
            rng: &mut rng,
            head: self.head_revision,
            client: c,
            streams,
            values: &mut self.recorder.values,
            commands: Vec::new(),
        };
        let out = f(workload.as_mut(), &mut cx);
        let commands = std::mem::take(&mut cx.commands);
        self.clients[c].rng = rng;
        self.clients[c].workload = Some(workload);
        for command in commands {
            self.client_command(c, command);
        }
        Some(out)
    }

    fn client_command(&mut self, c: usize, command: Command) {
        match command {
            Command::OpenWatch {
                request,
                lifetime_nanos,
            } => self.open_watch(c, request, lifetime_nanos),
            Command::Progress { stream } => self.request_progress(stream),
            Command::LeaseGranted { id, ttl, invoke } => self.lease_granted(id, ttl, invoke),
            Command::LeaseRenewed { id, ttl, invoke } => {
                if let Err(violated) = self.lease_renewed(id, ttl, invoke) {
                    self.violated.get_or_insert(violated);
                }
            }
            Command::LeaseKey { id, key } => self.leases.key_attached(id, key),
            Command::LeaseAttached { id, revision } => self.leases.attached_at(id, revision),
            Command::Compacted => self.last_compaction_at = Some(self.now),
            Command::Covered(point) => self.props.sometimes(point, true),
        }
    }

    /// Client `c` is ready for its next operation.
    pub(crate) fn wake(&mut self, c: usize) -> Result<(), Violated> {
        let client = &self.clients[c];
        if client.pending.is_some() || client.finished {
            return Ok(());
        }
        if self.phase != Phase::Faults && !client.settles {
            return Ok(());
        }
        let Some(plan) = self.with_workload(c, |w, cx| w.next(cx)) else {
            return Ok(());
        };
        match plan {
            Plan::Op(request) => self.issue(c, request, true),
            Plan::Quiet(request) => self.issue(c, request, false),
            Plan::Sleep(nanos) => {
                let at = self.now + nanos.max(NANOS_PER_MILLI);
                self.schedule_at(at, crate::world::Item::Wake(c));
            }
        }
        Ok(())
    }

    /// A member slot for client `c` (its target, or another member if the target is gone).
    fn client_slot(&mut self, c: usize) -> usize {
        let target = self.clients[c].target;
        if self.slots.get(target).is_some_and(|s| s.id != 0) {
            return target;
        }
        self.retarget(c, None)
    }

    /// Points client `c` at the slot of member `leader` if known, else at a random member.
    fn retarget(&mut self, c: usize, leader: Option<u64>) -> usize {
        let chosen = leader.and_then(|id| self.slot_of(id));
        let slot = chosen.unwrap_or_else(|| {
            let pool = self.member_slots();
            pool[self.clients[c].rng.range(0, pool.len() as u64) as usize]
        });
        self.clients[c].target = slot;
        slot
    }

    fn issue(&mut self, c: usize, request: ClientRequest, recorded: bool) {
        if let ClientRequest::LeaseRevoke(revoke) = &request {
            self.leases.revoking(revoke.id, self.now);
        }
        let slot = self.client_slot(c);
        let id = self.send_request(Owner::Client(c), slot, request.clone(), 0);
        self.clients[c].pending = Some(PendingOp {
            request,
            recorded,
            invoke: self.now,
            attempts: 1,
            id,
        });
    }

    fn retry(&mut self, c: usize, leader: Option<u64>, wait: u64) {
        let slot = self.retarget(c, leader);
        let Some(pending) = self.clients[c].pending.as_ref() else {
            return;
        };
        let request = pending.request.clone();
        let id = self.send_request(Owner::Client(c), slot, request, wait);
        if let Some(pending) = self.clients[c].pending.as_mut() {
            pending.attempts += 1;
            pending.id = id;
        }
    }

    /// The outcome of client `c`'s request `id`.
    pub(crate) fn client_outcome(
        &mut self,
        c: usize,
        id: u64,
        outcome: Outcome,
    ) -> Result<(), Violated> {
        let Some(pending) = self.clients[c].pending.as_ref() else {
            return Ok(());
        };
        if pending.id != id {
            return Ok(());
        }
        let retries_left = pending.attempts < ATTEMPTS_MAX || self.clients[c].settles;
        match outcome {
            Outcome::Answer(Ok(response)) => self.finish(c, End::Ok(&response)),
            Outcome::Answer(Err(RequestError::NotLeader { leader })) if retries_left => {
                self.retry(c, Some(leader), 5 * NANOS_PER_MILLI);
                Ok(())
            }
            Outcome::Answer(Err(
                RequestError::NoLeader
                | RequestError::TooManyRequests
                | RequestError::ProposalDropped
                | RequestError::MemberRemoved
                | RequestError::NotSupportedForLearner,
            ))
            | Outcome::Refused
                if retries_left =>
            {
                self.retry(c, None, 50 * NANOS_PER_MILLI);
                Ok(())
            }
            Outcome::Answer(Err(error)) if error.outcome_unknown() => {
                if matches!(error, RequestError::LeaderChanged) {
                    self.props.sometimes(Point::LeaderChangedDuringWrite, true);
                }
                self.finish(c, End::Unknown)
            }
            Outcome::Answer(Err(
                RequestError::NotLeader { .. }
                | RequestError::NoLeader
                | RequestError::TooManyRequests
                | RequestError::ProposalDropped
                | RequestError::MemberRemoved
                | RequestError::NotSupportedForLearner,
            ))
            | Outcome::Refused => self.finish(c, End::Abandoned),
            Outcome::Answer(Err(error)) => self.finish(c, End::Failed(&error)),
            Outcome::Broken | Outcome::TimedOut => self.finish(c, End::Unknown),
        }
    }

    /// Ends client `c`'s operation: records it, tells its workload, and wakes it soon.
    fn finish(&mut self, c: usize, end: End<'_>) -> Result<(), Violated> {
        let Some(pending) = self.clients[c].pending.take() else {
            return Ok(());
        };
        self.note_end(&pending.request, &end);
        if pending.recorded && !matches!(end, End::Abandoned) {
            let mut record = invar_check::format::OpRecord {
                client: self.clients[c].history_id,
                invoke: pending.invoke,
                return_time: Some(self.now),
                request: convert::request(&pending.request),
                response: None,
                error: None,
            };
            match &end {
                End::Ok(response) => {
                    let mut recorded = convert::response(response);
                    if self.injects(Injection::CorruptReadValue) && !self.recorder.corrupted {
                        self.recorder.corrupted = record::corrupt_read(&mut recorded);
                    }
                    record.response = Some(recorded);
                }
                End::Failed(error) => record.error = Some(error.to_string()),
                End::Unknown => record.return_time = None,
                End::Abandoned => {}
            }
            self.recorder.push_op(record);
        }
        if matches!(end, End::Unknown) {
            self.clients[c].history_id = self.recorder.fresh_client();
        }
        if !matches!(end, End::Ok(_)) {
            let _slot = self.retarget(c, None);
        }
        let invoke = pending.invoke;
        let _ = self.with_workload(c, |w, cx| w.outcome(cx, &pending.request, &end, invoke));
        if self.clients[c].settles && matches!(end, End::Ok(_)) {
            self.clients[c].finished = true;
        }
        let think = self.clients[c].rng.range(0, 20 * NANOS_PER_MILLI);
        self.schedule_at(self.now + think, crate::world::Item::Wake(c));
        Ok(())
    }

    /// Coverage points an operation's end reaches, and the operator's quota duty.
    fn note_end(&mut self, request: &ClientRequest, end: &End<'_>) {
        match end {
            End::Failed(RequestError::NoSpace) => {
                self.props.sometimes(Point::NoSpaceAlarm, true);
                self.recover_quota();
            }
            End::Failed(RequestError::Mvcc(invar_mvcc::MvccError::Compacted)) => {
                self.props.sometimes(Point::ReadOfCompactedRevision, true);
            }
            End::Ok(ClientResponse::Range(range)) => {
                if let ClientRequest::Range(req) = request
                    && req.serializable
                {
                    let stale = range.header.revision < self.acknowledged_revision;
                    self.props.sometimes(Point::StaleReadServed, stale);
                }
            }
            End::Ok(ClientResponse::Applied(invar_mvcc::Response::Txn(txn))) => {
                if !txn.succeeded {
                    self.props.sometimes(Point::TxnCompareFailed, true);
                }
                self.acknowledged_revision = self.acknowledged_revision.max(txn.header.revision);
            }
            End::Ok(response) => {
                if matches!(
                    response,
                    ClientResponse::Applied(
                        invar_mvcc::Response::Put(_) | invar_mvcc::Response::DeleteRange(_)
                    )
                ) {
                    self.acknowledged_revision =
                        self.acknowledged_revision.max(response.header().revision);
                }
            }
            _ => {}
        }
    }

    /// The prober: one put that must succeed after the fault phase (etcd robustness'
    /// final write), retried without limit.
    pub(crate) fn start_probe(&mut self) {
        if self.injects(Injection::WithholdProbe) {
            return;
        }
        let rng = self.rng.fork();
        let probe = crate::workload::probe();
        let index = self.add_client(probe, rng, true);
        self.probe_client = Some(index);
    }
}
