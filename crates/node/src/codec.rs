//! The byte format of a proposal: what a member writes into a raft entry's data.
//!
//! # Format
//!
//! ```text
//! version u8 (= 1) | proposer member id u64 LE | request id u64 LE | request
//! ```
//!
//! A request is a tag byte (1 Put, 2 DeleteRange, 3 Txn, 4 Compact, 5 LeaseGrant,
//! 6 LeaseRevoke, 7 LeaseCheckpoint) and its fields in declaration order. Unsigned integers
//! are LEB128 varints, signed ones zigzag varints, byte strings a varint length and the bytes,
//! booleans one byte (0 or 1), enums one byte. Txn ops carry their own tag (1 Range, 2 Put,
//! 3 DeleteRange, 4 Txn), nesting at most [`invar_mvcc::validate::TXN_DEPTH_MAX`] deep.
//!
//! Decoding never panics: every length and count is checked against the bytes left, unknown
//! tags and versions are refused, and trailing bytes are an error. An empty entry (the leader's
//! no-op) is not a proposal; callers check for it before decoding.

use invar_mvcc::validate::TXN_DEPTH_MAX;
use invar_mvcc::{
    CompactionRequest, Compare, CompareResult, CompareTarget, DeleteRangeRequest, LeaseCheckpoint,
    LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RangeRequest, Request, RequestOp, SortOrder,
    SortTarget, TargetUnion, TxnRequest,
};
use invar_raft::NodeId;

/// The only version this build writes and reads.
pub const PROPOSAL_VERSION: u8 = 1;

/// One client request as it travels through the raft log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The member that proposed it (and waits for it).
    pub member: NodeId,
    /// The proposer's request id.
    pub request_id: u64,
    /// The request to apply.
    pub request: Request,
}

/// Why bytes are not a proposal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("proposal: at byte {offset}: expected {expected}")]
pub struct DecodeError {
    /// Where the bad bytes start.
    pub offset: usize,
    /// What was expected there.
    pub expected: &'static str,
}

/// Encodes a proposal.
pub fn encode(proposal: &Proposal) -> Vec<u8> {
    let mut out = vec![PROPOSAL_VERSION];
    out.extend_from_slice(&proposal.member.to_le_bytes());
    out.extend_from_slice(&proposal.request_id.to_le_bytes());
    let mut w = Writer { out };
    w.request(&proposal.request);
    w.out
}

