//! The operator: maintenance and membership procedures under load, one step at a time, as
//! an etcd operator (or etcd robustness' failpoints) would run them. A procedure is a list
//! of steps: send a request (to the leader or to one member) and wait for it, retrying the
//! answers that mean "not now"; wipe a member's disk; start a member on a slot. Membership
//! follows etcd's advice: a new member joins as a learner and is promoted once caught up.
//!
//! Replacing a member (robustness' MemberReplace): remove it, wipe its disk, add it back
//! under a new id as a learner, start it with `join_existing`, promote it. Growing adds a
//! learner on the spare slot and promotes it; shrinking removes a voter and wipes its slot,
//! which becomes the spare. A raised NOSPACE alarm is recovered by compacting to the head,
//! defragmenting every member and disarming the alarm.

use std::collections::VecDeque;

use invar_check::format::OpRecord;
use invar_mvcc::CompactionRequest;
use invar_node::{
    AlarmAction, AlarmRequest, AlarmType, ClientRequest, Member, MemberAddRequest, MemberIdRequest,
    RequestError,
};
use invar_storage::fs::SimFs;

use super::{Item, Outcome, Owner, Phase, World};
use crate::convert;
use crate::options::NANOS_PER_MILLI;
use crate::props::{Point, Violated};

/// Retries of one step before its procedure is given up.
const STEP_ATTEMPTS_MAX: u32 = 200;
/// Between retries.
const RETRY_NANOS: u64 = 200 * NANOS_PER_MILLI;
/// Procedures waiting at most.
const QUEUE_MAX: usize = 8;

/// A procedure, before it is expanded into steps.
#[derive(Clone, Debug)]
pub(crate) enum Task {
    /// Compact to `revision` (recorded in the history).
    Compact { revision: i64 },
    /// Send `request` to the member on `slot` (defragment, snapshot).
    Direct { slot: usize, request: ClientRequest },
    /// Send `request` to the leader (move leader).
    Leader { request: ClientRequest },
    /// Remove, wipe and re-add the member on `slot` (its disk may already be corrupt).
    Replace { slot: usize },
    /// Add a learner on the spare `slot`, then promote it.
    AddLearner { slot: usize },
    /// Remove the voter on `slot`; the slot becomes the spare.
    Remove { slot: usize },
    /// Compact, defragment every member, disarm NOSPACE.
    RecoverQuota,
}

/// Where a request goes.
#[derive(Clone, Copy, Debug)]
enum To {
    Leader,
    Slot(usize),
}

/// One step of a procedure.
#[derive(Clone, Debug)]
enum Step {
    /// Send and wait; `done_on` is an error that also completes the step (the change
    /// already happened); `record` puts it in the history.
    Send {
        to: To,
        request: ClientRequest,
        done_on: Option<fn(&RequestError) -> bool>,
        record: bool,
    },
    /// Stop the member on `slot` and give it an empty disk; the slot holds no member.
    Wipe { slot: usize },
    /// Start a member `id` that joins the cluster on `slot`.
    Start { slot: usize, id: u64 },
    /// The procedure reached this coverage point.
    Cover(Point),
}

/// The operator's state.
#[derive(Debug, Default)]
pub(crate) struct Operator {
    queue: VecDeque<Task>,
    steps: VecDeque<Step>,
    /// The request in flight: (id, sent at).
    waiting: Option<(u64, u64)>,
    attempts: u32,
    scheduled: bool,
    quota_queued: bool,
}

fn peer_url(id: u64) -> String {
    format!("http://member-{id}:2380")
}

impl World {
    /// Queues a procedure; `false` if the queue is full.
    pub(crate) fn operator_enqueue(&mut self, task: Task) -> bool {
        if self.operator.queue.len() >= QUEUE_MAX {
            return false;
        }
        self.operator.queue.push_back(task);
        self.operator_kick(0);
        true
    }

    /// Whether the operator has nothing under way.
    pub(crate) fn operator_idle(&self) -> bool {
        self.operator.steps.is_empty() && self.operator.waiting.is_none()
    }

