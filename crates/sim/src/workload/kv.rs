//! `kv`: etcd robustness' EtcdPutDeleteLease traffic without the leases, on a small key set
//! with unique values: linearizable and stale gets and lists, deletes, multi-op txns,
//! compare-and-set, puts. After a failed or unknown operation the next one is a list.

use invar_mvcc::{DeleteRangeRequest, RangeRequest, RequestOp, TxnRequest};
use invar_node::ClientRequest;

use super::{get, list, mod_equals, put, range_kvs, revision_of};
use crate::clients::{Cx, End, Plan, Workload};

/// Weights of the operations (they sum to 100).
const WEIGHTS: [(Op, u64); 11] = [
    (Op::Get, 15),
    (Op::List, 4),
    (Op::ListKeysOnly, 4),
    (Op::StaleGet, 10),
    (Op::StaleList, 5),
    (Op::SerializableGet, 5),
    (Op::Delete, 5),
    (Op::MultiOpTxn, 10),
    (Op::CompareAndSet, 5),
    (Op::Put, 35),
    (Op::CountOnly, 2),
];

#[derive(Clone, Copy, Debug)]
enum Op {
    Get,
    List,
    ListKeysOnly,
    StaleGet,
    StaleList,
    SerializableGet,
    Delete,
    MultiOpTxn,
    CompareAndSet,
    Put,
    CountOnly,
}

pub(crate) struct Kv {
    prefix: &'static str,
    keys: u64,
    /// The last header revision this client saw (for stale reads).
    last_revision: i64,
    /// List next (first operation, and after a failure).
    list_next: bool,
    /// A compare-and-set's read came back: (key, its mod revision).
    cas: Option<(Vec<u8>, i64)>,
    /// The read half of a compare-and-set is in flight.
    cas_read: bool,
}

impl Kv {
    pub(crate) fn new(prefix: &'static str, keys: u64) -> Kv {
        Kv {
            prefix,
            keys,
            last_revision: 1,
            list_next: true,
            cas: None,
            cas_read: false,
        }
    }

    fn key(&self, cx: &mut Cx<'_>) -> Vec<u8> {
        format!("{}k{}", self.prefix, cx.between(0, self.keys)).into_bytes()
    }

    fn draw(cx: &mut Cx<'_>) -> Op {
        let mut roll = cx.between(0, 100);
        for (op, weight) in WEIGHTS {
            if roll < weight {
                return op;
            }
            roll -= weight;
        }
        Op::Put
    }

    /// etcd robustness' MultiOpTxn: four ops on distinct keys, no condition, each a delete
    /// (10%), a range (40%) or a put (50%), with at least one put.
    fn multi_op_txn(&self, cx: &mut Cx<'_>) -> TxnRequest {
        let mut keys: Vec<u64> = (0..self.keys).collect();
        for i in 0..keys.len() {
            let j = i + cx.between(0, (keys.len() - i) as u64) as usize;
            keys.swap(i, j);
        }
        let mut ops: Vec<RequestOp> = keys
            .iter()
            .take(4)
            .map(|k| {
                let key = format!("{}k{k}", self.prefix).into_bytes();
                match cx.between(0, 10) {
                    0 => RequestOp::DeleteRange(DeleteRangeRequest {
                        key,
                        ..DeleteRangeRequest::default()
                    }),
                    1..=4 => RequestOp::Range(RangeRequest {
                        key,
                        ..RangeRequest::default()
                    }),
                    _ => RequestOp::Put(put(key, cx.value(), 0)),
                }
            })
            .collect();
        if !ops.iter().any(|op| matches!(op, RequestOp::Put(_)))
            && let Some(first) = ops.first_mut()
        {
            let key = match first {
                RequestOp::Range(r) => r.key.clone(),
                RequestOp::DeleteRange(d) => d.key.clone(),
                RequestOp::Put(p) => p.key.clone(),
                RequestOp::Txn(_) => Vec::new(),
            };
            *first = RequestOp::Put(put(key, cx.value(), 0));
        }
        TxnRequest {
            compare: Vec::new(),
            success: ops,
            failure: Vec::new(),
        }
    }

    fn stale(&self, mut range: RangeRequest) -> ClientRequest {
        range.revision = self.last_revision.max(1);
        ClientRequest::Range(range)
    }
}

impl Workload for Kv {
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan {
        if self.list_next {
            self.list_next = false;
            return Plan::Op(list(self.prefix.as_bytes()));
        }
        if let Some((key, revision)) = self.cas.take() {
            let value = cx.value();
            return Plan::Op(ClientRequest::Txn(TxnRequest {
                compare: vec![mod_equals(&key, revision)],
                success: vec![RequestOp::Put(put(key.clone(), value, 0))],
                failure: vec![RequestOp::Range(RangeRequest {
                    key,
                    ..RangeRequest::default()
                })],
            }));
        }
        let key = self.key(cx);
        let all = self.prefix.as_bytes();
        let request = match Kv::draw(cx) {
            Op::Get => get(key),
            Op::List => list(all),
            Op::ListKeysOnly => match list(all) {
                ClientRequest::Range(mut range) => {
                    range.keys_only = true;
                    ClientRequest::Range(range)
                }
                other => other,
            },
            Op::StaleGet => self.stale(RangeRequest {
                key,
                ..RangeRequest::default()
            }),
            Op::StaleList => match list(all) {
                ClientRequest::Range(range) => self.stale(range),
                other => other,
            },
            Op::SerializableGet => ClientRequest::Range(RangeRequest {
                key,
                serializable: true,
                ..RangeRequest::default()
            }),
            Op::CountOnly => match list(all) {
                ClientRequest::Range(mut range) => {
                    range.count_only = true;
                    ClientRequest::Range(range)
                }
                other => other,
            },
            Op::Delete => ClientRequest::DeleteRange(DeleteRangeRequest {
                key,
                prev_kv: cx.percent(50),
                ..DeleteRangeRequest::default()
            }),
            Op::MultiOpTxn => ClientRequest::Txn(self.multi_op_txn(cx)),
            Op::CompareAndSet => {
                self.cas_read = true;
                get(key)
            }
            Op::Put => {
                let mut request = put(key, cx.value(), 0);
                request.prev_kv = cx.percent(20);
                ClientRequest::Put(request)
            }
        };
        Plan::Op(request)
    }

    fn outcome(&mut self, _: &mut Cx<'_>, request: &ClientRequest, end: &End<'_>, _: u64) {
        let cas_read = std::mem::take(&mut self.cas_read);
        match end {
            End::Ok(_) => {
                if let Some(revision) = revision_of(end) {
                    self.last_revision = self.last_revision.max(revision);
                }
                if cas_read && let ClientRequest::Range(range) = request {
                    let seen = range_kvs(end)
                        .and_then(|kvs| kvs.first())
                        .map_or(0, |kv| kv.mod_revision);
                    self.cas = Some((range.key.clone(), seen));
                }
            }
            End::Failed(_) | End::Unknown | End::Abandoned => self.list_next = true,
        }
    }
}
