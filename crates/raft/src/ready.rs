//! The hand-off between Raft and its caller: one `Ready` batch out, one `advance` back.

use crate::raft::{Raft, Role, apply_conf_entry};
use crate::types::{Entry, EntryKind, HardState, Index, Message, NodeId, Snapshot};

/// Volatile state worth reporting: who leads, and this member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftState {
    /// The known leader (0: unknown).
    pub leader: NodeId,
    /// This member's role.
    pub role: Role,
}

/// The answer to a ReadIndex request: reads for `context` are linearizable once the state
/// machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The read index.
    pub index: Index,
    /// The context given to [`Raft::read_index`].
    pub context: u64,
}

/// Everything the caller must do, in this order:
///
/// 1. Persist `snapshot` (if any), then `entries` (replacing any persisted entries from
///    `entries[0].index` on), then `hard_state` (if any); sync if `must_sync`.
/// 2. Only then send `messages`: they may promise what step 1 made durable.
/// 3. Restore `snapshot` into the state machine, then apply `committed_entries` in order.
/// 4. Serve reads of `read_states` once the applied index reaches theirs.
/// 5. Call [`Raft::advance`] with this value. No other call may come in between.
#[must_use = "a Ready must be persisted, sent, applied and then given back to advance()"]
#[derive(Debug, Default)]
pub struct Ready {
    /// Set when the leader or the role changed.
    pub soft_state: Option<SoftState>,
    /// Set when term, vote or commit changed.
    pub hard_state: Option<HardState>,
    /// A snapshot from the leader to persist and restore.
    pub snapshot: Option<Snapshot>,
    /// Entries to persist.
    pub entries: Vec<Entry>,
    /// Committed entries to apply.
    pub committed_entries: Vec<Entry>,
    /// Messages to send after persisting.
    pub messages: Vec<Message>,
    /// Answers to ReadIndex requests.
    pub read_states: Vec<ReadState>,
    /// Whether step 1 must end with a sync (entries, a snapshot, or a new term or vote).
    pub must_sync: bool,
}

impl Ready {
    /// Whether there is nothing at all to do.
    pub fn is_empty(&self) -> bool {
        self.soft_state.is_none()
            && self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.entries.is_empty()
            && self.committed_entries.is_empty()
            && self.messages.is_empty()
            && self.read_states.is_empty()
    }
}

impl Raft {
    fn soft_state(&self) -> SoftState {
        SoftState {
            leader: self.leader,
            role: self.role,
        }
    }

    /// Whether [`Raft::ready`] would return anything.
    pub fn has_ready(&self) -> bool {
        !self.outbox.is_empty()
            || !self.read_states.is_empty()
            || self.hard_state() != self.prev_hard_state
            || self.soft_state() != self.prev_soft_state
            || self.log.pending_snapshot().is_some()
            || !self.log.unstable_entries().is_empty()
            || (self.log.committed() > self.log.applied())
    }

    /// Takes the next batch of work. The caller must carry it out and call [`Raft::advance`].
    pub fn ready(&mut self) -> Ready {
        self.assert_accepting_input();
        self.awaiting_advance = true;
        let hard_state = self.hard_state();
        let soft_state = self.soft_state();
        let snapshot = self.log.pending_snapshot().cloned();
        let committed_entries = if snapshot.is_some() {
            // The snapshot comes first; the entries after it follow in the next Ready.
            Vec::new()
        } else {
            self.log
                .next_committed_entries(self.config.committed_bytes_per_ready_max)
        };
        let ready = Ready {
            soft_state: (soft_state != self.prev_soft_state).then_some(soft_state),
            hard_state: (hard_state != self.prev_hard_state).then_some(hard_state),
            entries: self.log.unstable_entries().to_vec(),
            committed_entries,
            messages: self.outbox.drain(..).collect(),
            read_states: std::mem::take(&mut self.read_states),
            must_sync: snapshot.is_some()
                || !self.log.unstable_entries().is_empty()
                || hard_state.term != self.prev_hard_state.term
                || hard_state.vote != self.prev_hard_state.vote,
            snapshot,
        };
        self.prev_hard_state = hard_state;
        self.prev_soft_state = soft_state;
        ready
    }

    /// Tells Raft that `ready` was persisted, sent and applied.
    pub fn advance(&mut self, ready: Ready) {
        assert!(self.awaiting_advance, "advance() without ready()");
        self.awaiting_advance = false;
        if ready.snapshot.is_some() {
            self.log.snapshot_applied();
        }
        if let Some(last) = ready.entries.last() {
            self.log.stable_to(last.index);
        }
        for entry in &ready.committed_entries {
            if entry.kind == EntryKind::ConfChange {
                if self.role == Role::Leader {
                    self.apply_conf_change(entry);
                } else {
                    apply_conf_entry(&mut self.tracker.conf, entry);
                }
            }
        }
        if let Some(last) = ready.committed_entries.last() {
            self.log.applied_to(last.index);
        }
        debug_assert!({
            self.log.check_invariants();
            true
        });
    }
}
