//! Request and response types, field for field like etcd's `etcdserverpb` and `mvccpb`
//! messages (`api/etcdserverpb/rpc.proto`, `api/mvccpb/kv.proto`). Integer widths follow the
//! proto (`int64` → `i64`); enums are Rust enums with `from_i32` for the wire mapping.
//! The `api` crate maps these to and from protobuf.

use crate::error::{MvccError, Result};

/// `mvccpb.KeyValue`: one version of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyValue {
    /// The key; never empty.
    pub key: Vec<u8>,
    /// Revision of the last creation of this key (0 in a delete event).
    pub create_revision: i64,
    /// Revision of the last modification of this key.
    pub mod_revision: i64,
    /// 1 on creation, +1 on every put; a delete resets it (the next put is 1 again).
    pub version: i64,
    /// The value (empty with `keys_only`).
    pub value: Vec<u8>,
    /// The attached lease ID, 0 for none.
    pub lease: i64,
}

/// `mvccpb.Event.EventType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// A put (creation or modification).
    #[default]
    Put,
    /// A deletion: `kv` holds only the key and the deleting revision as `mod_revision`.
    Delete,
}

/// `mvccpb.Event`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub r#type: EventType,
    /// The key after the event (for a delete: key and mod_revision only).
    pub kv: KeyValue,
    /// The key before the event, when asked for and still available.
    pub prev_kv: Option<KeyValue>,
}

/// `etcdserverpb.ResponseHeader`. The store fills only `revision`; the member fills the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseHeader {
    /// ID of the cluster.
    pub cluster_id: u64,
    /// ID of the member.
    pub member_id: u64,
    /// The store revision when the request was applied.
    pub revision: i64,
    /// The raft term when the request was applied.
    pub raft_term: u64,
}

impl ResponseHeader {
    pub(crate) fn at(revision: i64) -> Self {
        ResponseHeader {
            revision,
            ..ResponseHeader::default()
        }
    }
}

/// `RangeRequest.SortOrder`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Default: key ascending (unless the target is not KEY, then ascending by target).
    #[default]
    None,
    /// Lowest target value first.
    Ascend,
    /// Highest target value first.
    Descend,
}

impl SortOrder {
    /// Maps the wire value; unknown values are etcd's invalid-sort-option error.
    pub fn from_i32(value: i32) -> Result<Self> {
        match value {
            0 => Ok(SortOrder::None),
            1 => Ok(SortOrder::Ascend),
            2 => Ok(SortOrder::Descend),
            _ => Err(MvccError::InvalidSortOption),
        }
    }
}

/// `RangeRequest.SortTarget`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortTarget {
    /// Sort by key.
    #[default]
    Key,
    /// Sort by version.
    Version,
    /// Sort by create revision.
    Create,
    /// Sort by mod revision.
    Mod,
    /// Sort by value.
    Value,
}

impl SortTarget {
    /// Maps the wire value; unknown values are etcd's invalid-sort-option error.
    pub fn from_i32(value: i32) -> Result<Self> {
        match value {
            0 => Ok(SortTarget::Key),
            1 => Ok(SortTarget::Version),
            2 => Ok(SortTarget::Create),
            3 => Ok(SortTarget::Mod),
            4 => Ok(SortTarget::Value),
            _ => Err(MvccError::InvalidSortOption),
        }
    }
}

/// `etcdserverpb.RangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// First key of the range (must not be empty).
    pub key: Vec<u8>,
    /// Empty: only `key`; `"\0"`: every key `>= key`; otherwise `[key, range_end)`.
    pub range_end: Vec<u8>,
    /// Maximum number of kvs returned; 0 means no limit.
    pub limit: i64,
    /// Revision to read at; `<= 0` means the current revision.
    pub revision: i64,
    /// Sort order.
    pub sort_order: SortOrder,
    /// Sort target.
    pub sort_target: SortTarget,
    /// Serve locally without a read barrier (a member concern; ignored by the store).
    pub serializable: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Drop kvs with a lower mod revision (0 = no filter).
    pub min_mod_revision: i64,
    /// Drop kvs with a higher mod revision (0 = no filter).
    pub max_mod_revision: i64,
    /// Drop kvs with a lower create revision (0 = no filter).
    pub min_create_revision: i64,
    /// Drop kvs with a higher create revision (0 = no filter).
    pub max_create_revision: i64,
}

