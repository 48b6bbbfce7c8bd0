//! A randomized, seeded world for Raft: members on a faulty network (loss, delay, reordering,
//! duplication, partitions), with crashes that keep only what was persisted, process pauses,
//! clock drift, snapshots, membership changes and leader transfers. Clients propose and read.
//! After every step the safety properties are checked; after the faults heal, progress is
//! required within a bounded time.
//!
//! One seed decides everything; the trace hash proves it (the same seed always gives the same
//! hash).

use std::collections::{BTreeMap, BTreeSet};

mod faults;

use super::checker::{Check, SafetyChecker, Violation, ViolationKind};
use super::{Handled, MemNode, MemStorage, fnv};
use crate::types::{Index, Message, NodeId, Term};
use crate::{Config, Prng, Raft, Role};

/// Nominal time units per tick; each member's clock drifts around it.
const UNITS_PER_TICK: u64 = 10;

/// The shape of a run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Initial voters (3 or 5 in the tests).
    pub voters: usize,
    /// Extra member ids that may join as learners and be promoted.
    pub spare_members: usize,
    /// Ticks of the phase with faults.
    pub fault_ticks: u64,
    /// Ticks allowed, after every fault healed, to elect a leader and commit on every member.
    pub liveness_ticks: u64,
    /// Keep a log of events and put its tail into a violation's detail (slower; for replays).
    pub event_log: bool,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            voters: 3,
            spare_members: 2,
            fault_ticks: 400,
            liveness_ticks: 200,
            event_log: false,
        }
    }
}

/// What a passing run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// A hash of every event, in order: equal for equal seeds.
    pub trace_hash: u64,
    /// Distinct log indexes applied somewhere.
    pub committed_entries: u64,
    /// Leaders elected.
    pub elections: u64,
    /// Messages delivered.
    pub messages_delivered: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Process pauses injected.
    pub pauses: u64,
    /// Partitions injected.
    pub partitions: u64,
    /// Linearizable reads whose result was checked.
    pub reads_checked: u64,
    /// Membership changes accepted by a leader.
    pub conf_changes_proposed: u64,
    /// Simulated ticks in all.
    pub ticks: u64,
}

/// Runs one seed. `Err` names the property that failed and how to see it again.
pub fn run_seed(seed: u64, options: &SimOptions) -> Result<SimReport, Violation> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        World::new(seed, options.clone()).run()
    }));
    match outcome {
        Ok(Ok(report)) => Ok(report),
        Ok(Err((time, kind, detail))) => Err(Violation {
            seed,
            kind,
            time,
            detail,
        }),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            Err(Violation {
                seed,
                kind: ViolationKind::InternalAssertion,
                time: 0,
                detail,
            })
        }
    }
}

type Failure = (u64, ViolationKind, String);

#[derive(Debug)]
struct Slot {
    /// `None` while crashed.
    node: Option<MemNode>,
    /// What survived the crash.
    storage: MemStorage,
    restart_at: u64,
    paused_until: u64,
    units_per_tick: u64,
    next_tick_at: u64,
}

/// Per-seed fault rates, drawn once (swarm testing: each seed stresses a different mix).
#[derive(Debug)]
struct Rates {
    drop_per_mille: u64,
    duplicate_per_mille: u64,
    delay_units_max: u64,
    crash_per_100k: u64,
    /// Chance that a member crashes right after it made a vote durable (a fault point where
    /// forgetting the vote would do harm).
    crash_after_vote_per_mille: u64,
    /// Chance that a newly elected leader is cut off at once (Jepsen's "partition the
    /// leader"): leadership then changes hands while old-term entries are half replicated,
    /// the situation of the Raft paper's Figure 8.
    isolate_new_leader_per_mille: u64,
    message_bytes_max: u64,
    pause_per_100k: u64,
    partition_per_100k: u64,
    propose_per_1k: u64,
    read_per_1k: u64,
    conf_change_per_100k: u64,
    transfer_per_100k: u64,
    snapshot_every: u64,
    snapshot_keep: u64,
}

