//! The maintenance API: Status, Defragment, Snapshot and Alarm, and the backend quota.
//!
//! # Space: the quota, the NOSPACE alarm, and a full disk
//!
//! - **Quota** ([`crate::Config::quota_backend_bytes`], etcd's 2 GiB default): a Put, a Txn
//!   with a put or a LeaseGrant that would grow the store's file past it is refused with
//!   "etcdserver: mvcc: database space exceeded" (gRPC ResourceExhausted), and the leader
//!   raises the NOSPACE alarm through consensus, as etcd's quota check does.
//! - **The NOSPACE alarm** is replicated state (applied from the log, carried in snapshots,
//!   rebuilt on restart). While it is raised, every member refuses those writes before
//!   proposing, and the apply refuses them too (etcd's capped applier), so a write proposed
//!   before the alarm cannot slip through on any member. Ranges, DeleteRange, Compact,
//!   read-only or delete-only Txns, LeaseRevoke and keep-alives keep working, so space can
//!   be freed (compact, then defragment) before an Alarm DEACTIVATE disarms it.
//! - **A full disk** (the WAL, a snapshot file or the store's backend failing with no
//!   space) stops the member, as etcd's failed WAL fsync is fatal: [`crate::NodeError`]
//!   says so ([`crate::NodeError::is_no_space`]); nothing that was not durable was
//!   acknowledged (replies leave only with a successful event, after the WAL sync), and the
//!   shell reopens the member once space is freed. The quota exists so that this stays rare.

use invar_mvcc::{Request, RequestOp, ResponseHeader, TxnRequest};
use invar_storage::fs::FileSystem;

use crate::api::{
    AlarmAction, AlarmRequest, AlarmResponse, AlarmType, ETCD_API_VERSION, SnapshotResponse,
    StatusResponse,
};
use crate::cluster::{self, Command};
use crate::error::{NodeError, RequestError};
use crate::event::{ClientRequest, ClientResponse, RequestId};
use crate::member::Member;
use crate::ready::Outcome;

/// The request id of the alarm a leader raises on its own (no client waits for it).
const QUOTA_ALARM_REQUEST_ID: u64 = u64::MAX - 1;

/// Bytes a write may add beyond its keys and values (etcd's quota counts a per-key
/// overhead too).
const KEY_OVERHEAD_BYTES: u64 = 256;

fn txn_puts(txn: &TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).any(|op| match op {
        RequestOp::Put(_) => true,
        RequestOp::Txn(inner) => txn_puts(inner),
        RequestOp::Range(_) | RequestOp::DeleteRange(_) => false,
    })
}

/// Whether a logged request grows the store (refused while NOSPACE is raised).
pub(crate) fn grows_store(request: &Request) -> bool {
    match request {
        Request::Put(_) | Request::LeaseGrant(_) => true,
        Request::Txn(txn) => txn_puts(txn),
        _ => false,
    }
}

/// The bytes a client write may add to the store (0: it does not grow it).
fn cost(request: &ClientRequest) -> u64 {
    match request {
        ClientRequest::Put(put) => (put.key.len() + put.value.len()) as u64 + KEY_OVERHEAD_BYTES,
        ClientRequest::LeaseGrant(_) => KEY_OVERHEAD_BYTES,
        ClientRequest::Txn(txn) if txn_puts(txn) => txn_cost(txn),
        _ => 0,
    }
}

fn txn_cost(txn: &TxnRequest) -> u64 {
    let branch = |ops: &[RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match op {
                RequestOp::Put(put) => {
                    (put.key.len() + put.value.len()) as u64 + KEY_OVERHEAD_BYTES
                }
                RequestOp::Txn(inner) => txn_cost(inner),
                _ => 0,
            })
            .sum()
    };
    branch(&txn.success).max(branch(&txn.failure))
}

impl<F: FileSystem> Member<F> {
    fn local_header(&self) -> ResponseHeader {
        ResponseHeader {
            revision: self.store.revision(),
            ..ResponseHeader::default()
        }
    }

    /// The store file's size in bytes, kept in memory by the store's backend: the quota
    /// check before every growing write makes no file-system call.
    pub(crate) fn db_size(&self) -> u64 {
        self.store.db_size_bytes()
    }

