//! Member slots: opening members, feeding them events on their own clock, carrying out their
//! effects after their disk work (a member is busy while its disk works, so a slow sync
//! delays everything it would send), crashes, restarts, and what the world observes after
//! every event (leaders per term, the revision at each applied index, leases that vanished).

use std::collections::BTreeSet;
use std::path::PathBuf;

use invar_mvcc::HashKvRequest;
use invar_node::{Config, Effect, Event, Instant, Member, NodeError};
use invar_raft::{Message, MessageBody, NodeId, Prng};
use invar_storage::fs::SimFs;
use invar_storage::snapfile::SnapError;
use invar_storage::wal::WalError;

use super::clock::Clock;
use super::{Input, Item, Origin, Outcome, World};
use crate::options::{Injection, NANOS_PER_MILLI, NANOS_PER_SECOND};
use crate::props::{Point, Violated};

/// Most applied indexes whose revision is remembered (older ones are forgotten).
const REVISIONS_KEPT_MAX: usize = 200_000;

/// The directory of a member on its disk.
pub(crate) fn member_dir() -> PathBuf {
    PathBuf::from("/member")
}

/// One place for a member: its disk, its clock, and the member when it runs.
pub(crate) struct Slot {
    /// The member id here (0: the spare slot, no member).
    pub(crate) id: NodeId,
    pub(crate) disk: SimFs,
    pub(crate) member: Option<Member<SimFs>>,
    pub(crate) config: Config,
    /// Bumped by every crash or wipe: effects of an older incarnation are dropped.
    pub(crate) incarnation: u64,
    /// The member's disk is busy (or the process paused) until then.
    pub(crate) busy_until: u64,
    pub(crate) clock: Clock,
    /// A slow disk: (factor, until).
    pub(crate) slow: Option<(u64, u64)>,
    /// The disk is full until then.
    pub(crate) full_until: Option<u64>,
    /// A crash point is armed: how long to stay down once it fires.
    pub(crate) crash_point_down: Option<u64>,
    /// A crash after the next vote granted is armed: how long to stay down.
    pub(crate) crash_after_vote_down: Option<u64>,
    /// The applied index when it last crashed (until it catches up past it).
    pub(crate) crashed_applied: Option<u64>,
    /// A corruption was injected since it last opened.
    pub(crate) corrupted: bool,
    /// A restart found its files corrupt: it stays down until the operator replaces it.
    pub(crate) condemned: bool,
    /// It stopped on a full disk.
    pub(crate) stopped_full: bool,
    /// Leases this incarnation was seen to hold.
    pub(crate) leases: BTreeSet<i64>,
    /// The revision last observed.
    pub(crate) revision: i64,
    /// The voters of its configuration when it went down (it still decides with it once
    /// it is back).
    pub(crate) voters_seen: BTreeSet<NodeId>,
    /// The highest revision a reply of this member (any incarnation) carried.
    pub(crate) answered_revision: i64,
    /// When it was last ticked (this incarnation).
    pub(crate) ticked_at: Option<u64>,
    /// Not ticked before then: a shell's periodic timer first fires up to one tick interval
    /// after the process starts, and requests may come first.
    pub(crate) first_tick_at: u64,
}

impl World {
    /// The configuration of member `id`.
    pub(crate) fn member_config(&mut self, id: NodeId, voters: &[NodeId]) -> Config {
        let profile = &self.schedule.profile;
        let mut config = Config::new(id, voters, self.rng.next_u64());
        config.tick_interval_nanos = profile.tick_nanos;
        config.raft.election_timeout_ticks = profile.election_ticks;
        config.raft.heartbeat_interval_ticks = profile.heartbeat_ticks;
        config.request_timeout_nanos = 2 * NANOS_PER_SECOND;
        config.snapshot_entries = profile.snapshot_entries;
        config.snapshot_keep_entries = profile.snapshot_keep_entries;
        config.mvcc.commits_per_sync = profile.commits_per_sync;
        config.mvcc.lease_ttl_seconds_min = 1;
        config.mvcc.watch_catch_up_revisions_max = profile.watch_catch_up_revisions;
        config.watch_progress_interval_ticks = profile.watch_progress_ticks;
        config.lease_revoke_retry_nanos = NANOS_PER_SECOND;
        if let Some(quota) = profile.quota_bytes {
            config.quota_backend_bytes = quota;
        }
        config.defect = self.options.defect;
        config
    }

