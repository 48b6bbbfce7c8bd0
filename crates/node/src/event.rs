//! What goes into a member ([`Event`]) and what comes out ([`Effect`]).

use invar_mvcc::{
    CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest,
    RangeRequest, RangeResponse, Request, Response, ResponseHeader, TxnRequest,
};
use invar_raft::Message;

use crate::error::RequestError;

/// A point in time: nanoseconds from a zero the world chooses. Members never read a clock;
/// the shell passes the time in with every [`Event::Tick`].
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
}

impl ClientRequest {
    /// The store request it proposes (`None` for a Range, which is never logged).
    pub(crate) fn into_store_request(self) -> Option<Request> {
        Some(match self {
            ClientRequest::Range(_) => return None,
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
}

impl ClientResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        match self {
            ClientResponse::Range(response) => &response.header,
            ClientResponse::Applied(response) => response_header(response),
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
}
