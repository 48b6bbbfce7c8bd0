//! A deterministic in-test cluster: members on simulated disks, a seeded network that
//! delivers in-flight messages in random order, ticks at a fixed interval, crashes and cuts.
//! One seed drives everything, so a failing test replays exactly.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use invar_mvcc::{HashKvRequest, PutRequest, RangeRequest, WatchResponse};
use invar_node::{
    ClientRequest, ClientResponse, Config, Effect, Event, Instant, Member, RequestError, RequestId,
    StreamId,
};
use invar_raft::{Message, NodeId, Prng};
use invar_storage::fs::SimFs;

/// Nanoseconds between ticks.
pub const TICK_NANOS: u64 = 10_000_000;

/// Messages are delivered in order up to this much reordering.
pub const REORDER_WINDOW: usize = 4;

/// With this many messages in flight, time waits for the network to drain.
pub const CONGESTION_MESSAGES: usize = 64;

/// The world of one test.
pub struct Cluster {
    pub ids: Vec<NodeId>,
    pub disks: Vec<SimFs>,
    pub members: Vec<Option<Member<SimFs>>>,
    pub configs: Vec<Config>,
    pub in_flight: Vec<Message>,
    /// Members whose messages (both ways) are dropped.
    pub cut: BTreeSet<NodeId>,
    pub replies: BTreeMap<RequestId, Result<ClientResponse, RequestError>>,
    /// Every reply in the order it was emitted, with the step of the event that emitted it.
    pub reply_log: Vec<(u64, RequestId)>,
    pub rng: Prng,
    pub now: Instant,
    pub next_request_id: RequestId,
    pub steps: u64,
    /// Members stopped by a crash point of their disk, in order (restart them yourself).
    pub crashed: Vec<NodeId>,
    /// Watch responses by (member, stream), in the order they were emitted.
    pub watch: BTreeMap<(NodeId, StreamId), Vec<WatchResponse>>,
}

pub fn dir() -> PathBuf {
    PathBuf::from("/member")
}

impl Cluster {
    /// `size` members with ids 1..=size; `tweak` adjusts each member's configuration.
    pub fn new(size: u64, seed: u64, tweak: impl Fn(&mut Config)) -> Cluster {
        let mut rng = Prng::new(seed);
        let ids: Vec<NodeId> = (1..=size).collect();
        let mut cluster = Cluster {
            ids: ids.clone(),
            disks: Vec::new(),
            members: Vec::new(),
            configs: Vec::new(),
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            replies: BTreeMap::new(),
            reply_log: Vec::new(),
            rng: rng.fork(),
            now: Instant(0),
            next_request_id: 1,
            steps: 0,
            crashed: Vec::new(),
            watch: BTreeMap::new(),
        };
        for &id in &ids {
            let mut config = Config::new(id, &ids, rng.next_u64());
            config.tick_interval_nanos = TICK_NANOS;
            config.request_timeout_nanos = 1_000 * TICK_NANOS;
            tweak(&mut config);
            let disk = SimFs::with_seed(rng.next_u64());
            let member = Member::open(disk.clone(), &dir(), config.clone()).expect("open");
            cluster.disks.push(disk);
            cluster.members.push(Some(member));
            cluster.configs.push(config);
        }
        cluster
    }

    fn slot(&self, id: NodeId) -> usize {
        self.ids
            .iter()
            .position(|&i| i == id)
            .expect("known member")
    }

    pub fn member(&self, id: NodeId) -> &Member<SimFs> {
        self.members[self.slot(id)].as_ref().expect("member is up")
    }

    /// Feeds one event to member `id` and carries out its effects.
    pub fn feed(&mut self, id: NodeId, event: Event) {
        // A member added to the cluster but not started yet gets nothing.
        let Some(slot) = self.ids.iter().position(|&i| i == id) else {
            return;
        };
        let Some(member) = self.members[slot].as_mut() else {
            return;
        };
        let effects = match member.handle(event) {
            Ok(effects) => effects,
            Err(error) => {
                // Only an armed crash point of the simulated disk may stop a member here.
                assert!(self.disks[slot].is_halted(), "member {id} failed: {error}");
                self.crash(id);
                self.crashed.push(id);
                return;
            }
        };
        member.check_invariants().expect("member invariants");
        for effect in effects {
            match effect {
                Effect::Send(message) => {
                    if !self.cut.contains(&message.from) && !self.cut.contains(&message.to) {
                        self.in_flight.push(message);
                    }
                }
                Effect::Reply {
                    id: request,
                    result,
                } => {
                    self.reply_log.push((self.steps, request));
                    let previous = self.replies.insert(request, result);
                    assert!(previous.is_none(), "request {request} answered twice");
                }
                Effect::Watch { stream, response } => {
                    self.watch.entry((id, stream)).or_default().push(response);
                }
            }
        }
    }

    /// One step: a tick of every member (one time in eight unless the network is congested,
    /// or when nothing is in flight), otherwise the delivery of one of the oldest in-flight
    /// messages. Time stands still while the network is congested, so a burst of traffic
    /// cannot make every message late forever.
    pub fn step(&mut self) {
        self.steps += 1;
        let congested = self.in_flight.len() >= CONGESTION_MESSAGES;
        if self.in_flight.is_empty() || (!congested && self.rng.chance(1, 8)) {
            self.now = self.now.plus_nanos(TICK_NANOS);
            for id in self.ids.clone() {
                self.feed(id, Event::Tick(self.now));
            }
            return;
        }
        // Bounded reordering: one of the oldest few messages goes next.
        let window = self.in_flight.len().min(REORDER_WINDOW) as u64;
        let at = self.rng.range(0, window) as usize;
        let message = self.in_flight.remove(at);
        if self.cut.contains(&message.from) || self.cut.contains(&message.to) {
            return;
        }
        let to = message.to;
        self.feed(to, Event::Message(message));
    }

