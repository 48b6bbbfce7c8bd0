//! One member (and small clusters) under requests, restarts and missing leaders: request
//! kinds and their errors, duplicate request ids, restart from a blank or a lagging store,
//! timeouts.

mod harness;

use harness::{Cluster, TICK_NANOS, get, put, value_of};
use invar_mvcc::{
    CompactionRequest, LeaseGrantRequest, LeaseRevokeRequest, MvccError, PutRequest, RangeRequest,
    Response,
};
use invar_node::{ClientRequest, ClientResponse, Event, Instant, RequestError};
use invar_storage::fs::{DiskImage, File, FileSystem, OpenMode, SimFs};

fn single(seed: u64) -> Cluster {
    let mut cluster = Cluster::new(1, seed, |config| config.mvcc.commits_per_sync = 4);
    cluster.wait_for_leader();
    cluster
}

/// Goal: every request kind works on one member and carries a full header. Method: grant a
/// lease (id chosen by the member), attach a key, revoke it, compact, and read compacted.
#[test]
fn request_kinds_on_one_member() {
    let mut cluster = single(1);
    let grant = ClientRequest::LeaseGrant(LeaseGrantRequest { ttl: 1, id: 0 });
    let granted = cluster.call(1, grant).expect("grant");
    let ClientResponse::Applied(Response::LeaseGrant(lease)) = &granted else {
        panic!("not a grant: {granted:?}");
    };
    assert!(lease.id > 0);
    assert_eq!(lease.ttl, 2, "raised to the minimum TTL");
    let header = *granted.header();
    assert_eq!(header.member_id, 1);
    assert_ne!(header.cluster_id, 0);
    assert!(header.raft_term >= 2);
    let with_lease = ClientRequest::Put(PutRequest {
        key: b"leased".to_vec(),
        value: b"v".to_vec(),
        lease: lease.id,
        ..PutRequest::default()
    });
    let put_revision = cluster.call(1, with_lease).expect("put").header().revision;
    let revoke = ClientRequest::LeaseRevoke(LeaseRevokeRequest { id: lease.id });
    let revoked = cluster.call(1, revoke).expect("revoke");
    assert_eq!(revoked.header().revision, put_revision + 1);
    let read = cluster.call(1, get("leased", false)).expect("read");
    assert_eq!(value_of(&read), None);
    let compact = ClientRequest::Compact(CompactionRequest {
        revision: put_revision + 1,
        physical: true,
    });
    cluster.call(1, compact).expect("compact");
    let old = ClientRequest::Range(RangeRequest {
        key: b"leased".to_vec(),
        revision: put_revision,
        ..RangeRequest::default()
    });
    match cluster.call(1, old) {
        Err(RequestError::Mvcc(MvccError::Compacted)) => {}
        other => panic!("expected compacted: {other:?}"),
    }
    let revoke_again = ClientRequest::LeaseRevoke(LeaseRevokeRequest { id: lease.id });
    match cluster.call(1, revoke_again) {
        Err(RequestError::Mvcc(MvccError::LeaseNotFound)) => {}
        other => panic!("expected lease not found: {other:?}"),
    }
}