/// `etcdserverpb.RangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// Header; `revision` is the store's current revision, not the one read at.
    pub header: ResponseHeader,
    /// The kvs, after filters, sorting and the limit.
    pub kvs: Vec<KeyValue>,
    /// Whether the limit cut kvs off.
    pub more: bool,
    /// Number of keys in the range at the revision (ignores limit and filters).
    pub count: i64,
}

/// `etcdserverpb.PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutRequest {
    /// The key (must not be empty).
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Lease to attach, 0 for none (detaches any previous lease).
    pub lease: i64,
    /// Return the previous kv.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist and `value` must be empty).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist and `lease` must be 0).
    pub ignore_lease: bool,
}

/// `etcdserverpb.PutResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutResponse {
    /// Header with the new revision.
    pub header: ResponseHeader,
    /// The previous kv, when asked for and the key existed.
    pub prev_kv: Option<KeyValue>,
}

/// `etcdserverpb.DeleteRangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeRequest {
    /// First key (must not be empty).
    pub key: Vec<u8>,
    /// Same conventions as [`RangeRequest::range_end`].
    pub range_end: Vec<u8>,
    /// Return the deleted kvs.
    pub prev_kv: bool,
}

/// `etcdserverpb.DeleteRangeResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteRangeResponse {
    /// Header; the revision is bumped only if something was deleted.
    pub header: ResponseHeader,
    /// Number of keys deleted.
    pub deleted: i64,
    /// The deleted kvs, when asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// `etcdserverpb.RequestOp`: one operation of a txn branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOp {
    /// A range.
    Range(RangeRequest),
    /// A put.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
    /// A nested txn.
    Txn(TxnRequest),
}

/// `etcdserverpb.ResponseOp`: the result of one [`RequestOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseOp {
    /// Result of a range.
    Range(RangeResponse),
    /// Result of a put.
    Put(PutResponse),
    /// Result of a delete.
    DeleteRange(DeleteRangeResponse),
    /// Result of a nested txn.
    Txn(TxnResponse),
}

/// `Compare.CompareResult`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompareResult {
    /// Target equals the operand.
    #[default]
    Equal,
    /// Target greater than the operand.
    Greater,
    /// Target less than the operand.
    Less,
    /// Target differs from the operand.
    NotEqual,
}

/// `Compare.CompareTarget`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version.
    #[default]
    Version,
    /// The key's create revision.
    Create,
    /// The key's mod revision.
    Mod,
    /// The key's value.
    Value,
    /// The key's lease.
    Lease,
}

/// `Compare.target_union` (a proto `oneof`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetUnion {
    /// Operand for a VERSION compare.
    Version(i64),
    /// Operand for a CREATE compare.
    CreateRevision(i64),
    /// Operand for a MOD compare.
    ModRevision(i64),
    /// Operand for a VALUE compare.
    Value(Vec<u8>),
    /// Operand for a LEASE compare.
    Lease(i64),
}

/// `etcdserverpb.Compare`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compare {
    /// The relation that must hold.
    pub result: CompareResult,
    /// What is compared.
    pub target: CompareTarget,
    /// The key (must not be empty).
    pub key: Vec<u8>,
    /// The operand; a missing or mismatched operand compares as zero (or empty).
    pub target_union: Option<TargetUnion>,
    /// If set, every key in `[key, range_end)` must satisfy the compare.
    pub range_end: Vec<u8>,
}

/// `etcdserverpb.TxnRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnRequest {
    /// All must hold for `success` to run; otherwise `failure` runs.
    pub compare: Vec<Compare>,
    /// Operations run when every compare holds.
    pub success: Vec<RequestOp>,
    /// Operations run otherwise.
    pub failure: Vec<RequestOp>,
}

/// `etcdserverpb.TxnResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnResponse {
    /// Header (for a nested txn, etcd leaves the revision at 0).
    pub header: ResponseHeader,
    /// Whether the compares held.
    pub succeeded: bool,
    /// One response per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}

/// `etcdserverpb.CompactionRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionRequest {
    /// Remove history below this revision.
    pub revision: i64,
    /// Wait for the physical removal (always the case here: compaction is one transaction).
    pub physical: bool,
}

/// `etcdserverpb.CompactionResponse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionResponse {
    /// Header with the current revision.
    pub header: ResponseHeader,
}