    /// Steps until `done` holds; panics after `steps_max` steps.
    pub fn run_until(&mut self, steps_max: u64, what: &str, done: impl Fn(&Cluster) -> bool) {
        for _ in 0..steps_max {
            if done(self) {
                return;
            }
            self.step();
        }
        assert!(done(self), "not reached within {steps_max} steps: {what}");
    }

    /// The leader that is up and not cut, if one is known.
    pub fn leader(&self) -> Option<NodeId> {
        self.ids.iter().copied().find(|&id| {
            !self.cut.contains(&id)
                && self.members[self.slot(id)]
                    .as_ref()
                    .is_some_and(Member::is_leader)
        })
    }

    pub fn wait_for_leader(&mut self) -> NodeId {
        self.run_until(20_000, "a leader", |c| c.leader().is_some());
        self.leader().expect("leader")
    }

    /// Sends a request to member `id`; returns its request id.
    pub fn request(&mut self, id: NodeId, request: ClientRequest) -> RequestId {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.feed(
            id,
            Event::Request {
                id: request_id,
                request,
            },
        );
        request_id
    }

    /// Sends a request and runs until it is answered.
    pub fn call(
        &mut self,
        id: NodeId,
        request: ClientRequest,
    ) -> Result<ClientResponse, RequestError> {
        let request_id = self.request(id, request);
        self.run_until(20_000, "a reply", |c| c.replies.contains_key(&request_id));
        self.replies.remove(&request_id).expect("reply")
    }

    /// Runs until every member that is up has applied the leader's whole log.
    pub fn settle(&mut self) {
        self.run_until(50_000, "all members applied the leader's log", |c| {
            let Some(leader) = c.leader() else {
                return false;
            };
            let last = c.member(leader).raft().last_index();
            c.members
                .iter()
                .flatten()
                .all(|m| m.applied_index() == last)
        });
    }

    /// The store hash of every member that is up, by id.
    pub fn hashes(&self) -> BTreeMap<NodeId, (u32, i64)> {
        let mut out = BTreeMap::new();
        for (id, member) in self.ids.iter().zip(&self.members) {
            if let Some(member) = member {
                let hash = member
                    .store()
                    .hash_kv(&HashKvRequest::default())
                    .expect("hash");
                out.insert(*id, (hash.hash, member.store().revision()));
            }
        }
        out
    }

    pub fn assert_converged(&self) {
        let hashes = self.hashes();
        let distinct: BTreeSet<(u32, i64)> = hashes.values().copied().collect();
        assert_eq!(distinct.len(), 1, "members diverged: {hashes:?}");
    }

    /// Starts member `id` with an empty disk, joining the cluster (after a MemberAdd named
    /// it); `tweak` adjusts its configuration.
    pub fn join(&mut self, id: NodeId, tweak: impl Fn(&mut Config)) {
        let mut config = Config::new(id, &[], self.rng.next_u64());
        config.join_existing = true;
        config.tick_interval_nanos = TICK_NANOS;
        config.request_timeout_nanos = 1_000 * TICK_NANOS;
        tweak(&mut config);
        let disk = SimFs::with_seed(self.rng.next_u64());
        let member = Member::open(disk.clone(), &dir(), config.clone()).expect("open");
        self.ids.push(id);
        self.disks.push(disk);
        self.members.push(Some(member));
        self.configs.push(config);
    }

    /// Takes member `id` out of the world for good (e.g. once it was removed): it is down
    /// and never restarted.
    pub fn retire(&mut self, id: NodeId) {
        let slot = self.slot(id);
        self.members[slot] = None;
        self.in_flight.retain(|m| m.to != id && m.from != id);
    }

    /// Crashes member `id`'s disk (unsynced writes partly lost) and process.
    pub fn crash(&mut self, id: NodeId) {
        let slot = self.slot(id);
        let _image = self.disks[slot].crash();
        self.members[slot] = None;
        self.in_flight.retain(|m| m.to != id);
    }

    /// Reopens member `id` from its disk.
    pub fn restart(&mut self, id: NodeId) {
        let slot = self.slot(id);
        let member = Member::open(self.disks[slot].clone(), &dir(), self.configs[slot].clone())
            .expect("reopen");
        member.check_invariants().expect("invariants after reopen");
        self.members[slot] = Some(member);
    }
}

pub fn put(key: &str, value: &str) -> ClientRequest {
    ClientRequest::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    })
}

pub fn get(key: &str, serializable: bool) -> ClientRequest {
    ClientRequest::Range(RangeRequest {
        key: key.into(),
        serializable,
        ..RangeRequest::default()
    })
}

/// The value of the one kv in a range response (`None` if the key is absent).
pub fn value_of(response: &ClientResponse) -> Option<Vec<u8>> {
    match response {
        ClientResponse::Range(range) => range.kvs.first().map(|kv| kv.value.clone()),
        _ => panic!("not a range response: {response:?}"),
    }
}
