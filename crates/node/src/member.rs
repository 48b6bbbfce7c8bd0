//! The member: opening (bootstrap or restart), the event loop's entry point, client requests.

use std::path::{Path, PathBuf};

use invar_mvcc::{FileBackend, RangeRequest, Store, validate};
use invar_raft::{
    Index, NodeId, PersistedState, Prng, ProposeError, Raft, RequestError as RaftRequestError,
    Role, Snapshot, Term,
};
use invar_storage::fs::FileSystem;
use invar_storage::snapfile::SnapshotStore;
use invar_storage::wal::{Recovered, Wal, WalError};

use crate::codec::{self, Proposal};
use crate::config::Config;
use crate::error::{NodeError, RequestError};
use crate::event::{ClientRequest, ClientResponse, Effect, Event, Instant, RequestId};
use crate::lease::Lessor;
use crate::pending::{Pending, PendingRead, PendingWrite};
use crate::watch::WatchHub;

const WAL_DIR: &str = "wal";
const SNAP_DIR: &str = "snap";
const STORE_FILE: &str = "store.redb";
const LEASE_ID_DRAWS_MAX: u32 = 16;

/// One member of an Invar cluster. See the crate documentation for the call protocol.
pub struct Member<F: FileSystem> {
    pub(crate) config: Config,
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
    /// The latest time given by a tick. Invariant: never decreases.
    pub(crate) now: Instant,
    /// When the next raft tick is due (`None` before the first tick).
    pub(crate) next_tick: Option<Instant>,
    /// The context of the next ReadIndex request. Never reused.
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
        let mut store = Store::open(Box::new(backend), config.mvcc).map_err(NodeError::Store)?;
        let snapshots = SnapshotStore::open(fs.clone(), &dir.join(SNAP_DIR))?;
        let wal_dir = dir.join(WAL_DIR);
        let opened = match fs.list(&wal_dir) {
            Err(error) if error.is_not_found() => Err(WalError::NotFound {
                dir: wal_dir.clone(),
            }),
            Err(error) => return Err(error.into()),
            Ok(_) => Wal::open(fs.clone(), &wal_dir, config.wal.clone()),
        };
        let (wal, raft, snapshot_index) = match opened {
            Ok((wal, recovered)) if !is_blank(&recovered) => {
                let (raft, snapshot_index) = restart(&config, &snapshots, &mut store, recovered)?;
                (wal, raft, snapshot_index)
            }
            Ok((wal, _)) => (wal, bootstrap(&config, &store)?, 0),
            Err(WalError::NotFound { .. }) => {
                let wal = Wal::create(fs.clone(), &wal_dir, config.wal.clone())?;
                (wal, bootstrap(&config, &store)?, 0)
            }
            Err(error) => return Err(error.into()),
        };
        Ok(Member {
            rng: Prng::new(config.seed),
            config,
            raft,
            wal,
            snapshots,
            store,
            pending: Pending::default(),
            lessor: Lessor::default(),
            watches: WatchHub::default(),
            now: Instant::default(),
            next_tick: None,
            next_read_context: 1,
            snapshot_index,
            leadership: (0, 0),
            effects: Vec::new(),
            stopped: false,
        })
    }
}

/// A log with nothing in it: a crash came between creating the WAL and the first save.
fn is_blank(recovered: &Recovered) -> bool {
    recovered.entries.is_empty()
        && recovered.snapshot.is_none()
        && recovered.hard_state == invar_raft::HardState::default()
}

fn bootstrap(config: &Config, store: &Store) -> Result<Raft, NodeError> {
    if store.consistent_index() != 0 {
        return Err(NodeError::Inconsistent(format!(
            "no raft log, but the store applied up to index {}",
            store.consistent_index()
        )));
    }
    if !config.initial_voters.contains(&config.raft.id) {
        return Err(NodeError::InvalidConfig(
            "a member without a log must be one of initial_voters".into(),
        ));
    }
    Ok(Raft::bootstrap(
        config.raft.clone(),
        &config.initial_voters,
    )?)
}

