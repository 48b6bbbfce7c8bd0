//! The random request generator: small key and value alphabets so that requests collide.

use invar_mvcc::{
    CompactionRequest, Compare, CompareResult, CompareTarget, DeleteRangeRequest,
    LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RangeRequest, RequestOp, SortOrder,
    SortTarget, TargetUnion, TxnRequest,
};

use super::{Model, Op, Rng};

const KEYS: &[&[u8]] = &[b"a", b"b", b"c", b"d", b"e", b"ab", b"b\x00"];
const ENDS: &[&[u8]] = &[b"", b"", b"\x00", b"c", b"e", b"z", b"b", b"a"];

impl Model {
    fn revision_choice(&self, rng: &mut Rng) -> i64 {
        match rng.below(6) {
            0 | 1 => 0,
            2 => self.revision() + rng.below(3) as i64,
            3 => -(rng.below(3) as i64),
            _ => rng.below(self.revision() as u64 + 1) as i64,
        }
    }

    fn gen_put(&self, rng: &mut Rng) -> PutRequest {
        let ignore_value = rng.chance(8);
        let ignore_lease = rng.chance(8);
        PutRequest {
            key: rng.pick(KEYS).to_vec(),
            value: if ignore_value && rng.chance(80) {
                vec![]
            } else {
                vec![b'v', rng.below(4) as u8]
            },
            lease: if rng.chance(25) && !(ignore_lease && rng.chance(80)) {
                rng.below(4) as i64
            } else {
                0
            },
            prev_kv: rng.chance(40),
            ignore_value,
            ignore_lease,
        }
    }

    fn gen_range(&self, rng: &mut Rng) -> RangeRequest {
        let sort = rng.chance(30);
        RangeRequest {
            key: if rng.chance(2) {
                vec![]
            } else {
                rng.pick(KEYS).to_vec()
            },
            range_end: rng.pick(ENDS).to_vec(),
            limit: if rng.chance(30) {
                rng.below(4) as i64
            } else {
                0
            },
            revision: self.revision_choice(rng),
            sort_order: if sort {
                *rng.pick(&[SortOrder::None, SortOrder::Ascend, SortOrder::Descend])
            } else {
                SortOrder::None
            },
            sort_target: if sort {
                *rng.pick(&[
                    SortTarget::Key,
                    SortTarget::Version,
                    SortTarget::Create,
                    SortTarget::Mod,
                    SortTarget::Value,
                ])
            } else {
                SortTarget::Key
            },
            keys_only: rng.chance(15),
            count_only: rng.chance(10),
            min_mod_revision: if rng.chance(10) {
                rng.below(8) as i64
            } else {
                0
            },
            max_mod_revision: if rng.chance(10) {
                rng.below(8) as i64
            } else {
                0
            },
            min_create_revision: if rng.chance(10) {
                rng.below(8) as i64
            } else {
                0
            },
            max_create_revision: if rng.chance(10) {
                rng.below(8) as i64
            } else {
                0
            },
            ..Default::default()
        }
    }

    fn gen_delete(&self, rng: &mut Rng) -> DeleteRangeRequest {
        DeleteRangeRequest {
            key: rng.pick(KEYS).to_vec(),
            range_end: if rng.chance(60) {
                vec![]
            } else {
                rng.pick(ENDS).to_vec()
            },
            prev_kv: rng.chance(50),
        }
    }

    fn gen_compare(&self, rng: &mut Rng) -> Compare {
        let target = *rng.pick(&[
            CompareTarget::Version,
            CompareTarget::Create,
            CompareTarget::Mod,
            CompareTarget::Value,
            CompareTarget::Lease,
        ]);
        let n = rng.below(5) as i64;
        let union = match (rng.below(10), target) {
            (0, _) => None,
            (1, _) => Some(TargetUnion::Version(n)),
            (_, CompareTarget::Version) => Some(TargetUnion::Version(n)),
            (_, CompareTarget::Create) => Some(TargetUnion::CreateRevision(n)),
            (_, CompareTarget::Mod) => Some(TargetUnion::ModRevision(n)),
            (_, CompareTarget::Value) => Some(TargetUnion::Value(vec![b'v', rng.below(4) as u8])),
            (_, CompareTarget::Lease) => Some(TargetUnion::Lease(rng.below(3) as i64)),
        };
        Compare {
            result: *rng.pick(&[
                CompareResult::Equal,
                CompareResult::NotEqual,
                CompareResult::Greater,
                CompareResult::Less,
            ]),
            target,
            key: rng.pick(KEYS).to_vec(),
            target_union: union,
            range_end: if rng.chance(20) {
                rng.pick(ENDS).to_vec()
            } else {
                vec![]
            },
        }
    }

    fn gen_ops(&self, rng: &mut Rng, depth: u32) -> Vec<RequestOp> {
        (0..rng.below(4))
            .map(|_| match rng.below(if depth < 2 { 10 } else { 9 }) {
                0..=2 => RequestOp::Put(self.gen_put(rng)),
                3 | 4 => RequestOp::DeleteRange(self.gen_delete(rng)),
                5..=8 => RequestOp::Range(self.gen_range(rng)),
                _ => RequestOp::Txn(self.gen_txn(rng, depth + 1)),
            })
            .collect()
    }

    pub fn gen_txn(&self, rng: &mut Rng, depth: u32) -> TxnRequest {
        TxnRequest {
            compare: (0..rng.below(3)).map(|_| self.gen_compare(rng)).collect(),
            success: self.gen_ops(rng, depth),
            failure: self.gen_ops(rng, depth),
        }
    }

    /// A random request suited to the model's current state.
    pub fn gen_op(&self, rng: &mut Rng) -> Op {
        match rng.below(100) {
            0..=29 => Op::Put(self.gen_put(rng)),
            30..=41 => Op::Delete(self.gen_delete(rng)),
            42..=61 => Op::Range(self.gen_range(rng)),
            62..=81 => Op::Txn(self.gen_txn(rng, 0)),
            82..=86 => Op::Compact(CompactionRequest {
                revision: self.revision_choice(rng).max(self.compact - 1),
                physical: true,
            }),
            87..=92 => Op::Grant(LeaseGrantRequest {
                ttl: if rng.chance(5) {
                    invar_mvcc::LEASE_TTL_SECONDS_MAX + 1
                } else {
                    rng.below(5) as i64
                },
                id: rng.below(4) as i64,
            }),
            93..=97 => Op::Revoke(LeaseRevokeRequest {
                id: rng.below(4) as i64,
            }),
            _ => Op::Hash(self.revision_choice(rng)),
        }
    }
}
