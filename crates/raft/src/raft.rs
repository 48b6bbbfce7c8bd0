//! The member: its state, the role transitions, time, and the calls of its caller.
//!
//! Messages are handled in `step.rs`, ReadIndex in `read.rs`, the Ready/advance hand-off in
//! `ready.rs`. Every role transition lives here.

use std::collections::VecDeque;

use crate::config::Config;
pub use crate::error::{PersistedState, ProposeError, RequestError, RestoreError};
use crate::log::RaftLog;
use crate::prng::Prng;
use crate::progress::{Progress, ProgressState, Tracker};
use crate::read::ReadQueue;
use crate::ready::{ReadState, SoftState};
use crate::types::{
    ConfChange, ConfChangeKind, ConfState, Entry, EntryKind, HardState, Index, Message,
    MessageBody, NodeId, Snapshot, SnapshotMeta, Term,
};

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks whether it could win before raising the term (pre-vote).
    PreCandidate,
    /// Campaigns in a new term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// One Raft member. See the crate documentation for the call protocol.
#[derive(Debug)]
pub struct Raft {
    pub(crate) config: Config,
    pub(crate) id: NodeId,
    /// Invariant: never decreases.
    pub(crate) term: Term,
    /// Who this member voted for in `term` (0: nobody).
    pub(crate) vote: NodeId,
    pub(crate) role: Role,
    /// The leader of `term` as far as this member knows (0: unknown).
    pub(crate) leader: NodeId,
    pub(crate) log: RaftLog,
    pub(crate) tracker: Tracker,
    pub(crate) election_elapsed_ticks: u32,
    pub(crate) heartbeat_elapsed_ticks: u32,
    pub(crate) randomized_election_timeout_ticks: u32,
    pub(crate) rng: Prng,
    /// The target of a leadership transfer under way, with the ticks it has taken.
    pub(crate) transferee: Option<(NodeId, u32)>,
    /// A configuration change at an index above `applied` is pending until applied.
    pub(crate) pending_conf_index: Index,
    /// Bytes of entries this leader appended in its term that are not yet committed.
    pub(crate) uncommitted_bytes: u64,
    pub(crate) reads: ReadQueue,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) outbox: VecDeque<Message>,
    pub(crate) prev_hard_state: HardState,
    pub(crate) prev_soft_state: SoftState,
    /// Set between `ready()` and `advance()`; no input may arrive then.
    pub(crate) awaiting_advance: bool,
}

impl Raft {
    /// A member of a brand-new cluster of `voters` (which must include `config.id`). Every
    /// initial member must be bootstrapped with the same voters: the configuration is written
    /// as the first log entries (term 1, committed), as etcd does, so members added later
    /// learn it from the log.
    pub fn bootstrap(config: Config, voters: &[NodeId]) -> Result<Raft, RestoreError> {
        let with_contexts: Vec<(NodeId, Vec<u8>)> =
            voters.iter().map(|&id| (id, Vec::new())).collect();
        Raft::bootstrap_with_contexts(config, &with_contexts)
    }

    /// [`Raft::bootstrap`] where each initial voter's conf change carries a context (the
    /// application's description of the member, e.g. its name and addresses), as etcd's
    /// bootstrap entries carry each member's attributes. Voters are sorted by id; for a
    /// duplicated id the first context given is kept.
    pub fn bootstrap_with_contexts(
        config: Config,
        voters: &[(NodeId, Vec<u8>)],
    ) -> Result<Raft, RestoreError> {
        let mut sorted = voters.to_vec();
        sorted.sort_by_key(|(id, _)| *id);
        sorted.dedup_by_key(|(id, _)| *id);
        let entries: Vec<Entry> = sorted
            .iter()
            .enumerate()
            .map(|(k, (node_id, context))| Entry {
                term: 1,
                index: k as u64 + 1,
                kind: EntryKind::ConfChange,
                data: ConfChange {
                    kind: ConfChangeKind::AddVoter,
                    node_id: *node_id,
                    context: context.clone(),
                }
                .encode(),
            })
            .collect();
        let sorted: Vec<NodeId> = sorted.into_iter().map(|(id, _)| id).collect();
        let commit = entries.len() as u64;
        let mut raft = Raft::restart(config, PersistedState::default())?;
        raft.term = 1;
        raft.log.append(&entries);
        raft.log.commit_to(commit);
        raft.tracker = Tracker::new(ConfState::with_voters(sorted));
        raft.reset_progress();
        Ok(raft)
    }