    /// Opens the initial members (and the spare slot, empty).
    pub(crate) fn open_slots(&mut self, disk_rng: &mut Prng) -> Result<(), crate::Failure> {
        let profile = self.schedule.profile.clone();
        let voters: Vec<NodeId> = (1..=profile.nodes as NodeId).collect();
        for slot in 0..profile.slots {
            let clock = &profile.clocks[slot];
            let id = if slot < profile.nodes {
                slot as NodeId + 1
            } else {
                0
            };
            let config = self.member_config(id, &voters);
            let disk = SimFs::with_seed(disk_rng.next_u64());
            let member = if id == 0 {
                None
            } else {
                let opened = Member::open(disk.clone(), &member_dir(), config.clone());
                Some(opened.map_err(|e| {
                    self.failure(Violated {
                        point: Point::MemberReopens,
                        detail: format!("member {id} did not open: {e}"),
                    })
                })?)
            };
            self.slots.push(Slot {
                id,
                disk,
                member,
                config,
                incarnation: 0,
                busy_until: 0,
                clock: Clock::new(clock.offset_nanos, clock.drift_ppm),
                slow: None,
                full_until: None,
                crash_point_down: None,
                crash_after_vote_down: None,
                crashed_applied: None,
                corrupted: false,
                condemned: false,
                stopped_full: false,
                leases: BTreeSet::new(),
                revision: 1,
                voters_seen: BTreeSet::new(),
                answered_revision: 0,
                ticked_at: None,
                first_tick_at: 0,
            });
        }
        Ok(())
    }

    /// When `slot`'s member is next ticked, in simulated time: at its deadline by its clock,
    /// and at the latest one tick interval after its last tick (the shell's periodic timer,
    /// which runs on real time: a clock that jumped back must not hold the member's ticks
    /// back until it catches up with a deadline it read before the jump).
    pub(crate) fn tick_due(&self, slot: usize) -> Option<u64> {
        let state = &self.slots[slot];
        let member = state.member.as_ref()?;
        let due = match member.next_deadline() {
            None => self.now,
            Some(local) => state.clock.sim_when(local.0, self.now),
        };
        let periodic = state
            .ticked_at
            .map_or(due, |at| at + self.schedule.profile.tick_nanos);
        Some(
            due.min(periodic)
                .max(state.busy_until)
                .max(state.first_tick_at),
        )
    }

    pub(crate) fn tick(&mut self, slot: usize) -> Result<(), Violated> {
        let state = &mut self.slots[slot];
        if state.ticked_at == Some(self.now) {
            // Its deadline did not move past the tick it just had: a shell that trusts it
            // would spin at this instant for ever.
            let (id, now) = (state.id, self.now);
            return Err(self.props.unreachable(
                Point::UnexpectedMemberError,
                format!("member {id} asked again for a tick at {now} ns, just after one"),
            ));
        }
        state.ticked_at = Some(self.now);
        let local = state.clock.local(self.now);
        self.feed(slot, Event::Tick(Instant(local)))
    }

    /// When a busy member (disk at work, or paused) is free again; `None` if it is now.
    fn busy(&self, slot: usize) -> Option<u64> {
        let busy_until = self.slots[slot].busy_until;
        (busy_until > self.now).then_some(busy_until)
    }

