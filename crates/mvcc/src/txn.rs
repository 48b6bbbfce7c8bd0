//! Txn: compares evaluated on the state before the txn (nested ones too, as etcd's
//! `compareToPath`), checks of the chosen path (puts, then ranges), then execution in one
//! revision.

use std::cmp::Ordering;

use redb::ReadableTable;

use crate::batch::with_kv;
use crate::error::{MvccError, Result};
use crate::range::range_at;
use crate::revision::RevisionKey;
use crate::store::{Applied, Store};
use crate::types::{
    Compare, CompareResult, CompareTarget, KeyValue, RangeRequest, RequestOp, ResponseHeader,
    ResponseOp, TargetUnion, TxnRequest, TxnResponse,
};
use crate::validate;
use crate::write::WriteCtx;

/// The branches a txn takes: whether its compares held, and the same for each nested txn of
/// the chosen branch, in order.
#[derive(Debug)]
struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

impl Path {
    fn branch<'r>(&self, req: &'r TxnRequest) -> &'r [RequestOp] {
        if self.succeeded {
            &req.success
        } else {
            &req.failure
        }
    }
}

/// The state before the txn, for compares and checks.
struct View<'a, T> {
    store: &'a Store,
    table: &'a T,
}

impl<T: ReadableTable<RevisionKey, &'static [u8]>> View<'_, T> {
    fn range(&self, req: &RangeRequest) -> Result<Vec<KeyValue>> {
        let store = self.store;
        let response = range_at(
            &store.index,
            self.table,
            store.current_revision,
            store.compact_revision,
            req,
        )?;
        Ok(response.kvs)
    }

    fn compare(&self, compare: &Compare) -> Result<bool> {
        let request = RangeRequest {
            key: compare.key.clone(),
            range_end: compare.range_end.clone(),
            ..Default::default()
        };
        let kvs = self.range(&request)?;
        if kvs.is_empty() {
            // A VALUE compare on missing keys always fails; others see a zero KeyValue.
            return Ok(
                compare.target != CompareTarget::Value && compare_kv(compare, &KeyValue::default())
            );
        }
        Ok(kvs.iter().all(|kv| compare_kv(compare, kv)))
    }

    fn path(&self, req: &TxnRequest) -> Result<Path> {
        let mut succeeded = true;
        for compare in &req.compare {
            if !self.compare(compare)? {
                succeeded = false;
                break;
            }
        }
        let mut path = Path {
            succeeded,
            nested: Vec::new(),
        };
        for op in path.branch(req) {
            if let RequestOp::Txn(nested) = op {
                let nested_path = self.path(nested)?;
                path.nested.push(nested_path);
            }
        }
        Ok(path)
    }

    /// etcd's `checkTxn` over the chosen path, op by op: a range's revision must not be in
    /// the future or compacted (a negative revision below the compact revision counts as
    /// compacted here, though a plain Range reads the latest); a put with `ignore_*` needs an
    /// existing key, and a put's lease must exist.
    fn check(&self, req: &TxnRequest, path: &Path) -> Result<()> {
        let store = self.store;
        let mut nested = path.nested.iter();
        for op in path.branch(req) {
            match op {
                RequestOp::Range(range) if range.revision != 0 => {
                    if range.revision > store.current_revision {
                        return Err(MvccError::FutureRevision);
                    }
                    if range.revision < store.compact_revision {
                        return Err(MvccError::Compacted);
                    }
                }
                RequestOp::Put(put) => {
                    let missing = store.index.get(&put.key, store.current_revision).is_none();
                    if (put.ignore_value || put.ignore_lease) && missing {
                        return Err(MvccError::KeyNotFound);
                    }
                    if put.lease != 0 && !store.leases.contains(put.lease) {
                        return Err(MvccError::LeaseNotFound);
                    }
                }
                RequestOp::Txn(txn) => {
                    let Some(inner) = nested.next() else { continue };
                    self.check(txn, inner)?;
                }
                RequestOp::Range(_) | RequestOp::DeleteRange(_) => {}
            }
        }
        Ok(())
    }
}