    /// Refuses a write that grows the store while NOSPACE is raised, or that would pass the
    /// quota (then the leader raises NOSPACE).
    pub(crate) fn check_space(&mut self, request: &ClientRequest) -> Result<(), RequestError> {
        let cost = cost(request);
        if cost == 0 {
            return Ok(());
        }
        if self.cluster.has_alarm(AlarmType::NoSpace) {
            return Err(RequestError::NoSpace);
        }
        if self.db_size().saturating_add(cost) <= self.config.quota_backend_bytes {
            return Ok(());
        }
        if self.is_leader() {
            let command = Command {
                proposer: self.raft.id(),
                request_id: QUOTA_ALARM_REQUEST_ID,
                alarm: AlarmRequest {
                    action: AlarmAction::Activate,
                    member_id: self.raft.id(),
                    alarm: AlarmType::NoSpace,
                },
            };
            // Refused (overloaded, transfer): the next write over quota tries again.
            let _ = self.raft.propose(cluster::encode_command(&command));
        }
        Err(RequestError::NoSpace)
    }

    pub(crate) fn status(&self) -> Result<ClientResponse, NodeError> {
        let in_use = self.store.space_in_use().map_err(NodeError::Store)?;
        let is_learner = self
            .cluster
            .members
            .get(&self.raft.id())
            .is_some_and(|m| m.is_learner);
        let errors = self
            .cluster
            .alarms
            .iter()
            .map(|a| format!("memberID:{} alarm:{}", a.member_id, a.alarm.name()))
            .collect();
        Ok(ClientResponse::Status(StatusResponse {
            header: self.local_header(),
            version: ETCD_API_VERSION.to_string(),
            db_size: i64::try_from(self.db_size()).unwrap_or(i64::MAX),
            db_size_in_use: i64::try_from(in_use).unwrap_or(i64::MAX),
            leader: self.raft.leader(),
            raft_index: self.raft.last_index(),
            raft_term: self.raft.term(),
            raft_applied_index: self.raft.applied(),
            errors,
            is_learner,
            db_size_quota: i64::try_from(self.config.quota_backend_bytes).unwrap_or(i64::MAX),
        }))
    }

    /// Defragments the store (a failure stops the member).
    pub(crate) fn defragment(&mut self) -> Result<ClientResponse, NodeError> {
        self.store.defragment().map_err(NodeError::Store)?;
        Ok(ClientResponse::Defragment(self.local_header()))
    }

    /// A point-in-time copy: the store synced, its image with the cluster state, at the
    /// applied index (the same bytes a raft snapshot at this index would hold).
    pub(crate) fn snapshot_blob(&mut self) -> Result<ClientResponse, NodeError> {
        self.store.sync().map_err(NodeError::Store)?;
        let image = self.store.image().map_err(NodeError::Store)?;
        Ok(ClientResponse::Snapshot(SnapshotResponse {
            header: self.local_header(),
            blob: cluster::encode_envelope(&self.cluster, &image),
            index: self.raft.applied(),
            version: ETCD_API_VERSION.to_string(),
        }))
    }

    pub(crate) fn alarm(&mut self, id: RequestId, request: AlarmRequest) {
        if request.action == AlarmAction::Get {
            let response = AlarmResponse {
                header: self.local_header(),
                alarms: self.cluster.matching_alarms(&request),
            };
            self.reply(id, Ok(ClientResponse::Alarm(response)));
            return;
        }
        let command = Command {
            proposer: self.raft.id(),
            request_id: id,
            alarm: request,
        };
        let proposed = self.raft.propose(cluster::encode_command(&command));
        self.track_proposal(id, proposed);
    }

    /// Applies a committed alarm command; returns the proposer's answer.
    pub(crate) fn apply_command(&mut self, command: &Command) -> Outcome {
        let alarms = self.cluster.apply_alarm(&command.alarm);
        let response = AlarmResponse {
            header: self.local_header(),
            alarms,
        };
        (
            command.proposer,
            command.request_id,
            Ok(ClientResponse::Alarm(response)),
        )
    }
}