/// `etcdserverpb.HashKVRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashKvRequest {
    /// Hash up to this revision; 0 means the current one.
    pub revision: i64,
}

/// `etcdserverpb.HashKVResponse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashKvResponse {
    /// Header with the current revision.
    pub header: ResponseHeader,
    /// CRC32C (Castagnoli) over the kept revisions up to `hash_revision`.
    pub hash: u32,
    /// The compacted revision when hashed (-1 if never compacted).
    pub compact_revision: i64,
    /// The revision hashed up to.
    pub hash_revision: i64,
}

/// `etcdserverpb.LeaseGrantRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseGrantRequest {
    /// Requested TTL in seconds (raised to the configured minimum).
    #[allow(clippy::struct_field_names)]
    pub ttl: i64,
    /// The lease ID, chosen by the member before proposing (must not be 0 here).
    pub id: i64,
}

/// `etcdserverpb.LeaseGrantResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseGrantResponse {
    /// Header with the current revision (a grant does not bump it).
    pub header: ResponseHeader,
    /// The granted ID.
    pub id: i64,
    /// The granted TTL in seconds.
    pub ttl: i64,
    /// Error text (always empty; kept for field parity).
    pub error: String,
}

/// `etcdserverpb.LeaseRevokeRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseRevokeRequest {
    /// The lease to revoke.
    pub id: i64,
}

/// `etcdserverpb.LeaseRevokeResponse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseRevokeResponse {
    /// Header with the revision after the attached keys were deleted.
    pub header: ResponseHeader,
}

/// `etcdserverpb.LeaseCheckpoint`: the leader's record of a lease's remaining TTL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseCheckpoint {
    /// The lease.
    pub id: i64,
    /// Remaining TTL in seconds when the checkpoint was taken.
    pub remaining_ttl: i64,
}

/// `etcdserverpb.LeaseTimeToLiveRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseTimeToLiveRequest {
    /// The lease.
    pub id: i64,
    /// Also list the attached keys.
    pub keys: bool,
}

/// `etcdserverpb.LeaseTimeToLiveResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseTimeToLiveResponse {
    /// Header with the current revision.
    pub header: ResponseHeader,
    /// The lease.
    pub id: i64,
    /// Remaining TTL: -1 for an unknown lease. The store knows no time, so it reports the
    /// granted TTL; the member replaces it with the remaining TTL from its clock.
    pub ttl: i64,
    /// The TTL granted.
    pub granted_ttl: i64,
    /// Attached keys, sorted, when asked for.
    pub keys: Vec<Vec<u8>>,
}

/// `etcdserverpb.LeaseStatus`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseStatus {
    /// The lease.
    pub id: i64,
}

/// `etcdserverpb.LeaseLeasesResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseLeasesResponse {
    /// Header with the current revision.
    pub header: ResponseHeader,
    /// All leases, by ascending ID.
    pub leases: Vec<LeaseStatus>,
}

/// `WatchCreateRequest.FilterType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilterType {
    /// Drop put events.
    NoPut,
    /// Drop delete events.
    NoDelete,
}

/// `etcdserverpb.WatchCreateRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchCreateRequest {
    /// First key (empty is treated as `"\0"`).
    pub key: Vec<u8>,
    /// Same conventions as [`RangeRequest::range_end`].
    pub range_end: Vec<u8>,
    /// First revision to report (inclusive); 0 means "after the current revision".
    pub start_revision: i64,
    /// Periodic progress notifications (a member concern; recorded only).
    pub progress_notify: bool,
    /// Event filters.
    pub filters: Vec<FilterType>,
    /// Include the previous kv in events.
    pub prev_kv: bool,
    /// Requested watch ID; 0 lets the stream choose.
    pub watch_id: i64,
    /// Split large responses (a member concern; recorded only).
    pub fragment: bool,
}

/// `etcdserverpb.WatchResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchResponse {
    /// Header with the store revision when the response was made.
    pub header: ResponseHeader,
    /// The watcher.
    pub watch_id: i64,
    /// Set on the response to a create request.
    pub created: bool,
    /// Set when the watcher is canceled.
    pub canceled: bool,
    /// Set with `canceled` when the start revision was compacted.
    pub compact_revision: i64,
    /// Why the watcher was canceled.
    pub cancel_reason: String,
    /// Set on all but the last piece of a fragmented response.
    pub fragment: bool,
    /// The events, in revision order.
    pub events: Vec<Event>,
}
