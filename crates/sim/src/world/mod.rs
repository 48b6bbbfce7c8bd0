//! The world of one seed: member slots on simulated disks with simulated clocks, the
//! network, clients, the operator, and the schedule of faults, all driven by one
//! discrete-event loop. Time jumps to the next event; nothing sleeps. Events at the same
//! time run in the order they were scheduled (a sequence number breaks ties), and a member
//! tick due at the same time as a queued item runs first.
//!
//! Randomness: one root generator per seed, from which each subsystem forks its own at the
//! start (network, clients, disks, member seeds), so that one subsystem drawing more never
//! shifts another. Fault choices come from each fault's salt (see `schedule.rs`).
//!
//! The rest of the world lives in sibling modules as `impl World` blocks: `members.rs`
//! (feeding members, crashes, restarts, what is observed after each event), `faults.rs`
//! (the schedule's faults and their ends), `operator.rs` (multi-step procedures such as
//! replacing a member), `phases.rs` (the end of the fault phase, settling, convergence) and
//! `crate::clients` (client sessions, watches, the recorded history).

mod clock;
mod faults;
mod members;
mod net;
mod operator;
mod phases;

use std::collections::BTreeMap;

use invar_mvcc::WatchResponse;
use invar_node::{ClientRequest, ClientResponse, RequestError, RequestId, StreamId};
use invar_raft::{Message, NodeId, Prng};

use crate::clients::{Client, Recorder, Stream};
use crate::options::{Injection, NANOS_PER_SECOND, Options};
use crate::props::{Point, Props, Violated};
use crate::schedule::Schedule;
use crate::{Failure, Report};

pub(crate) use members::Slot;
pub(crate) use operator::Operator;

/// A client gives up on a request after this long: the outcome is unknown.
pub(crate) const CLIENT_TIMEOUT_NANOS: u64 = 4 * NANOS_PER_SECOND;
/// Hashes of the live members are compared this often.
const AUDIT_NANOS: u64 = 2 * NANOS_PER_SECOND;

/// What a run recorded, when asked to keep it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The history in `invar-check`'s JSON-lines format, as far as the run got.
    pub history: String,
    /// Notable events, one line each: faults, crashes, restarts, operator steps.
    pub events: Vec<String>,
}

/// Who sent the effects an item carries: dropped if that incarnation of the slot died before
/// `release` (the moment its disk work finished and the effects left the process).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    pub(crate) slot: usize,
    pub(crate) incarnation: u64,
    pub(crate) release: u64,
}

/// What a client or the operator sends a member.
#[derive(Debug)]
pub(crate) enum Input {
    Request {
        id: RequestId,
        request: ClientRequest,
    },
    WatchCreate {
        stream: StreamId,
        request: invar_mvcc::WatchCreateRequest,
    },
    WatchProgress {
        stream: StreamId,
    },
    WatchClose {
        stream: StreamId,
    },
}

/// How a request ended, as its sender sees it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The member answered.
    Answer(Result<ClientResponse, RequestError>),
    /// It never reached a process (the member was down): nothing happened.
    Refused,
    /// The connection broke after it was delivered (the member crashed): unknown.
    Broken,
    /// No answer in time: unknown.
    TimedOut,
}

/// One scheduled happening.
#[derive(Debug)]
pub(crate) enum Item {
    /// A raft message arrives at slot `to`.
    Peer {
        to: usize,
        message: Message,
        origin: Origin,
    },
    /// A client's or the operator's input arrives at a slot.
    ToMember { slot: usize, input: Input },
    /// A request ends for its sender.
    Done {
        id: RequestId,
        outcome: Outcome,
        origin: Option<Origin>,
    },
    /// A watch response reaches its client.
    WatchResponse {
        stream: StreamId,
        response: WatchResponse,
        origin: Origin,
    },
    /// A watch stream broke (its member went down, or it never reached one).
    StreamBroken { stream: StreamId },
    /// A client's watch lived its time: the client closes it.
    StreamExpired { stream: StreamId },
    /// A client is ready for its next operation.
    Wake(usize),
    /// A request's client-side timeout.
    Timeout { id: RequestId },
    /// The schedule's fault number `index` fires.
    Fault(usize),
    /// A fault's effect ends.
    FaultEnd(faults::End),
    /// A crashed member restarts.
    Restart { slot: usize, incarnation: u64 },
    /// The member that granted a vote dies, once the vote has left (fault crash-after-vote).
    CrashAfterVote {
        slot: usize,
        incarnation: u64,
        down: u64,
    },
    /// The operator's next step.
    Operator,
    /// Compare the live members' hashes.
    Audit,
    /// The fault phase ends.
    EndOfFaults,
    /// Liveness mode: pick the core once the operator is idle.
    ChooseCore,
    /// Is the cluster settled?
    Probe,
}