    /// A member restarted from what it persisted (or a new member joining an existing
    /// cluster, from `PersistedState::default()`: it learns the configuration from the leader).
    pub fn restart(config: Config, state: PersistedState) -> Result<Raft, RestoreError> {
        config.validate()?;
        let (offset_index, offset_term, conf) = match &state.snapshot {
            Some(s) => (s.meta.index, s.meta.term, s.meta.conf_state.clone()),
            None => (0, 0, ConfState::default()),
        };
        for (position, entry) in state.entries.iter().enumerate() {
            let expected = offset_index + 1 + position as u64;
            if entry.index != expected {
                return Err(RestoreError::Gap {
                    position,
                    found: entry.index,
                    expected,
                });
            }
        }
        let persisted_hard_state = state.hard_state;
        let mut hard_state = persisted_hard_state;
        let last_term = state.entries.last().map_or(offset_term, |e| e.term);
        if last_term > hard_state.term {
            // A crash inside a save kept its entries but not the hard state written after
            // them (nothing was synced, so nothing that depends on either was sent). The
            // member had reached the entries' term, and cast no vote in it that anyone saw:
            // a vote is sent only once its hard state is synced, which would have recorded
            // that term. So it resumes in that term, without a vote.
            hard_state.term = last_term;
            hard_state.vote = 0;
        }
        let mut log = RaftLog::new(offset_index, offset_term, state.entries);
        let commit = hard_state.commit.max(offset_index);
        if commit > log.last_index() {
            return Err(RestoreError::CommitPastLog {
                commit,
                last_index: log.last_index(),
            });
        }
        let applied = state.applied.max(offset_index);
        if applied > commit {
            return Err(RestoreError::AppliedPastCommit { applied, commit });
        }
        log.commit_to(commit);
        log.applied_to(applied);
        if let Some(snapshot) = state.snapshot {
            log.set_snapshot(snapshot);
        }
        let mut tracker = Tracker::new(conf);
        // Replay membership changes the application already applied after the snapshot.
        for entry in log.entries_from(offset_index + 1) {
            if entry.index > applied {
                break;
            }
            apply_conf_entry(&mut tracker.conf, entry);
        }
        let mut vote = hard_state.vote;
        if cfg!(feature = "defect-forget-vote") {
            vote = 0;
        }
        let rng = Prng::new(config.seed);
        let mut raft = Raft {
            id: config.id,
            config,
            term: hard_state.term,
            vote,
            role: Role::Follower,
            leader: 0,
            log,
            tracker,
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks: 0,
            rng,
            transferee: None,
            pending_conf_index: 0,
            uncommitted_bytes: 0,
            reads: ReadQueue::default(),
            read_states: Vec::new(),
            outbox: VecDeque::new(),
            // A hard state adjusted above differs from the persisted one: the first Ready
            // saves it.
            prev_hard_state: persisted_hard_state,
            prev_soft_state: SoftState {
                leader: 0,
                role: Role::Follower,
            },
            awaiting_advance: false,
        };
        raft.become_follower(hard_state.term, 0);
        Ok(raft)
    }