    /// Runs the operator's next step now (after the fault phase: it drops what waits).
    pub(crate) fn operator_kick_now(&mut self) {
        self.operator_kick(0);
    }

    fn operator_kick(&mut self, after: u64) {
        if !self.operator.scheduled {
            self.operator.scheduled = true;
            self.schedule_at(self.now + after, Item::Operator);
        }
    }

    /// A corrupt member was found at restart: replace it, before anything else waiting
    /// (the queue's bound does not apply: the cluster may need it for a quorum).
    pub(crate) fn begin_replace(&mut self, slot: usize) {
        self.operator.queue.push_front(Task::Replace { slot });
        self.operator_kick(0);
    }

    /// A write met the NOSPACE alarm: recover, once.
    pub(crate) fn recover_quota(&mut self) {
        if !self.operator.quota_queued && self.operator_enqueue(Task::RecoverQuota) {
            self.operator.quota_queued = true;
        }
    }

    fn expand(&mut self, task: Task) -> Vec<Step> {
        let send = |to, request, done_on, record| Step::Send {
            to,
            request,
            done_on,
            record,
        };
        let remove = |id| {
            send(
                To::Leader,
                ClientRequest::MemberRemove(MemberIdRequest { id }),
                Some((|e| matches!(e, RequestError::MemberNotFound)) as fn(&RequestError) -> bool),
                false,
            )
        };
        let add = |id| {
            send(
                To::Leader,
                ClientRequest::MemberAdd(MemberAddRequest {
                    peer_urls: vec![peer_url(id)],
                    is_learner: true,
                    id,
                }),
                Some((|e| matches!(e, RequestError::MemberExists)) as fn(&RequestError) -> bool),
                false,
            )
        };
        let promote = |id| {
            send(
                To::Leader,
                ClientRequest::MemberPromote(MemberIdRequest { id }),
                Some(
                    (|e| matches!(e, RequestError::MemberNotLearner)) as fn(&RequestError) -> bool,
                ),
                false,
            )
        };
        match task {
            Task::Compact { revision } => vec![send(
                To::Leader,
                ClientRequest::Compact(CompactionRequest {
                    revision,
                    physical: true,
                }),
                None,
                true,
            )],
            Task::Direct { slot, request } => vec![send(To::Slot(slot), request, None, false)],
            Task::Leader { request } => vec![send(To::Leader, request, None, false)],
            Task::Replace { slot } => {
                let old = self.slots[slot].id;
                if old == 0 || !self.removable(slot) {
                    return Vec::new();
                }
                let new = self.fresh_member_id();
                vec![
                    remove(old),
                    Step::Wipe { slot },
                    add(new),
                    Step::Start { slot, id: new },
                    promote(new),
                    Step::Cover(Point::LearnerPromoted),
                    Step::Cover(Point::MemberReplaced),
                ]
            }
            Task::AddLearner { slot } => {
                if self.slots[slot].id != 0 {
                    return Vec::new();
                }
                let new = self.fresh_member_id();
                vec![
                    add(new),
                    Step::Start { slot, id: new },
                    promote(new),
                    Step::Cover(Point::LearnerPromoted),
                ]
            }
            Task::Remove { slot } => {
                let old = self.slots[slot].id;
                let voters = self.voter_ids().into_iter().filter(|&id| id != old).count();
                if old == 0 || voters < 2 || !self.removable(slot) {
                    return Vec::new();
                }
                vec![remove(old), Step::Wipe { slot }]
            }
            Task::RecoverQuota => {
                let mut steps = vec![send(
                    To::Leader,
                    ClientRequest::Compact(CompactionRequest {
                        revision: self.head_revision,
                        physical: true,
                    }),
                    None,
                    true,
                )];
                for slot in self.member_slots() {
                    steps.push(send(To::Slot(slot), ClientRequest::Defragment, None, false));
                }
                steps.push(send(
                    To::Leader,
                    ClientRequest::Alarm(AlarmRequest {
                        action: AlarmAction::Deactivate,
                        member_id: 0,
                        alarm: AlarmType::NoSpace,
                    }),
                    None,
                    false,
                ));
                steps
            }
        }
    }