    pub(crate) fn deliver_peer(
        &mut self,
        to: usize,
        message: Message,
        origin: Origin,
    ) -> Result<(), Violated> {
        if self.slots[to].member.is_none() || self.slots[to].id != message.to {
            return Ok(()); // Down, or the id moved on: lost.
        }
        if let Some(at) = self.busy(to) {
            self.schedule_at(
                at,
                Item::Peer {
                    to,
                    message,
                    origin,
                },
            );
            return Ok(());
        }
        let installing = match &message.body {
            MessageBody::Snapshot { snapshot } => Some(snapshot.meta.index),
            _ => None,
        };
        self.feed(to, Event::Message(message))?;
        if let (Some(index), Some(member)) = (installing, self.slots[to].member.as_ref()) {
            self.props.sometimes(
                Point::SnapshotInstalled,
                member.snapshot_index() == index && member.applied_index() >= index,
            );
        }
        Ok(())
    }

    pub(crate) fn deliver_input(&mut self, slot: usize, input: Input) -> Result<(), Violated> {
        if self.slots[slot].member.is_none() {
            let delay = self.client_delay();
            match input {
                Input::Request { id, .. } => self.schedule_at(
                    self.now + delay,
                    Item::Done {
                        id,
                        outcome: Outcome::Refused,
                        origin: None,
                    },
                ),
                Input::WatchCreate { stream, .. } => {
                    self.schedule_at(self.now + delay, Item::StreamBroken { stream });
                }
                Input::WatchProgress { .. } | Input::WatchClose { .. } => {}
            }
            return Ok(());
        }
        if let Some(at) = self.busy(slot) {
            self.schedule_at(at, Item::ToMember { slot, input });
            return Ok(());
        }
        let incarnation = self.slots[slot].incarnation;
        let event = match input {
            Input::Request { id, request } => {
                let Some(flight) = self.requests.get_mut(&id) else {
                    return Ok(()); // The sender gave up already.
                };
                flight.delivered = Some(incarnation);
                Event::Request { id, request }
            }
            Input::WatchCreate { stream, request } => {
                let Some(state) = self.streams.get_mut(&stream) else {
                    return Ok(());
                };
                if state.ended {
                    return Ok(());
                }
                state.slot = slot;
                state.incarnation = Some(incarnation);
                Event::WatchCreate { stream, request }
            }
            Input::WatchProgress { stream } => Event::WatchProgress { stream },
            Input::WatchClose { stream } => Event::WatchClose { stream },
        };
        self.feed(slot, event)
    }

    /// Gives `event` to the member on `slot` and carries out what comes back.
    pub(crate) fn feed(&mut self, slot: usize, event: Event) -> Result<(), Violated> {
        let state = &mut self.slots[slot];
        let Some(member) = state.member.as_mut() else {
            return Ok(());
        };
        let result = member.handle(event);
        let latency = state.disk.take_latency_nanos();
        let mut percent = self.schedule.profile.disk_latency_percent[slot];
        if let Some((factor, until)) = state.slow
            && until > self.now
        {
            percent = percent.saturating_mul(factor);
        }
        let release = self.now + latency.saturating_mul(percent) / 100;
        state.busy_until = state.busy_until.max(release);
        let effects = match result {
            Ok(effects) => effects,
            Err(error) => return self.member_stopped(slot, error),
        };
        if self.slots[slot].crash_after_vote_down.is_some()
            && effects.iter().any(grants_vote)
            && let Some(down) = self.slots[slot].crash_after_vote_down.take()
        {
            // Once its disk work is done and the vote has left the process.
            let incarnation = self.slots[slot].incarnation;
            self.schedule_at(
                release,
                Item::CrashAfterVote {
                    slot,
                    incarnation,
                    down,
                },
            );
        }
        self.carry_out(slot, effects, release)?;
        self.observe(slot)
    }