    // ---- Getters ----

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// Who this member voted for in the current term (0: nobody).
    pub fn vote(&self) -> NodeId {
        self.vote
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The known leader of the current term (0: unknown).
    pub fn leader(&self) -> NodeId {
        self.leader
    }
    /// The current hard state.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed(),
        }
    }
    /// The membership as of the applied index.
    pub fn conf_state(&self) -> &ConfState {
        &self.tracker.conf
    }
    /// The first index still in the log (entries before it were compacted).
    pub fn first_index(&self) -> Index {
        self.log.first_index()
    }
    /// The last index in the log (persisted or not).
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }
    /// The commit index.
    pub fn committed(&self) -> Index {
        self.log.committed()
    }
    /// The applied index.
    pub fn applied(&self) -> Index {
        self.log.applied()
    }
    /// The term of the entry at `index`, if it is in the log (or at the compaction point).
    pub fn log_term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }
    /// The entries from `low` to the end of the log (those still in memory).
    pub fn log_entries_from(&self, low: Index) -> &[Entry] {
        self.log.entries_from(low)
    }
    /// The leader's view of a follower (`None` on non-leaders or for unknown members).
    pub fn progress(&self, id: NodeId) -> Option<&Progress> {
        if self.role != Role::Leader {
            return None;
        }
        self.tracker.progress.get(&id)
    }

    // ---- Commands of the application ----

    /// Appends `data` to the log if this member leads. Returns the entry's index; the caller
    /// learns the outcome when an entry at that index (and this term) is committed, or that
    /// it was lost when another entry shows up there.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<Index, ProposeError> {
        self.propose_entry(EntryKind::Normal, data)
    }

    /// Proposes one membership change. Refused while another change is pending or before this
    /// leader committed an entry of its own term (the one-at-a-time rule is only safe then).
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<Index, ProposeError> {
        if self.role == Role::Leader {
            let term_committed = self.log.term(self.log.committed()) == Some(self.term);
            if self.pending_conf_index > self.log.applied() || !term_committed {
                return Err(ProposeError::ConfChangePending);
            }
            self.tracker.conf.apply(change)?;
        }
        let index = self.propose_entry(EntryKind::ConfChange, change.encode())?;
        self.pending_conf_index = index;
        Ok(index)
    }

    /// Appends several entries at once if this member leads: one append message per follower
    /// carries them all. Returns the index of the first; the others follow in order.
    pub fn propose_batch(&mut self, batch: Vec<Vec<u8>>) -> Result<Index, ProposeError> {
        let kinds = batch.into_iter().map(|data| (EntryKind::Normal, data));
        self.propose_entries(kinds.collect())
    }

    fn propose_entry(&mut self, kind: EntryKind, data: Vec<u8>) -> Result<Index, ProposeError> {
        self.propose_entries(vec![(kind, data)])
    }

    fn propose_entries(&mut self, batch: Vec<(EntryKind, Vec<u8>)>) -> Result<Index, ProposeError> {
        self.assert_accepting_input();
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader,
            });
        }
        if self.transferee.is_some() {
            return Err(ProposeError::TransferInProgress);
        }
        let first = self.log.last_index() + 1;
        let entries: Vec<Entry> = batch
            .into_iter()
            .zip(first..)
            .map(|((kind, data), index)| Entry {
                term: self.term,
                index,
                kind,
                data,
            })
            .collect();
        let size: u64 = entries.iter().map(Entry::size_bytes).sum();
        // An empty pipeline always takes one batch, so an oversized batch cannot wedge it.
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes + size > self.config.uncommitted_bytes_max
        {
            return Err(ProposeError::Overloaded);
        }
        self.append_as_leader(entries);
        self.broadcast_append();
        Ok(first)
    }

    /// Starts an election now (if this member may vote).
    pub fn campaign(&mut self) {
        self.assert_accepting_input();
        self.hup(false);
    }

    /// Hands leadership to `target`: once its log is caught up it is told to campaign at once.
    /// Proposals are refused until the transfer ends (or an election timeout passes).
    pub fn transfer_leader(&mut self, target: NodeId) -> Result<(), RequestError> {
        self.assert_accepting_input();
        if self.role != Role::Leader {
            return Err(RequestError::NotLeader {
                leader: self.leader,
            });
        }
        if !self.tracker.is_voter(target) {
            return Err(RequestError::NotAVoter(target));
        }
        if target == self.id || self.transferee.is_some_and(|(t, _)| t == target) {
            return Ok(());
        }
        self.transferee = Some((target, 0));
        let caught_up = self.tracker.progress.get(&target).map(|p| p.match_index)
            == Some(self.log.last_index());
        if caught_up {
            self.send(target, MessageBody::TimeoutNow);
        } else {
            self.send_append(target, true);
        }
        Ok(())
    }

    /// Takes a snapshot at the applied index with the application's image `data`, and drops
    /// log entries up to `keep_entries` before it (kept so that slightly slow followers catch
    /// up from the log instead of a snapshot). The caller must persist the snapshot.
    ///
    /// Returns `None` (and changes nothing) while a snapshot received from the leader has not
    /// yet been handed out and applied: the applied index is about to jump.
    pub fn compact(&mut self, data: Vec<u8>, keep_entries: u64) -> Option<SnapshotMeta> {
        self.assert_accepting_input();
        if self.log.pending_snapshot().is_some() {
            return None;
        }
        let index = self.log.applied();
        let term = self.log.term(index)?;
        let meta = SnapshotMeta {
            index,
            term,
            conf_state: self.tracker.conf.clone(),
        };
        let compact_to = index
            .saturating_sub(keep_entries)
            .max(self.log.first_index() - 1);
        let snapshot = Snapshot {
            meta: meta.clone(),
            data,
        };
        self.log.install_local_snapshot(snapshot, compact_to);
        Some(meta)
    }

    // ---- Time ----

    /// Advances this member's clock by one tick.
    pub fn tick(&mut self) {
        self.assert_accepting_input();
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed_ticks += 1;
        if self.promotable()
            && self.election_elapsed_ticks >= self.randomized_election_timeout_ticks
        {
            self.election_elapsed_ticks = 0;
            self.hup(false);
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.config.election_timeout_ticks {
            self.election_elapsed_ticks = 0;
            if self.config.check_quorum {
                if !self.tracker.quorum_active(self.id) {
                    self.become_follower(self.term, 0);
                    return;
                }
                for progress in self.tracker.progress.values_mut() {
                    progress.recent_active = false;
                }
            }
        }
        if let Some((target, ticks)) = self.transferee {
            // A transfer that has not finished within an election timeout is abandoned.
            if ticks + 1 >= self.config.election_timeout_ticks {
                self.transferee = None;
            } else {
                self.transferee = Some((target, ticks + 1));
            }
        }
        self.tick_snapshot_waits();
        if self.heartbeat_elapsed_ticks >= self.config.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.broadcast_heartbeat();
        }
    }

    /// A snapshot that was never acknowledged may have been lost: after an election timeout
    /// the follower goes back to probing, which sends it again if it is still needed.
    fn tick_snapshot_waits(&mut self) {
        let timeout = self.config.election_timeout_ticks;
        for progress in self.tracker.progress.values_mut() {
            if let ProgressState::Snapshot {
                pending_index,
                waited_ticks,
            } = progress.state
            {
                if waited_ticks + 1 >= timeout {
                    progress.become_probe();
                } else {
                    progress.state = ProgressState::Snapshot {
                        pending_index,
                        waited_ticks: waited_ticks + 1,
                    };
                }
            }
        }
    }

    // ---- Role transitions ----

    /// Whether this member may campaign: it is a voter.
    pub(crate) fn promotable(&self) -> bool {
        self.tracker.is_voter(self.id)
    }

    fn reset(&mut self, term: Term) {
        if term != self.term {
            assert!(
                term > self.term,
                "term went backwards: {} -> {term}",
                self.term
            );
            self.term = term;
            self.vote = 0;
        }
        self.leader = 0;
        self.election_elapsed_ticks = 0;
        self.heartbeat_elapsed_ticks = 0;
        let base = self.config.election_timeout_ticks;
        self.randomized_election_timeout_ticks =
            self.rng.range(base as u64, 2 * base as u64) as u32;
        self.tracker.votes.clear();
        self.transferee = None;
        self.uncommitted_bytes = 0;
        self.reads.clear();
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: NodeId) {
        self.reset(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn become_pre_candidate(&mut self) {
        assert_ne!(
            self.role,
            Role::Leader,
            "a leader cannot become a pre-candidate"
        );
        // The term and vote stay: a pre-vote changes no one's state.
        self.tracker.votes.clear();
        self.leader = 0;
        self.role = Role::PreCandidate;
    }

    fn become_candidate(&mut self) {
        assert_ne!(
            self.role,
            Role::Leader,
            "a leader cannot become a candidate"
        );
        self.reset(self.term + 1);
        self.vote = self.id;
        self.role = Role::Candidate;
    }

    pub(crate) fn become_leader(&mut self) {
        assert_ne!(
            self.role,
            Role::Follower,
            "a follower cannot become leader directly"
        );
        self.reset(self.term);
        self.role = Role::Leader;
        self.leader = self.id;
        self.reset_progress();
        // Conf changes must wait until everything before this term is applied.
        self.pending_conf_index = self.log.last_index();
        // The no-op of the new term: once it commits, everything before it is committed too.
        let noop = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            kind: EntryKind::Normal,
            data: Vec::new(),
        };
        self.append_as_leader(vec![noop]);
        self.broadcast_append();
    }

    pub(crate) fn reset_progress(&mut self) {
        let next = self.log.last_index() + 1;
        let inflight = self.config.inflight_messages_max;
        let members: Vec<NodeId> = self
            .tracker
            .conf
            .voters
            .iter()
            .chain(self.tracker.conf.learners.iter())
            .copied()
            .collect();
        self.tracker.progress.clear();
        for id in members {
            let mut progress = Progress::new(next, inflight);
            if id == self.id {
                progress.match_index = next - 1;
                progress.recent_active = true;
            }
            self.tracker.progress.insert(id, progress);
        }
    }

    /// Starts an election (`transfer`: at the leader's request, so skip the pre-vote and ask
    /// voters to ignore their leader lease).
    pub(crate) fn hup(&mut self, transfer: bool) {
        if self.role == Role::Leader || !self.promotable() {
            return;
        }
        if self.has_unapplied_conf_change() {
            // The configuration this member would campaign in may be about to change.
            return;
        }
        if self.config.pre_vote && !transfer {
            self.become_pre_candidate();
            self.request_votes(true, false);
        } else {
            self.become_candidate();
            self.request_votes(false, transfer);
        }
    }

    fn has_unapplied_conf_change(&self) -> bool {
        let (applied, committed) = (self.log.applied(), self.log.committed());
        self.log
            .entries_from(applied + 1)
            .iter()
            .take_while(|e| e.index <= committed)
            .any(|e| e.kind == EntryKind::ConfChange)
    }

    fn request_votes(&mut self, pre: bool, force: bool) {
        let term = if pre { self.term + 1 } else { self.term };
        self.tracker.record_vote(self.id, true);
        if self.tally_votes(pre) {
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> = self.tracker.conf.voters.iter().copied().collect();
        for voter in voters.into_iter().filter(|&v| v != self.id) {
            self.outbox.push_back(Message {
                from: self.id,
                to: voter,
                term,
                body: MessageBody::Vote {
                    pre,
                    force,
                    last_index,
                    last_term,
                },
            });
        }
    }

    /// Acts on the votes so far. Returns whether the election is decided.
    pub(crate) fn tally_votes(&mut self, pre: bool) -> bool {
        match self.tracker.vote_result() {
            crate::progress::VoteResult::Won if pre => {
                self.become_candidate();
                self.request_votes(false, false);
                true
            }
            crate::progress::VoteResult::Won => {
                self.become_leader();
                true
            }
            crate::progress::VoteResult::Lost => {
                self.become_follower(self.term, 0);
                true
            }
            crate::progress::VoteResult::Pending => false,
        }
    }

    // ---- Leader helpers shared by proposals and message handling ----

    pub(crate) fn append_as_leader(&mut self, entries: Vec<Entry>) {
        let Some(last) = entries.last().map(|e| e.index) else {
            return;
        };
        self.uncommitted_bytes += entries.iter().map(Entry::size_bytes).sum::<u64>();
        self.log.append(&entries);
        let me = self.id;
        if let Some(progress) = self.tracker.progress.get_mut(&me) {
            progress.maybe_update(last);
        }
        self.maybe_commit();
    }

    /// Advances the commit index to what a quorum has matched, if that entry is of this term
    /// (Raft §5.4.2: older entries are committed only indirectly). Returns whether it moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let quorum_index = self.tracker.quorum_match_index();
        let old_commit = self.log.committed();
        if quorum_index <= old_commit {
            return false;
        }
        let of_this_term = self.log.term(quorum_index) == Some(self.term);
        if !of_this_term && !cfg!(feature = "defect-commit-old-term") {
            return false;
        }
        self.log.commit_to(quorum_index);
        let term = self.term;
        let committed_bytes: u64 = self
            .log
            .entries_from(old_commit + 1)
            .iter()
            .take_while(|e| e.index <= quorum_index)
            .filter(|e| e.term == term)
            .map(Entry::size_bytes)
            .sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(committed_bytes);
        self.release_reads_waiting_for_commit();
        true
    }

    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        self.outbox.push_back(Message {
            from: self.id,
            to,
            term: self.term,
            body,
        });
    }

    /// Applies a committed membership change (called from `advance`).
    pub(crate) fn apply_conf_change(&mut self, entry: &Entry) {
        let before = self.tracker.conf.clone();
        apply_conf_entry(&mut self.tracker.conf, entry);
        if before == self.tracker.conf || self.role != Role::Leader {
            return;
        }
        let next = self.log.last_index() + 1;
        let inflight = self.config.inflight_messages_max;
        let conf = self.tracker.conf.clone();
        self.tracker.progress.retain(|id, _| conf.contains(*id));
        for id in conf.voters.iter().chain(conf.learners.iter()) {
            self.tracker
                .progress
                .entry(*id)
                .or_insert_with(|| Progress::new(next, inflight));
        }
        if !conf.voters.contains(&self.id) {
            // Removed (or never a voter): stop leading; the others elect a new leader. Tell
            // them the commit index first: a removed member takes no further part, and
            // voters that never learn the removal committed still count the leader in their
            // quorum (with one voter left, none could ever be elected).
            self.broadcast_heartbeat();
            self.become_follower(self.term, 0);
            return;
        }
        if self
            .transferee
            .is_some_and(|(t, _)| !conf.voters.contains(&t))
        {
            self.transferee = None;
        }
        if self.maybe_commit() {
            self.broadcast_append();
        }
    }

    pub(crate) fn assert_accepting_input(&self) {
        assert!(
            !self.awaiting_advance,
            "input given between ready() and advance()"
        );
    }
}

/// Applies the change in a committed conf-change entry to `conf`. A change that cannot
/// apply (or bytes that do not decode) is skipped; every member skips it alike.
pub(crate) fn apply_conf_entry(conf: &mut ConfState, entry: &Entry) {
    if entry.kind != EntryKind::ConfChange {
        return;
    }
    if let Ok(next) = ConfChange::decode(&entry.data).and_then(|c| conf.apply(&c)) {
        *conf = next;
    }
}
