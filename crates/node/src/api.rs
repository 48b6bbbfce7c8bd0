//! The cluster and maintenance API's requests and responses (etcd's `Cluster` and
//! `Maintenance` services, `etcdserverpb`), as plain values.

use invar_mvcc::ResponseHeader;
use invar_raft::NodeId;

/// The etcd API version this member reports in [`StatusResponse::version`] (the protocol it
/// speaks; Invar's own version is its crate version).
pub const ETCD_API_VERSION: &str = "3.5.0";

/// `etcdserverpb.Member`: one member of the cluster as the replicated member list holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberInfo {
    /// The member's id (never 0).
    pub id: NodeId,
    /// Its name (empty for a member added but not yet named, as etcd shows an unstarted
    /// member).
    pub name: String,
    /// The URLs its peers reach it at.
    pub peer_urls: Vec<String>,
    /// The URLs clients reach it at.
    pub client_urls: Vec<String>,
    /// Whether it is a learner (receives the log, does not vote).
    pub is_learner: bool,
}

/// The attributes of one member of a new cluster (etcd's `--initial-cluster`), see
/// [`crate::Config::initial_cluster`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberAttributes {
    /// The member's name.
    pub name: String,
    /// Its peer URLs.
    pub peer_urls: Vec<String>,
    /// Its client URLs.
    pub client_urls: Vec<String>,
}

/// `etcdserverpb.MemberAddRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberAddRequest {
    /// The new member's peer URLs (at least one; none may be taken by another member).
    pub peer_urls: Vec<String>,
    /// Add it as a learner.
    pub is_learner: bool,
    /// Invar extension: the id to give the new member; 0 lets the leader draw one from its
    /// seeded generator (etcd derives ids from a hash with the wall clock).
    pub id: NodeId,
}

/// `etcdserverpb.MemberAddResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberAddResponse {
    /// Header.
    pub header: ResponseHeader,
    /// The member added.
    pub member: MemberInfo,
    /// The member list after the change.
    pub members: Vec<MemberInfo>,
}

/// `etcdserverpb.MemberRemoveRequest` and `MemberPromoteRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberIdRequest {
    /// The member.
    pub id: NodeId,
}

/// `etcdserverpb.MemberListRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberListRequest {
    /// Confirm with a ReadIndex round first (etcd 3.5+); otherwise served from this member's
    /// applied member list at once.
    pub linearizable: bool,
}

/// `etcdserverpb.MemberRemoveResponse`, `MemberPromoteResponse` and `MemberListResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembersResponse {
    /// Header.
    pub header: ResponseHeader,
    /// The member list (after the change, for a remove or promote), by id.
    pub members: Vec<MemberInfo>,
}

/// `etcdserverpb.AlarmType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlarmType {
    /// No alarm (in a request: every alarm).
    #[default]
    None,
    /// The backend quota is exhausted: writes are refused until the alarm is disarmed.
    NoSpace,
    /// Members' stores diverged.
    Corrupt,
}

impl AlarmType {
    /// etcd's name for it.
    pub fn name(self) -> &'static str {
        match self {
            AlarmType::None => "NONE",
            AlarmType::NoSpace => "NOSPACE",
            AlarmType::Corrupt => "CORRUPT",
        }
    }
}

/// `etcdserverpb.AlarmRequest.AlarmAction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlarmAction {
    /// List the raised alarms (served locally).
    #[default]
    Get,
    /// Raise an alarm (through consensus).
    Activate,
    /// Disarm an alarm (through consensus).
    Deactivate,
}

/// `etcdserverpb.AlarmRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlarmRequest {
    /// What to do.
    pub action: AlarmAction,
    /// The member the alarm is about (0 with Get: every member; 0 with Deactivate: every
    /// member's alarm of that type).
    pub member_id: NodeId,
    /// The alarm ([`AlarmType::None`] with Get: every type).
    pub alarm: AlarmType,
}

/// `etcdserverpb.AlarmMember`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlarmMember {
    /// The member that raised it.
    pub member_id: NodeId,
    /// The alarm.
    pub alarm: AlarmType,
}

/// `etcdserverpb.AlarmResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmResponse {
    /// Header.
    pub header: ResponseHeader,
    /// For Get: the matching raised alarms; for Activate/Deactivate: the alarms the request
    /// raised or disarmed.
    pub alarms: Vec<AlarmMember>,
}

/// `etcdserverpb.StatusResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusResponse {
    /// Header.
    pub header: ResponseHeader,
    /// The etcd API version ([`ETCD_API_VERSION`]).
    pub version: String,
    /// Size of the store's file in bytes.
    pub db_size: i64,
    /// Bytes of the store's file in use (allocated pages); the rest is reclaimed by a
    /// defragment.
    pub db_size_in_use: i64,
    /// The leader this member knows (0: none).
    pub leader: NodeId,
    /// The raft log's last index.
    pub raft_index: u64,
    /// The raft term.
    pub raft_term: u64,
    /// The raft applied index.
    pub raft_applied_index: u64,
    /// The raised alarms, as etcd words them (`memberID:<id> alarm:NOSPACE`).
    pub errors: Vec<String>,
    /// Whether this member is a learner.
    pub is_learner: bool,
    /// The backend quota in bytes.
    pub db_size_quota: i64,
}

/// `etcdserverpb.SnapshotResponse`, whole (the server shell cuts it into chunks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotResponse {
    /// Header (revision: the store revision the image holds).
    pub header: ResponseHeader,
    /// A point-in-time copy of this member's state: the member list, the alarms and the
    /// whole store, in the format of the raft snapshots this member sends (see
    /// `crate::cluster`); its raft index is [`SnapshotResponse::index`].
    pub blob: Vec<u8>,
    /// The raft index the image is at (this member's applied index when taken).
    pub index: u64,
    /// The etcd API version.
    pub version: String,
}

/// `etcdserverpb.MoveLeaderRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveLeaderRequest {
    /// The voter to hand leadership to.
    pub target_id: NodeId,
}