fn compare_kv(compare: &Compare, kv: &KeyValue) -> bool {
    let number = |wanted: fn(&TargetUnion) -> Option<i64>| -> i64 {
        compare.target_union.as_ref().and_then(wanted).unwrap_or(0)
    };
    let ordering = match compare.target {
        CompareTarget::Value => {
            let operand = match &compare.target_union {
                Some(TargetUnion::Value(value)) => value.as_slice(),
                _ => &[],
            };
            kv.value.as_slice().cmp(operand)
        }
        CompareTarget::Version => kv.version.cmp(&number(|u| match u {
            TargetUnion::Version(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Create => kv.create_revision.cmp(&number(|u| match u {
            TargetUnion::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Mod => kv.mod_revision.cmp(&number(|u| match u {
            TargetUnion::ModRevision(v) => Some(*v),
            _ => None,
        })),
        CompareTarget::Lease => kv.lease.cmp(&number(|u| match u {
            TargetUnion::Lease(v) => Some(*v),
            _ => None,
        })),
    };
    match compare.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

/// Whether the txn (both branches, nested too) has no put and no delete.
fn is_read_only(req: &TxnRequest) -> bool {
    req.success.iter().chain(&req.failure).all(|op| match op {
        RequestOp::Range(_) => true,
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
        RequestOp::Txn(nested) => is_read_only(nested),
    })
}

/// Runs the chosen branch inside the write transaction.
fn execute(
    ctx: &mut WriteCtx<'_>,
    req: &TxnRequest,
    path: &Path,
    header: ResponseHeader,
) -> Result<TxnResponse> {
    let mut nested = path.nested.iter();
    let mut responses = Vec::new();
    for op in path.branch(req) {
        let response = match op {
            RequestOp::Range(range) => ResponseOp::Range(ctx.range(range)?),
            RequestOp::Put(put) => ResponseOp::Put(ctx.put(put)?),
            RequestOp::DeleteRange(delete) => ResponseOp::DeleteRange(ctx.delete_range(delete)?),
            RequestOp::Txn(txn) => {
                let inner = nested
                    .next()
                    .ok_or_else(|| MvccError::Backend("txn path lost a nested txn".into()))?;
                ResponseOp::Txn(execute(ctx, txn, inner, ResponseHeader::default())?)
            }
        };
        responses.push(response);
    }
    Ok(TxnResponse {
        header,
        succeeded: path.succeeded,
        responses,
    })
}

/// Runs the chosen branch of a read-only txn against the current state.
fn execute_read_only<T>(view: &View<'_, T>, req: &TxnRequest, path: &Path) -> Result<TxnResponse>
where
    T: ReadableTable<RevisionKey, &'static [u8]>,
{
    let mut nested = path.nested.iter();
    let mut responses = Vec::new();
    for op in path.branch(req) {
        let response = match op {
            RequestOp::Range(range) => {
                let store = view.store;
                let at = store.current_revision;
                ResponseOp::Range(range_at(
                    &store.index,
                    view.table,
                    at,
                    store.compact_revision,
                    range,
                )?)
            }
            RequestOp::Txn(txn) => {
                let inner = nested
                    .next()
                    .ok_or_else(|| MvccError::Backend("txn path lost a nested txn".into()))?;
                ResponseOp::Txn(execute_read_only(view, txn, inner)?)
            }
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => {
                return Err(MvccError::Backend("write in a read-only txn".into()));
            }
        };
        responses.push(response);
    }
    let header = ResponseHeader::default();
    Ok(TxnResponse {
        header,
        succeeded: path.succeeded,
        responses,
    })
}

impl Store {
    /// Applies a Txn as raft entry `index`. A txn that changes nothing keeps the revision.
    pub fn txn(&mut self, index: u64, req: &TxnRequest) -> Result<Applied<TxnResponse>> {
        self.begin_apply(index)?;
        validate::check_txn(req, self.config.txn_ops_max)?;
        let read_only = is_read_only(req);
        let path = with_kv!(self, |table| {
            let view = View {
                store: self,
                table: &table,
            };
            let path = view.path(req)?;
            view.check(req, &path)?;
            if read_only {
                let mut response = execute_read_only(&view, req, &path)?;
                response.header = ResponseHeader::at(self.current_revision);
                return Ok(Applied {
                    response,
                    events: Vec::new(),
                });
            }
            path
        });
        let (mut response, events) = self.write(false, |ctx| {
            execute(ctx, req, &path, ResponseHeader::default())
        })?;
        response.header = ResponseHeader::at(self.current_revision);
        Ok(Applied { response, events })
    }

    /// Serves a read-only Txn (no put or delete anywhere in it) without consuming a raft
    /// index, as etcd serves them; returns `None` for a txn that writes, which must go
    /// through [`Store::txn`].
    pub fn txn_read_only(&self, req: &TxnRequest) -> Result<Option<TxnResponse>> {
        self.check_usable()?;
        validate::check_txn(req, self.config.txn_ops_max)?;
        if !is_read_only(req) {
            return Ok(None);
        }
        with_kv!(self, |table| {
            let view = View {
                store: self,
                table: &table,
            };
            let path = view.path(req)?;
            view.check(req, &path)?;
            let mut response = execute_read_only(&view, req, &path)?;
            response.header = ResponseHeader::at(self.current_revision);
            Ok(Some(response))
        })
    }
}
