//! Hand-made etcd-model histories, one per subtle case, each with its known verdict.

mod common;

use common::*;
use invar_check::etcd::check_etcd;
use invar_check::format::{History, Request};
use invar_check::{Budget, Verdict};

fn verdict(history: &History) -> Verdict {
    check_etcd(history, &mut Budget::unlimited()).verdict
}

fn assert_ok(h: &H) {
    let v = verdict(&h.history);
    assert_eq!(v, Verdict::Ok, "{v}");
}

fn assert_violation(h: &H, needle: &str) {
    let v = verdict(&h.history);
    assert!(v.is_violation(), "expected a violation, got {v}");
    assert!(
        v.to_string().contains(needle),
        "{v} should mention {needle:?}"
    );
}

/// The base of several cases: put a=1 at revision 2, returned at time 2.
fn one_put() -> H {
    let mut h = H::default();
    h.ok(1, (1, 2), put("a", "1"), rev(2));
    h
}

#[test]
fn sequential_puts_and_reads_are_ok() {
    let mut h = one_put();
    h.ok(2, (3, 4), get("a"), read(2, vec![kv("a", "1", 2, 2, 1)]));
    h.ok(1, (5, 6), put("a", "2"), rev(3));
    h.ok(2, (7, 8), get("a"), read(3, vec![kv("a", "2", 2, 3, 2)]));
    h.ok(
        2,
        (9, 10),
        get_at("a", 2),
        read(3, vec![kv("a", "1", 2, 2, 1)]),
    );
    assert_ok(&h);
}

#[test]
fn concurrent_read_may_see_the_old_state() {
    let mut h = H::default();
    h.ok(1, (1, 10), put("a", "1"), rev(2));
    h.ok(2, (2, 3), get("a"), read(1, vec![]));
    assert_ok(&h);
}

#[test]
fn stale_read_after_a_write_completed_is_a_violation() {
    let mut h = one_put();
    h.ok(2, (3, 4), get("a"), read(1, vec![]));
    assert_violation(&h, "started after");
}

#[test]
fn stale_value_at_the_current_revision_is_a_violation() {
    let mut h = one_put();
    h.ok(2, (3, 4), get("a"), read(2, vec![]));
    assert_violation(&h, "kvs [] expected");
}

#[test]
fn serializable_read_may_be_stale_but_must_match_its_revision() {
    let mut h = one_put();
    h.ok(2, (3, 4), get_stale("a"), read(1, vec![]));
    assert_ok(&h);
    let mut h = one_put();
    h.ok(1, (3, 4), put("a", "2"), rev(3));
    h.ok(
        2,
        (5, 6),
        get_stale("a"),
        read(2, vec![kv("a", "2", 2, 3, 2)]),
    );
    assert_violation(&h, "expected");
}

#[test]
fn lost_acknowledged_write_is_a_violation() {
    let mut h = one_put();
    h.ok(1, (3, 4), put("b", "1"), rev(3));
    h.ok(2, (5, 6), get("a"), read(3, vec![]));
    assert_violation(&h, "expected");
}

#[test]
fn two_writes_claiming_one_revision_is_a_violation() {
    let mut h = one_put();
    h.ok(2, (3, 4), put("b", "1"), rev(2));
    assert_violation(&h, "already written");
}

#[test]
fn revision_going_backwards_is_a_violation() {
    let mut h = one_put();
    h.ok(1, (3, 4), put("b", "1"), rev(3));
    h.ok(2, (5, 6), get("a"), read(3, vec![kv("a", "1", 2, 2, 1)]));
    h.ok(2, (7, 8), get("a"), read(2, vec![kv("a", "1", 2, 2, 1)]));
    assert_violation(&h, "started after");
}

#[test]
fn txn_applied_partly_is_a_violation() {
    let mut h = H::default();
    let txn = txn_if_version("a", 0, vec![put("a", "1"), put("b", "1")], vec![]);
    h.ok(1, (1, 2), txn, txn_response(2, true, vec![rev(2), rev(2)]));
    h.ok(2, (3, 4), get_all(), read(2, vec![kv("a", "1", 2, 2, 1)]));
    assert_violation(&h, "expected");
}

#[test]
fn txn_applied_whole_is_ok_and_failed_compare_writes_nothing() {
    let mut h = H::default();
    let txn = txn_if_version("a", 0, vec![put("a", "1"), put("b", "1")], vec![]);
    h.ok(1, (1, 2), txn, txn_response(2, true, vec![rev(2), rev(2)]));
    let again = txn_if_version("a", 0, vec![put("a", "2")], vec![get("b")]);
    h.ok(
        1,
        (3, 4),
        again,
        txn_response(2, false, vec![read(2, vec![kv("b", "1", 2, 2, 1)])]),
    );
    h.ok(
        2,
        (5, 6),
        get_all(),
        read(2, vec![kv("a", "1", 2, 2, 1), kv("b", "1", 2, 2, 1)]),
    );
    assert_ok(&h);
}

#[test]
fn read_at_a_compacted_revision_that_succeeds_is_a_violation() {
    let mut h = one_put();
    h.ok(1, (3, 4), put("a", "2"), rev(3));
    h.ok(1, (5, 6), compact(3), rev(3));
    h.ok(
        2,
        (7, 8),
        get_at("a", 2),
        read(3, vec![kv("a", "1", 2, 2, 1)]),
    );
    assert_violation(&h, "compaction");
}

#[test]
fn read_at_a_compacted_revision_that_fails_is_ok() {
    let mut h = one_put();
    h.ok(1, (3, 4), put("a", "2"), rev(3));
    h.ok(1, (5, 6), compact(3), rev(3));
    h.err(
        2,
        (7, 8),
        get_at("a", 2),
        "etcdserver: mvcc: required revision has been compacted",
    );
    assert_ok(&h);
}