impl Rates {
    fn draw(rng: &mut Prng) -> Rates {
        let mut pick = |choices: &[u64]| choices[rng.range(0, choices.len() as u64) as usize];
        Rates {
            drop_per_mille: pick(&[0, 10, 50, 150]),
            duplicate_per_mille: pick(&[0, 5, 30]),
            delay_units_max: pick(&[2, 10, 30, 80]),
            crash_per_100k: pick(&[0, 30, 100, 400]),
            crash_after_vote_per_mille: pick(&[0, 0, 300]),
            isolate_new_leader_per_mille: pick(&[0, 0, 300]),
            // One entry per message makes acknowledgements of old and new entries separate.
            message_bytes_max: pick(&[1, 64, 256]),
            pause_per_100k: pick(&[0, 30, 100, 400]),
            partition_per_100k: pick(&[0, 50, 150, 500]),
            propose_per_1k: pick(&[10, 30, 80]),
            read_per_1k: pick(&[5, 20, 40]),
            conf_change_per_100k: pick(&[0, 50, 200]),
            transfer_per_100k: pick(&[0, 30]),
            snapshot_every: pick(&[0, 8, 30]),
            snapshot_keep: pick(&[0, 2, 5]),
        }
    }
}

struct World {
    options: SimOptions,
    rng: Prng,
    now: u64,
    slots: BTreeMap<NodeId, Slot>,
    in_flight: BTreeMap<(u64, u64), Message>,
    send_seq: u64,
    blocked: BTreeSet<(NodeId, NodeId)>,
    heal_at: u64,
    rates: Rates,
    checker: SafetyChecker,
    trace: u64,
    report: SimReport,
    /// Proposals whose proposer still waits: (member, index) → term.
    proposals: BTreeMap<(NodeId, Index), Term>,
    /// The highest index a client saw acknowledged.
    acked_index: Index,
    /// Reads in progress: (member, context) → the acknowledged index when the read began.
    reads: BTreeMap<(NodeId, u64), Index>,
    /// Reads answered with a read index the member has not applied yet: (member, ctx, index).
    reads_waiting: Vec<(NodeId, u64, Index)>,
    next_context: u64,
    next_value: u64,
    /// Ids never used yet.
    spare_ids: Vec<NodeId>,
    healing: bool,
    /// The liveness probe: (index, term) of an entry proposed after healing.
    probe: Option<(Index, Term)>,
    /// The newest events, when `options.event_log` is set.
    events: std::collections::VecDeque<String>,
}

impl World {
    fn new(seed: u64, options: SimOptions) -> World {
        let mut rng = Prng::new(seed);
        let voters: Vec<NodeId> = (1..=options.voters as u64).collect();
        let spare_ids: Vec<NodeId> = (0..options.spare_members as u64)
            .map(|k| options.voters as u64 + 1 + k)
            .collect();
        let rates = Rates::draw(&mut rng);
        let mut slots = BTreeMap::new();
        for &id in voters.iter().chain(spare_ids.iter()) {
            let config = member_config(id, rng.next_u64(), rates.message_bytes_max);
            let mut node = if voters.contains(&id) {
                MemNode::bootstrap(config, &voters)
            } else {
                MemNode::restart(config, MemStorage::default())
            };
            node.snapshot_every = rates.snapshot_every;
            node.snapshot_keep = rates.snapshot_keep;
            // Clock drift: each member's tick lasts 8 to 12 units.
            let units_per_tick = rng.range(UNITS_PER_TICK - 2, UNITS_PER_TICK + 3);
            let next_tick_at = rng.range(0, units_per_tick);
            let slot = Slot {
                node: Some(node),
                storage: MemStorage::default(),
                restart_at: 0,
                paused_until: 0,
                units_per_tick,
                next_tick_at,
            };
            slots.insert(id, slot);
        }
        World {
            options,
            rng,
            now: 0,
            slots,
            in_flight: BTreeMap::new(),
            send_seq: 0,
            blocked: BTreeSet::new(),
            heal_at: 0,
            rates,
            checker: SafetyChecker::default(),
            trace: 0,
            report: SimReport {
                seed,
                ..SimReport::default()
            },
            proposals: BTreeMap::new(),
            acked_index: 0,
            reads: BTreeMap::new(),
            reads_waiting: Vec::new(),
            next_context: 1,
            next_value: 1,
            spare_ids,
            healing: false,
            probe: None,
            events: std::collections::VecDeque::new(),
        }
    }

