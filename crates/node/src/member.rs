//! The member: opening (bootstrap or restart), the event loop's entry point, client requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use invar_mvcc::{FileBackend, RangeRequest, Store, validate};
use invar_raft::{
    ConfChange, EntryKind, HardState, Index, NodeId, PersistedState, Prng, ProposeError, Raft,
    RequestError as RaftRequestError, Role, Snapshot, Term,
};
use invar_storage::fs::FileSystem;
use invar_storage::snapfile::SnapshotStore;
use invar_storage::wal::{Recovered, Wal, WalError};

use crate::api::MemberAttributes;
use crate::cluster::{self, COMMAND_VERSION, ClusterState, ConfContext, ConfOp};
use crate::codec::{self, Proposal};
use crate::config::Config;
use crate::error::{NodeError, RequestError};
use crate::event::{ClientRequest, ClientResponse, Effect, Event, Instant, RequestId};
use crate::lease::Lessor;
use crate::pending::{LeaseRead, Pending, PendingRead, PendingWrite, ReadKind};
use crate::watch::WatchHub;

const WAL_DIR: &str = "wal";
const SNAP_DIR: &str = "snap";
const STORE_FILE: &str = "store.redb";
const LEASE_ID_DRAWS_MAX: u32 = 16;
/// ReadIndex contexts of one run of a member take the low this many bits (the run's number,
/// the store's open count, takes the rest).
const READ_CONTEXT_RUN_BITS: u32 = 40;

/// One member of an Invar cluster. See the crate documentation for the call protocol.
pub struct Member<F: FileSystem> {
    pub(crate) config: Config,
    /// The member list and the alarms, as of the applied index.
    pub(crate) cluster: ClusterState,
    /// When this member last heard from each peer (for the strict reconfig check).
    pub(crate) peer_heard: BTreeMap<NodeId, Instant>,
    pub(crate) raft: Raft,
    pub(crate) wal: Wal<F>,
    pub(crate) snapshots: SnapshotStore<F>,
    pub(crate) store: Store,
    pub(crate) pending: Pending,
    /// Lease expiry by this member's clock, while it leads.
    pub(crate) lessor: Lessor,
    /// Client watch streams.
    pub(crate) watches: WatchHub,
    /// Draws lease ids.
    pub(crate) rng: Prng,
    /// The member's own time: the first tick's reading, then every later reading's step
    /// forward added (a reading below the previous one adds nothing). Invariant: never
    /// decreases, and keeps its pace after the shell's clock jumps back.
    pub(crate) now: Instant,
    /// The shell's clock at the last tick (`None` before the first tick).
    pub(crate) clock_reading: Option<Instant>,
    /// When the next raft tick is due, in the member's own time (`None` before the first
    /// tick).
    pub(crate) next_tick: Option<Instant>,
    /// The context of the next ReadIndex request. Never reused, across restarts too: its
    /// high bits count the store's opens (see [`first_read_context`]).
    pub(crate) next_read_context: u64,
    /// The index of the newest raft snapshot this member holds (taken or installed).
    pub(crate) snapshot_index: Index,
    /// (leader, term) as of the last Ready: when it changes, pending requests that can no
    /// longer be answered fail.
    pub(crate) leadership: (NodeId, Term),
    /// Effects produced by the current event.
    pub(crate) effects: Vec<Effect>,
    /// Set by a fatal error: every later call fails with [`NodeError::Stopped`].
    pub(crate) stopped: bool,
}