#[test]
fn compacted_error_without_compaction_is_a_violation() {
    let mut h = one_put();
    h.err(
        2,
        (7, 8),
        get_at("a", 1),
        "etcdserver: mvcc: required revision has been compacted",
    );
    assert_violation(&h, "no compaction");
}

#[test]
fn unknown_write_revealed_by_a_later_read_is_ok() {
    let mut h = H::default();
    h.unknown(1, 1, put("a", "x"));
    h.ok(2, (5, 6), get("a"), read(2, vec![kv("a", "x", 2, 2, 1)]));
    assert_ok(&h);
}

#[test]
fn unknown_write_never_revealed_may_not_have_happened() {
    let mut h = H::default();
    h.unknown(1, 1, put("a", "x"));
    h.ok(2, (5, 6), get("a"), read(1, vec![]));
    assert_ok(&h);
}

#[test]
fn revealed_write_must_have_started_in_time() {
    let mut h = H::default();
    h.ok(2, (1, 2), get("a"), read(2, vec![kv("a", "x", 2, 2, 1)]));
    h.unknown(1, 5, put("a", "x"));
    assert_violation(&h, "started after");
}

#[test]
fn unknown_write_fills_an_unclaimed_revision_after_branching() {
    let mut h = one_put();
    // Two unknown writes; only the delete (the second tried) explains revision 3.
    h.unknown(3, 3, put("a", "z"));
    h.unknown(4, 4, delete("a"));
    h.ok(2, (7, 8), get("a"), read(3, vec![]));
    assert_ok(&h);
}

#[test]
fn unclaimed_revision_without_candidate_is_a_violation() {
    let mut h = one_put();
    h.ok(2, (7, 8), get("a"), read(3, vec![]));
    assert_violation(&h, "revision 3 observed");
}

#[test]
fn write_that_took_effect_twice_is_a_violation() {
    let mut h = one_put();
    h.ok(1, (3, 4), put("a", "y"), rev(3));
    h.ok(2, (5, 6), get("a"), read(4, vec![kv("a", "1", 2, 4, 3)]));
    assert_violation(&h, "more than once");
}

#[test]
fn acknowledged_revision_must_match_the_observed_one() {
    let mut h = one_put();
    h.ok(1, (3, 4), put("b", "y"), rev(3));
    h.ok(2, (5, 6), get("a"), read(3, vec![kv("a", "1", 3, 3, 1)]));
    assert_violation(&h, "more than once: at revisions {2, 3}");
}

#[test]
fn delete_of_a_missing_key_writes_no_revision() {
    let mut h = one_put();
    h.ok(1, (3, 4), delete("b"), deleted(2, 0));
    h.ok(1, (5, 6), delete("a"), deleted(3, 1));
    h.ok(2, (7, 8), get("a"), read(3, vec![]));
    assert_ok(&h);
    let mut h = one_put();
    h.ok(1, (3, 4), delete("a"), deleted(2, 0));
    assert_violation(&h, "deleted");
}

#[test]
fn expired_deadline_gives_unknown_never_ok() {
    let mut h = one_put();
    h.ok(2, (3, 4), get("a"), read(2, vec![kv("a", "1", 2, 2, 1)]));
    let mut expired = || true;
    let outcome = check_etcd(&h.history, &mut Budget::with_deadline(&mut expired));
    assert!(outcome.verdict.is_unknown(), "{}", outcome.verdict);
}

/// Goal: a revoke that deleted no key does not steal its header revision from a write that a
/// read reveals. An unknown put of "a" is revealed at revision 2 by a read; a revoke of a
/// lease without keys answered with header revision 2 meanwhile. Method: the revoke must end
/// up a reader at 2, not the writer of 2.
#[test]
fn a_keyless_revoke_does_not_claim_a_revealed_writes_revision() {
    let mut h = H::default();
    h.unknown(1, 1, put("a", "1"));
    h.ok(2, (2, 3), Request::LeaseRevoke { id: 7 }, rev(2));
    h.ok(3, (4, 5), get("a"), read(2, vec![kv("a", "1", 2, 2, 1)]));
    assert_ok(&h);
}

/// Goal: a revoke writes its header revision only if it deleted keys there; which one did is
/// the model's call, not the order of the file. Two revokes answer at revision 3: the one
/// sent later deleted nothing (its lease had no keys); the one sent first deleted "a",
/// whose put used its lease. The keyless one comes first in the file.
#[test]
fn of_two_revokes_at_one_revision_the_one_that_deletes_writes_it() {
    let mut h = H::default();
    h.ok(
        1,
        (1, 2),
        Request::Put {
            key: "a".into(),
            value: "1".into(),
            lease: 5,
            prev_kv: false,
            ignore_value: false,
            ignore_lease: false,
        },
        rev(2),
    );
    h.ok(2, (8, 9), Request::LeaseRevoke { id: 6 }, rev(3));
    h.ok(3, (3, 4), Request::LeaseRevoke { id: 5 }, rev(3));
    h.ok(4, (10, 11), get("a"), read(3, vec![]));
    assert_ok(&h);
}

/// Goal: a keyless revoke sent after a read at its header revision returned does not take
/// that revision from the unknown write that made it (the shape of simulator seed 179).
#[test]
fn a_keyless_revoke_after_a_read_at_its_revision_is_a_reader() {
    let mut h = H::default();
    h.ok(1, (1, 2), put("a", "1"), rev(2));
    h.unknown(2, 3, put("b", "1"));
    h.ok(3, (4, 5), get("a"), read(3, vec![kv("a", "1", 2, 2, 1)]));
    h.ok(4, (6, 7), Request::LeaseRevoke { id: 9 }, rev(3));
    assert_ok(&h);
}