    /// Whether the voters other than `slot`'s member, on slots with sound disks, are a
    /// quorum of the configuration as it is now: until the removal is applied everywhere
    /// the old configuration decides (a leader that removes itself stops at once, and the
    /// others must commit its removal without it), and a voter found corrupt can only be
    /// replaced with a quorum.
    /// Also never from two voters: the one left cannot commit the removal by itself, so if
    /// it misses the commit index (down when the removed leader leaves) it never leads.
    fn removable(&self, slot: usize) -> bool {
        let id = self.slots[slot].id;
        self.quorum_survives_without(id)
            && self
                .configurations()
                .iter()
                .all(|voters| voters.len() >= 3 || !voters.contains(&id))
    }

    /// Whether a membership change is under way (the voters may be about to shrink).
    pub(crate) fn changing_membership(&self) -> bool {
        self.operator.steps.iter().any(|step| match step {
            Step::Send { request, .. } => matches!(
                request,
                ClientRequest::MemberAdd(_)
                    | ClientRequest::MemberRemove(_)
                    | ClientRequest::MemberPromote(_)
            ),
            Step::Wipe { .. } | Step::Start { .. } => true,
            Step::Cover(_) => false,
        })
    }

    fn fresh_member_id(&mut self) -> u64 {
        self.next_member_id += 1;
        self.next_member_id
    }

    /// The operator's next step.
    pub(crate) fn operator_step(&mut self) -> Result<(), Violated> {
        self.operator.scheduled = false;
        if self.operator.waiting.is_some() {
            return Ok(());
        }
        if self.phase != Phase::Faults {
            let liveness = self.options.mode == crate::options::Mode::Liveness;
            // After the fault phase: recovering from the NOSPACE alarm always goes on. Safety
            // mode also finishes what started and replaces members found corrupt; liveness
            // mode changes no membership (its core is a quorum of the voters as they settled)
            // and waits for the core before anything.
            let slots = &self.slots;
            self.operator.queue.retain(|task| match task {
                Task::RecoverQuota => true,
                Task::Replace { slot } => !liveness && slots[*slot].condemned,
                _ => false,
            });
            if liveness {
                if self.changing_membership() {
                    self.operator.steps.clear();
                }
                if self.core.is_empty() {
                    return Ok(());
                }
            }
        }
        while self.operator.steps.is_empty() {
            let Some(task) = self.operator.queue.pop_front() else {
                return Ok(());
            };
            if matches!(task, Task::RecoverQuota) {
                self.operator.quota_queued = false;
            }
            self.note(|| format!("operator: begins {task:?}"));
            let steps = self.expand(task);
            self.operator.steps = steps.into();
            self.operator.attempts = 0;
        }
        let Some(step) = self.operator.steps.front().cloned() else {
            return Ok(());
        };
        if self.operator.attempts == 0 {
            self.note(|| format!("operator: step {step:?}"));
        }
        match step {
            Step::Send { to, request, .. } => {
                let slot = match to {
                    To::Slot(slot) => slot,
                    To::Leader => match self.leader_slot() {
                        Some(slot) => slot,
                        None => {
                            self.retry_step();
                            return Ok(());
                        }
                    },
                };
                let id = self.send_request(Owner::Operator, slot, request, 0);
                self.operator.waiting = Some((id, self.now));
            }
            Step::Wipe { slot } => {
                self.wipe(slot);
                self.next_step();
            }
            Step::Start { slot, id } => {
                self.start_joining(slot, id)?;
                self.next_step();
            }
            Step::Cover(point) => {
                self.props.sometimes(point, true);
                self.next_step();
            }
        }
        Ok(())
    }

    fn next_step(&mut self) {
        self.operator.steps.pop_front();
        self.operator.attempts = 0;
        self.operator_kick(0);
    }

