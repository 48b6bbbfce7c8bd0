//! The world's loop: members, network, clients, faults, and the end-of-run checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use invar_check::Budget;
use invar_check::format::{History, OpRecord};
use invar_check::report::check_etcd_history;
use invar_check::verdict::Verdict;
use invar_mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, HashKvRequest, PutRequest,
    RangeRequest, RequestOp, TargetUnion, TxnRequest,
};
use invar_node::{ClientRequest, ClientResponse, Config, Effect, Event, Instant, Member};
use invar_node::{RequestError, RequestId};
use invar_raft::{Message, NodeId, Prng};
use invar_storage::fs::SimFs;

use crate::{Failure, Options, Report, convert};

/// Nanoseconds between member ticks.
const TICK_NANOS: u64 = 10_000_000;
/// A client gives up on a request after this long (the outcome is then unknown).
const CLIENT_TIMEOUT_NANOS: u64 = 3_000_000_000;
/// Attempts of one operation on "not leader"-like answers before it is recorded as failed.
const ATTEMPTS_MAX: u32 = 6;
/// Steps the history checker may take.
const CHECK_STEPS_MAX: u64 = 50_000_000;
/// Convergence is probed this often in the heal phase.
const PROBE_NANOS: u64 = 100_000_000;

/// One scheduled happening.
#[derive(Debug)]
enum Item {
    /// A raft message arrives.
    Deliver(Message),
    /// A client request arrives at a member.
    Request {
        slot: usize,
        id: RequestId,
        request: ClientRequest,
    },
    /// A member's reply arrives at its client.
    Reply {
        id: RequestId,
        result: Result<ClientResponse, RequestError>,
    },
    /// A client is ready to issue its next operation.
    Wake(usize),
    /// A client's operation `op` times out.
    Timeout { client: usize, op: u64 },
    /// The next fault.
    Fault,
    /// A partition heals.
    Heal,
    /// A crashed member is reopened.
    Restart(usize),
    /// The heal phase starts.
    HealPhase,
    /// The heal phase probes for convergence.
    Probe,
}

impl Item {
    fn code(&self) -> u64 {
        match self {
            Item::Deliver(m) => 1 | (m.from << 8) | (m.to << 16),
            Item::Request { slot, id, .. } => 2 | ((*slot as u64) << 8) | (id << 16),
            Item::Reply { id, result } => 3 | (u64::from(result.is_ok()) << 4) | (id << 16),
            Item::Wake(c) => 4 | ((*c as u64) << 8),
            Item::Timeout { client, op } => 5 | ((*client as u64) << 8) | (op << 16),
            Item::Fault => 6,
            Item::Heal => 7,
            Item::Restart(s) => 8 | ((*s as u64) << 8),
            Item::HealPhase => 9,
            Item::Probe => 10,
        }
    }
}

/// An operation a client is waiting on.
struct Pending {
    /// Index in the recorded operations.
    record: usize,
    /// The request (resent on "not leader").
    request: ClientRequest,
    /// The client's operation number (matches timeouts).
    op: u64,
    /// Attempts so far.
    attempts: u32,
    /// The request id of the current attempt.
    id: RequestId,
}

struct Client {
    /// The id in the history (a new one after an unknown outcome or an error).
    history_id: u64,
    /// The member it talks to.
    target: usize,
    /// Operations issued.
    ops: u64,
    pending: Option<Pending>,
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
    seed: u64,
    options: Options,
    now: u64,
    events: u64,
    trace: u64,
    net_rng: Prng,
    fault_rng: Prng,
    client_rng: Prng,
    ids: Vec<NodeId>,
    disks: Vec<SimFs>,
    members: Vec<Option<Member<SimFs>>>,
    configs: Vec<Config>,
    last_tick: Vec<u64>,
    queue: BTreeMap<(u64, u64), Item>,
    seq: u64,
    /// Directed links whose messages are dropped.
    blocked: BTreeSet<(NodeId, NodeId)>,
    loss_per_million: u64,
    /// Per directed link (from slot, to slot): the largest delay this seed drew for it.
    link_delay_max: BTreeMap<(usize, usize), u64>,
    /// Most items ever queued at once (the network's bound keeps it small).
    queue_max: usize,
    healing: bool,
    clients: Vec<Client>,
    next_history_id: u64,
    next_request_id: RequestId,
    /// Request id → (client, op).
    requests: BTreeMap<RequestId, (usize, u64)>,
    records: Vec<OpRecord>,
    crashes: u64,
    partitions: u64,
    /// Unique-value counter.
    values: u64,
}

