//! What goes into a member ([`Event`]) and what comes out ([`Effect`]).

use invar_mvcc::{
    CompactionRequest, DeleteRangeRequest, HashKvRequest, HashKvResponse, LeaseGrantRequest,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
    PutRequest, RangeRequest, RangeResponse, Request, Response, ResponseHeader, TxnRequest,
    WatchCreateRequest, WatchResponse,
};
use invar_raft::Message;

use crate::api::{
    AlarmRequest, AlarmResponse, MemberAddRequest, MemberAddResponse, MemberIdRequest,
    MemberListRequest, MembersResponse, MoveLeaderRequest, SnapshotResponse, StatusResponse,
};
use crate::error::RequestError;

/// A point in time: nanoseconds from a zero the world chooses. Members never read a clock;
/// the shell passes its clock's reading in with every [`Event::Tick`]. The member keeps its own
/// time from the readings' steps forward, so a reading that goes back costs no more than a
/// step (see [`crate::Member::next_deadline`], which answers in the shell's clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// This instant plus `nanos` (saturating).
    pub fn plus_nanos(self, nanos: u64) -> Instant {
        Instant(self.0.saturating_add(nanos))
    }
}

/// A client's request id: unique among the requests pending on one member (the shell's
/// choice, e.g. a counter). The reply carries it back.
pub type RequestId = u64;

/// A watch stream's id (the shell's choice: one per client gRPC watch stream). Watch IDs
/// are per stream, as in etcd.
pub type StreamId = u64;

/// `etcdserverpb.LeaseKeepAliveRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseKeepAliveRequest {
    /// The lease to keep alive.
    pub id: i64,
}

/// `etcdserverpb.LeaseKeepAliveResponse`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseKeepAliveResponse {
    /// Header with the applied revision.
    pub header: ResponseHeader,
    /// The lease.
    pub id: i64,
    /// The renewed TTL in seconds; 0 when the lease does not exist or already expired (as
    /// etcd's keep-alive stream answers).
    pub ttl: i64,
}

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// A Range: served locally if `serializable`, otherwise after a ReadIndex round.
    Range(RangeRequest),
    /// A Put, through consensus.
    Put(PutRequest),
    /// A DeleteRange, through consensus.
    DeleteRange(DeleteRangeRequest),
    /// A Txn, through consensus (read-only txns too, which keeps them linearizable).
    Txn(TxnRequest),
    /// A Compact, through consensus.
    Compact(CompactionRequest),
    /// A LeaseGrant, through consensus; an id of 0 is replaced by a fresh one.
    LeaseGrant(LeaseGrantRequest),
    /// A LeaseRevoke, through consensus.
    LeaseRevoke(LeaseRevokeRequest),
    /// A keep-alive: on the leader only (a follower answers "not leader"); renews the lease
    /// from the leader's clock, nothing is logged.
    LeaseKeepAlive(LeaseKeepAliveRequest),
    /// A TimeToLive: on the leader only; the remaining TTL comes from the leader's clock.
    LeaseTimeToLive(LeaseTimeToLiveRequest),
    /// The lease ids this member knows (served locally, as etcd's LeaseLeases).
    LeaseLeases,
    /// Adds a member (a learner or a voter) through a raft conf change; on the leader only.
    MemberAdd(MemberAddRequest),
    /// Removes a member through a raft conf change; on the leader only.
    MemberRemove(MemberIdRequest),
    /// Promotes a caught-up learner to voter through a raft conf change; on the leader only.
    MemberPromote(MemberIdRequest),
    /// The member list (after a ReadIndex round if `linearizable`).
    MemberList(MemberListRequest),
    /// This member's status (served locally).
    Status,
    /// This member's store hash (served locally, as etcd's HashKV).
    HashKv(HashKvRequest),
    /// Reclaims the store file's free space (this member only, as etcd's Defragment).
    Defragment,
    /// A point-in-time copy of this member's state (served locally).
    Snapshot,
    /// Alarm Get (served locally), Activate or Deactivate (through consensus, on the
    /// leader).
    Alarm(AlarmRequest),
    /// Hands leadership to a voter; on the leader only. Answered once the target leads.
    MoveLeader(MoveLeaderRequest),
}

impl ClientRequest {
    /// The store request it proposes (`None` for a Range, which is never logged).
    pub(crate) fn into_store_request(self) -> Option<Request> {
        Some(match self {
            ClientRequest::Range(_)
            | ClientRequest::LeaseKeepAlive(_)
            | ClientRequest::LeaseTimeToLive(_)
            | ClientRequest::LeaseLeases
            | ClientRequest::MemberAdd(_)
            | ClientRequest::MemberRemove(_)
            | ClientRequest::MemberPromote(_)
            | ClientRequest::MemberList(_)
            | ClientRequest::Status
            | ClientRequest::HashKv(_)
            | ClientRequest::Defragment
            | ClientRequest::Snapshot
            | ClientRequest::Alarm(_)
            | ClientRequest::MoveLeader(_) => return None,
            ClientRequest::Put(req) => Request::Put(req),
            ClientRequest::DeleteRange(req) => Request::DeleteRange(req),
            ClientRequest::Txn(req) => Request::Txn(req),
            ClientRequest::Compact(req) => Request::Compact(req),
            ClientRequest::LeaseGrant(req) => Request::LeaseGrant(req),
            ClientRequest::LeaseRevoke(req) => Request::LeaseRevoke(req),
        })
    }
}