    fn fail<T>(&self, kind: ViolationKind, detail: String) -> Result<T, Failure> {
        Err((self.now, kind, self.with_events(detail)))
    }

    fn lift(&self, check: Check) -> Result<(), Failure> {
        check.map_err(|(kind, detail)| (self.now, kind, self.with_events(detail)))
    }

    fn with_events(&self, detail: String) -> String {
        if self.events.is_empty() {
            return detail;
        }
        let tail: Vec<&str> = self.events.iter().map(String::as_str).collect();
        format!("{detail}\nlast events:\n  {}", tail.join("\n  "))
    }

    fn record(&mut self, words: &[u64]) {
        for w in words {
            self.trace = fnv(self.trace, &w.to_le_bytes());
        }
        if self.options.event_log && words.first() != Some(&1) {
            const NAMES: [&str; 12] = [
                "",
                "deliver",
                "restart",
                "heal-partition",
                "pause",
                "propose",
                "crash",
                "partition",
                "conf-change",
                "elected",
                "applied",
                "heal-all",
            ];
            let name = NAMES.get(words[0] as usize).copied().unwrap_or("?");
            self.note(format!("{name} {:?}", &words[1..]));
        }
    }

    fn note(&mut self, line: String) {
        const EVENTS_KEPT: usize = 400;
        if self.events.len() == EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(line);
    }

    fn run(&mut self) -> Result<SimReport, Failure> {
        let fault_end = self.options.fault_ticks * UNITS_PER_TICK;
        let live_end = fault_end + self.options.liveness_ticks * UNITS_PER_TICK;
        while self.now < live_end {
            if !self.healing && self.now >= fault_end {
                self.heal_everything();
            }
            self.deliver_due()?;
            self.tick_clocks();
            self.restart_due();
            if self.healing {
                self.drive_probe();
            } else {
                self.inject_actions();
            }
            self.process_all()?;
            if self.healing && self.probe_done() {
                break;
            }
            self.now += 1;
        }
        if !self.probe_done() {
            return self.fail(
                ViolationKind::Liveness,
                format!(
                    "no entry committed on every member within {} ticks after healing \
                     (leaders: {:?}, probe: {:?}); members: {}",
                    self.options.liveness_ticks,
                    self.live_leaders(),
                    self.probe,
                    self.describe_members()
                ),
            );
        }
        self.report.trace_hash = self.trace;
        self.report.ticks = self.now / UNITS_PER_TICK;
        self.report.committed_entries = self.checker.committed_count() as u64;
        Ok(self.report.clone())
    }

    /// One line per member: what a human needs to see why a run got stuck.
    fn describe_members(&self) -> String {
        let mut out = String::new();
        for (id, slot) in &self.slots {
            let Some(node) = slot.node.as_ref() else {
                out.push_str(&format!("\n  {id}: down"));
                continue;
            };
            let raft = &node.raft;
            out.push_str(&format!(
                "\n  {id}: {:?} term {} leader {} first {} last {} commit {} applied {} conf {:?}",
                raft.role(),
                raft.term(),
                raft.leader(),
                raft.first_index(),
                raft.last_index(),
                raft.committed(),
                raft.applied(),
                raft.conf_state(),
            ));
            if raft.role() == Role::Leader {
                for peer in self.slots.keys() {
                    if let Some(p) = raft.progress(*peer) {
                        out.push_str(&format!(
                            "\n     -> {peer}: match {} next {} {:?}",
                            p.match_index, p.next_index, p.state
                        ));
                    }
                }
            }
        }
        out
    }

    // ---- Network ----