fn dir() -> PathBuf {
    PathBuf::from("/member")
}

impl World {
    pub(crate) fn new(seed: u64, options: &Options) -> Result<World, Failure> {
        let mut rng = Prng::new(seed);
        let ids: Vec<NodeId> = (1..=options.members.max(1)).collect();
        let mut world = World {
            seed,
            options: options.clone(),
            now: 0,
            events: 0,
            trace: 0xcbf2_9ce4_8422_2325,
            net_rng: rng.fork(),
            fault_rng: rng.fork(),
            client_rng: rng.fork(),
            ids: ids.clone(),
            disks: Vec::new(),
            members: Vec::new(),
            configs: Vec::new(),
            last_tick: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            blocked: BTreeSet::new(),
            loss_per_million: 0,
            link_delay_max: BTreeMap::new(),
            queue_max: 0,
            healing: false,
            clients: Vec::new(),
            next_history_id: 1,
            next_request_id: 1,
            requests: BTreeMap::new(),
            records: Vec::new(),
            crashes: 0,
            partitions: 0,
            values: 0,
        };
        world.loss_per_million = if options.loss_per_million_max == 0 {
            0
        } else {
            world.fault_rng.range(0, options.loss_per_million_max + 1)
        };
        let low = options.delay_min_nanos;
        let high = options.delay_max_nanos.max(low + 1);
        for from in 0..ids.len() {
            for to in 0..ids.len() {
                let bound = world.net_rng.range(low + 1, high + 1);
                world.link_delay_max.insert((from, to), bound);
            }
        }
        for &id in &ids {
            let mut config = Config::new(id, &ids, rng.next_u64());
            config.tick_interval_nanos = TICK_NANOS;
            config.request_timeout_nanos = 200 * TICK_NANOS;
            config.snapshot_entries = options.snapshot_entries.max(1);
            config.snapshot_keep_entries = (options.snapshot_entries / 2).max(1);
            let disk = SimFs::with_seed(rng.next_u64());
            let member = Member::open(disk.clone(), &dir(), config.clone())
                .map_err(|e| world.failure("open", format!("member {id}: {e}")))?;
            world.disks.push(disk);
            world.members.push(Some(member));
            world.configs.push(config);
            world.last_tick.push(0);
        }
        for c in 0..options.clients {
            let target = world.client_rng.range(0, ids.len() as u64) as usize;
            world.clients.push(Client {
                history_id: world.next_history_id,
                target,
                ops: 0,
                pending: None,
            });
            world.next_history_id += 1;
            let at = world.client_rng.range(0, 50_000_000);
            world.schedule(at, Item::Wake(c));
        }
        if options.partitions || options.crashes {
            let at = world.fault_rng.range(200_000_000, 1_000_000_000);
            world.schedule(at, Item::Fault);
        }
        world.schedule(options.fault_nanos, Item::HealPhase);
        Ok(world)
    }

    fn failure(&self, property: &str, detail: String) -> Failure {
        Failure {
            seed: self.seed,
            property: property.to_string(),
            detail,
            trace_hash: self.trace,
        }
    }

