//! Carrying out one raft `Ready` (persist, send, restore, apply, read, advance) and taking
//! raft snapshots when the log grows.

use invar_mvcc::{Request, Response};
use invar_raft::{Entry, EntryKind, Index, Ready, Role, Snapshot};
use invar_storage::fs::FileSystem;

use crate::cluster::{self, COMMAND_VERSION};
use crate::codec;
use crate::error::{NodeError, RequestError};
use crate::event::{ClientResponse, Effect};
use crate::member::Member;
use crate::pending::ReadKind;

/// A write's answer for the member that proposed it: (proposer, request id, result).
pub(crate) type Outcome = (u64, u64, Result<ClientResponse, RequestError>);

impl<F: FileSystem> Member<F> {
    /// Carries out one `Ready` in the order of its contract.
    pub(crate) fn process_ready(&mut self) -> Result<(), NodeError> {
        let mut ready = self.raft.ready();
        // 1. Persist: snapshot file, then the WAL marker, entries and hard state; sync.
        self.persist(&ready)?;
        // 2. Only now send what depends on it.
        for message in std::mem::take(&mut ready.messages) {
            self.effects.push(Effect::Send(message));
        }
        // 3. Restore the snapshot, then apply the committed entries in order, in one batch.
        if let Some(snapshot) = &ready.snapshot {
            self.install_snapshot(snapshot)?;
        }
        self.apply_committed(&ready.committed_entries)?;
        // Leadership changes fail what can no longer be answered.
        self.on_leadership_change();
        // 4. Reads whose read index is applied.
        for read_state in &ready.read_states {
            // A read state for an unknown context was given up (timed out) already.
            let _known = self
                .pending
                .confirm_read(read_state.context, read_state.index);
        }
        let applied = ready
            .committed_entries
            .last()
            .map(|e| e.index)
            .or(ready.snapshot.as_ref().map(|s| s.meta.index))
            .unwrap_or(0)
            .max(self.raft.applied());
        self.serve_reads(applied);
        // 5. Give it back.
        self.raft.advance(ready);
        assert_eq!(
            self.raft.applied(),
            self.store.consistent_index(),
            "raft's applied index and the store's consistent index diverged"
        );
        Ok(())
    }

    fn persist(&mut self, ready: &Ready) -> Result<(), NodeError> {
        let skip_sync = self.skips_wal_sync(ready);
        let mut wrote = false;
        if let Some(snapshot) = &ready.snapshot {
            self.snapshots.save(snapshot)?;
            self.wal
                .save_snapshot_marker(snapshot.meta.index, snapshot.meta.term)?;
            wrote = true;
        }
        if ready.hard_state.is_some() || !ready.entries.is_empty() {
            self.wal.save(ready.hard_state.as_ref(), &ready.entries)?;
            wrote = true;
        }
        // Sync whatever was written, even a commit-only hard state: the store may make an
        // applied index durable, and a restart must find a commit index at least that high.
        if wrote && !skip_sync {
            self.wal.sync()?;
        }
        Ok(())
    }

    /// Defect `ack-before-wal-sync`: the leader does not sync its own appends (it "counts on
    /// the followers"), only term and vote changes and snapshots; a single member commits,
    /// applies and answers entries that a crash then loses.
    fn skips_wal_sync(&self, ready: &Ready) -> bool {
        #[cfg(feature = "defects")]
        if self.config.has_defect(crate::Defect::AckBeforeWalSync) {
            let hard = ready.hard_state.unwrap_or_default();
            let previous = self.wal.hard_state();
            let vote_or_term = ready.hard_state.is_some()
                && (hard.term != previous.term || hard.vote != previous.vote);
            return self.is_leader() && ready.snapshot.is_none() && !vote_or_term;
        }
        let _ = ready;
        false
    }

