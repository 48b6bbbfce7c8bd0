//! What the member's calls can refuse, and what it is restarted from.

use crate::config::ConfigError;
use crate::types::{ConfChangeError, Entry, HardState, Index, NodeId, Snapshot};

/// Why a proposal was not appended. The caller must answer its client; nothing was logged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Only the leader appends; `leader` is who this member believes leads (0: unknown).
    #[error("not the leader (leader is {leader:x})")]
    NotLeader {
        /// The known leader, or 0.
        leader: NodeId,
    },
    /// A leadership transfer is under way; proposals are dropped until it ends.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// Too many uncommitted bytes; retry later.
    #[error("too many uncommitted entries")]
    Overloaded,
    /// A configuration change is already pending, or this leader has not yet committed an
    /// entry of its own term.
    #[error("a configuration change is pending")]
    ConfChangePending,
    /// The change cannot apply to the current configuration.
    #[error(transparent)]
    InvalidConfChange(#[from] ConfChangeError),
}

/// Why a ReadIndex request or a leader transfer could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No leader is known to forward to.
    #[error("no leader")]
    NoLeader,
    /// Only the leader can transfer leadership.
    #[error("not the leader (leader is {leader:x})")]
    NotLeader {
        /// The known leader, or 0.
        leader: NodeId,
    },
    /// The transfer target is not a voter.
    #[error("member {0:x} is not a voter")]
    NotAVoter(NodeId),
}

/// Why the persisted state cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The entries do not follow the snapshot one by one.
    #[error("entry at position {position} has index {found}, expected {expected}")]
    Gap {
        /// Offset in the entries given.
        position: usize,
        /// The index found there.
        found: Index,
        /// The index that should be there.
        expected: Index,
    },
    /// The hard state commits entries that are not in the log.
    #[error("hard state commit {commit} is past the last index {last_index}")]
    CommitPastLog {
        /// The hard state's commit.
        commit: Index,
        /// The last index persisted.
        last_index: Index,
    },
    /// The application claims to have applied more than is committed.
    #[error("applied index {applied} is past the commit index {commit}")]
    AppliedPastCommit {
        /// The applied index given.
        applied: Index,
        /// The hard state's commit.
        commit: Index,
    },
}

/// What a member persisted, handed back to it on restart.
#[derive(Clone, Debug, Default)]
pub struct PersistedState {
    /// The last durable hard state.
    pub hard_state: HardState,
    /// The newest durable snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// The durable entries after the snapshot, in index order.
    pub entries: Vec<Entry>,
    /// The index the application's state already reflects (at least the snapshot's index).
    pub applied: Index,
}
