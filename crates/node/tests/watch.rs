//! Watches on members of a three-member cluster: live events on a follower match the
//! acknowledged writes exactly, a watch from an old revision catches up from history in
//! bounded pieces, a compacted start revision is canceled with the compact revision, and
//! progress notifications never precede events at or below their revision.

mod harness;

use harness::{Cluster, put};
use invar_mvcc::{
    CompactionRequest, DeleteRangeRequest, Event, EventType, WatchCreateRequest, WatchResponse,
};
use invar_node::{ClientRequest, Event as NodeEvent};
use invar_raft::NodeId;

fn follower_of(cluster: &Cluster, leader: NodeId) -> NodeId {
    cluster
        .ids
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("a follower")
}

fn watch(cluster: &mut Cluster, member: NodeId, stream: u64, request: WatchCreateRequest) {
    cluster.feed(member, NodeEvent::WatchCreate { stream, request });
}

fn prefix(key: &str) -> WatchCreateRequest {
    let mut end = key.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    WatchCreateRequest {
        key: key.into(),
        range_end: end,
        ..Default::default()
    }
}

fn responses(cluster: &Cluster, member: NodeId, stream: u64) -> Vec<WatchResponse> {
    cluster
        .watch
        .get(&(member, stream))
        .cloned()
        .unwrap_or_default()
}

fn events(cluster: &Cluster, member: NodeId, stream: u64) -> Vec<Event> {
    responses(cluster, member, stream)
        .into_iter()
        .flat_map(|r| r.events)
        .collect()
}

fn delete(key: &str) -> ClientRequest {
    ClientRequest::DeleteRange(DeleteRangeRequest {
        key: key.into(),
        ..Default::default()
    })
}

/// Goal: a watch on a follower reports exactly the acknowledged puts and deletes in its
/// range, in revision order, with prev_kv when asked, and headers naming the follower.
/// Method: a prefix watch with prev_kv on a follower; 40 puts and deletes through the
/// leader (some outside the prefix); compare with what the leader acknowledged.
#[test]
fn follower_watch_sees_acknowledged_writes_in_order() {
    let mut cluster = Cluster::new(3, 41, |_| {});
    let leader = cluster.wait_for_leader();
    let follower = follower_of(&cluster, leader);
    cluster.call(leader, put("other", "x")).expect("put");
    cluster.settle();
    let mut request = prefix("k");
    request.prev_kv = true;
    watch(&mut cluster, follower, 1, request);
    let created = responses(&cluster, follower, 1);
    assert_eq!(created.len(), 1);
    assert!(created[0].created && !created[0].canceled);
    assert_eq!(created[0].header.member_id, follower);
    // Expected: (revision, type, key, value, previous value).
    let mut expected = Vec::new();
    let mut values: std::collections::BTreeMap<String, String> = Default::default();
    for step in 0..40u32 {
        let key = format!("k{}", step % 4);
        let request = if step % 5 == 4 {
            delete(&key)
        } else if step % 7 == 6 {
            put("zz", "outside")
        } else {
            put(&key, &format!("v{step}"))
        };
        let outside = step % 5 != 4 && step % 7 == 6;
        let is_delete = step % 5 == 4;
        let response = cluster.call(leader, request).expect("write");
        let revision = response.header().revision;
        if outside {
            continue;
        }
        if is_delete {
            if let Some(previous) = values.remove(&key) {
                expected.push((
                    revision,
                    EventType::Delete,
                    key,
                    String::new(),
                    Some(previous),
                ));
            }
        } else {
            let value = format!("v{step}");
            let previous = values.insert(key.clone(), value.clone());
            expected.push((revision, EventType::Put, key, value, previous));
        }
    }
    cluster.settle();
    let got: Vec<_> = events(&cluster, follower, 1)
        .into_iter()
        .map(|e| {
            (
                e.kv.mod_revision,
                e.r#type,
                String::from_utf8_lossy(&e.kv.key).to_string(),
                String::from_utf8_lossy(&e.kv.value).to_string(),
                e.prev_kv
                    .map(|p| String::from_utf8_lossy(&p.value).to_string()),
            )
        })
        .collect();
    assert_eq!(got, expected);
    for response in &responses(&cluster, follower, 1)[1..] {
        assert_eq!(response.header.member_id, follower);
        assert!(!response.canceled && !response.created);
    }
}

