//! One entry point for the member's apply loop: every mutating request as one enum.

use crate::error::Result;
use crate::store::{Applied, Store};
use crate::types::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    LeaseCheckpoint, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, PutRequest, PutResponse, ResponseHeader, TxnRequest, TxnResponse,
};

/// A request that goes through the raft log and is applied to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A Put.
    Put(PutRequest),
    /// A DeleteRange.
    DeleteRange(DeleteRangeRequest),
    /// A Txn.
    Txn(TxnRequest),
    /// A Compact.
    Compact(CompactionRequest),
    /// A LeaseGrant.
    LeaseGrant(LeaseGrantRequest),
    /// A LeaseRevoke (also used for expiry, decided by the leader).
    LeaseRevoke(LeaseRevokeRequest),
    /// Lease checkpoints (etcd's `LeaseCheckpointRequest` carries several).
    LeaseCheckpoint(Vec<LeaseCheckpoint>),
}

/// The response to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// To a Put.
    Put(PutResponse),
    /// To a DeleteRange.
    DeleteRange(DeleteRangeResponse),
    /// To a Txn.
    Txn(TxnResponse),
    /// To a Compact.
    Compact(CompactionResponse),
    /// To a LeaseGrant.
    LeaseGrant(LeaseGrantResponse),
    /// To a LeaseRevoke.
    LeaseRevoke(LeaseRevokeResponse),
    /// To lease checkpoints (header only).
    LeaseCheckpoint(ResponseHeader),
}

fn wrap<T>(applied: Applied<T>, to: fn(T) -> Response) -> Applied<Response> {
    Applied {
        response: to(applied.response),
        events: applied.events,
    }
}

impl Store {
    /// Applies the request of raft entry `index` (see the crate docs for the protocol).
    pub fn apply(&mut self, index: u64, request: &Request) -> Result<Applied<Response>> {
        Ok(match request {
            Request::Put(req) => wrap(self.put(index, req)?, Response::Put),
            Request::DeleteRange(req) => {
                wrap(self.delete_range(index, req)?, Response::DeleteRange)
            }
            Request::Txn(req) => wrap(self.txn(index, req)?, Response::Txn),
            Request::Compact(req) => wrap(self.compact(index, req)?, Response::Compact),
            Request::LeaseGrant(req) => Applied {
                response: Response::LeaseGrant(self.lease_grant(index, req)?),
                events: Vec::new(),
            },
            Request::LeaseRevoke(req) => {
                wrap(self.lease_revoke(index, req)?, Response::LeaseRevoke)
            }
            Request::LeaseCheckpoint(checkpoints) => {
                self.lease_checkpoints(index, checkpoints)?;
                let header = ResponseHeader::at(self.revision());
                Applied {
                    response: Response::LeaseCheckpoint(header),
                    events: Vec::new(),
                }
            }
        })
    }
}
