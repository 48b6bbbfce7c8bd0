//! Member requests and responses turned into `invar-check` history records. Revisions are
//! recorded as they are: `invar-mvcc` numbers them as etcd does (a fresh store is at 1).

use invar_check::format::{self as h};
use invar_mvcc::{
    Compare, CompareResult, CompareTarget, KeyValue, RequestOp, Response, ResponseOp, TargetUnion,
};
use invar_node::{ClientRequest, ClientResponse};

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn range_end(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        None
    } else {
        Some(text(bytes))
    }
}

pub(crate) fn kv(kv: &KeyValue) -> h::KeyValue {
    h::KeyValue {
        key: text(&kv.key),
        value: text(&kv.value),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

fn compare(c: &Compare) -> h::Compare {
    let result = match c.result {
        CompareResult::Equal => h::CompareResult::Equal,
        CompareResult::Greater => h::CompareResult::Greater,
        CompareResult::Less => h::CompareResult::Less,
        CompareResult::NotEqual => h::CompareResult::NotEqual,
    };
    let number = |u: &Option<TargetUnion>| match u {
        Some(
            TargetUnion::Version(n)
            | TargetUnion::CreateRevision(n)
            | TargetUnion::ModRevision(n)
            | TargetUnion::Lease(n),
        ) => *n,
        _ => 0,
    };
    let target = match c.target {
        CompareTarget::Version => h::CompareTarget::Version(number(&c.target_union)),
        CompareTarget::Create => h::CompareTarget::CreateRevision(number(&c.target_union)),
        CompareTarget::Mod => h::CompareTarget::ModRevision(number(&c.target_union)),
        CompareTarget::Lease => h::CompareTarget::Lease(number(&c.target_union)),
        CompareTarget::Value => h::CompareTarget::Value(match &c.target_union {
            Some(TargetUnion::Value(v)) => text(v),
            _ => String::new(),
        }),
    };
    h::Compare {
        key: text(&c.key),
        range_end: range_end(&c.range_end),
        result,
        target,
    }
}

fn request_op(op: &RequestOp) -> h::Request {
    match op {
        RequestOp::Range(r) => request(&ClientRequest::Range(r.clone())),
        RequestOp::Put(r) => request(&ClientRequest::Put(r.clone())),
        RequestOp::DeleteRange(r) => request(&ClientRequest::DeleteRange(r.clone())),
        RequestOp::Txn(r) => request(&ClientRequest::Txn(r.clone())),
    }
}

/// The history form of a request (requests the format has no form for, such as member or
/// maintenance requests, are recorded as a defragment, which the checker ignores; the
/// workloads do not record them).
pub(crate) fn request(request: &ClientRequest) -> h::Request {
    match request {
        ClientRequest::Range(r) => h::Request::Range {
            key: text(&r.key),
            range_end: range_end(&r.range_end),
            revision: r.revision,
            limit: r.limit,
            serializable: r.serializable,
            keys_only: r.keys_only,
            count_only: r.count_only,
        },
        ClientRequest::Put(r) => h::Request::Put {
            key: text(&r.key),
            value: text(&r.value),
            lease: r.lease,
            prev_kv: r.prev_kv,
            ignore_value: r.ignore_value,
            ignore_lease: r.ignore_lease,
        },
        ClientRequest::DeleteRange(r) => h::Request::DeleteRange {
            key: text(&r.key),
            range_end: range_end(&r.range_end),
            prev_kv: r.prev_kv,
        },
        ClientRequest::Txn(r) => h::Request::Txn {
            compare: r.compare.iter().map(compare).collect(),
            success: r.success.iter().map(request_op).collect(),
            failure: r.failure.iter().map(request_op).collect(),
        },
        ClientRequest::Compact(r) => h::Request::Compact {
            revision: r.revision,
            physical: r.physical,
        },
        ClientRequest::LeaseGrant(r) => h::Request::LeaseGrant {
            ttl: r.ttl,
            id: r.id,
        },
        ClientRequest::LeaseRevoke(r) => h::Request::LeaseRevoke { id: r.id },
        ClientRequest::LeaseKeepAlive(r) => h::Request::LeaseKeepAlive { id: r.id },
        _ => h::Request::Defragment {},
    }
}

fn response_op(op: &ResponseOp, revision: i64) -> h::Response {
    match op {
        ResponseOp::Range(r) => h::Response {
            revision,
            kvs: r.kvs.iter().map(kv).collect(),
            count: Some(r.count),
            more: r.more,
            ..h::Response::default()
        },
        ResponseOp::Put(r) => h::Response {
            revision,
            prev_kv: r.prev_kv.as_ref().map(kv),
            ..h::Response::default()
        },
        ResponseOp::DeleteRange(r) => h::Response {
            revision,
            deleted: Some(r.deleted),
            prev_kvs: r.prev_kvs.iter().map(kv).collect(),
            ..h::Response::default()
        },
        ResponseOp::Txn(r) => h::Response {
            revision,
            succeeded: Some(r.succeeded),
            responses: r
                .responses
                .iter()
                .map(|o| response_op(o, revision))
                .collect(),
            ..h::Response::default()
        },
    }
}

/// The history form of a response.
pub(crate) fn response(response: &ClientResponse) -> h::Response {
    let revision = response.header().revision;
    match response {
        ClientResponse::Range(r) => response_op(&ResponseOp::Range(r.clone()), revision),
        ClientResponse::Applied(Response::Put(r)) => {
            response_op(&ResponseOp::Put(r.clone()), revision)
        }
        ClientResponse::Applied(Response::DeleteRange(r)) => {
            response_op(&ResponseOp::DeleteRange(r.clone()), revision)
        }
        ClientResponse::Applied(Response::Txn(r)) => {
            response_op(&ResponseOp::Txn(r.clone()), revision)
        }
        ClientResponse::Applied(Response::LeaseGrant(r)) => h::Response {
            revision,
            id: Some(r.id),
            ttl: Some(r.ttl),
            ..h::Response::default()
        },
        ClientResponse::LeaseKeepAlive(r) => h::Response {
            revision,
            id: Some(r.id),
            ttl: Some(r.ttl),
            ..h::Response::default()
        },
        _ => h::Response {
            revision,
            ..h::Response::default()
        },
    }
}