    fn send(&mut self, message: Message) {
        if self.blocked.contains(&(message.from, message.to))
            || self.rng.chance(self.rates.drop_per_mille, 1000)
        {
            return;
        }
        let copies = if self.rng.chance(self.rates.duplicate_per_mille, 1000) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.range(1, self.rates.delay_units_max + 1);
            self.send_seq += 1;
            let key = (self.now + delay, self.send_seq);
            self.in_flight.insert(key, message.clone());
        }
    }

    fn deliver_due(&mut self) -> Result<(), Failure> {
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let message = entry.remove();
            let line = self.options.event_log.then(|| {
                let mut line = format!(
                    "t={} {}->{} term {} {:?}",
                    self.now, message.from, message.to, message.term, message.body
                );
                line.truncate(220);
                line
            });
            let Some(slot) = self.slots.get_mut(&message.to) else {
                continue;
            };
            if slot.paused_until > self.now {
                // A paused process reads its socket when it wakes up.
                let key = (slot.paused_until, self.send_seq + 1);
                self.send_seq += 1;
                self.in_flight.insert(key, message);
                continue;
            }
            let Some(node) = slot.node.as_mut() else {
                continue;
            };
            let words = [1, self.now, message.from, message.to, message.term];
            if let Err(e) = node.raft.step(message) {
                return self.fail(ViolationKind::InternalAssertion, e.to_string());
            }
            self.report.messages_delivered += 1;
            self.record(&words);
            if let Some(line) = line {
                self.note(line);
            }
        }
        Ok(())
    }

    // ---- Time ----

    fn tick_clocks(&mut self) {
        let now = self.now;
        for slot in self.slots.values_mut() {
            if now < slot.next_tick_at || slot.paused_until > now {
                continue;
            }
            slot.next_tick_at = now + slot.units_per_tick;
            if let Some(node) = slot.node.as_mut() {
                node.raft.tick();
            }
        }
    }

    fn restart_due(&mut self) {
        let now = self.now;
        let due: Vec<NodeId> = self
            .slots
            .iter()
            .filter(|(_, s)| s.node.is_none() && s.restart_at <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let seed = self.rng.next_u64();
            let slot = self.slots.get_mut(&id).expect("slot");
            let config = member_config(id, seed, self.rates.message_bytes_max);
            let mut node = MemNode::restart(config, slot.storage.clone());
            node.snapshot_every = self.rates.snapshot_every;
            node.snapshot_keep = self.rates.snapshot_keep;
            slot.node = Some(node);
            self.record(&[2, now, id]);
        }
    }

    // ---- Readies and checks ----

    fn process_all(&mut self) -> Result<(), Failure> {
        for _round in 0..10_000 {
            let mut any = false;
            let ids: Vec<NodeId> = self.slots.keys().copied().collect();
            for id in ids {
                let Some(node) = self.live_node(id) else {
                    continue;
                };
                let Some(handled) = node.handle_ready() else {
                    continue;
                };
                any = true;
                self.check_handled(id, handled)?;
            }
            if !any {
                return Ok(());
            }
        }
        self.fail(
            ViolationKind::InternalAssertion,
            "members never stopped producing work".to_string(),
        )
    }

    fn node(&self, id: NodeId) -> &MemNode {
        self.slots[&id].node.as_ref().expect("a live member")
    }

    fn check_handled(&mut self, id: NodeId, handled: Handled) -> Result<(), Failure> {
        if handled.soft_state.is_some_and(|s| s.role == Role::Leader) {
            let raft = &self.slots[&id].node.as_ref().expect("live").raft;
            let check = self.checker.became_leader(raft);
            self.report.elections += 1;
            let term = self.node(id).raft.term();
            self.record(&[9, self.now, id, term]);
            self.lift(check)?;
            if !self.healing
                && self.blocked.is_empty()
                && self
                    .rng
                    .chance(self.rates.isolate_new_leader_per_mille, 1000)
            {
                let ticks = self.rng.range(1, 30);
                self.isolate(id, ticks);
            }
        }
        let raft = &self.slots[&id].node.as_ref().expect("live").raft;
        let check = self.checker.persisted(raft, &handled.entries);
        self.lift(check)?;
        let member_term = self.node(id).raft.term();
        for &(index, term, digest) in &handled.applied {
            let check = self.checker.applied(id, member_term, (index, term, digest));
            self.lift(check)?;
            let leaders: Vec<&Raft> = self
                .slots
                .values()
                .filter_map(|s| s.node.as_ref())
                .filter(|n| n.raft.role() == Role::Leader)
                .map(|n| &n.raft)
                .collect();
            let check = self.checker.check_leaders_hold(&leaders, index);
            self.lift(check)?;
            if self.proposals.remove(&(id, index)) == Some(term) {
                self.acked_index = self.acked_index.max(index);
            }
            self.record(&[10, id, index, term]);
        }
        for read in handled.read_states {
            self.reads_waiting.push((id, read.context, read.index));
        }
        self.serve_reads(id)?;
        for message in handled.messages {
            self.send(message);
        }
        if handled.vote_changed
            && !self.healing
            && self.rng.chance(self.rates.crash_after_vote_per_mille, 1000)
        {
            let downtime = self.rng.range(1, 5) * UNITS_PER_TICK;
            self.crash(id, downtime);
        }
        Ok(())
    }

    fn serve_reads(&mut self, id: NodeId) -> Result<(), Failure> {
        let applied = self.node(id).state.applied;
        let ready: Vec<(NodeId, u64, Index)> = self
            .reads_waiting
            .iter()
            .copied()
            .filter(|&(member, _, index)| member == id && applied >= index)
            .collect();
        self.reads_waiting
            .retain(|&(member, _, index)| member != id || applied < index);
        for (member, context, _) in ready {
            let Some(required) = self.reads.remove(&(member, context)) else {
                continue;
            };
            self.report.reads_checked += 1;
            if applied < required {
                return self.fail(
                    ViolationKind::StaleRead,
                    format!(
                        "member {member} served read {context} at applied index {applied}, \
                         but index {required} was acknowledged before the read began"
                    ),
                );
            }
        }
        Ok(())
    }

    // ---- Liveness ----

    fn heal_everything(&mut self) {
        self.healing = true;
        self.blocked.clear();
        self.rates.drop_per_mille = 0;
        self.rates.duplicate_per_mille = 0;
        // Latency spikes heal too: back to a normal spread of at most one tick.
        self.rates.delay_units_max = self.rates.delay_units_max.min(UNITS_PER_TICK);
        let now = self.now;
        for slot in self.slots.values_mut() {
            slot.paused_until = slot.paused_until.min(now);
            if slot.node.is_none() {
                slot.restart_at = now;
            }
        }
        self.record(&[11, now]);
    }

    fn drive_probe(&mut self) {
        let Some(&leader) = self.live_leaders().first() else {
            return;
        };
        let probe = self.probe;
        let Some(node) = self.live_node(leader) else {
            return;
        };
        // A probe the current leader does not hold was lost with an earlier leader.
        if let Some((index, term)) = probe
            && node.raft.log_term(index) == Some(term)
        {
            return;
        }
        if let Ok(index) = node.raft.propose(b"probe".to_vec()) {
            self.probe = Some((index, node.raft.term()));
        }
    }

    /// The probe is applied on every member of the leader's configuration.
    fn probe_done(&self) -> bool {
        let Some((index, term)) = self.probe else {
            return false;
        };
        let Some(&leader) = self.live_leaders().first() else {
            return false;
        };
        let conf = self.node(leader).raft.conf_state();
        conf.voters.iter().chain(conf.learners.iter()).all(|id| {
            self.slots[id].node.as_ref().is_some_and(|n| {
                n.state.applied >= index && n.raft.log_term(index).is_none_or(|t| t == term)
            })
        })
    }
}

fn member_config(id: NodeId, seed: u64, message_bytes_max: u64) -> Config {
    let mut config = Config::new(id, seed);
    // Small limits so that flow control and message splitting are exercised.
    config.inflight_messages_max = 8;
    config.message_bytes_max = message_bytes_max;
    config
}