    fn carry_out(
        &mut self,
        slot: usize,
        effects: Vec<Effect>,
        release: u64,
    ) -> Result<(), Violated> {
        let origin = Origin {
            slot,
            incarnation: self.slots[slot].incarnation,
            release,
        };
        for effect in effects {
            match effect {
                Effect::Send(message) => {
                    let Some(to) = self.slot_of(message.to) else {
                        continue;
                    };
                    self.stats.messages += 1;
                    for at in self.net.send(slot, to, release) {
                        let message = message.clone();
                        self.schedule_at(
                            at,
                            Item::Peer {
                                to,
                                message,
                                origin,
                            },
                        );
                    }
                }
                Effect::Reply { id, result } => {
                    if let Ok(response) = &result {
                        self.answered_at(slot, response.header().revision)?;
                    }
                    if !self.requests.contains_key(&id) {
                        continue;
                    }
                    let delay = self.client_delay();
                    self.schedule_at(
                        release + delay,
                        Item::Done {
                            id,
                            outcome: Outcome::Answer(result),
                            origin: Some(origin),
                        },
                    );
                }
                Effect::Watch { stream, response } => {
                    let delay = self.client_delay();
                    let Some(state) = self.streams.get_mut(&stream) else {
                        continue;
                    };
                    // One stream is one ordered connection.
                    let at = (release + delay).max(state.arrival);
                    state.arrival = at;
                    self.schedule_at(
                        at,
                        Item::WatchResponse {
                            stream,
                            response,
                            origin,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// A reply of `slot`'s member carried `revision` (0: a response without one).
    fn answered_at(&mut self, slot: usize, revision: i64) -> Result<(), Violated> {
        let mut revision = revision;
        if self.injects(Injection::RegressAnswer) && self.slots[slot].answered_revision > 1 {
            revision = self.slots[slot].answered_revision - 1;
        }
        let state = &mut self.slots[slot];
        if revision <= 0 {
            return Ok(());
        }
        let before = state.answered_revision;
        state.answered_revision = before.max(revision);
        let id = state.id;
        self.props.always(
            Point::AnsweredRevisionNeverBackwards,
            revision >= before,
            || format!("member {id} answered at revision {revision} after answering at {before}"),
        )
    }

    /// The member on `slot` returned an error: an injected disk fault stops it (and it comes
    /// back later); anything else is a failure.
    fn member_stopped(&mut self, slot: usize, error: NodeError) -> Result<(), Violated> {
        let id = self.slots[slot].id;
        self.note(|| format!("slot {slot} member {id}: stopped: {error}"));
        let state = &self.slots[slot];
        let explained =
            state.disk.is_halted() || (error.is_no_space() && state.full_until.is_some());
        let detail = format!("member {id} stopped: {error}");
        self.props.always(Point::MemberRuns, explained, || detail)?;
        let state = &self.slots[slot];
        if state.disk.is_halted() {
            let point = match error {
                NodeError::Wal(_) => Some(Point::CrashDuringWalWrite),
                NodeError::Store(_) | NodeError::StoreFile(_) => {
                    Some(Point::CrashDuringBackendCommit)
                }
                _ => None,
            };
            if let Some(point) = point {
                self.props.sometimes(point, true);
            }
            let down = state.crash_point_down.unwrap_or(NANOS_PER_SECOND);
            self.crash(slot, true, Some(down));
            return Ok(());
        }
        if error.is_no_space() && state.full_until.is_some() {
            let until = state.full_until.unwrap_or(self.now);
            self.slots[slot].stopped_full = true;
            self.crash(
                slot,
                false,
                Some(until.saturating_sub(self.now) + NANOS_PER_MILLI),
            );
            return Ok(());
        }
        Ok(())
    }

    /// Crashes `slot`: with `power`, unsynced writes are lost or torn; otherwise only the
    /// process dies. It restarts after `down` (if given).
    pub(crate) fn crash(&mut self, slot: usize, power: bool, down: Option<u64>) {
        let id = self.slots[slot].id;
        self.note(|| {
            format!(
                "slot {slot} member {id}: {} (restart {})",
                if power {
                    "power loss"
                } else {
                    "process killed"
                },
                down.map_or("not scheduled".into(), |d| format!(
                    "in {} ms",
                    d / 1_000_000
                ))
            )
        });
        let now = self.now;
        let state = &mut self.slots[slot];
        if let Some(member) = state.member.take() {
            state.crashed_applied = Some(member.applied_index());
            state.voters_seen = member.raft().conf_state().voters.clone();
        }
        if power {
            let _image = state.disk.crash();
        } else {
            state.disk.crash_process();
        }
        state.crash_point_down = None;
        state.crash_after_vote_down = None;
        let old = state.incarnation;
        self.deaths.insert((slot, old), now);
        state.incarnation += 1;
        state.busy_until = now;
        state.leases.clear();
        state.ticked_at = None;
        let incarnation = state.incarnation;
        self.stats.crashes += 1;
        let broken: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, f)| f.slot == slot && f.delivered == Some(old))
            .map(|(id, _)| *id)
            .collect();
        for id in broken {
            let delay = self.client_delay();
            self.schedule_at(
                now + delay,
                Item::Done {
                    id,
                    outcome: Outcome::Broken,
                    origin: None,
                },
            );
        }
        let streams: Vec<u64> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.ended && s.slot == slot && s.incarnation == Some(old))
            .map(|(id, _)| *id)
            .collect();
        for stream in streams {
            let delay = self.client_delay();
            self.schedule_at(now + delay, Item::StreamBroken { stream });
        }
        if let Some(down) = down {
            self.schedule_at(now + down, Item::Restart { slot, incarnation });
        }
    }

    /// Reopens the member on `slot` from its disk.
    pub(crate) fn restart(&mut self, slot: usize) -> Result<(), Violated> {
        let state = &self.slots[slot];
        if state.member.is_some() || state.id == 0 || state.condemned {
            return Ok(());
        }
        if let Some(until) = state.full_until
            && until > self.now
        {
            let incarnation = state.incarnation;
            self.schedule_at(until, Item::Restart { slot, incarnation });
            return Ok(());
        }
        let id = state.id;
        let opened = Member::open(state.disk.clone(), &member_dir(), state.config.clone());
        let _latency = self.slots[slot].disk.take_latency_nanos();
        self.note(|| match &opened {
            Ok(m) => format!(
                "slot {slot} member {id}: reopened at applied index {}",
                m.applied_index()
            ),
            Err(e) => format!("slot {slot} member {id}: reopen failed: {e}"),
        });
        match opened {
            Ok(member) => {
                if let Err(broken) = member.check_invariants() {
                    self.props.always(Point::MemberInvariants, false, || {
                        format!("member {id} reopened: {broken}")
                    })?;
                }
                self.props
                    .always(Point::MemberInvariants, true, String::new)?;
                self.props.always(Point::MemberReopens, true, String::new)?;
                let now = self.now;
                let first_tick = now + self.rng.range(0, self.schedule.profile.tick_nanos + 1);
                let state = &mut self.slots[slot];
                state.clock.restart(now);
                state.first_tick_at = first_tick;
                state.member = Some(member);
                state.corrupted = false;
                state.busy_until = self.now;
                if state.stopped_full {
                    state.stopped_full = false;
                    self.props.sometimes(Point::DiskFullStoppedMember, true);
                }
                self.stats.restarts += 1;
                self.observe(slot)
            }
            Err(error) if self.slots[slot].corrupted && is_corruption(&error) => {
                self.props.sometimes(Point::CorruptionDetected, true);
                self.slots[slot].corrupted = false;
                self.slots[slot].condemned = true;
                self.begin_replace(slot);
                Ok(())
            }
            Err(_) if self.slots[slot].disk.is_halted() => {
                self.crash(slot, true, Some(NANOS_PER_SECOND));
                Ok(())
            }
            Err(error) => self.props.always(Point::MemberReopens, false, || {
                format!("member {id} did not reopen: {error}")
            }),
        }
    }

    /// What the world checks after every event of `slot`'s member.
    fn observe(&mut self, slot: usize) -> Result<(), Violated> {
        let state = &self.slots[slot];
        let Some(member) = state.member.as_ref() else {
            return Ok(());
        };
        let id = state.id;
        let (term, leading) = (member.term(), member.is_leader());
        let applied = member.applied_index();
        let mut revision = member.store().revision();
        if leading {
            self.leader_seen_at = self.now;
            let mut claimed = id;
            if self.injects(Injection::SecondLeader) && self.leaders.contains_key(&term) {
                claimed = id + 1_000;
            }
            let first = *self.leaders.entry(term).or_insert(claimed);
            self.props
                .always(Point::OneLeaderPerTerm, first == claimed, || {
                    format!("term {term} is led by member {first} and by member {claimed}")
                })?;
        }
        if self.injects(Injection::LowerRevision) && self.revision_at.contains_key(&applied) {
            revision -= 1;
        }
        let recorded = *self.revision_at.entry(applied).or_insert(revision);
        self.props
            .always(Point::RevisionAgreesAtIndex, recorded == revision, || {
                format!(
                    "member {id} is at revision {revision} at applied index {applied}, \
                     where revision {recorded} was seen before"
                )
            })?;
        if self.revision_at.len() > REVISIONS_KEPT_MAX {
            let _oldest = self.revision_at.pop_first();
        }
        if let Some(crashed) = state.crashed_applied
            && applied > crashed
        {
            self.props
                .sometimes(Point::MemberCaughtUpAfterRestart, true);
            self.slots[slot].crashed_applied = None;
        }
        if self.first_reached.last().is_none_or(|&(r, _)| revision > r) {
            self.first_reached.push((revision, self.now));
        }
        let previous = self.slots[slot].revision;
        if revision != previous {
            self.slots[slot].revision = revision;
            self.observe_leases(slot, previous)?;
        }
        Ok(())
    }

    /// Compares the hash of every live member at the lowest revision they all reached, among
    /// members with the same compact revision.
    pub(crate) fn audit(&mut self) -> Result<(), Violated> {
        let ups = self.up_slots();
        let Some(revision) = ups
            .iter()
            .filter_map(|&s| self.slots[s].member.as_ref())
            .map(|m| m.store().revision())
            .min()
        else {
            return Ok(());
        };
        let mut seen: Vec<(NodeId, i64, u32)> = Vec::new();
        for &slot in &ups {
            let Some(member) = self.slots[slot].member.as_ref() else {
                continue;
            };
            if member.store().compact_revision() > revision {
                continue;
            }
            let Ok(hash) = member.store().hash_kv(&HashKvRequest { revision }) else {
                continue;
            };
            let mut value = hash.hash;
            if self.injects(Injection::AlterHash) && !seen.is_empty() {
                value ^= 1;
            }
            seen.push((self.slots[slot].id, hash.compact_revision, value));
        }
        for (i, &(a, compact_a, hash_a)) in seen.iter().enumerate() {
            for &(b, compact_b, hash_b) in &seen[i + 1..] {
                if compact_a != compact_b {
                    continue;
                }
                self.props
                    .always(Point::HashKvAgrees, hash_a == hash_b, || {
                        format!(
                            "hash-kv at revision {revision} (compacted at {compact_a}): member {a} \
                         has {hash_a:08x}, member {b} has {hash_b:08x}"
                        )
                    })?;
            }
        }
        Ok(())
    }
}

/// Whether opening failed because a file is damaged.
fn is_corruption(error: &NodeError) -> bool {
    matches!(
        error,
        NodeError::Wal(WalError::Corrupted { .. })
            | NodeError::Snapshot(SnapError::Corrupted { .. })
            | NodeError::Store(invar_mvcc::MvccError::Corrupted(_))
            | NodeError::Inconsistent(_)
    )
}

/// Whether `effect` sends a granted (real, not pre-) vote.
fn grants_vote(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::Send(Message {
            body: MessageBody::VoteResponse {
                pre: false,
                reject: false
            },
            ..
        })
    )
}