impl<F: FileSystem> std::fmt::Debug for Member<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.raft.id())
            .field("term", &self.raft.term())
            .field("role", &self.raft.role())
            .field("applied", &self.raft.applied())
            .field("store", &self.store)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<F: FileSystem + Clone> Member<F> {
    /// Opens the member whose files live in `dir` on `fs`: restarts it from its WAL, snapshot
    /// and store if it has a log, or bootstraps it as one of `config.initial_voters`
    /// otherwise. Entries above the store's consistent index are applied again by the first
    /// events' Ready batches; entries at or below it are never applied twice.
    pub fn open(fs: F, dir: &Path, config: Config) -> Result<Member<F>, NodeError> {
        config.validate()?;
        fs.create_dir_all(dir)?;
        let store_path = dir.join(STORE_FILE);
        let new_store = !fs.exists(&store_path)?;
        let backend = FileBackend::open(&fs, &store_path)?;
        if new_store {
            fs.sync_dir(dir)?;
        }
        let mut store =
            Store::open(Box::new(backend), store_config(&config)).map_err(NodeError::Store)?;
        let snapshots = SnapshotStore::open(fs.clone(), &dir.join(SNAP_DIR))?;
        let wal_dir = dir.join(WAL_DIR);
        let opened = match fs.list(&wal_dir) {
            Err(error) if error.is_not_found() => Err(WalError::NotFound {
                dir: wal_dir.clone(),
            }),
            Err(error) => return Err(error.into()),
            Ok(_) => Wal::open(fs.clone(), &wal_dir, config.wal.clone()),
        };
        let (wal, raft, snapshot_index, cluster) = match opened {
            Ok((wal, recovered)) if !is_blank(&recovered) => {
                let (raft, snapshot_index, cluster) =
                    restart(&config, &snapshots, &mut store, recovered)?;
                (wal, raft, snapshot_index, cluster)
            }
            Ok((wal, _)) => {
                let (raft, cluster) = bootstrap(&config, &store)?;
                (wal, raft, 0, cluster)
            }
            Err(WalError::NotFound { .. }) => {
                let wal = Wal::create(fs.clone(), &wal_dir, config.wal.clone())?;
                let (raft, cluster) = bootstrap(&config, &store)?;
                (wal, raft, 0, cluster)
            }
            Err(error) => return Err(error.into()),
        };
        let next_read_context = first_read_context(store.opens());
        // A restart must not replay the lease-id stream from the start (it would hand out
        // the ids of revoked leases again): the stream also depends on where the log is and
        // on how often the store was opened.
        let restart_salt =
            raft.term().rotate_left(32) ^ raft.last_index() ^ store.opens().rotate_left(48);
        let mut member = Member {
            rng: Prng::new(config.seed ^ restart_salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            cluster,
            peer_heard: BTreeMap::new(),
            config,
            raft,
            wal,
            snapshots,
            store,
            pending: Pending::default(),
            lessor: Lessor::default(),
            watches: WatchHub::default(),
            now: Instant::default(),
            clock_reading: None,
            next_tick: None,
            next_read_context,
            snapshot_index,
            leadership: (0, 0),
            effects: Vec::new(),
            stopped: false,
        };
        member.replay_committed()?;
        Ok(member)
    }

    /// Applies the committed log the store is behind on (a crash lost its unsynced
    /// commits) before the member serves anything: a read must never see an older revision
    /// than this member answered before it went down. etcd likewise serves clients only
    /// once its apply loop has caught up with what it had committed. What the replay emits
    /// (nothing is pending yet, so at most messages) is returned by the first `handle`.
    fn replay_committed(&mut self) -> Result<(), NodeError> {
        while self.raft.has_ready() {
            self.process_ready()?;
        }
        Ok(())
    }
}

/// The first ReadIndex context of the run whose store open count is `opens`. A leader's
/// answer to a ReadIndex of an earlier run (sent before a crash, delivered after the
/// restart) must not confirm a read of this run: it carries an old read index, and the
/// restarted member may be behind it, so the read would be stale. Each run's contexts start
/// at its own multiple of 2^40 (a run would need 2^40 reads, or the member 2^24 restarts,
/// before a context could repeat).
fn first_read_context(opens: u64) -> u64 {
    opens.wrapping_shl(READ_CONTEXT_RUN_BITS) | 1
}

/// The store's configuration, with the store's deliberate defects when one is chosen.
fn store_config(config: &Config) -> invar_mvcc::Config {
    #[allow(unused_mut)]
    let mut store = config.mvcc;
    #[cfg(feature = "defects")]
    {
        use crate::Defect;
        store.defects.consistent_index_separate_txn =
            config.has_defect(Defect::ConsistentIndexSeparateTxn);
        store.defects.compact_drops_latest = config.has_defect(Defect::CompactDropsLatest);
    }
    store
}

/// A log with nothing in it: a crash came between creating the WAL and the first save.
fn is_blank(recovered: &Recovered) -> bool {
    recovered.entries.is_empty()
        && recovered.snapshot.is_none()
        && recovered.hard_state == invar_raft::HardState::default()
}

/// A new member: raft with the initial voters' conf changes (each carrying its attributes),
/// and the member list they make (raft's configuration holds them at once too; applying the
/// entries later changes neither).
fn bootstrap(config: &Config, store: &Store) -> Result<(Raft, ClusterState), NodeError> {
    if store.consistent_index() != 0 {
        return Err(NodeError::Inconsistent(format!(
            "no raft log, but the store applied up to index {}",
            store.consistent_index()
        )));
    }
    if config.join_existing {
        // It learns the log (or a snapshot), the members and the store from the leader.
        let raft = Raft::restart(config.raft.clone(), PersistedState::default())?;
        return Ok((raft, ClusterState::default()));
    }
    if !config.initial_voters.contains(&config.raft.id) {
        return Err(NodeError::InvalidConfig(
            "a member without a log must be one of initial_voters (or join_existing)".into(),
        ));
    }
    let mut cluster = ClusterState::default();
    let voters: Vec<(NodeId, Vec<u8>)> = config
        .initial_voters
        .iter()
        .map(|&id| {
            let attributes =
                config
                    .initial_cluster
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| MemberAttributes {
                        name: format!("member-{id}"),
                        ..MemberAttributes::default()
                    });
            let context = ConfContext {
                op: ConfOp::Bootstrap,
                proposer: 0,
                request_id: 0,
                attributes,
            };
            let change = ConfChange {
                kind: invar_raft::ConfChangeKind::AddVoter,
                node_id: id,
                context: Vec::new(),
            };
            cluster.apply_conf_change(&change, &context);
            (id, cluster::encode_context(&context))
        })
        .collect();
    let raft = Raft::bootstrap_with_contexts(config.raft.clone(), &voters)?;
    Ok((raft, cluster))
}

