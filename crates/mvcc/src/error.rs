//! Errors: every client-caused failure is one of etcd's errors, with its gRPC code and its exact
//! message text (clients match on the text); disk and backend failures are separate variants.

/// The gRPC status code an error maps to (the `server` crate turns this into a tonic status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrpcCode {
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument,
    /// `NOT_FOUND` (5).
    NotFound,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted,
    /// `OUT_OF_RANGE` (11).
    OutOfRange,
    /// `INTERNAL` (13).
    Internal,
    /// `UNAVAILABLE` (14).
    Unavailable,
    /// `DATA_LOSS` (15).
    DataLoss,
}

impl GrpcCode {
    /// The canonical gRPC name of the code, e.g. `"OutOfRange"`.
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::InvalidArgument => "InvalidArgument",
            GrpcCode::NotFound => "NotFound",
            GrpcCode::FailedPrecondition => "FailedPrecondition",
            GrpcCode::ResourceExhausted => "ResourceExhausted",
            GrpcCode::OutOfRange => "OutOfRange",
            GrpcCode::Internal => "Internal",
            GrpcCode::Unavailable => "Unavailable",
            GrpcCode::DataLoss => "DataLoss",
        }
    }
}

/// Everything a store operation can fail with.
///
/// The etcd variants display etcd's exact message (`api/v3rpc/rpctypes/error.go`); the
/// remaining ones describe the backend and are never caused by a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MvccError {
    /// A request key (or compare key) is empty.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// `ignore_value`/`ignore_lease` on a key that does not exist.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// `ignore_value` together with a non-empty value.
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// `ignore_lease` together with a non-zero lease.
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// A txn branch (or the compare list) is longer than `Config::txn_ops_max`.
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// A txn writes one key twice, or puts a key that it also deletes.
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// A range's sort order or sort target is not one of etcd's enum values.
    #[error("etcdserver: invalid sort option")]
    InvalidSortOption,
    /// The requested revision is at or below what compaction removed.
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// The requested revision is above the store's current revision.
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    /// The lease does not exist (put, revoke, or a grant with ID 0).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A grant for an ID that already exists.
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// A grant whose TTL exceeds [`crate::LEASE_TTL_SECONDS_MAX`].
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    /// A watch create request reused a watch ID that is still active on the stream.
    #[error("mvcc: duplicate watch ID provided on the WatchStream")]
    WatchDuplicateId,
    /// The backend reported an I/O error; the store is poisoned afterwards.
    #[error("mvcc backend I/O error: {0}")]
    Backend(String),
    /// Stored bytes do not decode or contradict each other.
    #[error("mvcc backend corrupted: {0}")]
    Corrupted(String),
    /// The store's configuration is invalid.
    #[error("invalid mvcc configuration: {0}")]
    InvalidConfig(&'static str),
    /// An earlier backend failure left the in-memory state unknown; reopen the store.
    #[error("mvcc store poisoned by an earlier backend failure; reopen it")]
    Poisoned,
}

impl MvccError {
    /// The gRPC status code etcd returns for this error.
    pub fn code(&self) -> GrpcCode {
        match self {
            MvccError::EmptyKey
            | MvccError::KeyNotFound
            | MvccError::ValueProvided
            | MvccError::LeaseProvided
            | MvccError::TooManyOps
            | MvccError::DuplicateKey
            | MvccError::InvalidSortOption => GrpcCode::InvalidArgument,
            MvccError::Compacted | MvccError::FutureRevision | MvccError::LeaseTtlTooLarge => {
                GrpcCode::OutOfRange
            }
            MvccError::LeaseNotFound => GrpcCode::NotFound,
            MvccError::LeaseExists | MvccError::WatchDuplicateId => GrpcCode::FailedPrecondition,
            MvccError::Backend(_) | MvccError::Poisoned | MvccError::InvalidConfig(_) => {
                GrpcCode::Internal
            }
            MvccError::Corrupted(_) => GrpcCode::DataLoss,
        }
    }

    /// Whether a client caused this error (as opposed to the disk or the backend).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            MvccError::Backend(_)
                | MvccError::Corrupted(_)
                | MvccError::Poisoned
                | MvccError::InvalidConfig(_)
        )
    }
}

/// Shorthand for results of store operations.
pub type Result<T> = std::result::Result<T, MvccError>;

/// Converts any redb error into a backend error (redb reports corruption as its own variant).
pub(crate) fn backend<E: std::fmt::Display>(error: E) -> MvccError {
    let text = error.to_string();
    if text.to_ascii_lowercase().contains("corrupt") {
        MvccError::Corrupted(text)
    } else {
        MvccError::Backend(text)
    }
}