impl Item {
    /// A compact summary for the trace hash.
    fn code(&self) -> u64 {
        let small = |n: usize| n as u64;
        match self {
            Item::Peer { to, message, .. } => {
                1 | (small(*to) << 8) | (message.from << 16) | (message.term << 32)
            }
            Item::ToMember { slot, input } => {
                let what = match input {
                    Input::Request { id, .. } => *id,
                    Input::WatchCreate { stream, .. } => stream << 2 | 1,
                    Input::WatchProgress { stream } => stream << 2 | 2,
                    Input::WatchClose { stream } => stream << 2 | 3,
                };
                2 | (small(*slot) << 8) | (what << 16)
            }
            Item::Done { id, outcome, .. } => {
                let kind = match outcome {
                    Outcome::Answer(Ok(_)) => 0,
                    Outcome::Answer(Err(_)) => 1,
                    Outcome::Refused => 2,
                    Outcome::Broken => 3,
                    Outcome::TimedOut => 4,
                };
                3 | (kind << 8) | (id << 16)
            }
            Item::WatchResponse {
                stream, response, ..
            } => 4 | (stream << 8) | ((response.header.revision as u64) << 32),
            Item::StreamBroken { stream } => 5 | (stream << 8),
            Item::StreamExpired { stream } => 6 | (stream << 8),
            Item::Wake(c) => 7 | (small(*c) << 8),
            Item::Timeout { id } => 8 | (id << 8),
            Item::Fault(i) => 9 | (small(*i) << 8),
            Item::FaultEnd(end) => 10 | (end.code() << 8),
            Item::Restart { slot, incarnation } => 11 | (small(*slot) << 8) | (incarnation << 16),
            Item::CrashAfterVote {
                slot, incarnation, ..
            } => 17 | (small(*slot) << 8) | (incarnation << 16),
            Item::Operator => 12,
            Item::Audit => 13,
            Item::EndOfFaults => 14,
            Item::Probe => 15,
            Item::ChooseCore => 16,
        }
    }
}

/// Who is waiting on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A client's current operation.
    Client(usize),
    /// The operator's current step.
    Operator,
}

/// A request in flight.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) owner: Owner,
    pub(crate) slot: usize,
    /// The incarnation it was delivered to, once delivered.
    pub(crate) delivered: Option<u64>,
}

/// The phase of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Faults fire; clients run.
    Faults,
    /// Faults are over (all of them in safety mode, the core's in liveness mode); pending
    /// requests finish and the cluster should converge.
    Settle,
    /// Settled (or gave up waiting, in safety mode).
    Done,
}

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The whole simulated world of one seed.
pub(crate) struct World {
    pub(crate) seed: u64,
    pub(crate) options: Options,
    pub(crate) schedule: Schedule,
    pub(crate) now: u64,
    pub(crate) phase: Phase,
    events: u64,
    trace: u64,
    pub(crate) props: Props,
    pub(crate) queue: BTreeMap<(u64, u64), Item>,
    seq: u64,
    queue_max: usize,
    pub(crate) slots: Vec<Slot>,
    pub(crate) net: net::Network,
    /// Draws for client delays and the members' own seeds.
    pub(crate) rng: Prng,
    /// Draws for disks: fresh disks after a wipe, corrupted offsets.
    pub(crate) disk_rng: Prng,
    pub(crate) clients: Vec<Client>,
    pub(crate) recorder: Recorder,
    /// Watch streams by id.
    pub(crate) streams: BTreeMap<StreamId, Stream>,
    pub(crate) next_stream: StreamId,
    pub(crate) requests: BTreeMap<RequestId, InFlight>,
    pub(crate) next_request: RequestId,
    pub(crate) operator: Operator,
    /// The member id that led each term.
    pub(crate) leaders: BTreeMap<u64, NodeId>,
    /// The revision of every applied raft index observed so far.
    pub(crate) revision_at: BTreeMap<u64, i64>,
    /// (revision, when some member first reached it), by revision: the moment each new
    /// highest revision was first applied anywhere.
    pub(crate) first_reached: Vec<(i64, u64)>,
    /// When each (slot, incarnation) died.
    pub(crate) deaths: BTreeMap<(usize, u64), u64>,
    /// Member ids ever given out, for new members.
    pub(crate) next_member_id: NodeId,
    /// The highest revision any response carried (the workloads aim near it).
    pub(crate) head_revision: i64,
    /// When the cluster last had a leader (for the no-leader coverage point).
    pub(crate) leader_seen_at: u64,
    /// Liveness mode: the slots healed for good at the end of the fault phase.
    pub(crate) core: Vec<usize>,
    /// Counters for the report.
    pub(crate) stats: Stats,
    /// The first property that failed.
    pub(crate) violated: Option<Violated>,
    /// What clients know of their leases.
    pub(crate) leases: crate::clients::LeaseBook,
    /// When a compaction was last acknowledged.
    pub(crate) last_compaction_at: Option<u64>,
    /// The highest revision of an acknowledged write.
    pub(crate) acknowledged_revision: i64,
    /// The final probe's client.
    pub(crate) probe_client: Option<usize>,
    /// The history as checked (set by the final check).
    pub(crate) history_text: Option<String>,
    /// Keep the history's text for the caller (`run(keep)`); otherwise it is only hashed.
    pub(crate) keep_history: bool,
    /// Notable events (faults, crashes, restarts, operator steps), when asked for.
    pub(crate) log: Option<Vec<String>>,
}

