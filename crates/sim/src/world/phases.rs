//! The end of a run: the fault phase ends (everything heals in safety mode; in liveness mode
//! a random quorum, the core, heals for good while the others may stay faulty), clients
//! finish what they started, a final probe write goes in, and the world waits for the
//! cluster to settle: a leader, every member considered at the leader's commit index with
//! one revision and one hash. Then the recorded history is checked, and every acknowledged
//! put must still be readable on every caught-up member.

use std::collections::BTreeSet;

use invar_check::Budget;
use invar_check::format::Request;
use invar_check::report::check_etcd_history;
use invar_check::verdict::Verdict;
use invar_mvcc::RangeRequest;
use invar_raft::Prng;

use super::{Item, Phase, World};
use crate::options::{Injection, Mode, NANOS_PER_MILLI, NANOS_PER_SECOND};
use crate::props::{Point, Violated};
use crate::schedule::Shape;

/// How often a settling cluster is probed.
const PROBE_NANOS: u64 = 100 * NANOS_PER_MILLI;
/// Liveness mode waits at most this long for the operator to finish before picking a core.
const OPERATOR_QUIESCE_NANOS: u64 = 10 * NANOS_PER_SECOND;

impl World {
    /// The fault phase is over: no new fault fires, the operator finishes what it started
    /// (and only that, besides replacing members found corrupt), clients stop starting
    /// operations. Safety mode heals everything now; liveness mode heals its core once the
    /// operator is idle, so that the core is a quorum of the voters that remain.
    pub(crate) fn end_of_faults(&mut self) -> Result<(), Violated> {
        self.phase = Phase::Settle;
        self.note(|| "the fault phase ends".into());
        match self.options.mode {
            Mode::Safety => {
                self.net.heal_all();
                self.heal(&self.member_slots());
                self.start_probe();
                self.schedule_at(self.now + PROBE_NANOS, Item::Probe);
            }
            Mode::Liveness => {
                // Everything heals first, so that the voters settle (no conf change left in
                // any log); then the core is chosen and the others lost for good.
                self.net.heal_all();
                self.heal(&self.member_slots());
                self.schedule_at(self.now, Item::ChooseCore);
            }
        }
        self.operator_kick_now();
        Ok(())
    }

    /// Liveness mode: once the operator is idle (or after a bound), picks the core and heals
    /// it for good; each other member is taken down for good, cut off both ways for good, or
    /// made deaf for good (it hears nothing but still sends: it must not disrupt the core,
    /// VOPR's asymmetric-partition case). A member outside the core that could still lead
    /// while cut off from one core member only is not a fault a quorum can be asked to
    /// overcome, so none is left half-connected.
    pub(crate) fn choose_core_when_idle(&mut self) -> Result<(), Violated> {
        let waited = self.now.saturating_sub(self.options.time_nanos);
        if !self.membership_settled() && waited < OPERATOR_QUIESCE_NANOS {
            self.schedule_at(self.now + PROBE_NANOS, Item::ChooseCore);
            return Ok(());
        }
        self.core = self.choose_core();
        let core = self.core.clone();
        self.net.heal_all();
        self.net.heal_core(&core);
        let members = self.member_slots();
        let mut rng = Prng::new(self.seed ^ 0x636f_7265);
        for slot in members.iter().copied().filter(|s| !core.contains(s)) {
            let fate = rng.range(0, 3);
            match fate {
                0 if self.slots[slot].member.is_some() => self.crash(slot, true, None),
                0 => {}
                1 => {
                    let shape = Shape::Split { side: vec![slot] };
                    let _cut = self.net.cut(&shape, &members, None);
                }
                _ => {
                    let shape = Shape::OneWay {
                        slot,
                        inbound: true,
                    };
                    let _cut = self.net.cut(&shape, &members, None);
                }
            }
            self.note(|| {
                let what = ["down", "cut off", "deaf"][fate as usize];
                format!("liveness: slot {slot} stays {what} for good")
            });
        }
        let views: Vec<String> = self
            .up_slots()
            .into_iter()
            .filter_map(|s| self.slots[s].member.as_ref().map(|m| (s, m)))
            .map(|(s, m)| format!("slot {s} sees voters {:?}", m.raft().conf_state().voters))
            .collect();
        self.note(|| format!("liveness core: slots {core:?} ({})", views.join("; ")));
        self.heal(&core);
        self.operator_kick_now();
        self.start_probe();
        self.schedule_at(self.now + PROBE_NANOS, Item::Probe);
        Ok(())
    }