/// Goal: a watch from an old revision gets every event from that revision on, once, in
/// order, in several bounded pieces, then the live ones. Method: 30 puts (revisions 2 to
/// 31), a watch from revision 6 on a follower with at most 4 revisions per catch-up piece,
/// 5 more puts.
#[test]
fn watch_from_old_revision_catches_up() {
    let mut cluster = Cluster::new(3, 43, |config| {
        config.mvcc.watch_catch_up_revisions_max = 4;
    });
    let leader = cluster.wait_for_leader();
    let follower = follower_of(&cluster, leader);
    for k in 0..30 {
        cluster
            .call(leader, put(&format!("k{}", k % 3), &format!("v{k}")))
            .expect("put");
    }
    cluster.settle();
    let mut request = prefix("k");
    request.start_revision = 6;
    watch(&mut cluster, follower, 7, request);
    cluster.run_until(10_000, "caught up", |c| events(c, follower, 7).len() == 26);
    let pieces = responses(&cluster, follower, 7)
        .iter()
        .filter(|r| !r.events.is_empty())
        .count();
    assert!(pieces >= 6, "history in bounded pieces, got {pieces}");
    for k in 30..35 {
        cluster
            .call(leader, put(&format!("k{}", k % 3), &format!("v{k}")))
            .expect("put");
    }
    cluster.settle();
    let revisions: Vec<i64> = events(&cluster, follower, 7)
        .iter()
        .map(|e| e.kv.mod_revision)
        .collect();
    assert_eq!(revisions, (6..=36).collect::<Vec<i64>>());
}

/// Goal: a start revision below the compact revision is canceled with the compact
/// revision (etcd); one at the compact revision is served. Method: 10 puts (revisions 2 to
/// 11), compact at 7, watches from 4 and 7 on a follower.
#[test]
fn compacted_start_revision_is_canceled() {
    let mut cluster = Cluster::new(3, 47, |_| {});
    let leader = cluster.wait_for_leader();
    let follower = follower_of(&cluster, leader);
    for k in 0..10 {
        cluster
            .call(leader, put("k", &format!("v{k}")))
            .expect("put");
    }
    let compact = ClientRequest::Compact(CompactionRequest {
        revision: 7,
        physical: false,
    });
    cluster.call(leader, compact).expect("compact");
    cluster.settle();
    let mut request = prefix("k");
    request.start_revision = 4;
    watch(&mut cluster, follower, 1, request.clone());
    let got = responses(&cluster, follower, 1);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].created);
    assert!(got[1].canceled);
    assert_eq!(got[1].compact_revision, 7);
    assert_eq!(got[1].watch_id, got[0].watch_id);
    assert_eq!(cluster.member(follower).watchers(), 0);
    request.start_revision = 7;
    watch(&mut cluster, follower, 2, request);
    cluster.run_until(1_000, "caught up", |c| events(c, follower, 2).len() == 5);
    assert!(responses(&cluster, follower, 2).iter().all(|r| !r.canceled));
}

/// Goal: progress notifications (periodic with progress_notify, and on demand) never come
/// before an event at or below their revision, and carry the member's applied revision.
/// Method: a watch from revision 1 (catching up one revision per event through a history
/// of mostly other keys) with progress every tick on a follower and on the leader, progress requests and puts interleaved; then
/// check every stream's order.
#[test]
fn progress_never_precedes_events_at_or_below_it() {
    let mut cluster = Cluster::new(3, 53, |config| {
        config.mvcc.watch_catch_up_revisions_max = 1;
        config.watch_progress_interval_ticks = 1;
    });
    let leader = cluster.wait_for_leader();
    let follower = follower_of(&cluster, leader);
    // Mostly keys outside the watched prefix: catch-up pieces are often empty, so the
    // watcher is quiet (no events) while still behind, when progress must wait.
    for k in 0..150 {
        let key = if k % 25 == 0 { "k0" } else { "z" };
        cluster
            .call(leader, put(key, &format!("v{k}")))
            .expect("put");
    }
    for member in [leader, follower] {
        let mut request = prefix("k");
        request.start_revision = 1;
        request.progress_notify = true;
        watch(&mut cluster, member, 9, request);
        cluster.feed(member, NodeEvent::WatchProgress { stream: 9 });
    }
    for k in 20..60 {
        let _pending = cluster.request(leader, put(&format!("k{}", k % 5), &format!("v{k}")));
        for _ in 0..3 {
            cluster.step();
        }
        if k % 4 == 0 {
            cluster.feed(follower, NodeEvent::WatchProgress { stream: 9 });
            cluster.feed(leader, NodeEvent::WatchProgress { stream: 9 });
        }
    }
    cluster.settle();
    cluster.run_until(100_000, "both watchers caught up", |c| {
        [leader, follower].iter().all(|&m| {
            let last = events(c, m, 9).last().map(|e| e.kv.mod_revision);
            last == Some(c.member(m).store().revision())
        })
    });
    for _ in 0..200 {
        cluster.step();
    }
    for member in [leader, follower] {
        let all = responses(&cluster, member, 9);
        let mut progress_seen = 0;
        let mut highest_progress = 0;
        let mut last_event = 0;
        for response in &all {
            if response.created || response.canceled {
                continue;
            }
            if response.events.is_empty() {
                progress_seen += 1;
                assert!(response.header.revision >= last_event);
                highest_progress = highest_progress.max(response.header.revision);
                continue;
            }
            for event in &response.events {
                assert!(
                    event.kv.mod_revision > highest_progress,
                    "member {member}: event {} after progress {highest_progress}",
                    event.kv.mod_revision
                );
                assert!(event.kv.mod_revision > last_event);
                last_event = event.kv.mod_revision;
            }
        }
        assert!(
            progress_seen > 2,
            "member {member}: {progress_seen} progress"
        );
        let revision = cluster.member(member).store().revision();
        assert_eq!(last_event, revision, "member {member} got every event");
        let last = all.last().expect("responses");
        assert!(last.events.is_empty(), "progress after the last event");
        assert_eq!(last.header.revision, revision);
    }
}