/// Counters a report shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) faults_fired: u64,
    pub(crate) crashes: u64,
    pub(crate) restarts: u64,
    pub(crate) partitions: u64,
    pub(crate) messages: u64,
    pub(crate) settled_at: Option<u64>,
    /// Safety mode: how the cluster looked when it gave up waiting for it to settle.
    pub(crate) unsettled: Option<String>,
}

impl World {
    pub(crate) fn new(seed: u64, options: &Options, schedule: Schedule) -> Result<World, Failure> {
        let mut root = Prng::new(seed);
        let net_rng = root.fork();
        let rng = root.fork();
        let mut disk_rng = root.fork();
        let client_rng = root.fork();
        let profile = &schedule.profile;
        let net = net::Network::new(profile.slots, profile.links.clone(), net_rng);
        let mut world = World {
            seed,
            options: options.clone(),
            now: 0,
            phase: Phase::Faults,
            events: 0,
            trace: 0xcbf2_9ce4_8422_2325,
            props: Props::default(),
            queue: BTreeMap::new(),
            seq: 0,
            queue_max: 0,
            slots: Vec::new(),
            net,
            rng,
            disk_rng: disk_rng.fork(),
            clients: Vec::new(),
            recorder: Recorder::default(),
            streams: BTreeMap::new(),
            next_stream: 1,
            requests: BTreeMap::new(),
            next_request: 1,
            operator: Operator::default(),
            leaders: BTreeMap::new(),
            revision_at: BTreeMap::new(),
            first_reached: vec![(1, 0)],
            deaths: BTreeMap::new(),
            next_member_id: 100,
            head_revision: 1,
            leader_seen_at: 0,
            core: Vec::new(),
            stats: Stats::default(),
            violated: None,
            leases: crate::clients::LeaseBook::default(),
            last_compaction_at: None,
            acknowledged_revision: 0,
            probe_client: None,
            history_text: None,
            keep_history: false,
            log: None,
            schedule,
        };
        world.open_slots(&mut disk_rng)?;
        world.start_clients(client_rng);
        for index in 0..world.schedule.faults.len() {
            let at = world.schedule.faults[index].at_nanos;
            world.schedule_at(at, Item::Fault(index));
        }
        world.schedule_at(AUDIT_NANOS, Item::Audit);
        world.schedule_at(world.options.time_nanos, Item::EndOfFaults);
        Ok(world)
    }

    /// A failure of `point` at the current trace.
    pub(crate) fn failure(&self, violated: Violated) -> Failure {
        Failure {
            seed: self.seed,
            property: violated.point.name().to_string(),
            detail: violated.detail,
            trace_hash: self.trace,
            sim_nanos: self.now,
        }
    }

