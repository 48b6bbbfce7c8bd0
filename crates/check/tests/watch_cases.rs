//! One watch history per property: each breaks only that property (resumable, which reliable
//! and start together imply, also fires reliable), plus the histories that keep them all.

mod common;

use common::*;
use invar_check::etcd::check_etcd;
use invar_check::format::{Request, WatchFilter, WatchResponseRecord};
use invar_check::watch::check_watches;
use invar_check::{Budget, Verdict};

/// put a=1 @2, put b=1 @3, put a=2 @4, delete a @5, compact 3 (only in `with_compaction`).
fn writes(with_compaction: bool) -> H {
    let mut h = H::default();
    h.ok(1, (1, 2), put("a", "1"), rev(2));
    h.ok(1, (3, 4), put("b", "1"), rev(3));
    h.ok(1, (5, 6), put("a", "2"), rev(4));
    h.ok(1, (7, 8), delete("a"), deleted(5, 1));
    if with_compaction {
        h.ok(1, (9, 10), compact(4), rev(5));
    }
    h
}

fn a1() -> invar_check::format::WatchEvent {
    put_event(kv("a", "1", 2, 2, 1))
}
fn b1() -> invar_check::format::WatchEvent {
    put_event(kv("b", "1", 3, 3, 1))
}
fn a2() -> invar_check::format::WatchEvent {
    put_event(kv("a", "2", 2, 4, 2))
}
fn del_a() -> invar_check::format::WatchEvent {
    delete_event("a", 5)
}

fn created(watch: u64, revision: i64) -> WatchResponseRecord {
    WatchResponseRecord {
        created: true,
        ..events(watch, 1, revision, vec![])
    }
}

/// The properties broken by the watches of `h`.
fn broken(h: &H) -> Vec<String> {
    let outcome = check_etcd(&h.history, &mut Budget::unlimited());
    assert_eq!(
        outcome.verdict,
        Verdict::Ok,
        "the writes themselves are linearizable"
    );
    let store = outcome.store.expect("a replay for a linearizable history");
    check_watches(&h.history, &store)
        .into_iter()
        .map(|v| v.property)
        .collect()
}

fn only(h: &H, property: &str) {
    assert_eq!(broken(h), vec![property.to_owned()]);
}

/// A watch on [a, c) from the start, receiving `responses` after its creation at revision 1.
fn range_watch(mut h: H, responses: Vec<WatchResponseRecord>) -> H {
    h.watch(watch_on(1, "a", Some("c"), 0));
    h.watch_response(created(1, 1));
    for r in responses {
        h.watch_response(r);
    }
    h
}

#[test]
fn complete_ordered_stream_keeps_every_property() {
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 3, vec![b1()]),
            progress(1, 4, 3),
            events(1, 5, 5, vec![a2(), del_a()]),
            progress(1, 6, 5),
        ],
    );
    assert!(broken(&h).is_empty(), "{:?}", broken(&h));
}

#[test]
fn filter_event_outside_the_range() {
    let mut h = writes(false);
    h.watch(watch_on(1, "a", None, 2));
    h.watch_response(events(1, 2, 3, vec![a1(), b1()]));
    only(&h, "watch filter");
}

#[test]
fn filter_noput_keeps_only_deletes() {
    let mut h = writes(false);
    let mut w = watch_on(1, "a", None, 2);
    w.filters = vec![WatchFilter::NoPut];
    h.watch(w);
    h.watch_response(events(1, 2, 5, vec![del_a()]));
    assert!(broken(&h).is_empty());
    let mut h2 = writes(false);
    let mut w = watch_on(1, "a", None, 2);
    w.filters = vec![WatchFilter::NoPut];
    h2.watch(w);
    h2.watch_response(events(1, 2, 5, vec![a2(), del_a()]));
    only(&h2, "watch filter");
}

#[test]
fn ordered_revision_goes_down() {
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 4, vec![a1()]),
            events(1, 3, 4, vec![a2()]),
            events(1, 4, 4, vec![b1()]),
        ],
    );
    only(&h, "watch ordered");
}

#[test]
fn unique_event_delivered_twice() {
    let h = range_watch(writes(false), vec![events(1, 2, 3, vec![a1(), a1(), b1()])]);
    only(&h, "watch unique");
}

#[test]
fn atomic_revision_split_across_responses() {
    let mut h = H::default();
    let txn = txn_if_version("a", 0, vec![put("a", "1"), put("b", "1")], vec![]);
    h.ok(1, (1, 2), txn, txn_response(2, true, vec![rev(2), rev(2)]));
    let h = range_watch(
        h,
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 2, vec![put_event(kv("b", "1", 2, 2, 1))]),
        ],
    );
    only(&h, "watch atomic");
}

#[test]
fn bookmarkable_event_at_a_notified_revision() {
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 3, vec![b1()]),
            progress(1, 4, 4),
            events(1, 5, 4, vec![a2()]),
        ],
    );
    only(&h, "watch bookmarkable");
}

#[test]
fn bookmarkable_notification_going_down() {
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 3, vec![b1()]),
            progress(1, 4, 3),
            progress(1, 5, 2),
        ],
    );
    only(&h, "watch bookmarkable");
}

#[test]
fn start_future_watch_gets_a_notification_below_its_start() {
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 10));
    h.watch_response(progress(1, 2, 5));
    only(&h, "watch start");
}