    /// Restores the store from a leader's snapshot (already durable with its WAL marker).
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), NodeError> {
        let index = snapshot.meta.index;
        let (state, image) = cluster::decode_envelope(&snapshot.data).map_err(|reason| {
            NodeError::Inconsistent(format!("leader's snapshot at index {index}: {reason}"))
        })?;
        self.store
            .restore_image(index, image)
            .map_err(NodeError::Store)?;
        self.cluster = state;
        self.snapshot_index = index;
        // Writes proposed at or below the snapshot are decided, but their results are not
        // known here.
        for (_, write) in self.pending.take_writes_through(index) {
            self.reply(write.id, Err(RequestError::LeaderChanged));
        }
        self.release_old_files()
    }

    /// Applies `entries` in log order in one store batch: one redb write transaction, which
    /// also holds the consistent index of the last of them, committed once (durable every
    /// `mvcc.commits_per_sync` commits; the WAL, synced before, makes the entries durable).
    /// The replies and watch responses they produce are effects of this event, in log
    /// order: they leave only when `handle` returns, after the commit. If anything fails,
    /// none of the batch's effects is kept and the member stops (a reopen replays the WAL
    /// from the store's durable consistent index).
    fn apply_committed(&mut self, entries: &[Entry]) -> Result<(), NodeError> {
        if entries.is_empty() {
            return Ok(());
        }
        let effects_before = self.effects.len();
        let result = self.apply_batch(entries);
        if result.is_err() {
            self.effects.truncate(effects_before);
        }
        result
    }

    fn apply_batch(&mut self, entries: &[Entry]) -> Result<(), NodeError> {
        self.store.begin_batch().map_err(NodeError::Store)?;
        for entry in entries {
            self.apply_entry(entry)?;
        }
        self.store.commit_batch().map_err(NodeError::Store)?;
        let last = entries.last().map_or(0, |entry| entry.index);
        assert_eq!(
            self.store.consistent_index(),
            last,
            "the batch did not end at its last entry"
        );
        Ok(())
    }

    fn apply_entry(&mut self, entry: &Entry) -> Result<(), NodeError> {
        assert!(
            entry.index > self.store.consistent_index(),
            "entry {} applied twice (consistent index {})",
            entry.index,
            self.store.consistent_index()
        );
        if entry.kind == EntryKind::ConfChange {
            self.store.skip(entry.index).map_err(NodeError::Store)?;
            let outcome = self.apply_conf_entry(entry);
            self.answer_outcome(entry, outcome);
            return Ok(());
        }
        if entry.data.is_empty() {
            self.store.skip(entry.index).map_err(NodeError::Store)?;
            self.fail_writes_through(entry.index, None);
            return Ok(());
        }
        if entry.data[0] == COMMAND_VERSION {
            let command =
                cluster::decode_command(&entry.data).map_err(|reason| NodeError::BadEntry {
                    index: entry.index,
                    reason,
                })?;
            self.store.skip(entry.index).map_err(NodeError::Store)?;
            let outcome = self.apply_command(&command);
            self.answer_outcome(entry, Some(outcome));
            return Ok(());
        }
        let proposal = codec::decode(&entry.data).map_err(|error| NodeError::BadEntry {
            index: entry.index,
            reason: error.to_string(),
        })?;
        if self.cluster.has_alarm(crate::api::AlarmType::NoSpace)
            && crate::maintenance::grows_store(&proposal.request)
        {
            // etcd's capped applier: with NOSPACE raised, writes that grow the store fail
            // on every member alike (the entry still consumes its index).
            self.store.skip(entry.index).map_err(NodeError::Store)?;
            let outcome = (
                proposal.member,
                proposal.request_id,
                Err(RequestError::NoSpace),
            );
            self.answer_outcome(entry, Some(outcome));
            return Ok(());
        }
        let result = self.apply_request(entry.index, &proposal.request)?;
        match (&proposal.request, &result) {
            (Request::LeaseGrant(_), Ok(ClientResponse::Applied(Response::LeaseGrant(grant)))) => {
                self.lease_granted(grant.id, grant.ttl);
            }
            (Request::LeaseRevoke(revoke), _) => self.lease_gone(revoke.id),
            _ => {}
        }
        let ours = proposal.member == self.raft.id();
        let mine = ours.then_some((proposal.request_id, entry.term, result));
        self.fail_writes_through(entry.index, mine);
        Ok(())
    }

    /// Answers the pending writes through `entry` with the outcome of a node-level entry.
    fn answer_outcome(&mut self, entry: &Entry, outcome: Option<Outcome>) {
        let mine = outcome
            .filter(|(proposer, _, _)| *proposer == self.raft.id())
            .map(|(_, request_id, result)| (request_id, entry.term, result));
        self.fail_writes_through(entry.index, mine);
    }

    /// Applies a request; client errors are results, backend errors stop the member.
    fn apply_request(
        &mut self,
        index: Index,
        request: &Request,
    ) -> Result<Result<ClientResponse, RequestError>, NodeError> {
        match self.store.apply(index, request) {
            Ok(applied) => {
                self.notify_watchers(&applied.events)?;
                Ok(Ok(ClientResponse::Applied(applied.response)))
            }
            Err(error) if error.is_client_error() => Ok(Err(error.into())),
            Err(error) => Err(NodeError::Store(error)),
        }
    }

    /// Answers the pending writes at or below `index`: the one at `index` gets `result` if
    /// this member proposed the entry there (same request id and term); every other one
    /// lost its slot to another entry.
    fn fail_writes_through(
        &mut self,
        index: Index,
        mut result: Option<(u64, u64, Result<ClientResponse, RequestError>)>,
    ) {
        for (at, write) in self.pending.take_writes_through(index) {
            if at == index
                && let Some((id, term, answer)) = result.take()
                && id == write.id
                && term == write.term
            {
                self.reply(write.id, answer);
                continue;
            }
            self.reply(write.id, Err(RequestError::LeaderChanged));
        }
    }

    /// Fails what can no longer be answered once the leader or the term changed: every write
    /// proposed in another term or while this member no longer leads (its entry may still
    /// commit: the outcome is unknown), and the reads raft has not answered (a leader drops
    /// its ReadIndex queue when its term ends).
    fn on_leadership_change(&mut self) {
        let view = (self.raft.leader(), self.raft.term());
        if view == self.leadership {
            return;
        }
        self.leadership = view;
        let leading = self.raft.role() == Role::Leader;
        let term = self.raft.term();
        for write in self
            .pending
            .take_writes_where(|w| !leading || w.term != term)
        {
            self.reply(write.id, Err(RequestError::LeaderChanged));
        }
        for read in self.pending.take_unconfirmed_reads() {
            self.reply(read.id, Err(RequestError::LeaderChanged));
        }
        // A leader transfer is answered once its target leads (or when it times out).
        let leader = self.raft.leader();
        for transfer in self.pending.take_transfers() {
            if transfer.target == leader {
                let header = invar_mvcc::ResponseHeader {
                    revision: self.store.revision(),
                    ..Default::default()
                };
                self.reply(transfer.id, Ok(ClientResponse::MoveLeader(header)));
            } else {
                self.pending.add_transfer(transfer);
            }
        }
    }

    fn serve_reads(&mut self, applied: Index) {
        for read in self.pending.take_readable(applied) {
            let result = match read.kind {
                ReadKind::Range(request) => self.serve_range(&request),
                ReadKind::MemberList => Ok(self.member_list()),
                ReadKind::Lease { request, term } => self.serve_lease_read(request, term),
            };
            self.reply(read.id, result);
        }
    }

    /// Takes a raft snapshot once enough entries were applied since the last one: the store
    /// is synced (the WAL must keep every entry above its durable index), its image saved as
    /// a snapshot file, the WAL marked and synced, then old segments and files released.
    pub(crate) fn maybe_snapshot(&mut self) -> Result<(), NodeError> {
        let applied = self.raft.applied();
        if applied < self.snapshot_index + self.config.snapshot_entries {
            return Ok(());
        }
        self.store.sync().map_err(NodeError::Store)?;
        let image = self.store.image().map_err(NodeError::Store)?;
        let data = cluster::encode_envelope(&self.cluster, &image);
        let Some(meta) = self
            .raft
            .compact(data.clone(), self.config.snapshot_keep_entries)
        else {
            return Ok(()); // A leader's snapshot is about to be applied instead.
        };
        assert_eq!(meta.index, applied, "snapshot not at the applied index");
        self.snapshots.save(&Snapshot {
            meta: meta.clone(),
            data,
        })?;
        self.wal.save_snapshot_marker(meta.index, meta.term)?;
        self.wal.sync()?;
        self.snapshot_index = meta.index;
        self.release_old_files()
    }

    fn release_old_files(&mut self) -> Result<(), NodeError> {
        let _segments = self.wal.release()?;
        let _files = self.snapshots.prune(self.config.snapshot_files_kept)?;
        Ok(())
    }
}