    /// Tries the current step again soon. A procedure that changes membership is never
    /// given up (a change it proposed may still commit, and a later change on top of it
    /// could leave no quorum); others are, after a bound.
    fn retry_step(&mut self) {
        self.operator.attempts += 1;
        if self.operator.attempts > STEP_ATTEMPTS_MAX && !self.changing_membership() {
            self.note(|| "operator: gives the procedure up".into());
            self.operator.steps.clear();
        }
        self.operator_kick(RETRY_NANOS);
    }

    /// The outcome of the operator's request `id`.
    pub(crate) fn operator_outcome(&mut self, id: u64, outcome: Outcome) -> Result<(), Violated> {
        let Some((waiting, sent)) = self.operator.waiting else {
            return Ok(());
        };
        if waiting != id {
            return Ok(());
        }
        self.operator.waiting = None;
        let attempts = self.operator.attempts;
        self.note(|| format!("operator: request {id} (attempt {attempts}): {outcome:?}"));
        let Some(Step::Send {
            request,
            done_on,
            record,
            ..
        }) = self.operator.steps.front().cloned()
        else {
            return Ok(());
        };
        let membership = matches!(
            request,
            ClientRequest::MemberAdd(_)
                | ClientRequest::MemberRemove(_)
                | ClientRequest::MemberPromote(_)
        );
        if record {
            self.record_operator_op(&request, &outcome, sent);
        }
        match outcome {
            Outcome::Answer(Ok(_)) => {
                if matches!(request, ClientRequest::MoveLeader(_)) {
                    self.props.sometimes(Point::LeaderTransferred, true);
                }
                if matches!(request, ClientRequest::Compact(_)) {
                    self.last_compaction_at = Some(self.now);
                }
                self.next_step();
            }
            Outcome::Answer(Err(error)) if done_on.is_some_and(|f| f(&error)) => self.next_step(),
            // Membership changes wait for a leader, a quorum, a caught-up learner.
            _ if membership => self.retry_step(),
            // Anything else is tried once.
            _ => self.next_step(),
        }
        Ok(())
    }

    fn record_operator_op(&mut self, request: &ClientRequest, outcome: &Outcome, sent: u64) {
        let mut record = OpRecord {
            client: self.recorder.fresh_client(),
            invoke: sent,
            return_time: Some(self.now),
            request: convert::request(request),
            response: None,
            error: None,
        };
        match outcome {
            Outcome::Answer(Ok(response)) => record.response = Some(convert::response(response)),
            Outcome::Answer(Err(error)) if !error.outcome_unknown() => {
                record.error = Some(error.to_string());
            }
            Outcome::Refused => return, // Never reached a member.
            _ => record.return_time = None,
        }
        self.recorder.push_op(record);
    }

    /// Stops the member on `slot` and wipes its disk; the slot holds no member until a
    /// `Start`.
    fn wipe(&mut self, slot: usize) {
        self.crash(slot, false, None);
        let disk = SimFs::with_seed(self.disk_rng.next_u64());
        let state = &mut self.slots[slot];
        state.disk = disk;
        state.id = 0;
        state.corrupted = false;
        state.condemned = false;
        state.full_until = None;
        state.slow = None;
        state.crashed_applied = None;
        state.voters_seen.clear();
    }

    /// Starts member `id` on the wiped `slot`, joining the existing cluster.
    fn start_joining(&mut self, slot: usize, id: u64) -> Result<(), Violated> {
        let mut config = self.member_config(id, &[]);
        config.join_existing = true;
        let now = self.now;
        let state = &mut self.slots[slot];
        state.clock.restart(now);
        state.id = id;
        state.config = config.clone();
        state.busy_until = self.now;
        state.revision = 1;
        state.answered_revision = 0;
        let opened = Member::open(state.disk.clone(), &super::members::member_dir(), config);
        match opened {
            Ok(member) => {
                state.member = Some(member);
                Ok(())
            }
            Err(error) => self.props.always(Point::MemberReopens, false, || {
                format!("new member {id} did not start on an empty disk: {error}")
            }),
        }
    }
}