/// Restarts raft from the WAL, bringing the store up to the WAL's snapshot first if a crash
/// came between saving a leader's snapshot and restoring the store from it. The cluster
/// state is the snapshot's, then the conf changes and commands of the WAL up to the store's
/// consistent index (the entries above it are applied again by the Ready loop).
fn restart<F: FileSystem>(
    config: &Config,
    snapshots: &SnapshotStore<F>,
    store: &mut Store,
    recovered: Recovered,
) -> Result<(Raft, Index, ClusterState), NodeError> {
    let snapshot: Option<Snapshot> = match recovered.snapshot {
        Some(marker) => Some(snapshots.load_for(marker)?),
        None => None,
    };
    let snapshot_index = snapshot.as_ref().map_or(0, |s| s.meta.index);
    let mut cluster = ClusterState::default();
    if let Some(snapshot) = &snapshot {
        let (state, image) = cluster::decode_envelope(&snapshot.data).map_err(|reason| {
            NodeError::Inconsistent(format!("snapshot at index {snapshot_index}: {reason}"))
        })?;
        cluster = state;
        if store.consistent_index() < snapshot_index {
            store
                .restore_image(snapshot_index, image)
                .map_err(NodeError::Store)?;
        }
    }
    let applied = store.consistent_index();
    let commit = recovered.hard_state.commit.max(snapshot_index);
    if applied > commit {
        return Err(NodeError::Inconsistent(format!(
            "the store applied index {applied}, past the log's commit index {commit}"
        )));
    }
    for entry in recovered.entries.iter().take_while(|e| e.index <= applied) {
        if entry.kind == EntryKind::ConfChange {
            if let Ok(change) = ConfChange::decode(&entry.data) {
                let context = cluster::decode_context(&change.context)
                    .unwrap_or_else(|_| ConfContext::empty());
                cluster.apply_conf_change(&change, &context);
            }
        } else if entry.data.first() == Some(&COMMAND_VERSION)
            && let Ok(command) = cluster::decode_command(&entry.data)
        {
            cluster.apply_alarm(&command.alarm);
        }
    }
    let state = PersistedState {
        hard_state: forget_vote(config, recovered.hard_state),
        snapshot,
        entries: recovered.entries,
        applied,
    };
    let raft = Raft::restart(config.raft.clone(), state)?;
    Ok((raft, snapshot_index, cluster))
}