/// Goal: invalid requests are refused before proposing, with etcd's text, and a request id
/// still pending is refused. Method: an empty key, then one id sent twice.
#[test]
fn bad_requests_are_refused() {
    let mut cluster = Cluster::new(3, 2, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let applied = cluster.member(leader).applied_index();
    match cluster.call(leader, put("", "v")) {
        Err(error) => assert_eq!(error.to_string(), "etcdserver: key is not provided"),
        Ok(response) => panic!("accepted: {response:?}"),
    }
    assert_eq!(
        cluster.member(leader).raft().last_index(),
        applied,
        "nothing proposed"
    );
    let event = |value: &str| Event::Request {
        id: 77,
        request: put("dup", value),
    };
    // The first request waits for a quorum; the second with the same id is refused at once.
    cluster.feed(leader, event("first"));
    assert!(!cluster.replies.contains_key(&77));
    cluster.feed(leader, event("second"));
    match cluster.replies.remove(&77) {
        Some(Err(RequestError::DuplicateRequestId(77))) => {}
        other => panic!("expected a duplicate id error: {other:?}"),
    }
    cluster.run_until(10_000, "the first request's reply", |c| {
        c.replies.contains_key(&77)
    });
    assert!(cluster.replies[&77].is_ok());
    let read = cluster.call(leader, get("dup", true)).expect("read");
    assert_eq!(value_of(&read), Some(b"first".to_vec()));
}

/// Goal: a member that crashed right after its first open bootstraps again; one whose store
/// lost unsynced commits replays exactly the WAL entries above its consistent index.
/// Method: batched store commits (one sync in four), crashes after each round of puts.
#[test]
fn restart_replays_only_entries_above_the_consistent_index() {
    let mut cluster = Cluster::new(1, 3, |config| config.mvcc.commits_per_sync = 4);
    cluster.crash(1);
    cluster.restart(1);
    cluster.wait_for_leader();
    // A fresh store is at revision 1 (as in etcd): the first put gets 2.
    let mut last_revision = 1;
    let mut replays = 0;
    for round in 0..5 {
        for k in 0..7 {
            let response = cluster
                .call(1, put(&format!("k{k}"), &format!("{round}")))
                .expect("put");
            assert_eq!(response.header().revision, last_revision + 1);
            last_revision += 1;
        }
        let applied = cluster.member(1).applied_index();
        let durable = cluster.member(1).store().durable_consistent_index();
        assert!(durable <= applied);
        if durable < applied {
            replays += 1;
        }
        cluster.crash(1);
        cluster.restart(1);
        // Raft replays the committed entries above the store's durable index.
        cluster.wait_for_leader();
        let read = cluster.call(1, get("k6", false)).expect("read");
        assert_eq!(value_of(&read), Some(format!("{round}").into_bytes()));
        assert_eq!(read.header().revision, last_revision, "round {round}");
    }
    assert!(replays > 0, "no crash left the store behind the log");
}

/// Goal: without a leader, writes and linearizable reads fail at once with etcd's errors and
/// serializable reads still work. Method: a 3-member cluster whose members hear nobody.
#[test]
fn no_leader_errors() {
    let mut cluster = Cluster::new(3, 5, |_| {});
    cluster.cut.extend([1, 2, 3]);
    for _ in 0..200 {
        cluster.step();
    }
    match cluster.call(2, put("k", "v")) {
        Err(RequestError::NotLeader { leader: 0 }) => {}
        other => panic!("expected not leader: {other:?}"),
    }
    match cluster.call(2, get("k", false)) {
        Err(error @ RequestError::NoLeader) => {
            assert_eq!(error.to_string(), "etcdserver: no leader");
        }
        other => panic!("expected no leader: {other:?}"),
    }
    let read = cluster.call(2, get("k", true)).expect("serializable read");
    assert_eq!(value_of(&read), None);
}

/// Goal: a request that gets no answer times out with an unknown outcome. Method: a short
/// request timeout, and a linearizable read on a follower cut off from its leader.
#[test]
fn unanswered_requests_time_out() {
    let mut cluster = Cluster::new(3, 9, |config| {
        config.request_timeout_nanos = 4 * TICK_NANOS;
    });
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let follower = cluster
        .ids
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("follower");
    cluster.run_until(10_000, "the follower knows the leader", |c| {
        c.member(follower).leader() == leader
    });
    cluster.cut.insert(follower);
    match cluster.call(follower, get("k", false)) {
        Err(error @ RequestError::TimedOut) => assert!(error.outcome_unknown()),
        other => panic!("expected a timeout: {other:?}"),
    }
    assert_eq!(cluster.member(follower).pending_requests(), 0);
}

/// Goal: damaged files never make a member panic: each damaged open either fails with an
/// error or opens a member whose invariants hold. Method: a cluster with snapshots; stop one
/// member, and for offsets spread over each of its files (WAL segments, snapshot files, the
/// store) open a copy of its disk with one byte flipped there.
#[test]
fn damaged_files_fail_cleanly() {
    let mut cluster = Cluster::new(3, 61, |config| {
        config.snapshot_entries = 10;
        config.snapshot_keep_entries = 2;
    });
    let leader = cluster.wait_for_leader();
    for k in 0..25 {
        cluster
            .call(leader, put(&format!("k{}", k % 4), &format!("v{k}")))
            .expect("put");
    }
    cluster.settle();
    let victim = cluster
        .ids
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("follower");
    let slot = (victim - 1) as usize;
    cluster.crash(victim);
    let image = cluster.disks[slot].image();
    let (mut refused, mut opened) = (0, 0);
    for (path, bytes) in &image.files {
        let len = bytes.len() as u64;
        for k in 0..12 {
            let offset = len * k / 12;
            let disk = disk_from(&image, k);
            assert!(disk.corrupt_byte(path, offset, 0x5a));
            let config = cluster.configs[slot].clone();
            match invar_node::Member::open(disk.clone(), &harness::dir(), config) {
                Err(_) => refused += 1,
                Ok(member) => {
                    member
                        .check_invariants()
                        .expect("a member that opens is consistent");
                    opened += 1;
                }
            }
        }
    }
    assert!(refused > 0, "no damage was detected");
    assert!(opened > 0, "every flip was fatal");
    cluster.restart(victim);
    cluster.settle();
    cluster.assert_converged();
}

/// A fresh simulated disk holding `image`'s files, all durable.
fn disk_from(image: &DiskImage, seed: u64) -> SimFs {
    let disk = SimFs::with_seed(seed);
    for (path, bytes) in &image.files {
        let dir = path.parent().expect("files live in directories");
        disk.create_dir_all(dir).expect("mkdir");
        let file = disk.open(path, OpenMode::CreateNew).expect("create");
        file.write_at(0, bytes).expect("write");
        file.sync().expect("sync");
        disk.sync_dir(dir).expect("sync dir");
    }
    disk
}

/// Goal: a shell clock that jumps back does not stall a member. It once ran no tick until
/// the clock caught up with the highest reading it had seen: its election and lease timers
/// stood still for the jump's length, and as a follower it kept refusing pre-votes, so a
/// quorum that needed it elected no leader (the simulator's liveness mode, seed 296, a
/// 38 s jump). Method: tick a member at a reading 10 s below its last one; its next deadline
/// must be one tick interval after that reading, and its requests must still time out after
/// the request timeout of readings.
#[test]
fn a_clock_that_jumps_back_keeps_the_members_pace() {
    let mut cluster = Cluster::new(1, 5, |_| {});
    let leader = cluster.wait_for_leader();
    let before = cluster
        .member(leader)
        .next_deadline()
        .expect("a deadline after ticks");
    let back = Instant(before.0.saturating_sub(10_000_000_000));
    cluster.feed(leader, Event::Tick(back));
    let after = cluster.member(leader).next_deadline().expect("a deadline");
    assert!(
        after.0 <= back.0 + TICK_NANOS,
        "the deadline stayed with the old clock: {after:?}, the reading was {back:?}"
    );
    assert!(after > back, "the deadline is ahead of the reading");
}

/// A store that syncs rarely loses its last commits in a crash; the restart replays the
/// committed log before the member serves, so the first request (a serializable read, with
/// no tick or message before it) sees the last acknowledged put at its revision, not an
/// older one. (The simulator's `answered_revision_never_backwards` guards this in clusters.)
#[test]
fn a_restart_replays_the_committed_log_before_serving() {
    let mut cluster = Cluster::new(1, 41, |config| config.mvcc.commits_per_sync = 1_000);
    cluster.wait_for_leader();
    let mut last = 0;
    for k in 0..10 {
        let reply = cluster
            .call(1, put(&format!("k{k}"), "v"))
            .expect("acknowledged");
        last = reply.header().revision;
    }
    cluster.crash(1);
    cluster.restart(1);
    assert_eq!(
        cluster.member(1).store().revision(),
        last,
        "not replayed on open"
    );
    let read = cluster
        .call(1, get("k9", true))
        .expect("a serializable read");
    assert_eq!(read.header().revision, last);
    assert!(value_of(&read).is_some(), "the last put is gone");
}