/// The answer to a [`ClientRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientResponse {
    /// To a Range.
    Range(RangeResponse),
    /// To any request that went through consensus.
    Applied(Response),
    /// To a LeaseKeepAlive.
    LeaseKeepAlive(LeaseKeepAliveResponse),
    /// To a LeaseTimeToLive.
    LeaseTimeToLive(LeaseTimeToLiveResponse),
    /// To a LeaseLeases.
    LeaseLeases(LeaseLeasesResponse),
    /// To a MemberAdd.
    MemberAdd(MemberAddResponse),
    /// To a MemberRemove, MemberPromote or MemberList.
    Members(MembersResponse),
    /// To a Status.
    Status(StatusResponse),
    /// To a HashKv.
    HashKv(HashKvResponse),
    /// To a Defragment (the header only).
    Defragment(ResponseHeader),
    /// To a Snapshot.
    Snapshot(SnapshotResponse),
    /// To an Alarm.
    Alarm(AlarmResponse),
    /// To a MoveLeader (the header only).
    MoveLeader(ResponseHeader),
}

impl ClientResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        match self {
            ClientResponse::Range(response) => &response.header,
            ClientResponse::Applied(response) => response_header(response),
            ClientResponse::LeaseKeepAlive(response) => &response.header,
            ClientResponse::LeaseTimeToLive(response) => &response.header,
            ClientResponse::LeaseLeases(response) => &response.header,
            ClientResponse::MemberAdd(response) => &response.header,
            ClientResponse::Members(response) => &response.header,
            ClientResponse::Status(response) => &response.header,
            ClientResponse::HashKv(response) => &response.header,
            ClientResponse::Defragment(header) | ClientResponse::MoveLeader(header) => header,
            ClientResponse::Snapshot(response) => &response.header,
            ClientResponse::Alarm(response) => &response.header,
        }
    }

    pub(crate) fn header_mut(&mut self) -> &mut ResponseHeader {
        match self {
            ClientResponse::Range(response) => &mut response.header,
            ClientResponse::Applied(response) => match response {
                Response::Put(r) => &mut r.header,
                Response::DeleteRange(r) => &mut r.header,
                Response::Txn(r) => &mut r.header,
                Response::Compact(r) => &mut r.header,
                Response::LeaseGrant(r) => &mut r.header,
                Response::LeaseRevoke(r) => &mut r.header,
                Response::LeaseCheckpoint(header) => header,
            },
            ClientResponse::LeaseKeepAlive(response) => &mut response.header,
            ClientResponse::LeaseTimeToLive(response) => &mut response.header,
            ClientResponse::LeaseLeases(response) => &mut response.header,
            ClientResponse::MemberAdd(response) => &mut response.header,
            ClientResponse::Members(response) => &mut response.header,
            ClientResponse::Status(response) => &mut response.header,
            ClientResponse::HashKv(response) => &mut response.header,
            ClientResponse::Defragment(header) | ClientResponse::MoveLeader(header) => header,
            ClientResponse::Snapshot(response) => &mut response.header,
            ClientResponse::Alarm(response) => &mut response.header,
        }
    }
}

fn response_header(response: &Response) -> &ResponseHeader {
    match response {
        Response::Put(r) => &r.header,
        Response::DeleteRange(r) => &r.header,
        Response::Txn(r) => &r.header,
        Response::Compact(r) => &r.header,
        Response::LeaseGrant(r) => &r.header,
        Response::LeaseRevoke(r) => &r.header,
        Response::LeaseCheckpoint(header) => header,
    }
}

/// An input to [`crate::Member::handle`].
#[derive(Clone, Debug)]
pub enum Event {
    /// A raft message from a peer.
    Message(Message),
    /// The time is now `now`: runs the raft ticks that are due and times requests out.
    Tick(Instant),
    /// A client request with its id.
    Request {
        /// The id the reply will carry.
        id: RequestId,
        /// The request.
        request: ClientRequest,
    },
    /// Creates a watcher on `stream` (the stream is opened by its first create). The
    /// created response comes at once (with a cancel carrying `compact_revision` when the
    /// start revision is compacted); a watcher starting in the past gets the history in
    /// bounded pieces over the following events, then live events as entries apply.
    WatchCreate {
        /// The stream.
        stream: StreamId,
        /// etcd's create request (`watch_id` 0 lets the stream choose).
        request: WatchCreateRequest,
    },
    /// Cancels watcher `watch_id` of `stream` (nothing is answered for an unknown one, as
    /// in etcd).
    WatchCancel {
        /// The stream.
        stream: StreamId,
        /// The watcher.
        watch_id: i64,
    },
    /// On-demand progress for `stream`: a response with watch ID -1 whose header revision
    /// is this member's applied revision, sent once every watcher of the stream is synced.
    WatchProgress {
        /// The stream.
        stream: StreamId,
    },
    /// The client's stream is gone: its watchers are dropped, nothing is answered.
    WatchClose {
        /// The stream.
        stream: StreamId,
    },
}

/// An output of [`crate::Member::handle`], in the order it must be carried out.
#[must_use = "effects must be carried out: messages sent, replies delivered"]
#[derive(Debug)]
pub enum Effect {
    /// Send this message to `message.to`. Everything it depends on is already durable.
    Send(Message),
    /// Answer request `id`. A write is answered only once applied, after the WAL sync.
    Reply {
        /// The request's id.
        id: RequestId,
        /// The response or why it failed.
        result: Result<ClientResponse, RequestError>,
    },
    /// Send this watch response on `stream`. For each watcher, events come in revision
    /// order, and a progress notification's revision is never below an event still to come.
    Watch {
        /// The stream.
        stream: StreamId,
        /// The response (its header names this member, its term and applied revision).
        response: WatchResponse,
    },
}