    /// Whether the voters can no longer change: the operator has nothing in flight, a
    /// leader exists, and every member is up with its whole log applied (so no log holds a
    /// conf change that could still commit).
    fn membership_settled(&self) -> bool {
        let Some(leader) = self
            .leader_slot()
            .and_then(|s| self.slots[s].member.as_ref())
        else {
            return false;
        };
        let commit = leader.raft().committed();
        let conf = leader.raft().conf_state();
        self.operator_idle()
            && leader.raft().last_index() == commit
            && conf.voters.iter().chain(conf.learners.iter()).all(|&id| {
                self.slot_of(id)
                    .and_then(|s| self.slots[s].member.as_ref())
                    .is_some_and(|m| m.applied_index() == commit)
            })
    }

    /// The voters of the leader's configuration (of every live member's, without a leader).
    fn leader_voters(&self) -> BTreeSet<u64> {
        match self
            .leader_slot()
            .and_then(|s| self.slots[s].member.as_ref())
        {
            Some(leader) => leader.raft().conf_state().voters.clone(),
            None => self.voter_ids(),
        }
    }

    /// Heals `slots` for good: disks well, processes running.
    fn heal(&mut self, slots: &[usize]) {
        for &slot in slots {
            let state = &mut self.slots[slot];
            state.disk.disarm_crash();
            state.crash_point_down = None;
            state.crash_after_vote_down = None;
            state.slow = None;
            state.busy_until = state.busy_until.min(self.now);
            if state.full_until.is_some() {
                self.disk_room(slot);
            }
            let state = &self.slots[slot];
            if state.member.is_none() {
                let incarnation = state.incarnation;
                self.schedule_at(self.now, Item::Restart { slot, incarnation });
            }
        }
    }

    /// The voter sets of the members' applied configurations, as they went down for those
    /// that are down (several while a change spreads: the old one still decides until it is
    /// applied everywhere, and a member that is down decides with its own once back).
    pub(crate) fn configurations(&self) -> BTreeSet<BTreeSet<u64>> {
        let configs: BTreeSet<BTreeSet<u64>> = self
            .member_slots()
            .into_iter()
            .map(|s| match self.slots[s].member.as_ref() {
                Some(member) => member.raft().conf_state().voters.clone(),
                None => self.slots[s].voters_seen.clone(),
            })
            .filter(|voters| !voters.is_empty())
            .collect();
        if configs.is_empty() {
            let members = self.member_slots().into_iter().map(|s| self.slots[s].id);
            BTreeSet::from([members.collect()])
        } else {
            configs
        }
    }

    /// Every voter any of those configurations names.
    pub(crate) fn voter_ids(&self) -> BTreeSet<u64> {
        self.configurations().into_iter().flatten().collect()
    }

    /// Whether, in every configuration that may still decide, the voters other than
    /// `except` on slots with sound disks are a quorum.
    pub(crate) fn quorum_survives_without(&self, except: u64) -> bool {
        self.configurations().iter().all(|voters| {
            let sound = voters
                .iter()
                .filter(|&&id| id != except)
                .filter(|&&id| self.slot_of(id).is_some_and(|s| self.sound(s)))
                .count();
            sound > voters.len() / 2
        })
    }

    /// Whether `slot`'s disk is sound (no corruption injected or found).
    pub(crate) fn sound(&self, slot: usize) -> bool {
        !self.slots[slot].corrupted && !self.slots[slot].condemned
    }

