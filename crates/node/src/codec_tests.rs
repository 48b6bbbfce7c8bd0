//! The proposal codec: every request round-trips, and no byte string makes decoding panic.

use proptest::prelude::*;

use super::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn put() -> impl Strategy<Value = PutRequest> {
    (bytes(), bytes(), any::<i64>(), any::<[bool; 3]>()).prop_map(|(key, value, lease, f)| {
        PutRequest {
            key,
            value,
            lease,
            prev_kv: f[0],
            ignore_value: f[1],
            ignore_lease: f[2],
        }
    })
}

fn delete() -> impl Strategy<Value = DeleteRangeRequest> {
    (bytes(), bytes(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

fn range() -> impl Strategy<Value = RangeRequest> {
    (
        (bytes(), bytes(), any::<i64>(), any::<i64>()),
        (0u8..3, 0u8..5, any::<[bool; 3]>(), any::<[i64; 4]>()),
    )
        .prop_map(
            |((key, range_end, limit, revision), (order, target, f, r))| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order: SortOrder::from_i32(i32::from(order)).unwrap_or_default(),
                sort_target: SortTarget::from_i32(i32::from(target)).unwrap_or_default(),
                serializable: f[0],
                keys_only: f[1],
                count_only: f[2],
                min_mod_revision: r[0],
                max_mod_revision: r[1],
                min_create_revision: r[2],
                max_create_revision: r[3],
            },
        )
}

fn compare() -> impl Strategy<Value = Compare> {
    let union = prop_oneof![
        Just(None),
        any::<i64>().prop_map(|v| Some(TargetUnion::Version(v))),
        any::<i64>().prop_map(|v| Some(TargetUnion::CreateRevision(v))),
        any::<i64>().prop_map(|v| Some(TargetUnion::ModRevision(v))),
        bytes().prop_map(|v| Some(TargetUnion::Value(v))),
        any::<i64>().prop_map(|v| Some(TargetUnion::Lease(v))),
    ];
    (0u8..4, 0u8..5, bytes(), bytes(), union).prop_map(|(r, t, key, range_end, target_union)| {
        Compare {
            result: [
                CompareResult::Equal,
                CompareResult::Greater,
                CompareResult::Less,
                CompareResult::NotEqual,
            ][usize::from(r)],
            target: [
                CompareTarget::Version,
                CompareTarget::Create,
                CompareTarget::Mod,
                CompareTarget::Value,
                CompareTarget::Lease,
            ][usize::from(t)],
            key,
            target_union,
            range_end,
        }
    })
}

fn txn() -> impl Strategy<Value = TxnRequest> {
    let leaf = prop_oneof![
        range().prop_map(RequestOp::Range),
        put().prop_map(RequestOp::Put),
        delete().prop_map(RequestOp::DeleteRange),
    ];
    let ops = leaf.prop_recursive(3, 12, 3, |inner| {
        (
            prop::collection::vec(compare(), 0..2),
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(compare, success, failure)| {
                RequestOp::Txn(TxnRequest {
                    compare,
                    success,
                    failure,
                })
            })
    });
    (
        prop::collection::vec(compare(), 0..3),
        prop::collection::vec(ops.clone(), 0..3),
        prop::collection::vec(ops, 0..3),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        put().prop_map(Request::Put),
        delete().prop_map(Request::DeleteRange),
        txn().prop_map(Request::Txn),
        (any::<i64>(), any::<bool>()).prop_map(|(revision, physical)| {
            Request::Compact(CompactionRequest { revision, physical })
        }),
        (any::<i64>(), any::<i64>())
            .prop_map(|(ttl, id)| Request::LeaseGrant(LeaseGrantRequest { ttl, id })),
        any::<i64>().prop_map(|id| Request::LeaseRevoke(LeaseRevokeRequest { id })),
        prop::collection::vec((any::<i64>(), any::<i64>()), 0..3).prop_map(|v| {
            Request::LeaseCheckpoint(
                v.into_iter()
                    .map(|(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                    .collect(),
            )
        }),
    ]
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u64>(), any::<u64>(), request()).prop_map(|(member, request_id, request)| Proposal {
        member,
        request_id,
        request,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Encode then decode gives the proposal back.
    #[test]
    fn round_trip(p in proposal()) {
        prop_assert_eq!(decode(&encode(&p)), Ok(p));
    }

    /// Every strict prefix of an encoding is refused (never mistaken for a shorter proposal).
    #[test]
    fn prefixes_are_refused(p in proposal()) {
        let bytes = encode(&p);
        for len in 0..bytes.len() {
            prop_assert!(decode(&bytes[..len]).is_err());
        }
    }

    /// A flipped byte either fails to decode or decodes to something that re-encodes to the
    /// same bytes (the format is canonical); it never panics.
    #[test]
    fn flipped_bytes_never_panic(p in proposal(), at in any::<prop::sample::Index>(),
                                 mask in 1u8..) {
        let mut bytes = encode(&p);
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        if let Ok(decoded) = decode(&bytes) {
            prop_assert_eq!(encode(&decoded), bytes);
        }
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&bytes);
    }
}

/// Txns nested past the depth limit are refused, not recursed into.
#[test]
fn deep_nesting_is_refused() {
    let mut txn = TxnRequest::default();
    for _ in 0..TXN_DEPTH_MAX + 1 {
        txn = TxnRequest {
            success: vec![RequestOp::Txn(txn)],
            ..TxnRequest::default()
        };
    }
    let p = Proposal {
        member: 1,
        request_id: 2,
        request: Request::Txn(txn),
    };
    assert!(decode(&encode(&p)).is_err());
}

/// Varints longer than ten bytes, or overflowing u64, are refused.
#[test]
fn bad_varints_are_refused() {
    let mut bytes = vec![PROPOSAL_VERSION];
    bytes.extend_from_slice(&[0; 16]);
    bytes.push(6);
    let mut overlong = bytes.clone();
    overlong.extend_from_slice(&[0xff; 10]);
    overlong.push(0);
    assert!(decode(&overlong).is_err());
    let mut overflow = bytes;
    overflow.extend_from_slice(&[0xff; 9]);
    overflow.push(0x02);
    assert!(decode(&overflow).is_err());
}