    /// Queues `item` at `at` (never in the past).
    pub(crate) fn schedule_at(&mut self, at: u64, item: Item) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), item);
        self.queue_max = self.queue_max.max(self.queue.len());
    }

    /// Whether a world-level injection is on.
    pub(crate) fn injects(&self, injection: Injection) -> bool {
        self.options.inject == Some(injection)
    }

    /// The next member tick due: (time, slot).
    fn next_tick(&self) -> Option<(u64, usize)> {
        (0..self.slots.len())
            .filter_map(|slot| self.tick_due(slot).map(|at| (at, slot)))
            .min()
    }

    /// Runs to the end, then judges the run; with `keep`, also returns the recorded history
    /// (as far as it got) in the JSON-lines format.
    pub(crate) fn run(mut self, keep: bool) -> (Result<Report, Failure>, Option<Recording>) {
        if keep {
            self.log = Some(Vec::new());
            self.keep_history = true;
        }
        let judged = self.drive().and_then(|()| self.judge());
        let recording = keep.then(|| Recording {
            history: self.history_text.take().unwrap_or_else(|| {
                invar_check::format::write_history(&self.recorder.history(Vec::new()))
            }),
            events: self.log.take().unwrap_or_default(),
        });
        (judged.map(|()| self.report()), recording)
    }

    /// Notes a notable event in the log (when one is kept).
    pub(crate) fn note(&mut self, what: impl FnOnce() -> String) {
        const LOG_LINES_MAX: usize = 200_000;
        let now = self.now;
        if let Some(log) = self.log.as_mut()
            && log.len() < LOG_LINES_MAX
        {
            log.push(format!("{:>10.3} ms  {}", now as f64 / 1e6, what()));
        }
    }

    /// The event loop, until the run is done.
    fn drive(&mut self) -> Result<(), Failure> {
        let hard_end = self.options.time_nanos + self.options.settle_nanos;
        while self.phase != Phase::Done {
            let tick = self.next_tick();
            let next = self.queue.first_key_value().map(|(key, _)| key.0);
            let (at, take_tick) = match (tick, next) {
                (Some((t, _)), Some(q)) if t <= q => (t, true),
                (Some((t, _)), None) => (t, true),
                (_, Some(q)) => (q, false),
                (None, None) => (hard_end, false),
            };
            if at > hard_end {
                self.now = hard_end;
                if let Err(violated) = self.out_of_time() {
                    return Err(self.failure(violated));
                }
                break;
            }
            self.now = self.now.max(at);
            self.events += 1;
            let result = if take_tick {
                let slot = tick.map_or(0, |t| t.1);
                self.trace = fnv(
                    self.trace,
                    &(self.now ^ ((slot as u64) << 56)).to_le_bytes(),
                );
                self.tick(slot)
            } else if let Some((_, item)) = self.queue.pop_first() {
                self.trace = fnv(self.trace, &self.now.to_le_bytes());
                self.trace = fnv(self.trace, &item.code().to_le_bytes());
                self.process(item)
            } else {
                Ok(())
            };
            if let Err(violated) = result {
                return Err(self.failure(violated));
            }
            if let Some(violated) = self.violated.take() {
                return Err(self.failure(violated));
            }
        }
        Ok(())
    }

    fn process(&mut self, item: Item) -> Result<(), Violated> {
        match item {
            Item::Peer {
                to,
                message,
                origin,
            } => {
                if self.is_stale(origin) || self.net.is_blocked(origin.slot, to) {
                    return Ok(());
                }
                self.deliver_peer(to, message, origin)
            }
            Item::ToMember { slot, input } => self.deliver_input(slot, input),
            Item::Done {
                id,
                outcome,
                origin,
            } => {
                if origin.is_some_and(|o| self.is_stale(o)) {
                    // The member died before this answer left it: the sender sees the
                    // connection break instead (scheduled when it died).
                    return Ok(());
                }
                self.request_done(id, outcome)
            }
            Item::WatchResponse {
                stream,
                response,
                origin,
            } => {
                if self.is_stale(origin) {
                    return Ok(());
                }
                self.watch_response(stream, response)
            }
            Item::StreamBroken { stream } => self.stream_broken(stream),
            Item::StreamExpired { stream } => self.stream_expired(stream),
            Item::Wake(client) => self.wake(client),
            Item::Timeout { id } => {
                if self.requests.contains_key(&id) {
                    self.request_done(id, Outcome::TimedOut)?;
                }
                Ok(())
            }
            Item::Fault(index) => {
                if self.phase == Phase::Faults {
                    self.fire(index)?;
                }
                Ok(())
            }
            Item::FaultEnd(end) => self.fault_end(end),
            Item::Restart { slot, incarnation } => {
                if self.slots[slot].incarnation == incarnation {
                    self.restart(slot)?;
                }
                Ok(())
            }
            Item::CrashAfterVote {
                slot,
                incarnation,
                down,
            } => {
                if self.slots[slot].incarnation == incarnation && self.phase == Phase::Faults {
                    self.note(|| format!("slot {slot}: crashes just after granting a vote"));
                    self.crash(slot, false, Some(down));
                }
                Ok(())
            }
            Item::Operator => self.operator_step(),
            Item::Audit => {
                if self.log.is_some() {
                    let status = self.status();
                    self.note(|| format!("status: {status}"));
                }
                let leaderless = self.now.saturating_sub(self.leader_seen_at);
                self.props
                    .sometimes(Point::NoLeaderForAWhile, leaderless > NANOS_PER_SECOND);
                self.audit()?;
                if self.phase != Phase::Done {
                    self.schedule_at(self.now + AUDIT_NANOS, Item::Audit);
                }
                Ok(())
            }
            Item::EndOfFaults => self.end_of_faults(),
            Item::ChooseCore => self.choose_core_when_idle(),
            Item::Probe => self.probe(),
        }
    }

    /// Whether effects from `origin` were lost with a crash.
    fn is_stale(&self, origin: Origin) -> bool {
        self.deaths
            .get(&(origin.slot, origin.incarnation))
            .is_some_and(|&died| died < origin.release)
    }

    /// A one-way client ↔ member delay.
    pub(crate) fn client_delay(&mut self) -> u64 {
        let (low, high) = self.schedule.profile.client_delay_nanos;
        self.rng.range(low, high.max(low + 1))
    }

    /// Sends `request` from `owner` to `slot` after `wait`; returns its id. Its client-side
    /// timeout counts from when it leaves.
    pub(crate) fn send_request(
        &mut self,
        owner: Owner,
        slot: usize,
        request: ClientRequest,
        wait: u64,
    ) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        self.requests.insert(
            id,
            InFlight {
                owner,
                slot,
                delivered: None,
            },
        );
        let delay = self.client_delay();
        let leaves = self.now + wait;
        self.schedule_at(
            leaves + delay,
            Item::ToMember {
                slot,
                input: Input::Request { id, request },
            },
        );
        self.schedule_at(leaves + CLIENT_TIMEOUT_NANOS, Item::Timeout { id });
        id
    }

    /// A request ended: hand the outcome to whoever waits on it.
    fn request_done(&mut self, id: RequestId, outcome: Outcome) -> Result<(), Violated> {
        let Some(flight) = self.requests.remove(&id) else {
            return Ok(()); // Already ended (timed out, or broken by a crash).
        };
        if let Outcome::Answer(Ok(response)) = &outcome {
            self.head_revision = self.head_revision.max(response.header().revision);
        }
        match flight.owner {
            Owner::Client(client) => self.client_outcome(client, id, outcome),
            Owner::Operator => self.operator_outcome(id, outcome),
        }
    }

    /// When some member first reached `revision` (a revision no member reached: now).
    pub(crate) fn first_reached_at(&self, revision: i64) -> u64 {
        let i = self.first_reached.partition_point(|&(r, _)| r < revision);
        self.first_reached.get(i).map_or(self.now, |&(_, at)| at)
    }

    /// The slots whose member is up.
    pub(crate) fn up_slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].member.is_some())
            .collect()
    }

    /// The slots that hold a member of the cluster (up or down), not the spare.
    pub(crate) fn member_slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].id != 0)
            .collect()
    }

    /// The slot of the leader with the highest term among the live members.
    pub(crate) fn leader_slot(&self) -> Option<usize> {
        self.up_slots()
            .into_iter()
            .filter_map(|s| {
                let member = self.slots[s].member.as_ref()?;
                member.is_leader().then_some((member.term(), s))
            })
            .max()
            .map(|(_, s)| s)
    }

    /// The slot of member `id`.
    pub(crate) fn slot_of(&self, id: NodeId) -> Option<usize> {
        (id != 0)
            .then(|| self.slots.iter().position(|s| s.id == id))
            .flatten()
    }

    /// The report of a passing run.
    pub(crate) fn report(self) -> Report {
        let (operations, unknown_outcomes, watch_responses) = self.recorder.counts();
        Report {
            seed: self.seed,
            trace_hash: self.trace,
            sim_nanos: self.now,
            events: self.events,
            operations,
            unknown_outcomes,
            watch_responses,
            faults_fired: self.stats.faults_fired,
            crashes: self.stats.crashes,
            partitions: self.stats.partitions,
            settled_nanos: self.stats.settled_at,
            unsettled: self.stats.unsettled.clone(),
            queue_max: self.queue_max,
            enabled: self.schedule.profile.enabled.clone(),
            coverage: self.props.into_coverage(),
        }
    }

    /// Folds the recorded history into the trace (at the end): its text, line by line (the
    /// same value as hashing the whole text at once), kept only for a caller that asked.
    pub(crate) fn hash_history(&mut self, history: &invar_check::format::History) {
        let keep = self.keep_history;
        let mut text = String::new();
        let mut trace = self.trace;
        invar_check::format::for_each_history_line(history, |line| {
            trace = fnv(fnv(trace, line.as_bytes()), b"\n");
            if keep {
                text.push_str(line);
                text.push('\n');
            }
        });
        self.trace = trace;
        if keep {
            self.history_text = Some(text);
        }
    }
}