#[test]
fn start_watch_at_the_next_revision_may_get_a_notification_just_below_it() {
    // etcd syncs a watch created at current + 1 at once and notifies it at current.
    // The writes reach revision 5; the watch starts at 6.
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 6));
    h.watch_response(progress(1, 9, 5));
    assert!(broken(&h).is_empty(), "{:?}", broken(&h));
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 6));
    h.watch_response(progress(1, 9, 4));
    only(&h, "watch start");
}

/// Goal: a watch from revision R may get the events of R's txn in the txn's order, which is
/// not key order. Method: a txn that puts "b" then deletes "a" at revision 6; a watch from 6
/// gets the put of "b" first.
#[test]
fn resumable_watch_takes_a_txns_events_in_its_own_order() {
    let mut h = writes(false);
    h.ok(1, (9, 10), put("a", "3"), rev(6));
    h.ok(
        1,
        (11, 12),
        Request::Txn {
            compare: Vec::new(),
            success: vec![put("b", "2"), delete("a")],
            failure: Vec::new(),
        },
        txn_response(7, true, vec![rev(7), deleted(7, 1)]),
    );
    h.watch(watch_on(1, "a", Some("c"), 7));
    h.watch_response(events(
        1,
        13,
        7,
        vec![put_event(kv("b", "2", 3, 7, 2)), delete_event("a", 7)],
    ));
    assert!(broken(&h).is_empty(), "{:?}", broken(&h));
}

#[test]
fn start_future_watch_quiet_is_ok() {
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 10));
    assert!(broken(&h).is_empty());
}

#[test]
fn resumable_watch_from_a_revision_starts_late() {
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 3));
    h.watch_response(events(1, 2, 4, vec![a2()]));
    let properties = broken(&h);
    assert!(
        properties.contains(&"watch resumable".to_owned()),
        "{properties:?}"
    );
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 3));
    h.watch_response(events(1, 2, 4, vec![b1(), a2()]));
    assert!(broken(&h).is_empty());
}

#[test]
fn reliable_gap_in_the_middle() {
    let h = range_watch(
        writes(false),
        vec![events(1, 2, 2, vec![a1()]), events(1, 3, 4, vec![a2()])],
    );
    only(&h, "watch reliable");
}

#[test]
fn reliable_wrong_value() {
    let h = range_watch(
        writes(false),
        vec![events(1, 2, 2, vec![put_event(kv("a", "9", 2, 2, 1))])],
    );
    only(&h, "watch reliable");
}

#[test]
fn prev_kv_must_be_the_value_before() {
    let mut wrong = a2();
    wrong.prev_kv = Some(kv("a", "0", 2, 2, 1));
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 3, vec![b1()]),
            events(1, 4, 4, vec![wrong]),
        ],
    );
    only(&h, "watch prev_kv");
    let mut right = a2();
    right.prev_kv = Some(kv("a", "1", 2, 2, 1));
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 3, vec![b1()]),
            events(1, 4, 4, vec![right]),
        ],
    );
    assert!(broken(&h).is_empty());
}

#[test]
fn create_flag_on_an_existing_key() {
    let h = range_watch(
        writes(false),
        vec![
            events(1, 2, 2, vec![a1()]),
            events(1, 3, 3, vec![b1()]),
            events(1, 4, 4, vec![put_event(kv("a", "2", 4, 4, 1))]),
        ],
    );
    only(&h, "watch create flag");
}

#[test]
fn compaction_cancel_without_compaction() {
    let mut h = writes(false);
    h.watch(watch_on(1, "a", Some("c"), 2));
    h.watch_response(WatchResponseRecord {
        canceled: true,
        compact_revision: 4,
        ..events(1, 20, 5, vec![])
    });
    only(&h, "watch compaction");
}

#[test]
fn compaction_cancel_after_compaction_is_ok() {
    let mut h = writes(true);
    h.watch(watch_on(1, "a", Some("c"), 2));
    h.watch_response(WatchResponseRecord {
        canceled: true,
        compact_revision: 4,
        ..events(1, 20, 5, vec![])
    });
    assert!(broken(&h).is_empty(), "{:?}", broken(&h));
}

#[test]
fn compaction_silently_missing_events() {
    let mut h = writes(true);
    h.watch(watch_on(1, "a", Some("c"), 2));
    h.watch_response(events(1, 20, 5, vec![a2(), del_a()]));
    only(&h, "watch compaction");
}

/// Goal: a gap-free watch's silence places unknown writes. Two unknown puts may fill the
/// unclaimed revision 3; a watch of "b" that covered revisions 2 to 4 saw nothing at 3, so
/// the put of "c" (not "b") took it. Picking "b" would blame the watch for a missing event.
/// Method: the latest-invoked candidate ("b", which the search tries first) is ruled out
/// only by the watch's silence.
#[test]
fn a_gap_free_watch_rules_out_an_unknown_write_it_did_not_show() {
    let build = |with_c: bool| {
        let mut h = H::default();
        h.ok(1, (1, 2), put("a", "1"), rev(2));
        if with_c {
            h.unknown(2, 3, put("c", "1"));
        }
        h.unknown(3, 4, put("b", "1"));
        h.ok(4, (10, 11), get("a"), read(3, vec![kv("a", "1", 2, 2, 1)]));
        h.watch(watch_on(1, "b", None, 0));
        h.watch_response(created(1, 2));
        h.watch_response(progress(1, 12, 3));
        h
    };
    let verdict = |h: &H| {
        invar_check::report::check_etcd_history(&h.history, &mut Budget::unlimited()).verdict
    };
    assert_eq!(verdict(&build(true)), Verdict::Ok);
    let alone = verdict(&build(false));
    assert!(
        alone.is_violation(),
        "only b can fill revision 3, which the watch did not show: {alone}"
    );
}