    fn schedule(&mut self, at: u64, item: Item) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
        self.queue_max = self.queue_max.max(self.queue.len());
    }

    /// When member `slot` next wants a tick.
    fn tick_due(&self, slot: usize) -> Option<u64> {
        let member = self.members[slot].as_ref()?;
        let floor = self.last_tick[slot] + TICK_NANOS / 10;
        let due = member
            .next_deadline()
            .map_or(self.last_tick[slot] + TICK_NANOS, |d| d.0);
        Some(due.max(floor))
    }

    pub(crate) fn run(mut self) -> Result<Report, Failure> {
        let end = self.options.fault_nanos + self.options.heal_nanos;
        let mut converged = None;
        while converged.is_none() {
            let tick = (0..self.members.len())
                .filter_map(|s| self.tick_due(s).map(|t| (t, s)))
                .min();
            let next = self.queue.first_key_value().map(|(k, _)| *k);
            let take_tick = match (tick, next) {
                (Some((t, _)), Some((q, _))) => t <= q,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return Err(self.failure("liveness", "nothing to do".into())),
            };
            let at = if take_tick {
                tick.map_or(0, |t| t.0)
            } else {
                next.map_or(0, |k| k.0)
            };
            if at > end {
                return Err(self.failure(
                    "liveness",
                    format!("no convergence by {end} ns: {}", self.status()),
                ));
            }
            self.now = self.now.max(at);
            self.events += 1;
            if take_tick {
                let slot = tick.map_or(0, |t| t.1);
                self.last_tick[slot] = self.now;
                self.trace = fnv(self.trace, &(self.now ^ (slot as u64) << 56).to_le_bytes());
                self.feed(slot, Event::Tick(Instant(self.now)))?;
            } else if let Some((_, item)) = self.queue.pop_first() {
                self.trace = fnv(self.trace, &self.now.to_le_bytes());
                self.trace = fnv(self.trace, &item.code().to_le_bytes());
                converged = self.process(item)?;
            }
        }
        let revision = converged.unwrap_or(0);
        self.check_history(revision)
    }

    fn status(&self) -> String {
        let mut out = String::new();
        for (slot, member) in self.members.iter().enumerate() {
            match member {
                Some(m) => out.push_str(&format!(
                    "[{} leader={} applied={} last={} rev={}] ",
                    self.ids[slot],
                    m.leader(),
                    m.applied_index(),
                    m.raft().last_index(),
                    m.store().revision()
                )),
                None => out.push_str(&format!("[{} down] ", self.ids[slot])),
            }
        }
        let waiting = self.clients.iter().filter(|c| c.pending.is_some()).count();
        out.push_str(&format!("clients waiting={waiting}"));
        out
    }

    /// Feeds one event to a member that is up and carries out its effects.
    fn feed(&mut self, slot: usize, event: Event) -> Result<(), Failure> {
        let id = self.ids[slot];
        let Some(member) = self.members[slot].as_mut() else {
            return Ok(());
        };
        let effects = match member.handle(event) {
            Ok(effects) => effects,
            Err(_) if self.disks[slot].is_halted() => {
                // An armed crash point of the simulated disk fired mid-operation.
                self.crash(slot);
                return Ok(());
            }
            Err(e) => return Err(self.failure("member_error", format!("member {id}: {e}"))),
        };
        if let Err(e) = member.check_invariants() {
            return Err(self.failure("member_invariants", format!("member {id}: {e}")));
        }
        for effect in effects {
            match effect {
                Effect::Send(message) => self.send(message),
                Effect::Reply { id, result } => {
                    let delay = self.net_delay();
                    self.schedule(self.now + delay, Item::Reply { id, result });
                }
                Effect::Watch { .. } => {}
            }
        }
        Ok(())
    }

    fn net_delay(&mut self) -> u64 {
        let low = self.options.delay_min_nanos;
        let high = self.options.delay_max_nanos.max(low + 1);
        self.net_rng.range(low, high)
    }

    fn send(&mut self, message: Message) {
        if self.blocked.contains(&(message.from, message.to)) {
            return;
        }
        if !self.healing && self.net_rng.chance(self.loss_per_million, 1_000_000) {
            return;
        }
        let low = self.options.delay_min_nanos;
        let link = (
            self.slot_of(message.from).unwrap_or(0),
            self.slot_of(message.to).unwrap_or(0),
        );
        let high = self.link_delay_max.get(&link).copied().unwrap_or(low + 1);
        let delay = self.net_rng.range(low, high.max(low + 1));
        self.schedule(self.now + delay, Item::Deliver(message));
    }

    fn slot_of(&self, id: NodeId) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }

    fn process(&mut self, item: Item) -> Result<Option<i64>, Failure> {
        match item {
            Item::Deliver(message) => {
                if self.blocked.contains(&(message.from, message.to)) {
                    return Ok(None);
                }
                if let Some(slot) = self.slot_of(message.to) {
                    self.feed(slot, Event::Message(message))?;
                }
            }
            Item::Request { slot, id, request } => {
                self.feed(slot, Event::Request { id, request })?;
            }
            Item::Reply { id, result } => self.on_reply(id, result),
            Item::Wake(c) => self.issue(c),
            Item::Timeout { client, op } => {
                let matches = self.clients[client]
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.op == op);
                if matches {
                    self.finish(client, None);
                }
            }
            Item::Fault => self.fault()?,
            Item::Heal => {
                if self.blocked.is_empty() {
                    return Ok(None);
                }
                self.blocked.clear();
            }
            Item::Restart(slot) => self.restart(slot)?,
            Item::HealPhase => {
                self.healing = true;
                self.blocked.clear();
                for disk in &self.disks {
                    disk.disarm_crash();
                }
                for slot in 0..self.members.len() {
                    if self.members[slot].is_none() {
                        self.restart(slot)?;
                    }
                }
                self.schedule(self.now + PROBE_NANOS, Item::Probe);
            }
            Item::Probe => {
                let converged = self.probe()?;
                if converged.is_none() {
                    self.schedule(self.now + PROBE_NANOS, Item::Probe);
                }
                return Ok(converged);
            }
        }
        Ok(None)
    }

    fn fault(&mut self) -> Result<(), Failure> {
        if self.healing {
            return Ok(());
        }
        let crash = self.options.crashes
            && (!self.options.partitions || self.fault_rng.chance(1, 2))
            && self.members.iter().all(Option::is_some);
        let n = self.members.len() as u64;
        if crash {
            let slot = self.fault_rng.range(0, n) as usize;
            if self.fault_rng.chance(1, 2) {
                // Crash in the middle of a later disk operation (a WAL append, a backend
                // commit, a snapshot file...).
                let ops = self.fault_rng.range(1, 64);
                self.disks[slot].arm_crash_after(ops);
            } else {
                self.crash(slot);
            }
        } else if self.options.partitions && self.blocked.is_empty() {
            let victim = self.ids[self.fault_rng.range(0, n) as usize];
            let one_way = self.fault_rng.chance(1, 4);
            for &other in &self.ids {
                if other != victim {
                    self.blocked.insert((other, victim));
                    if !one_way {
                        self.blocked.insert((victim, other));
                    }
                }
            }
            self.partitions += 1;
            let after = self.fault_rng.range(200_000_000, 3_000_000_000);
            self.schedule(self.now + after, Item::Heal);
        }
        let next = self.fault_rng.range(300_000_000, 2_000_000_000);
        self.schedule(self.now + next, Item::Fault);
        Ok(())
    }

    /// Crashes member `slot`: its disk loses part of its unsynced writes, the process is
    /// gone, and it is reopened after a seeded delay (at the latest when healing starts).
    fn crash(&mut self, slot: usize) {
        let _image = self.disks[slot].crash();
        self.members[slot] = None;
        self.crashes += 1;
        let after = self.fault_rng.range(100_000_000, 2_000_000_000);
        self.schedule(self.now + after, Item::Restart(slot));
    }

    fn restart(&mut self, slot: usize) -> Result<(), Failure> {
        if self.members[slot].is_some() {
            return Ok(());
        }
        let id = self.ids[slot];
        let opened = Member::open(self.disks[slot].clone(), &dir(), self.configs[slot].clone());
        let member = match opened {
            Ok(member) => member,
            Err(_) if self.disks[slot].is_halted() => {
                self.crash(slot);
                return Ok(());
            }
            Err(e) => return Err(self.failure("restart", format!("member {id}: {e}"))),
        };
        if let Err(e) = member.check_invariants() {
            return Err(self.failure("member_invariants", format!("member {id} reopened: {e}")));
        }
        self.members[slot] = Some(member);
        self.last_tick[slot] = self.now;
        Ok(())
    }

    /// In the heal phase: once no client waits, every member is up and has applied the
    /// leader's whole log at one revision, compares their hashes at that revision.
    fn probe(&mut self) -> Result<Option<i64>, Failure> {
        if self.clients.iter().any(|c| c.pending.is_some()) {
            return Ok(None);
        }
        let Some(leader) = self.members.iter().flatten().find(|m| m.is_leader()) else {
            return Ok(None);
        };
        let last = leader.raft().last_index();
        let revision = leader.store().revision();
        let all = self.members.iter().all(|m| {
            m.as_ref()
                .is_some_and(|m| m.applied_index() == last && m.store().revision() == revision)
        });
        if !all {
            return Ok(None);
        }
        let mut hashes = BTreeMap::new();
        for (slot, member) in self.members.iter().enumerate() {
            let Some(member) = member else { continue };
            let hash = member
                .store()
                .hash_kv(&HashKvRequest { revision })
                .map_err(|e| self.failure("hash_kv", format!("member {}: {e}", self.ids[slot])))?;
            hashes.insert(self.ids[slot], (hash.hash, hash.compact_revision));
        }
        let distinct: BTreeSet<_> = hashes.values().collect();
        if distinct.len() > 1 {
            return Err(self.failure(
                "convergence",
                format!("hash_kv at revision {revision} differs: {hashes:?}"),
            ));
        }
        Ok(Some(revision))
    }

    // ---- Clients ----

    fn key(&mut self) -> Vec<u8> {
        let k = self.client_rng.range(0, self.options.keys.max(1) as u64);
        format!("k{k}").into_bytes()
    }

    fn next_request(&mut self, client: usize) -> ClientRequest {
        let key = self.key();
        self.values += 1;
        let value = format!("c{client}-{}", self.values).into_bytes();
        match self.client_rng.range(0, 10) {
            0..=3 => ClientRequest::Put(PutRequest {
                key,
                value,
                ..PutRequest::default()
            }),
            4..=6 => ClientRequest::Range(RangeRequest {
                key,
                ..RangeRequest::default()
            }),
            7 => ClientRequest::DeleteRange(DeleteRangeRequest {
                key,
                ..DeleteRangeRequest::default()
            }),
            _ => ClientRequest::Txn(TxnRequest {
                compare: vec![Compare {
                    result: CompareResult::Equal,
                    target: CompareTarget::Version,
                    key: key.clone(),
                    target_union: Some(TargetUnion::Version(0)),
                    range_end: Vec::new(),
                }],
                success: vec![RequestOp::Put(PutRequest {
                    key: key.clone(),
                    value,
                    ..PutRequest::default()
                })],
                failure: vec![RequestOp::Range(RangeRequest {
                    key,
                    ..RangeRequest::default()
                })],
            }),
        }
    }

    /// Client `c` issues its next operation (unless the run is winding down).
    fn issue(&mut self, c: usize) {
        let stop = self.options.fault_nanos + self.options.heal_nanos / 3;
        if self.now >= stop || self.clients[c].pending.is_some() {
            return;
        }
        let request = self.next_request(c);
        let record = self.records.len();
        self.records.push(OpRecord {
            client: self.clients[c].history_id,
            invoke: self.now,
            return_time: None,
            request: convert::request(&request),
            response: None,
            error: None,
        });
        self.clients[c].ops += 1;
        let op = self.clients[c].ops;
        self.clients[c].pending = Some(Pending {
            record,
            request,
            op,
            attempts: 0,
            id: 0,
        });
        self.schedule(
            self.now + CLIENT_TIMEOUT_NANOS,
            Item::Timeout { client: c, op },
        );
        self.attempt(c, 0);
    }

    /// Sends (again) client `c`'s pending request to its target after `wait`.
    fn attempt(&mut self, c: usize, wait: u64) {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let slot = self.clients[c].target;
        let Some(pending) = self.clients[c].pending.as_mut() else {
            return;
        };
        pending.attempts += 1;
        pending.id = id;
        let request = pending.request.clone();
        let op = pending.op;
        self.requests.insert(id, (c, op));
        let delay = self.net_delay();
        self.schedule(self.now + wait + delay, Item::Request { slot, id, request });
    }

    fn on_reply(&mut self, id: RequestId, result: Result<ClientResponse, RequestError>) {
        let Some((c, op)) = self.requests.remove(&id) else {
            return;
        };
        let current = self.clients[c]
            .pending
            .as_ref()
            .is_some_and(|p| p.op == op && p.id == id);
        if !current {
            return;
        }
        let attempts = self.clients[c].pending.as_ref().map_or(0, |p| p.attempts);
        match result {
            Ok(response) => self.finish(c, Some(Ok(response))),
            Err(RequestError::NotLeader { leader }) if attempts < ATTEMPTS_MAX => {
                let n = self.ids.len() as u64;
                self.clients[c].target = match self.slot_of(leader) {
                    Some(slot) if leader != 0 => slot,
                    _ => self.client_rng.range(0, n) as usize,
                };
                self.attempt(c, 20_000_000);
            }
            Err(
                RequestError::NoLeader
                | RequestError::TooManyRequests
                | RequestError::ProposalDropped,
            ) if attempts < ATTEMPTS_MAX => {
                let n = self.ids.len() as u64;
                self.clients[c].target = self.client_rng.range(0, n) as usize;
                self.attempt(c, 50_000_000);
            }
            Err(e) if e.outcome_unknown() => self.finish(c, None),
            Err(e) => self.finish(c, Some(Err(e.to_string()))),
        }
    }

    /// Ends client `c`'s operation: `None` is an unknown outcome. After anything but a
    /// success the client continues under a new history id.
    fn finish(&mut self, c: usize, outcome: Option<Result<ClientResponse, String>>) {
        let Some(pending) = self.clients[c].pending.take() else {
            return;
        };
        let record = &mut self.records[pending.record];
        let success = matches!(outcome, Some(Ok(_)));
        match outcome {
            Some(Ok(response)) => {
                record.return_time = Some(self.now);
                record.response = Some(convert::response(&response));
            }
            Some(Err(error)) => {
                record.return_time = Some(self.now);
                record.error = Some(error);
            }
            None => {}
        }
        if !success {
            self.clients[c].history_id = self.next_history_id;
            self.next_history_id += 1;
            let n = self.ids.len() as u64;
            self.clients[c].target = self.client_rng.range(0, n) as usize;
        }
        let think = self.client_rng.range(0, 30_000_000);
        self.schedule(self.now + think, Item::Wake(c));
    }

    // ---- The end ----

    fn check_history(mut self, revision: i64) -> Result<Report, Failure> {
        if self.options.corrupt_recorded_response {
            corrupt(&mut self.records);
        }
        let history = History {
            ops: self
                .records
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 2, r.clone()))
                .collect(),
            ..History::default()
        };
        let text = invar_check::format::write_history(&history);
        self.trace = fnv(self.trace, text.as_bytes());
        let mut budget = Budget::with_steps_max(CHECK_STEPS_MAX);
        let report = check_etcd_history(&history, &mut budget);
        match report.verdict {
            Verdict::Ok => {}
            Verdict::Violation(v) => {
                return Err(self.failure(
                    "linearizable",
                    format!("{}: {} (op {:?})", v.property, v.explanation, v.op),
                ));
            }
            Verdict::Unknown(why) => return Err(self.failure("check_complete", why)),
        }
        Ok(Report {
            seed: self.seed,
            trace_hash: self.trace,
            sim_nanos: self.now,
            events: self.events,
            operations: self.records.len(),
            unknown_outcomes: self
                .records
                .iter()
                .filter(|r| r.return_time.is_none())
                .count(),
            crashes: self.crashes,
            partitions: self.partitions,
            revision,
            queue_max: self.queue_max,
        })
    }
}

/// Test-only defect: the first successful read that saw a value is made to report a value
/// nobody wrote; without one, the first successful write reports a far-future revision.
fn corrupt(records: &mut [OpRecord]) {
    for record in records.iter_mut() {
        if let Some(response) = record.response.as_mut()
            && let Some(kv) = response.kvs.first_mut()
        {
            kv.value = "corrupted-by-test".to_string();
            return;
        }
    }
    for record in records.iter_mut() {
        if let Some(response) = record.response.as_mut() {
            response.revision += 1_000_000;
            return;
        }
    }
}