/// The hard state raft restarts with: as persisted (defect `forget-vote-on-restart`: without
/// its vote, so the member may vote again in the term it already voted in).
fn forget_vote(config: &Config, hard_state: HardState) -> HardState {
    #[cfg(feature = "defects")]
    if config.has_defect(crate::Defect::ForgetVoteOnRestart) {
        return HardState {
            vote: 0,
            ..hard_state
        };
    }
    let _ = config;
    hard_state
}

impl<F: FileSystem> Member<F> {
    // ---- Getters ----

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.raft.id()
    }
    /// The current raft term.
    pub fn term(&self) -> Term {
        self.raft.term()
    }
    /// The leader this member knows of (0: none).
    pub fn leader(&self) -> NodeId {
        self.raft.leader()
    }
    /// Whether this member leads.
    pub fn is_leader(&self) -> bool {
        self.raft.role() == Role::Leader
    }
    /// The last raft index applied to the store.
    pub fn applied_index(&self) -> Index {
        self.raft.applied()
    }
    /// The index of the newest raft snapshot this member holds.
    pub fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }
    /// The consensus core (read-only: for status and checks).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }
    /// The store (for status, hash-kv and checks; never mutate it directly).
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Number of client requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }
    /// Whether this member was removed from the cluster (it applied its own removal): it
    /// answers every request with "the member has been permanently removed from the
    /// cluster" and takes no part in consensus. The shell may stop it.
    pub fn is_removed(&self) -> bool {
        self.cluster.removed.contains(&self.raft.id())
    }
    /// Whether this member is a learner (as of the applied member list).
    pub fn is_learner(&self) -> bool {
        self.cluster
            .members
            .get(&self.raft.id())
            .is_some_and(|m| m.is_learner)
    }
    /// The member list as of the applied index, by id.
    pub fn members(&self) -> Vec<crate::api::MemberInfo> {
        self.cluster.list()
    }
    /// The raised alarms as of the applied index.
    pub fn alarms(&self) -> Vec<crate::api::AlarmMember> {
        self.cluster.alarms.iter().copied().collect()
    }
    /// The earliest time, by the shell's clock, at which an [`Event::Tick`] has something to
    /// do (`None` before the first tick: tick it now).
    pub fn next_deadline(&self) -> Option<Instant> {
        let (next, reading) = (self.next_tick?, self.clock_reading?);
        let ahead = next.0.saturating_sub(self.now.0);
        let behind = self.now.0.saturating_sub(next.0);
        Some(Instant(
            reading.0.saturating_add(ahead).saturating_sub(behind),
        ))
    }

    /// Takes a reading of the shell's clock: the member's own time moves by the step
    /// forward since the last reading (by nothing if the clock went back).
    fn read_clock(&mut self, reading: Instant) {
        match self.clock_reading {
            None => self.now = self.now.max(reading),
            Some(last) => self.now = self.now.plus_nanos(reading.0.saturating_sub(last.0)),
        }
        self.clock_reading = Some(reading);
    }

    /// Checks the member's invariants (for tests and the simulator after each event).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.store.check_invariants()?;
        self.pending.check_invariants()?;
        if self.store.consistent_index() != self.raft.applied() {
            return Err(format!(
                "store consistent index {} differs from raft's applied index {}",
                self.store.consistent_index(),
                self.raft.applied()
            ));
        }
        let conf = self.raft.conf_state();
        let voters: std::collections::BTreeSet<NodeId> = self.cluster.voters().collect();
        let learners: std::collections::BTreeSet<NodeId> = self
            .cluster
            .members
            .values()
            .filter(|m| m.is_learner)
            .map(|m| m.id)
            .collect();
        if voters != conf.voters || learners != conf.learners {
            return Err(format!(
                "member list (voters {voters:?}, learners {learners:?}) differs from raft's \
                 configuration {conf:?}"
            ));
        }
        Ok(())
    }

    // ---- The entry point ----

    /// Handles one event and returns the effects to carry out, in order. A fatal error
    /// (disk, corruption) stops the member: drop it and open it again.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Effect>, NodeError> {
        if self.stopped {
            return Err(NodeError::Stopped);
        }
        let result = self.handle_unstopped(event);
        if result.is_err() {
            self.stopped = true;
        }
        result
    }

    fn handle_unstopped(&mut self, event: Event) -> Result<Vec<Effect>, NodeError> {
        if self.is_removed() {
            self.handle_removed(event);
            return Ok(std::mem::take(&mut self.effects));
        }
        match event {
            Event::Message(message) => {
                if self.accepts_message(&message) {
                    if self.cluster.members.contains_key(&message.from) {
                        self.peer_heard.insert(message.from, self.now);
                    }
                    // A malformed or stale message is refused by raft; a peer cannot stop us.
                    let _refused = self.raft.step(message);
                }
            }
            Event::Tick(now) => self.tick(now),
            Event::Request { id, request } => self.request(id, request)?,
            Event::WatchCreate { stream, request } => self.watch_create(stream, &request)?,
            Event::WatchCancel { stream, watch_id } => self.watch_cancel(stream, watch_id),
            Event::WatchProgress { stream } => self.watch_progress(stream),
            Event::WatchClose { stream } => self.watch_close(stream),
        }
        let mut readies = 0;
        while self.raft.has_ready() && readies < self.config.readies_per_event_max {
            self.process_ready()?;
            readies += 1;
        }
        self.lessor_follow_role()?;
        self.catch_up_watchers()?;
        self.maybe_snapshot()?;
        Ok(std::mem::take(&mut self.effects))
    }

    /// Whether a peer message may reach raft. Dropped: a message from a removed member (as
    /// etcd's "cannot process message from removed member": one that never applied its own
    /// removal would otherwise depose leaders with its higher terms), and a snapshot whose
    /// data is not an envelope whose member list matches its raft configuration (raft would
    /// take it, it would be made durable, and then neither installing it nor a restart could
    /// go on: the member would be stopped for good).
    fn accepts_message(&self, message: &invar_raft::Message) -> bool {
        if self.cluster.removed.contains(&message.from) {
            return false;
        }
        let invar_raft::MessageBody::Snapshot { snapshot } = &message.body else {
            return true;
        };
        let Ok((state, _image)) = cluster::decode_envelope(&snapshot.data) else {
            return false;
        };
        let conf = &snapshot.meta.conf_state;
        let voters: std::collections::BTreeSet<NodeId> = state.voters().collect();
        let learners: std::collections::BTreeSet<NodeId> = state
            .members
            .values()
            .filter(|m| m.is_learner)
            .map(|m| m.id)
            .collect();
        voters == conf.voters && learners == conf.learners
    }

    /// A removed member serves nothing: requests fail, peers are not answered, and what was
    /// pending times out.
    fn handle_removed(&mut self, event: Event) {
        match event {
            Event::Request { id, .. } => self.reply(id, Err(RequestError::MemberRemoved)),
            Event::Tick(reading) => {
                self.read_clock(reading);
                let now = self.now;
                // Only pending requests still need ticks; the deadline moves on regardless,
                // so that a shell waking it at its deadline never spins in place.
                self.next_tick = Some(now.plus_nanos(self.config.tick_interval_nanos));
                for id in self.pending.take_expired(now) {
                    self.reply(id, Err(RequestError::MemberRemoved));
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, reading: Instant) {
        // A clock that jumped back counts as no time passing, then runs on at its pace: the
        // member does not stall for the jump's length (as a follower it would keep refusing
        // pre-votes, believing it heard from a leader a moment ago).
        self.read_clock(reading);
        let now = self.now;
        let interval = self.config.tick_interval_nanos;
        let mut next = self.next_tick.unwrap_or(now);
        let mut ticks = 0;
        while next <= now && ticks < self.config.ticks_per_event_max {
            self.raft.tick();
            next = next.plus_nanos(interval);
            ticks += 1;
        }
        if next <= now {
            next = now.plus_nanos(interval);
        }
        self.next_tick = Some(next);
        self.tick_watch_progress(u64::from(ticks));
        self.expire_leases();
        let transfers: Vec<RequestId> = self.pending.transfers.keys().copied().collect();
        for id in self.pending.take_expired(now) {
            let error = if transfers.contains(&id) {
                RequestError::LeaderTransferTimedOut
            } else {
                RequestError::TimedOut
            };
            self.reply(id, Err(error));
        }
    }

    pub(crate) fn reply(&mut self, id: RequestId, result: Result<ClientResponse, RequestError>) {
        let result = result.map(|mut response| {
            let header = response.header_mut();
            header.cluster_id = self.config.cluster_id;
            header.member_id = self.raft.id();
            header.raft_term = self.raft.term();
            response
        });
        self.effects.push(Effect::Reply { id, result });
    }

    // ---- Client requests ----

    fn request(&mut self, id: RequestId, request: ClientRequest) -> Result<(), NodeError> {
        if self.pending.contains(id) {
            self.effects.push(Effect::Reply {
                id,
                result: Err(RequestError::DuplicateRequestId(id)),
            });
            return Ok(());
        }
        if self.pending.len() >= self.config.pending_requests_max {
            self.reply(id, Err(RequestError::TooManyRequests));
            return Ok(());
        }
        if let Err(error) = self.validate(&request) {
            self.reply(id, Err(error.into()));
            return Ok(());
        }
        // A learner refuses before the quota is looked at (etcd's interceptor comes before
        // its quota check); it never proposes, so it never raises the alarm either.
        if self.is_learner() && !learner_serves(&request) {
            self.reply(id, Err(RequestError::NotSupportedForLearner));
            return Ok(());
        }
        if let Err(error) = self.check_space(&request) {
            self.reply(id, Err(error));
            return Ok(());
        }
        match request {
            ClientRequest::Range(range) if range.serializable || self.reads_locally() => {
                let result = self.serve_range(&range);
                self.reply(id, result);
            }
            ClientRequest::Range(range) => self.read_index(id, ReadKind::Range(range)),
            ClientRequest::MemberAdd(add) => self.member_add(id, add),
            ClientRequest::MemberRemove(remove) => self.member_remove(id, remove.id),
            ClientRequest::MemberPromote(promote) => self.member_promote(id, promote.id),
            ClientRequest::MemberList(list) if list.linearizable => {
                self.read_index(id, ReadKind::MemberList);
            }
            ClientRequest::MemberList(_) => {
                let result = Ok(self.member_list());
                self.reply(id, result);
            }
            ClientRequest::MoveLeader(request) => self.move_leader(id, request.target_id),
            ClientRequest::Status => {
                let result = self.status()?;
                self.reply(id, Ok(result));
            }
            ClientRequest::HashKv(request) => {
                let result = self.store.hash_kv(&request).map(ClientResponse::HashKv);
                self.reply(id, result.map_err(RequestError::from));
            }
            ClientRequest::Defragment => {
                let result = self.defragment()?;
                self.reply(id, Ok(result));
            }
            ClientRequest::Snapshot => {
                let result = self.snapshot_blob()?;
                self.reply(id, Ok(result));
            }
            ClientRequest::Alarm(request) => self.alarm(id, request),
            ClientRequest::LeaseKeepAlive(keep_alive) => {
                self.lease_request(id, LeaseRead::KeepAlive(keep_alive));
            }
            ClientRequest::LeaseTimeToLive(time_to_live) => {
                self.lease_request(id, LeaseRead::TimeToLive(time_to_live));
            }
            ClientRequest::LeaseLeases => {
                let result = self.lease_leases();
                self.reply(id, result);
            }
            ClientRequest::LeaseGrant(mut grant) => {
                if grant.id == 0 {
                    grant.id = self.fresh_lease_id();
                }
                self.propose(id, invar_mvcc::Request::LeaseGrant(grant));
            }
            other => {
                if let Some(request) = other.into_store_request() {
                    self.propose(id, request);
                }
            }
        }
        Ok(())
    }

    /// Whether linearizable ranges are served at once from the local store (only with
    /// the defect `linearizable-read-local`).
    fn reads_locally(&self) -> bool {
        #[cfg(feature = "defects")]
        if self.config.has_defect(crate::Defect::LinearizableReadLocal) {
            return true;
        }
        false
    }

    fn validate(&self, request: &ClientRequest) -> invar_mvcc::Result<()> {
        match request {
            ClientRequest::Range(req) => validate::check_range(req),
            ClientRequest::Put(req) => validate::check_put(req),
            ClientRequest::DeleteRange(req) => validate::check_delete(req),
            ClientRequest::Txn(req) => validate::check_txn(req, self.config.mvcc.txn_ops_max),
            ClientRequest::LeaseGrant(req) if req.ttl > invar_mvcc::LEASE_TTL_SECONDS_MAX => {
                Err(invar_mvcc::MvccError::LeaseTtlTooLarge)
            }
            _ => Ok(()),
        }
    }

    /// A positive lease id not in use (etcd's lessor picks random positive ids). After a
    /// bounded number of draws it gives up and lets the store answer "lease already exists".
    fn fresh_lease_id(&mut self) -> i64 {
        let mut id = 1;
        for _ in 0..LEASE_ID_DRAWS_MAX {
            id = ((self.rng.next_u64() >> 1) as i64).max(1);
            if self.store.lease_granted_revision(id).is_none() {
                break;
            }
        }
        id
    }

    pub(crate) fn serve_range(&self, req: &RangeRequest) -> Result<ClientResponse, RequestError> {
        Ok(ClientResponse::Range(self.store.range(req)?))
    }

    /// Asks raft for a read index; the read waits in `pending` until raft confirms it and
    /// this member applied that index (see `serve_reads`), or fails on a leader change or
    /// its deadline.
    pub(crate) fn read_index(&mut self, id: RequestId, kind: ReadKind) {
        let context = self.next_read_context;
        match self.raft.read_index(context) {
            Ok(()) => {
                self.next_read_context += 1;
                let deadline = self.now.plus_nanos(self.config.request_timeout_nanos);
                let read = PendingRead { id, kind, deadline };
                self.pending.add_read(context, read);
            }
            Err(RaftRequestError::NoLeader | RaftRequestError::NotLeader { .. }) => {
                self.reply(id, Err(RequestError::NoLeader));
            }
            Err(RaftRequestError::NotAVoter(_)) => {
                self.reply(id, Err(RequestError::NotSupportedForLearner));
            }
        }
    }

    fn propose(&mut self, id: RequestId, request: invar_mvcc::Request) {
        let proposal = Proposal {
            member: self.raft.id(),
            request_id: id,
            request,
        };
        let proposed = self.raft.propose(codec::encode(&proposal));
        self.track_proposal(id, proposed);
    }

    /// Waits for the entry a proposal got, or answers why there is none.
    pub(crate) fn track_proposal(&mut self, id: RequestId, proposed: Result<Index, ProposeError>) {
        match proposed {
            Ok(index) => {
                let write = PendingWrite {
                    id,
                    term: self.raft.term(),
                    deadline: self.now.plus_nanos(self.config.request_timeout_nanos),
                };
                self.pending.add_write(index, write);
            }
            Err(ProposeError::NotLeader { leader }) => {
                self.reply(id, Err(RequestError::NotLeader { leader }));
            }
            // One conf change at a time: the next one waits, as under load.
            Err(ProposeError::Overloaded | ProposeError::ConfChangePending) => {
                self.reply(id, Err(RequestError::TooManyRequests));
            }
            Err(_) => self.reply(id, Err(RequestError::ProposalDropped)),
        }
    }
}

/// What a learner serves (etcd: serializable reads and status; here also what only this
/// member can answer: its store's hash, defragment, snapshot, alarms to read, and the
/// member list from its applied state). Everything else, writes too, gets "rpc not supported
/// for learner".
fn learner_serves(request: &ClientRequest) -> bool {
    match request {
        ClientRequest::Range(range) => range.serializable,
        ClientRequest::MemberList(list) => !list.linearizable,
        ClientRequest::Alarm(alarm) => alarm.action == crate::api::AlarmAction::Get,
        ClientRequest::Status
        | ClientRequest::HashKv(_)
        | ClientRequest::Defragment
        | ClientRequest::Snapshot
        | ClientRequest::LeaseLeases => true,
        _ => false,
    }
}

/// The paths a member uses under its directory: (WAL dir, snapshot dir, store file).
pub fn member_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join(WAL_DIR), dir.join(SNAP_DIR), dir.join(STORE_FILE))
}
