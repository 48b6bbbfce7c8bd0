//! Batched apply: all committed entries of one raft Ready go to the store in one write
//! transaction, committed once with the consistent index of the last one; their replies
//! follow the commit, in log order, and a crash anywhere in between loses nothing that was
//! acknowledged and applies nothing twice.
//!
//! The scenario: a leader whose followers are cut off takes W puts (proposed, not committed);
//! once the cut heals, one follower's acknowledgement commits all of them at once, so the
//! leader's next Ready carries W committed entries.

mod harness;

use harness::{Cluster, put};
use invar_mvcc::RangeRequest;
use invar_node::{ClientResponse, RequestId};
use invar_raft::NodeId;

const PUTS: usize = 12;

/// A settled three-member cluster whose leader holds `PUTS` proposed puts that its cut-off
/// followers have not seen; returns the leader and the request ids, in proposal order.
fn leader_with_pending_puts(seed: u64) -> (Cluster, NodeId, Vec<RequestId>) {
    let mut cluster = Cluster::new(3, seed, |config| config.mvcc.commits_per_sync = 1);
    let leader = cluster.wait_for_leader();
    cluster.call(leader, put("warm", "up")).expect("put");
    cluster.settle();
    let followers: Vec<NodeId> = cluster
        .ids
        .iter()
        .copied()
        .filter(|&i| i != leader)
        .collect();
    cluster.cut.extend(followers.iter().copied());
    // No step while cut: the requests are fed directly, so no time passes and the leader
    // keeps its office.
    let ids = (0..PUTS)
        .map(|k| cluster.request(leader, put(&format!("k{k}"), &format!("v{k}"))))
        .collect();
    for follower in followers {
        cluster.cut.remove(&follower);
    }
    (cluster, leader, ids)
}

fn revision_of(cluster: &Cluster, id: RequestId) -> i64 {
    match &cluster.replies[&id] {
        Ok(response @ ClientResponse::Applied(_)) => response.header().revision,
        other => panic!("request {id}: {other:?}"),
    }
}

/// Steps until every request of `ids` is answered; returns the leader's disk operations in
/// the step that answered the last of them.
fn run_until_answered(cluster: &mut Cluster, leader: NodeId, ids: &[RequestId]) -> u64 {
    let slot = cluster.ids.iter().position(|&i| i == leader).expect("slot");
    for _ in 0..20_000 {
        let ops_before = cluster.disks[slot].mutating_ops();
        cluster.step();
        if ids.iter().all(|id| cluster.replies.contains_key(id)) {
            return cluster.disks[slot].mutating_ops() - ops_before;
        }
    }
    panic!("not answered: {ids:?}");
}

/// Goal: the leader applies the W entries of one Ready in one store commit, and answers them
/// all in the event of that commit, in log order. Method: the scenario above; the leader's
/// disk operations in the event that answers the W puts must stay well below W times those
/// of an event that answers one put (each store commit writes pages and the header and
/// syncs: per-entry commits would cost about W times as much).
#[test]
fn one_ready_is_one_store_commit_and_its_replies_follow_in_log_order() {
    let (mut cluster, leader, ids) = leader_with_pending_puts(801);
    let batch_ops = run_until_answered(&mut cluster, leader, &ids);
    let answered: Vec<(u64, RequestId)> = cluster
        .reply_log
        .iter()
        .copied()
        .filter(|(_, id)| ids.contains(id))
        .collect();
    let order: Vec<RequestId> = answered.iter().map(|(_, id)| *id).collect();
    assert_eq!(order, ids, "replies out of log order");
    let steps: Vec<u64> = answered.iter().map(|(step, _)| *step).collect();
    assert!(
        steps.iter().all(|&s| s == steps[0]),
        "the puts were not answered in one event: steps {steps:?}"
    );
    let revisions: Vec<i64> = ids.iter().map(|&id| revision_of(&cluster, id)).collect();
    assert!(
        revisions.windows(2).all(|w| w[0] + 1 == w[1]),
        "revisions follow the log: {revisions:?}"
    );
    cluster.settle();
    let single = cluster.request(leader, put("one", "more"));
    let single_ops = run_until_answered(&mut cluster, leader, &[single]);
    assert!(
        batch_ops < 2 * single_ops,
        "{PUTS} entries cost {batch_ops} disk operations, one costs {single_ops}"
    );
}

/// Goal: a crash point anywhere in the leader's handling of that Ready (the WAL, the store's
/// commit, the snapshot) loses no acknowledged put and applies nothing twice (the store
/// asserts it); the members converge. Method: the scenario above with the leader's disk
/// armed to halt after 0, 1, 2, … mutating operations; restart it, settle, check.
#[test]
fn a_crash_point_in_a_batch_loses_nothing_acknowledged() {
    let mut crashed_cases = 0;
    for ops in 0..24u64 {
        let (mut cluster, leader, ids) = leader_with_pending_puts(802);
        let slot = cluster.ids.iter().position(|&i| i == leader).expect("slot");
        cluster.disks[slot].arm_crash_after(ops);
        cluster.run_until(20_000, "answered or crashed", |c| {
            !c.crashed.is_empty() || ids.iter().all(|id| c.replies.contains_key(id))
        });
        let acknowledged: Vec<(usize, i64)> = ids
            .iter()
            .enumerate()
            .filter(|(_, id)| matches!(cluster.replies.get(id), Some(Ok(_))))
            .map(|(k, id)| (k, revision_of(&cluster, *id)))
            .collect();
        cluster.disks[slot].disarm_crash();
        if !cluster.crashed.is_empty() {
            crashed_cases += 1;
            for id in std::mem::take(&mut cluster.crashed) {
                cluster.restart(id);
            }
        }
        cluster.settle();
        cluster.assert_converged();
        let reader = cluster.leader().expect("leader");
        for (k, revision) in acknowledged {
            let request = RangeRequest {
                key: format!("k{k}").into_bytes(),
                revision,
                ..RangeRequest::default()
            };
            let found = cluster
                .member(reader)
                .store()
                .range(&request)
                .expect("range");
            let kv = found
                .kvs
                .first()
                .unwrap_or_else(|| panic!("crash after {ops} ops: acknowledged put k{k} lost"));
            assert_eq!(kv.value, format!("v{k}").into_bytes(), "crash after {ops}");
            assert_eq!(kv.mod_revision, revision, "crash after {ops}");
        }
    }
    assert!(crashed_cases > 0, "no crash point was reached");
}