/// Restarts raft from the WAL, bringing the store up to the WAL's snapshot first if a crash
/// came between saving a leader's snapshot and restoring the store from it.
fn restart<F: FileSystem>(
    config: &Config,
    snapshots: &SnapshotStore<F>,
    store: &mut Store,
    recovered: Recovered,
) -> Result<(Raft, Index), NodeError> {
    let snapshot: Option<Snapshot> = match recovered.snapshot {
        Some(marker) => Some(snapshots.load_for(marker)?),
        None => None,
    };
    let snapshot_index = snapshot.as_ref().map_or(0, |s| s.meta.index);
    if let Some(snapshot) = &snapshot
        && store.consistent_index() < snapshot_index
    {
        store
            .restore_image(snapshot_index, &snapshot.data)
            .map_err(NodeError::Store)?;
    }
    let applied = store.consistent_index();
    let commit = recovered.hard_state.commit.max(snapshot_index);
    if applied > commit {
        return Err(NodeError::Inconsistent(format!(
            "the store applied index {applied}, past the log's commit index {commit}"
        )));
    }
    let state = PersistedState {
        hard_state: recovered.hard_state,
        snapshot,
        entries: recovered.entries,
        applied,
    };
    Ok((Raft::restart(config.raft.clone(), state)?, snapshot_index))
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
    /// The earliest time a [`Event::Tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_tick
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
        debug_assert!(self.effects.is_empty());
        match event {
            Event::Message(message) => {
                // A malformed or stale message is refused by raft; a peer cannot stop us.
                let _refused = self.raft.step(message);
            }
            Event::Tick(now) => self.tick(now),
            Event::Request { id, request } => self.request(id, request),
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

    fn tick(&mut self, now: Instant) {
        if now < self.now {
            return; // A clock that jumped back runs no ticks until it catches up.
        }
        self.now = now;
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
        for id in self.pending.take_expired(now) {
            self.reply(id, Err(RequestError::TimedOut));
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

    fn request(&mut self, id: RequestId, request: ClientRequest) {
        if self.pending.contains(id) {
            self.effects.push(Effect::Reply {
                id,
                result: Err(RequestError::DuplicateRequestId(id)),
            });
            return;
        }
        if self.pending.len() >= self.config.pending_requests_max {
            self.reply(id, Err(RequestError::TooManyRequests));
            return;
        }
        if let Err(error) = self.validate(&request) {
            self.reply(id, Err(error.into()));
            return;
        }
        match request {
            ClientRequest::Range(range) if range.serializable => {
                let result = self.serve_range(&range);
                self.reply(id, result);
            }
            ClientRequest::Range(range) => self.read_index(id, range),
            ClientRequest::LeaseKeepAlive(keep_alive) => {
                let result = self.lease_keep_alive(keep_alive);
                self.reply(id, result);
            }
            ClientRequest::LeaseTimeToLive(time_to_live) => {
                let result = self.lease_time_to_live(&time_to_live);
                self.reply(id, result);
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

    fn read_index(&mut self, id: RequestId, request: RangeRequest) {
        let context = self.next_read_context;
        match self.raft.read_index(context) {
            Ok(()) => {
                self.next_read_context += 1;
                let deadline = self.now.plus_nanos(self.config.request_timeout_nanos);
                let read = PendingRead {
                    id,
                    request,
                    deadline,
                };
                self.pending.add_read(context, read);
            }
            Err(RaftRequestError::NoLeader | RaftRequestError::NotLeader { .. }) => {
                self.reply(id, Err(RequestError::NoLeader));
            }
            Err(RaftRequestError::NotAVoter(_)) => {
                self.reply(id, Err(RequestError::NoLeader));
            }
        }
    }

    fn propose(&mut self, id: RequestId, request: invar_mvcc::Request) {
        let proposal = Proposal {
            member: self.raft.id(),
            request_id: id,
            request,
        };
        match self.raft.propose(codec::encode(&proposal)) {
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
            Err(ProposeError::Overloaded) => self.reply(id, Err(RequestError::TooManyRequests)),
            Err(_) => self.reply(id, Err(RequestError::ProposalDropped)),
        }
    }
}

/// The paths a member uses under its directory: (WAL dir, snapshot dir, store file).
pub fn member_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join(WAL_DIR), dir.join(SNAP_DIR), dir.join(STORE_FILE))
}