/// Decodes a proposal written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Proposal, DecodeError> {
    let mut r = Reader { bytes, offset: 0 };
    if r.u8("a version byte")? != PROPOSAL_VERSION {
        return Err(r.fail_at(0, "proposal version 1"));
    }
    let member = r.fixed_u64("the proposer id")?;
    let request_id = r.fixed_u64("the request id")?;
    let request = r.request()?;
    if r.offset != bytes.len() {
        return Err(r.fail("the end of the proposal"));
    }
    Ok(Proposal {
        member,
        request_id,
        request,
    })
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn uvar(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    fn ivar(&mut self, value: i64) {
        self.uvar(((value << 1) ^ (value >> 63)) as u64);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.uvar(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    fn flag(&mut self, value: bool) {
        self.out.push(u8::from(value));
    }

    fn request(&mut self, request: &Request) {
        match request {
            Request::Put(req) => {
                self.out.push(1);
                self.put(req);
            }
            Request::DeleteRange(req) => {
                self.out.push(2);
                self.delete(req);
            }
            Request::Txn(req) => {
                self.out.push(3);
                self.txn(req);
            }
            Request::Compact(req) => {
                self.out.push(4);
                self.ivar(req.revision);
                self.flag(req.physical);
            }
            Request::LeaseGrant(req) => {
                self.out.push(5);
                self.ivar(req.ttl);
                self.ivar(req.id);
            }
            Request::LeaseRevoke(req) => {
                self.out.push(6);
                self.ivar(req.id);
            }
            Request::LeaseCheckpoint(checkpoints) => {
                self.out.push(7);
                self.uvar(checkpoints.len() as u64);
                for checkpoint in checkpoints {
                    self.ivar(checkpoint.id);
                    self.ivar(checkpoint.remaining_ttl);
                }
            }
        }
    }

    fn put(&mut self, req: &PutRequest) {
        self.bytes(&req.key);
        self.bytes(&req.value);
        self.ivar(req.lease);
        self.flag(req.prev_kv);
        self.flag(req.ignore_value);
        self.flag(req.ignore_lease);
    }

    fn delete(&mut self, req: &DeleteRangeRequest) {
        self.bytes(&req.key);
        self.bytes(&req.range_end);
        self.flag(req.prev_kv);
    }

    fn range(&mut self, req: &RangeRequest) {
        self.bytes(&req.key);
        self.bytes(&req.range_end);
        self.ivar(req.limit);
        self.ivar(req.revision);
        self.out.push(sort_order_byte(req.sort_order));
        self.out.push(sort_target_byte(req.sort_target));
        self.flag(req.serializable);
        self.flag(req.keys_only);
        self.flag(req.count_only);
        self.ivar(req.min_mod_revision);
        self.ivar(req.max_mod_revision);
        self.ivar(req.min_create_revision);
        self.ivar(req.max_create_revision);
    }

    fn txn(&mut self, req: &TxnRequest) {
        self.uvar(req.compare.len() as u64);
        for compare in &req.compare {
            self.compare(compare);
        }
        for branch in [&req.success, &req.failure] {
            self.uvar(branch.len() as u64);
            for op in branch {
                self.op(op);
            }
        }
    }

    fn compare(&mut self, compare: &Compare) {
        self.out.push(match compare.result {
            CompareResult::Equal => 0,
            CompareResult::Greater => 1,
            CompareResult::Less => 2,
            CompareResult::NotEqual => 3,
        });
        self.out.push(match compare.target {
            CompareTarget::Version => 0,
            CompareTarget::Create => 1,
            CompareTarget::Mod => 2,
            CompareTarget::Value => 3,
            CompareTarget::Lease => 4,
        });
        self.bytes(&compare.key);
        self.bytes(&compare.range_end);
        match &compare.target_union {
            None => self.out.push(0),
            Some(TargetUnion::Version(v)) => self.tagged_int(1, *v),
            Some(TargetUnion::CreateRevision(v)) => self.tagged_int(2, *v),
            Some(TargetUnion::ModRevision(v)) => self.tagged_int(3, *v),
            Some(TargetUnion::Value(v)) => {
                self.out.push(4);
                self.bytes(v);
            }
            Some(TargetUnion::Lease(v)) => self.tagged_int(5, *v),
        }
    }

    fn tagged_int(&mut self, tag: u8, value: i64) {
        self.out.push(tag);
        self.ivar(value);
    }

    fn op(&mut self, op: &RequestOp) {
        match op {
            RequestOp::Range(req) => {
                self.out.push(1);
                self.range(req);
            }
            RequestOp::Put(req) => {
                self.out.push(2);
                self.put(req);
            }
            RequestOp::DeleteRange(req) => {
                self.out.push(3);
                self.delete(req);
            }
            RequestOp::Txn(req) => {
                self.out.push(4);
                self.txn(req);
            }
        }
    }
}

fn sort_order_byte(order: SortOrder) -> u8 {
    match order {
        SortOrder::None => 0,
        SortOrder::Ascend => 1,
        SortOrder::Descend => 2,
    }
}

fn sort_target_byte(target: SortTarget) -> u8 {
    match target {
        SortTarget::Key => 0,
        SortTarget::Version => 1,
        SortTarget::Create => 2,
        SortTarget::Mod => 3,
        SortTarget::Value => 4,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn fail(&self, expected: &'static str) -> DecodeError {
        self.fail_at(self.offset, expected)
    }

    fn fail_at(&self, offset: usize, expected: &'static str) -> DecodeError {
        DecodeError { offset, expected }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let byte = *self.bytes.get(self.offset).ok_or_else(|| self.fail(what))?;
        self.offset += 1;
        Ok(byte)
    }

    fn fixed_u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let end = self.offset + 8;
        let slice = self
            .bytes
            .get(self.offset..end)
            .ok_or_else(|| self.fail(what))?;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(slice);
        self.offset = end;
        Ok(u64::from_le_bytes(buf))
    }

    fn uvar(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let start = self.offset;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may carry only the top bit of a u64.
            // Canonical only: no high zero groups, and the tenth byte carries one bit at most.
            let overlong = shift > 0 && byte == 0;
            if overlong || (shift == 63 && bits > 1) {
                return Err(self.fail_at(start, what));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.fail_at(start, what))
    }

    fn ivar(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let raw = self.uvar(what)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A count of items of at least one byte each, bounded by the bytes left.
    fn count(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let start = self.offset;
        let count = self.uvar(what)?;
        let left = (self.bytes.len() - self.offset) as u64;
        if count > left {
            return Err(self.fail_at(start, what));
        }
        Ok(count as usize)
    }

    fn bytes(&mut self, what: &'static str) -> Result<Vec<u8>, DecodeError> {
        let len = self.count(what)?;
        let out = self.bytes[self.offset..self.offset + len].to_vec();
        self.offset += len;
        Ok(out)
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.fail_at(self.offset - 1, what)),
        }
    }

    fn request(&mut self) -> Result<Request, DecodeError> {
        let tag_at = self.offset;
        Ok(match self.u8("a request tag")? {
            1 => Request::Put(self.put()?),
            2 => Request::DeleteRange(self.delete()?),
            3 => Request::Txn(self.txn(1)?),
            4 => Request::Compact(CompactionRequest {
                revision: self.ivar("a compact revision")?,
                physical: self.flag("a physical flag")?,
            }),
            5 => Request::LeaseGrant(LeaseGrantRequest {
                ttl: self.ivar("a lease ttl")?,
                id: self.ivar("a lease id")?,
            }),
            6 => Request::LeaseRevoke(LeaseRevokeRequest {
                id: self.ivar("a lease id")?,
            }),
            7 => {
                let count = self.count("a checkpoint count")?;
                let mut checkpoints = Vec::with_capacity(count);
                for _ in 0..count {
                    checkpoints.push(LeaseCheckpoint {
                        id: self.ivar("a lease id")?,
                        remaining_ttl: self.ivar("a remaining ttl")?,
                    });
                }
                Request::LeaseCheckpoint(checkpoints)
            }
            _ => return Err(self.fail_at(tag_at, "a request tag in 1..=7")),
        })
    }

    fn put(&mut self) -> Result<PutRequest, DecodeError> {
        Ok(PutRequest {
            key: self.bytes("a key")?,
            value: self.bytes("a value")?,
            lease: self.ivar("a lease")?,
            prev_kv: self.flag("a prev_kv flag")?,
            ignore_value: self.flag("an ignore_value flag")?,
            ignore_lease: self.flag("an ignore_lease flag")?,
        })
    }

    fn delete(&mut self) -> Result<DeleteRangeRequest, DecodeError> {
        Ok(DeleteRangeRequest {
            key: self.bytes("a key")?,
            range_end: self.bytes("a range end")?,
            prev_kv: self.flag("a prev_kv flag")?,
        })
    }

    fn range(&mut self) -> Result<RangeRequest, DecodeError> {
        Ok(RangeRequest {
            key: self.bytes("a key")?,
            range_end: self.bytes("a range end")?,
            limit: self.ivar("a limit")?,
            revision: self.ivar("a revision")?,
            sort_order: self.sort_order()?,
            sort_target: self.sort_target()?,
            serializable: self.flag("a serializable flag")?,
            keys_only: self.flag("a keys_only flag")?,
            count_only: self.flag("a count_only flag")?,
            min_mod_revision: self.ivar("a min mod revision")?,
            max_mod_revision: self.ivar("a max mod revision")?,
            min_create_revision: self.ivar("a min create revision")?,
            max_create_revision: self.ivar("a max create revision")?,
        })
    }

    fn sort_order(&mut self) -> Result<SortOrder, DecodeError> {
        match self.u8("a sort order")? {
            0 => Ok(SortOrder::None),
            1 => Ok(SortOrder::Ascend),
            2 => Ok(SortOrder::Descend),
            _ => Err(self.fail_at(self.offset - 1, "a sort order in 0..=2")),
        }
    }

    fn sort_target(&mut self) -> Result<SortTarget, DecodeError> {
        match self.u8("a sort target")? {
            0 => Ok(SortTarget::Key),
            1 => Ok(SortTarget::Version),
            2 => Ok(SortTarget::Create),
            3 => Ok(SortTarget::Mod),
            4 => Ok(SortTarget::Value),
            _ => Err(self.fail_at(self.offset - 1, "a sort target in 0..=4")),
        }
    }

    fn txn(&mut self, depth: usize) -> Result<TxnRequest, DecodeError> {
        if depth > TXN_DEPTH_MAX {
            return Err(self.fail("a txn nested at most TXN_DEPTH_MAX deep"));
        }
        let count = self.count("a compare count")?;
        let mut compare = Vec::with_capacity(count);
        for _ in 0..count {
            compare.push(self.compare()?);
        }
        let success = self.ops(depth)?;
        let failure = self.ops(depth)?;
        Ok(TxnRequest {
            compare,
            success,
            failure,
        })
    }

    fn ops(&mut self, depth: usize) -> Result<Vec<RequestOp>, DecodeError> {
        let count = self.count("an op count")?;
        let mut ops = Vec::with_capacity(count);
        for _ in 0..count {
            let tag_at = self.offset;
            ops.push(match self.u8("an op tag")? {
                1 => RequestOp::Range(self.range()?),
                2 => RequestOp::Put(self.put()?),
                3 => RequestOp::DeleteRange(self.delete()?),
                4 => RequestOp::Txn(self.txn(depth + 1)?),
                _ => return Err(self.fail_at(tag_at, "an op tag in 1..=4")),
            });
        }
        Ok(ops)
    }

    fn compare(&mut self) -> Result<Compare, DecodeError> {
        let result = match self.u8("a compare result")? {
            0 => CompareResult::Equal,
            1 => CompareResult::Greater,
            2 => CompareResult::Less,
            3 => CompareResult::NotEqual,
            _ => return Err(self.fail_at(self.offset - 1, "a compare result in 0..=3")),
        };
        let target = match self.u8("a compare target")? {
            0 => CompareTarget::Version,
            1 => CompareTarget::Create,
            2 => CompareTarget::Mod,
            3 => CompareTarget::Value,
            4 => CompareTarget::Lease,
            _ => return Err(self.fail_at(self.offset - 1, "a compare target in 0..=4")),
        };
        let key = self.bytes("a compare key")?;
        let range_end = self.bytes("a compare range end")?;
        let tag_at = self.offset;
        let target_union = match self.u8("a target union tag")? {
            0 => None,
            1 => Some(TargetUnion::Version(self.ivar("a version")?)),
            2 => Some(TargetUnion::CreateRevision(self.ivar("a revision")?)),
            3 => Some(TargetUnion::ModRevision(self.ivar("a revision")?)),
            4 => Some(TargetUnion::Value(self.bytes("a value")?)),
            5 => Some(TargetUnion::Lease(self.ivar("a lease")?)),
            _ => return Err(self.fail_at(tag_at, "a target union tag in 0..=5")),
        };
        Ok(Compare {
            result,
            target,
            key,
            target_union,
            range_end,
        })
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