    /// A random quorum of the voters on slots, sound ones first.
    fn choose_core(&self) -> Vec<usize> {
        let ids = self.leader_voters();
        let quorum = ids.len() / 2 + 1;
        let voters: Vec<usize> = ids.into_iter().filter_map(|id| self.slot_of(id)).collect();
        let mut rng = Prng::new(self.seed ^ 0x6c69_7665);
        let mut pool = voters;
        for i in 0..pool.len() {
            let j = i + rng.range(0, (pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.sort_by_key(|&s| !self.sound(s));
        pool.truncate(quorum);
        pool.sort_unstable();
        pool
    }

    /// The slots that must converge: every member in safety mode, the core in liveness mode.
    fn settling_slots(&self) -> Vec<usize> {
        match self.options.mode {
            Mode::Safety => self.member_slots(),
            Mode::Liveness => self.core.clone(),
        }
    }

    /// Is the cluster settled? Then the run is done.
    pub(crate) fn probe(&mut self) -> Result<(), Violated> {
        if self.settled()? {
            self.note(|| "settled".into());
            self.phase = Phase::Done;
            self.stats.settled_at = Some(self.now);
        } else {
            self.schedule_at(self.now + PROBE_NANOS, Item::Probe);
        }
        Ok(())
    }

    fn settled(&mut self) -> Result<bool, Violated> {
        let busy = self.clients.iter().any(|c| c.pending.is_some())
            || self.probe_client.is_some_and(|c| !self.clients[c].finished)
            || (self.injects(Injection::WithholdProbe) && self.options.mode == Mode::Liveness);
        if busy {
            return Ok(false);
        }
        // Any leader will do (in liveness mode one outside the core may still lead), as long
        // as every settling member has applied its whole log.
        let slots = self.settling_slots();
        let Some(leader) = self.leader_slot() else {
            return Ok(false);
        };
        let Some(member) = self.slots[leader].member.as_ref() else {
            return Ok(false);
        };
        let (commit, revision) = (member.raft().committed(), member.store().revision());
        let caught_up = slots.iter().all(|&s| {
            self.slots[s]
                .member
                .as_ref()
                .is_some_and(|m| m.applied_index() == commit && m.store().revision() == revision)
        });
        if !caught_up {
            return Ok(false);
        }
        self.audit()?;
        Ok(true)
    }

    /// Settling ran out of time.
    pub(crate) fn out_of_time(&mut self) -> Result<(), Violated> {
        self.phase = Phase::Done;
        let status = self.status();
        if self.options.mode == Mode::Safety {
            self.stats.unsettled = Some(status);
            return Ok(());
        }
        self.props
            .always_or_unreachable(Point::Liveness, false, || {
                format!(
                    "the core {:?} did not settle within {} ms of the fault phase: {status}",
                    self.core,
                    self.options.settle_nanos / 1_000_000
                )
            })
    }

    /// One line per member and the waiting clients, for failure reports.
    pub(crate) fn status(&self) -> String {
        let mut parts = Vec::new();
        for (slot, state) in self.slots.iter().enumerate() {
            let text = match &state.member {
                None if state.id == 0 => format!("slot {slot}: empty"),
                None => format!("slot {slot}: member {} down", state.id),
                Some(m) => {
                    let mut text = format!(
                        "slot {slot}: member {} term {} {} applied {} commit {} revision {}",
                        state.id,
                        m.term(),
                        if m.is_leader() { "leader" } else { "follower" },
                        m.applied_index(),
                        m.raft().committed(),
                        m.store().revision()
                    );
                    let own = state.clock.own(self.now);
                    let lag = own.saturating_sub(state.clock.local(self.now));
                    if lag > 0 {
                        text.push_str(&format!(" (its clock went back {} ms)", lag / 1_000_000));
                    }
                    if state.busy_until > self.now {
                        text.push_str(&format!(
                            " (busy for {} ms)",
                            (state.busy_until - self.now) / 1_000_000
                        ));
                    }
                    text
                }
            };
            parts.push(text);
        }
        let waiting = self.clients.iter().filter(|c| c.pending.is_some()).count();
        parts.push(format!("{waiting} clients waiting"));
        parts.join("; ")
    }

    /// The checks at the end.
    pub(crate) fn judge(&mut self) -> Result<(), crate::Failure> {
        let settled = self.options.mode == Mode::Liveness && self.stats.settled_at.is_some();
        let checks = (if settled {
            self.props
                .always_or_unreachable(Point::Liveness, true, String::new)
        } else {
            Ok(())
        })
        .and_then(|()| self.acknowledged_writes_kept())
        .and_then(|()| self.final_invariants())
        .and_then(|()| self.check_history());
        checks.map_err(|violated| self.failure(violated))
    }

    fn final_invariants(&mut self) -> Result<(), Violated> {
        for slot in self.up_slots() {
            let Some(member) = self.slots[slot].member.as_ref() else {
                continue;
            };
            let id = self.slots[slot].id;
            let result = member.check_invariants();
            self.props
                .always(Point::MemberInvariants, result.is_ok(), || {
                    format!(
                        "member {id} at the end: {}",
                        result.err().unwrap_or_default()
                    )
                })?;
        }
        Ok(())
    }

    /// Every acknowledged put (plain or in a txn) is readable at its revision on every member
    /// that applied it and has not compacted it away.
    fn acknowledged_writes_kept(&mut self) -> Result<(), Violated> {
        let mut puts: Vec<(String, String, i64)> = Vec::new();
        for op in self.recorder.ops() {
            let Some(response) = &op.response else {
                continue;
            };
            collect_puts(&op.request, response, &mut puts);
        }
        if self.injects(Injection::ForgetAcknowledgedWrite)
            && let Some(first) = puts.first_mut()
        {
            first.1.push_str("-forgotten");
        }
        for slot in self.up_slots() {
            let Some(member) = self.slots[slot].member.as_ref() else {
                continue;
            };
            let (revision, compacted) =
                (member.store().revision(), member.store().compact_revision());
            let id = self.slots[slot].id;
            for (key, value, at) in &puts {
                if *at > revision || *at < compacted {
                    continue;
                }
                let read = member.store().range(&RangeRequest {
                    key: key.clone().into_bytes(),
                    revision: *at,
                    ..RangeRequest::default()
                });
                let found = read.ok().and_then(|r| r.kvs.into_iter().next());
                let kept = found
                    .as_ref()
                    .is_some_and(|kv| kv.mod_revision == *at && kv.value == value.as_bytes());
                self.props.always(Point::AcknowledgedWriteKept, kept, || {
                    format!(
                        "member {id}: the put of {key}={value} acknowledged at revision {at} \
                         reads back as {found:?}"
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The recorded history (with the possible lease expiries) against etcd's model and
    /// the watch guarantees.
    fn check_history(&mut self) -> Result<(), Violated> {
        let extra = self.expiry_records()?;
        let history = self.recorder.take_history(extra);
        self.hash_history(&history);
        let mut budget = Budget::with_steps_max(self.options.check_steps_max);
        let report = check_etcd_history(&history, &mut budget);
        match report.verdict {
            Verdict::Ok => {
                self.props
                    .always(Point::HistoryChecked, true, String::new)?;
                self.props.always(Point::Linearizable, true, String::new)?;
                if !history.watches.is_empty() {
                    self.props
                        .always_or_unreachable(Point::WatchGuarantees, true, String::new)?;
                }
                Ok(())
            }
            Verdict::Violation(v) => {
                let point = if v.property.starts_with("watch") {
                    Point::WatchGuarantees
                } else {
                    Point::Linearizable
                };
                self.props.always(point, false, || {
                    format!("{}: {} (op {:?})", v.property, v.explanation, v.op)
                })
            }
            Verdict::Unknown(why) => self.props.always(Point::HistoryChecked, false, || why),
        }
    }
}

/// The (key, value, revision) of every put an acknowledged operation made.
fn collect_puts(
    request: &Request,
    response: &invar_check::format::Response,
    out: &mut Vec<(String, String, i64)>,
) {
    match request {
        Request::Put {
            key,
            value,
            ignore_value: false,
            ..
        } => out.push((key.clone(), value.clone(), response.revision)),
        Request::Txn {
            success, failure, ..
        } => {
            let branch = if response.succeeded == Some(true) {
                success
            } else {
                failure
            };
            for (sub, sub_response) in branch.iter().zip(&response.responses) {
                collect_puts(sub, sub_response, out);
            }
        }
        _ => {}
    }
}
