//! Errors: what a client is told ([`RequestError`], etcd's texts), and what stops a member
//! ([`NodeError`]: disk, corruption, broken invariants; reopen the member to continue).

use invar_mvcc::{GrpcCode, MvccError};
use invar_raft::{Index, NodeId};
use invar_storage::fs::FsError;
use invar_storage::snapfile::SnapError;
use invar_storage::wal::WalError;

/// Why a client request failed. The texts are etcd's (clients match on them).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The store refused the request (validation, or when applied).
    #[error(transparent)]
    Mvcc(#[from] MvccError),
    /// Writes go to the leader; this member is not it. Nothing was proposed: the client may
    /// retry on `leader` (0: unknown). This member does not forward proposals.
    #[error("etcdserver: not leader")]
    NotLeader {
        /// The leader this member knows of, or 0.
        leader: NodeId,
    },
    /// No leader is known, so a linearizable read cannot be confirmed.
    #[error("etcdserver: no leader")]
    NoLeader,
    /// The request was in flight when leadership changed (or its log slot was taken by
    /// another entry): it may or may not have been applied. The outcome is unknown.
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    /// No answer within the request timeout; the outcome is unknown.
    #[error("etcdserver: request timed out")]
    TimedOut,
    /// Too many requests pending on this member, or raft's uncommitted bytes are full.
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    /// Raft dropped the proposal (a leadership transfer is under way); nothing was proposed.
    #[error("raft proposal dropped")]
    ProposalDropped,
    /// The client reused a request id that is still pending on this member.
    #[error("etcdserver: duplicate request id {0}")]
    DuplicateRequestId(u64),
}

impl RequestError {
    /// The gRPC code etcd answers with.
    pub fn code(&self) -> GrpcCode {
        match self {
            RequestError::Mvcc(error) => error.code(),
            RequestError::DuplicateRequestId(_) => GrpcCode::InvalidArgument,
            // etcd: Unavailable for these; the closest code this crate knows is Internal.
            // The `server` crate maps them by variant.
            _ => GrpcCode::Internal,
        }
    }

    /// Whether the request may have been applied although it failed.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, RequestError::LeaderChanged | RequestError::TimedOut)
    }
}

/// What stops a member. After one, the member refuses every call with
/// [`NodeError::Stopped`]; drop it and [`crate::Member::open`] again.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The write-ahead log failed or is corrupted.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The snapshot files failed or are corrupted.
    #[error(transparent)]
    Snapshot(#[from] SnapError),
    /// The store's backend failed or is corrupted.
    #[error(transparent)]
    Store(MvccError),
    /// The file system failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// Opening the store's file failed.
    #[error("node: opening the store file: {0}")]
    StoreFile(#[from] std::io::Error),
    /// Raft refused the persisted state.
    #[error(transparent)]
    Restore(#[from] invar_raft::RestoreError),
    /// The configuration is invalid.
    #[error("node: invalid config: {0}")]
    InvalidConfig(String),
    /// A committed entry is not a proposal this build can read.
    #[error("node: committed entry {index} does not decode: {reason}")]
    BadEntry {
        /// The entry's index.
        index: Index,
        /// What the decoder said.
        reason: String,
    },
    /// The files on disk contradict each other.
    #[error("node: inconsistent state on disk: {0}")]
    Inconsistent(String),
    /// An earlier error stopped this member.
    #[error("node: stopped by an earlier error; reopen the member")]
    Stopped,
}