/// Goal: filters, cancel and stream close behave as in etcd: a NoPut watcher sees only
/// deletes, a canceled watcher gets a canceled response and nothing after it, canceling an
/// unknown ID answers nothing, a closed stream's watchers are gone, and a fragmenting
/// watcher gets a large revision in pieces. Method: three watchers on one member, writes
/// through the leader.
#[test]
fn filters_cancel_close_and_fragments() {
    let mut cluster = Cluster::new(3, 59, |config| {
        config.watch_fragment_bytes_max = 64;
    });
    let leader = cluster.wait_for_leader();
    let member = follower_of(&cluster, leader);
    let mut no_put = prefix("k");
    no_put.filters = vec![invar_mvcc::FilterType::NoPut];
    watch(&mut cluster, member, 1, no_put);
    watch(&mut cluster, member, 1, prefix("k"));
    let mut fragmenting = prefix("k");
    fragmenting.fragment = true;
    watch(&mut cluster, member, 2, fragmenting);
    assert_eq!(cluster.member(member).watchers(), 3);
    let ids: Vec<i64> = responses(&cluster, member, 1)
        .iter()
        .map(|r| r.watch_id)
        .collect();
    assert_eq!(ids, [0, 1]);
    cluster.call(leader, put("k1", "a")).expect("put");
    cluster.call(leader, put("k2", "b")).expect("put");
    cluster.call(leader, delete("k1")).expect("delete");
    // One revision with many events: a delete of the range with 6 keys.
    for k in 0..6 {
        cluster
            .call(leader, put(&format!("k{k}"), &"x".repeat(20)))
            .expect("put");
    }
    let range_delete = ClientRequest::DeleteRange(DeleteRangeRequest {
        key: b"k".to_vec(),
        range_end: b"l".to_vec(),
        ..Default::default()
    });
    cluster.call(leader, range_delete).expect("delete range");
    cluster.settle();
    let deletes_only: Vec<Event> = of(&cluster, member, 0)
        .into_iter()
        .flat_map(|r| r.events)
        .collect();
    assert!(deletes_only.iter().all(|e| e.r#type == EventType::Delete));
    assert_eq!(deletes_only.len(), 7);
    assert_eq!(
        of(&cluster, member, 1)
            .iter()
            .map(|r| r.events.len())
            .sum::<usize>(),
        15
    );
    let pieces: Vec<WatchResponse> = responses(&cluster, member, 2)
        .into_iter()
        .filter(|r| r.events.first().is_some_and(|e| e.kv.mod_revision == 11))
        .collect();
    assert!(pieces.len() > 1, "the 6-key delete in fragments");
    assert_eq!(pieces.iter().map(|p| p.events.len()).sum::<usize>(), 6);
    assert!(pieces[..pieces.len() - 1].iter().all(|p| p.fragment));
    assert!(!pieces[pieces.len() - 1].fragment);
    // Cancel watcher 1; unknown ID 9 answers nothing; close stream 2.
    let before = responses(&cluster, member, 1).len();
    cluster.feed(
        member,
        NodeEvent::WatchCancel {
            stream: 1,
            watch_id: 1,
        },
    );
    cluster.feed(
        member,
        NodeEvent::WatchCancel {
            stream: 1,
            watch_id: 9,
        },
    );
    cluster.feed(member, NodeEvent::WatchClose { stream: 2 });
    let after = responses(&cluster, member, 1);
    assert_eq!(after.len(), before + 1);
    assert!(after[before].canceled && after[before].watch_id == 1);
    assert_eq!(cluster.member(member).watchers(), 1);
    let stream_2 = responses(&cluster, member, 2).len();
    cluster.call(leader, put("k1", "again")).expect("put");
    cluster.call(leader, delete("k1")).expect("delete");
    cluster.settle();
    assert_eq!(
        of(&cluster, member, 1).last().map(|r| r.canceled),
        Some(true)
    );
    assert_eq!(responses(&cluster, member, 2).len(), stream_2);
    assert_eq!(
        of(&cluster, member, 0)
            .iter()
            .map(|r| r.events.len())
            .sum::<usize>(),
        8
    );
}

/// The responses to watcher `id` of stream 1 on `member`, without its created response.
fn of(cluster: &Cluster, member: NodeId, id: i64) -> Vec<WatchResponse> {
    responses(cluster, member, 1)
        .into_iter()
        .filter(|r| r.watch_id == id && !r.created)
        .collect()
}

/// Goal: a watcher on a member that catches up by a leader's snapshot misses nothing: the
/// revisions the snapshot skipped come from history, in order, then the live ones; when
/// the snapshot also compacted its next revision, it is canceled with the compact revision.
/// Method: watch on a follower, cut it, 60 puts (snapshot every 20 entries), heal, 5 more
/// puts; then cut it again, puts and a compaction, heal.
#[test]
fn watcher_on_member_installing_a_snapshot_misses_nothing() {
    let mut cluster = Cluster::new(3, 61, |config| {
        config.snapshot_entries = 20;
        config.snapshot_keep_entries = 5;
        config.mvcc.watch_catch_up_revisions_max = 7;
    });
    let leader = cluster.wait_for_leader();
    let lagging = follower_of(&cluster, leader);
    cluster.call(leader, put("a", "0")).expect("put");
    cluster.settle();
    watch(&mut cluster, lagging, 1, prefix("k"));
    cluster.cut.insert(lagging);
    let mut expected = Vec::new();
    for k in 0..60 {
        let key = if k % 3 == 0 {
            "z".to_string()
        } else {
            format!("k{}", k % 4)
        };
        let response = cluster
            .call(leader, put(&key, &format!("v{k}")))
            .expect("put");
        if key.starts_with('k') {
            expected.push(response.header().revision);
        }
    }
    let applied_before = cluster.member(lagging).applied_index();
    cluster.cut.clear();
    cluster.settle();
    assert!(cluster.member(lagging).snapshot_index() > applied_before);
    for k in 60..65 {
        let response = cluster
            .call(leader, put(&format!("k{}", k % 4), &format!("v{k}")))
            .expect("put");
        expected.push(response.header().revision);
    }
    cluster.settle();
    cluster.run_until(10_000, "caught up", |c| {
        events(c, lagging, 1).len() == expected.len()
    });
    let got: Vec<i64> = events(&cluster, lagging, 1)
        .iter()
        .map(|e| e.kv.mod_revision)
        .collect();
    assert_eq!(got, expected);
    // Again, with a compaction past the watcher's next revision inside the snapshot.
    cluster.cut.insert(lagging);
    for k in 0..30 {
        cluster
            .call(leader, put(&format!("k{}", k % 4), "again"))
            .expect("put");
    }
    let revision = cluster.member(leader).store().revision();
    let compact = ClientRequest::Compact(CompactionRequest {
        revision,
        physical: false,
    });
    cluster.call(leader, compact).expect("compact");
    for k in 0..30 {
        cluster
            .call(leader, put("z", &format!("{k}")))
            .expect("put");
    }
    let applied_before = cluster.member(lagging).applied_index();
    cluster.cut.clear();
    cluster.settle();
    assert!(cluster.member(lagging).snapshot_index() > applied_before);
    cluster.run_until(10_000, "canceled", |c| c.member(lagging).watchers() == 0);
    let last = responses(&cluster, lagging, 1).pop().expect("responses");
    assert!(last.canceled);
    assert_eq!(last.compact_revision, revision);
}
