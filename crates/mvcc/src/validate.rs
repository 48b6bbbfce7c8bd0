//! Request checks that etcd makes before proposing (`v3rpc/key.go`): empty keys, put option
//! conflicts, txn size and duplicate keys (`checkIntervals`). The member may call these
//! before proposing; the store calls them again when applying.

use std::collections::BTreeSet;

use crate::error::{MvccError, Result};
use crate::types::{DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};

/// Checks a Range request.
pub fn check_range(req: &RangeRequest) -> Result<()> {
    if req.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

/// Checks a Put request.
pub fn check_put(req: &PutRequest) -> Result<()> {
    if req.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(MvccError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(MvccError::LeaseProvided);
    }
    Ok(())
}

/// Checks a DeleteRange request.
pub fn check_delete(req: &DeleteRangeRequest) -> Result<()> {
    if req.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

/// How deeply txns may nest. etcd has no such limit of its own (protobuf decoding bounds it);
/// here it keeps every recursion over a txn bounded, so no request can exhaust the stack.
/// Deeper txns get etcd's too-many-operations error.
pub const TXN_DEPTH_MAX: usize = 64;

/// Checks a Txn request: sizes and keys (etcd's `checkTxnRequest`), then duplicate keys in
/// each branch (etcd's `checkIntervals`).
pub fn check_txn(req: &TxnRequest, txn_ops_max: usize) -> Result<()> {
    if depth(req) > TXN_DEPTH_MAX {
        return Err(MvccError::TooManyOps);
    }
    check_txn_request(req, txn_ops_max)?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

/// The nesting depth of a txn (1 for a flat one), without recursion.
fn depth(req: &TxnRequest) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(req, 1usize)];
    while let Some((txn, level)) = stack.pop() {
        deepest = deepest.max(level);
        if level > TXN_DEPTH_MAX {
            break;
        }
        for op in txn.success.iter().chain(&txn.failure) {
            if let RequestOp::Txn(nested) = op {
                stack.push((nested, level + 1));
            }
        }
    }
    deepest
}

fn check_txn_request(req: &TxnRequest, txn_ops_max: usize) -> Result<()> {
    let ops = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len());
    if ops > txn_ops_max {
        return Err(MvccError::TooManyOps);
    }
    if req.compare.iter().any(|compare| compare.key.is_empty()) {
        return Err(MvccError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        match op {
            RequestOp::Range(range) => check_range(range)?,
            RequestOp::Put(put) => check_put(put)?,
            RequestOp::DeleteRange(delete) => check_delete(delete)?,
            RequestOp::Txn(txn) => check_txn_request(txn, txn_ops_max - ops)?,
        }
    }
    Ok(())
}

/// A delete's key interval as etcd's interval tree sees it: `[key, range_end)` compared as
/// raw bytes with an empty end meaning +infinity. A point delete is `[key, key + "\0")`.
/// Note: etcd does not give `"\0"` its "all keys" meaning here, so such a delete conflicts
/// with no put; this quirk is kept.
#[derive(Clone, Debug)]
struct Interval {
    begin: Vec<u8>,
    end: Option<Vec<u8>>,
    point: bool,
}

impl Interval {
    fn of(delete: &DeleteRangeRequest) -> Self {
        if delete.range_end.is_empty() {
            Interval {
                begin: delete.key.clone(),
                end: None,
                point: true,
            }
        } else {
            Interval {
                begin: delete.key.clone(),
                end: Some(delete.range_end.clone()),
                point: false,
            }
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        if self.point {
            return key == self.begin.as_slice();
        }
        key >= self.begin.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }
}

/// Returns the keys put and the intervals deleted by `ops` (recursively), or the duplicate
/// error, exactly as etcd's `checkIntervals`.
fn check_intervals(ops: &[RequestOp]) -> Result<(BTreeSet<Vec<u8>>, Vec<Interval>)> {
    let mut deletes: Vec<Interval> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(delete) => Some(Interval::of(delete)),
            _ => None,
        })
        .collect();
    let deleted = |deletes: &[Interval], key: &[u8]| deletes.iter().any(|d| d.contains(key));
    let mut puts: BTreeSet<Vec<u8>> = BTreeSet::new();
    for op in ops {
        let RequestOp::Txn(txn) = op else { continue };
        let (puts_then, deletes_then) = check_intervals(&txn.success)?;
        let (puts_else, deletes_else) = check_intervals(&txn.failure)?;
        for key in &puts_then {
            if puts.contains(key) || deleted(&deletes, key) {
                return Err(MvccError::DuplicateKey);
            }
            puts.insert(key.clone());
        }
        for key in &puts_else {
            // The same key in then and else is fine: only one of them runs.
            if (puts.contains(key) && !puts_then.contains(key)) || deleted(&deletes, key) {
                return Err(MvccError::DuplicateKey);
            }
            puts.insert(key.clone());
        }
        deletes.extend(deletes_then);
        deletes.extend(deletes_else);
    }
    for op in ops {
        let RequestOp::Put(put) = op else { continue };
        if puts.contains(&put.key) || deleted(&deletes, &put.key) {
            return Err(MvccError::DuplicateKey);
        }
        puts.insert(put.key.clone());
    }
    Ok((puts, deletes))
}
