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
    /// A MoveLeader whose target did not lead within the request timeout (etcd's
    /// `ErrTimeoutLeaderTransfer`); leadership may still move.
    #[error("etcdserver: request timed out, leader transfer took too long")]
    LeaderTransferTimedOut,
    /// Too many requests pending on this member, or raft's uncommitted bytes are full.
    #[error("etcdserver: too many requests")]
    TooManyRequests,
    /// Raft dropped the proposal (a leadership transfer is under way); nothing was proposed.
    #[error("raft proposal dropped")]
    ProposalDropped,
    /// The client reused a request id that is still pending on this member.
    #[error("etcdserver: duplicate request id {0}")]
    DuplicateRequestId(u64),
    /// The NOSPACE alarm is raised (or this write would pass the backend quota): writes
    /// that grow the store are refused until the alarm is disarmed.
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    /// MemberAdd with an id that is (or was) a member.
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    /// MemberAdd with a peer URL another member has.
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    /// MemberAdd without peer URLs (or with an empty one).
    #[error("etcdserver: given member URLs are invalid")]
    MemberBadUrls,
    /// The member named is not in the cluster.
    #[error("etcdserver: member not found")]
    MemberNotFound,
    /// MemberPromote of a voter.
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    /// MemberPromote of a learner that is behind the leader.
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    /// MemberAdd of a learner when [`crate::Config::learners_max`] learners exist.
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    /// The change would leave fewer active voters than a quorum (strict reconfig check).
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStartedMembers,
    /// This member was removed from the cluster: it serves nothing any more.
    #[error("etcdserver: the member has been permanently removed from the cluster")]
    MemberRemoved,
    /// MoveLeader to a member that is not a voter.
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    /// A request a learner does not serve (a linearizable read: it has no vote to confirm
    /// it with).
    #[error("etcdserver: rpc not supported for learner")]
    NotSupportedForLearner,
}

impl RequestError {
    /// The gRPC code etcd answers with.
    pub fn code(&self) -> GrpcCode {
        match self {
            RequestError::Mvcc(error) => error.code(),
            RequestError::DuplicateRequestId(_) | RequestError::MemberBadUrls => {
                GrpcCode::InvalidArgument
            }
            RequestError::NotLeader { .. }
            | RequestError::MemberExists
            | RequestError::PeerUrlExists
            | RequestError::MemberNotLearner
            | RequestError::LearnerNotReady
            | RequestError::TooManyLearners
            | RequestError::NotEnoughStartedMembers
            | RequestError::BadLeaderTransferee
            | RequestError::NotSupportedForLearner => GrpcCode::FailedPrecondition,
            RequestError::MemberNotFound => GrpcCode::NotFound,
            RequestError::NoSpace | RequestError::TooManyRequests => GrpcCode::ResourceExhausted,
            RequestError::NoLeader
            | RequestError::LeaderChanged
            | RequestError::TimedOut
            | RequestError::LeaderTransferTimedOut
            | RequestError::MemberRemoved => GrpcCode::Unavailable,
            RequestError::ProposalDropped => GrpcCode::Internal,
        }
    }

    /// Whether the request may have been applied although it failed.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            RequestError::LeaderChanged
                | RequestError::TimedOut
                | RequestError::LeaderTransferTimedOut
        )
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

impl NodeError {
    /// Whether the disk ran out of space (the WAL, a snapshot file or the store). The member
    /// stopped without acknowledging anything that was not durable; the shell may raise an
    /// operator alert and reopen it once space is freed.
    pub fn is_no_space(&self) -> bool {
        let fs_full = |error: &FsError| matches!(error, FsError::NoSpace { .. });
        match self {
            NodeError::Fs(error) => fs_full(error),
            NodeError::Wal(WalError::Fs(error)) => fs_full(error),
            NodeError::Snapshot(SnapError::Fs(error)) => fs_full(error),
            NodeError::StoreFile(error) => error.kind() == std::io::ErrorKind::StorageFull,
            NodeError::Store(MvccError::Backend(text)) => {
                text.contains("no space") || text.contains("storage full")
            }
            _ => false,
        }
    }
}
