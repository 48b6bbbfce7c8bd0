//! The maintenance API: status and hash-kv agree across members, defragment keeps the data
//! and does not grow the file, snapshot is a point-in-time copy, the NOSPACE alarm (raised
//! by the quota, replicated, durable) blocks growing writes until disarmed, and a full disk
//! stops a member cleanly.

mod harness;

use harness::{Cluster, dir, get, put, value_of};
use invar_mvcc::{CompactionRequest, DeleteRangeRequest, HashKvRequest, LeaseGrantRequest};
use invar_node::{
    AlarmAction, AlarmMember, AlarmRequest, AlarmType, ClientRequest, ClientResponse, Config,
    ETCD_API_VERSION, Event, Instant, Member, RequestError, StatusResponse, member_paths,
};
use invar_storage::fs::{File, FileSystem, OpenMode, SimFs};

fn status(cluster: &mut Cluster, id: u64) -> StatusResponse {
    match cluster.call(id, ClientRequest::Status).expect("status") {
        ClientResponse::Status(status) => status,
        other => panic!("not a status: {other:?}"),
    }
}

/// The length of member `id`'s store file, read from its disk.
fn store_file_len(cluster: &Cluster, id: u64) -> i64 {
    let slot = cluster.ids.iter().position(|&i| i == id).expect("member");
    let (_, _, path) = member_paths(&dir());
    let file = cluster.disks[slot]
        .open(&path, OpenMode::Existing)
        .expect("store file");
    i64::try_from(file.len().expect("length")).expect("length fits")
}

fn hash(cluster: &mut Cluster, id: u64, revision: i64) -> (u32, i64, i64) {
    match cluster.call(id, ClientRequest::HashKv(HashKvRequest { revision })) {
        Ok(ClientResponse::HashKv(h)) => (h.hash, h.compact_revision, h.hash_revision),
        other => panic!("not a hash: {other:?}"),
    }
}

fn alarm(action: AlarmAction, member_id: u64, alarm: AlarmType) -> ClientRequest {
    ClientRequest::Alarm(AlarmRequest {
        action,
        member_id,
        alarm,
    })
}

fn alarms(cluster: &mut Cluster, id: u64) -> Vec<AlarmMember> {
    match cluster.call(id, alarm(AlarmAction::Get, 0, AlarmType::None)) {
        Ok(ClientResponse::Alarm(response)) => response.alarms,
        other => panic!("not an alarm response: {other:?}"),
    }
}

/// Goal: Status and HashKV describe the same state on every member once settled, with
/// etcd's fields. Method: 40 puts and a compaction, then compare.
#[test]
fn status_and_hash_kv_agree_across_members() {
    let mut cluster = Cluster::new(3, 201, |_| {});
    let leader = cluster.wait_for_leader();
    let mut revision = 0;
    for k in 0..40 {
        let response = cluster.call(leader, put(&format!("k{}", k % 9), &format!("v{k}")));
        revision = response.expect("put").header().revision;
    }
    let compact = ClientRequest::Compact(CompactionRequest {
        revision: revision - 10,
        physical: true,
    });
    cluster.call(leader, compact).expect("compact");
    cluster.settle();
    let statuses: Vec<StatusResponse> = cluster
        .ids
        .clone()
        .into_iter()
        .map(|id| status(&mut cluster, id))
        .collect();
    for (status, id) in statuses.iter().zip(cluster.ids.clone()) {
        assert_eq!(status.version, ETCD_API_VERSION);
        assert_eq!(status.leader, leader);
        assert_eq!(status.header.member_id, id);
        assert_eq!(status.header.revision, revision);
        assert_eq!(status.raft_applied_index, statuses[0].raft_applied_index);
        assert_eq!(status.raft_index, statuses[0].raft_index);
        assert_eq!(status.raft_term, cluster.member(leader).term());
        assert!(status.db_size > 0 && status.db_size_in_use > 0);
        assert_eq!(status.db_size, store_file_len(&cluster, id), "member {id}");
        assert!(status.db_size_in_use <= status.db_size, "{status:?}");
        assert!(status.errors.is_empty() && !status.is_learner);
    }
    for at in [0, revision - 5] {
        let hashes: Vec<(u32, i64, i64)> = cluster
            .ids
            .clone()
            .into_iter()
            .map(|id| hash(&mut cluster, id, at))
            .collect();
        assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
        assert_eq!(hashes[0].1, revision - 10);
        assert_eq!(hashes[0].2, if at == 0 { revision } else { at });
    }
    assert_ne!(
        hash(&mut cluster, 1, 0).0,
        hash(&mut cluster, 1, revision - 5).0
    );
    match cluster.call(1, ClientRequest::HashKv(HashKvRequest { revision: 3 })) {
        Err(error) => assert_eq!(
            error.to_string(),
            "etcdserver: mvcc: required revision has been compacted"
        ),
        Ok(response) => panic!("hashed a compacted revision: {response:?}"),
    }
}

/// Goal: defragment keeps every key and the hash, and the file does not grow (it shrinks
/// when much was freed). Method: write 300 values of 1 KiB, delete them, compact, then
/// defragment one member and compare.
#[test]
fn defragment_keeps_data_and_shrinks_the_file() {
    let mut cluster = Cluster::new(1, 202, |_| {});
    cluster.wait_for_leader();
    let value = "x".repeat(1024);
    for k in 0..300 {
        cluster
            .call(1, put(&format!("big{k}"), &value))
            .expect("put");
    }
    cluster.call(1, put("keep", "me")).expect("put");
    let delete = ClientRequest::DeleteRange(DeleteRangeRequest {
        key: b"big".to_vec(),
        range_end: b"bih".to_vec(),
        prev_kv: false,
    });
    let deleted = cluster.call(1, delete).expect("delete");
    let compact = ClientRequest::Compact(CompactionRequest {
        revision: deleted.header().revision,
        physical: true,
    });
    cluster.call(1, compact).expect("compact");
    let before = status(&mut cluster, 1);
    let before_file_len = store_file_len(&cluster, 1);
    let hash_before = hash(&mut cluster, 1, 0);
    let response = cluster
        .call(1, ClientRequest::Defragment)
        .expect("defragment");
    assert!(matches!(response, ClientResponse::Defragment(_)));
    let after = status(&mut cluster, 1);
    assert_eq!(hash(&mut cluster, 1, 0), hash_before);
    // The size the member keeps in memory is the file's, before and after the truncation.
    assert_eq!(before.db_size, before_file_len);
    assert_eq!(after.db_size, store_file_len(&cluster, 1));
    assert!(after.db_size <= before.db_size, "{before:?} -> {after:?}");
    assert!(
        after.db_size < before.db_size,
        "nothing reclaimed: {} bytes",
        before.db_size
    );
    let read = cluster.call(1, get("keep", false)).expect("read");
    assert_eq!(value_of(&read), Some(b"me".to_vec()));
    cluster.crash(1);
    cluster.restart(1);
    cluster.wait_for_leader();
    assert_eq!(hash(&mut cluster, 1, 0), hash_before);
}

/// Goal: Snapshot is a point-in-time copy: taken, then more writes, the blob does not
/// change; its index is the applied index; two members at the same index give the same
/// bytes. Method: compare blobs.
#[test]
fn snapshot_is_a_point_in_time_copy() {
    let mut cluster = Cluster::new(3, 203, |_| {});
    let leader = cluster.wait_for_leader();
    for k in 0..10 {
        cluster
            .call(leader, put(&format!("k{k}"), "v"))
            .expect("put");
    }
    cluster.settle();
    let blob = |cluster: &mut Cluster, id| match cluster.call(id, ClientRequest::Snapshot) {
        Ok(ClientResponse::Snapshot(snapshot)) => snapshot,
        other => panic!("not a snapshot: {other:?}"),
    };
    let first = blob(&mut cluster, 1);
    let second = blob(&mut cluster, 2);
    assert_eq!(first.index, cluster.member(1).applied_index());
    assert_eq!(first.blob, second.blob, "same index, same bytes");
    cluster.call(leader, put("later", "v")).expect("put");
    cluster.settle();
    let third = blob(&mut cluster, 1);
    assert!(third.index > first.index);
    assert_ne!(third.blob, first.blob);
}

/// Goal: the NOSPACE alarm follows etcd: a write past the quota is refused and raises the
/// alarm on every member; puts, growing txns and lease grants fail with "database space
/// exceeded" (ResourceExhausted) everywhere, reads, deletes and compaction still work; the
/// alarm survives restarts; Alarm DEACTIVATE disarms it. Method: a small quota, then a
/// restart with a large one.
#[test]
fn nospace_alarm_blocks_growing_writes_until_disarmed() {
    let mut cluster = Cluster::new(3, 204, |_| {});
    let leader = cluster.wait_for_leader();
    cluster
        .call(leader, put("a", "1"))
        .expect("put under the quota");
    cluster.settle();
    // A quota a little above what every member's store holds now.
    let largest = (1..=3).map(|id| status(&mut cluster, id).db_size).max();
    let quota = largest.unwrap_or(0) as u64 + 48 * 1024;
    for slot in 0..3 {
        cluster.configs[slot].quota_backend_bytes = quota;
    }
    for id in cluster.ids.clone() {
        cluster.crash(id);
        cluster.restart(id);
    }
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let value = "y".repeat(2048);
    let mut refused = None;
    for k in 0..200 {
        match cluster.call(leader, put(&format!("fill{k}"), &value)) {
            Ok(_) => {}
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    let error = refused.expect("the quota was never reached");
    assert_eq!(
        error.to_string(),
        "etcdserver: mvcc: database space exceeded"
    );
    assert_eq!(error.code().name(), "ResourceExhausted");
    cluster.settle();
    for id in cluster.ids.clone() {
        assert_eq!(
            alarms(&mut cluster, id),
            vec![AlarmMember {
                member_id: leader,
                alarm: AlarmType::NoSpace
            }],
            "member {id}"
        );
        let status = status(&mut cluster, id);
        assert_eq!(
            status.errors,
            vec![format!("memberID:{leader} alarm:NOSPACE")]
        );
    }
    // Restart everyone with a large quota: the alarm is still raised.
    for slot in 0..3 {
        cluster.configs[slot].quota_backend_bytes = 1 << 30;
    }
    for id in cluster.ids.clone() {
        cluster.crash(id);
        cluster.restart(id);
    }
    let leader = cluster.wait_for_leader();
    cluster.settle();
    assert_eq!(alarms(&mut cluster, leader).len(), 1);
    let follower = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    for id in [leader, follower] {
        match cluster.call(id, put("b", "2")) {
            Err(RequestError::NoSpace) => {}
            other => panic!("member {id} took a put under NOSPACE: {other:?}"),
        }
    }
    let grant = ClientRequest::LeaseGrant(LeaseGrantRequest { ttl: 10, id: 0 });
    assert!(matches!(
        cluster.call(leader, grant),
        Err(RequestError::NoSpace)
    ));
    let read = cluster.call(leader, get("a", false)).expect("reads work");
    assert_eq!(value_of(&read), Some(b"1".to_vec()));
    let delete = ClientRequest::DeleteRange(DeleteRangeRequest {
        key: b"fill".to_vec(),
        range_end: b"film".to_vec(),
        prev_kv: false,
    });
    let deleted = cluster.call(leader, delete).expect("deletes work");
    let compact = ClientRequest::Compact(CompactionRequest {
        revision: deleted.header().revision,
        physical: true,
    });
    cluster.call(leader, compact).expect("compaction works");
    let disarm = alarm(AlarmAction::Deactivate, leader, AlarmType::NoSpace);
    match cluster.call(leader, disarm).expect("disarm") {
        ClientResponse::Alarm(response) => assert_eq!(response.alarms.len(), 1),
        other => panic!("{other:?}"),
    }
    cluster.settle();
    for id in cluster.ids.clone() {
        assert!(alarms(&mut cluster, id).is_empty());
    }
    cluster
        .call(leader, put("b", "2"))
        .expect("puts work again");
}

/// Goal: an alarm raised by request is applied on every member and blocks writes at apply
/// time too (a put proposed before the alarm is applied after it fails on every member).
/// Method: propose a put and the alarm back to back.
#[test]
fn alarm_raised_through_raft_caps_the_apply() {
    let mut cluster = Cluster::new(3, 205, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let raise = cluster.request(leader, alarm(AlarmAction::Activate, 2, AlarmType::NoSpace));
    let put_after = cluster.request(leader, put("late", "v"));
    cluster.run_until(20_000, "both answered", |c| {
        c.replies.contains_key(&raise) && c.replies.contains_key(&put_after)
    });
    assert!(cluster.replies[&raise].is_ok());
    assert!(matches!(
        cluster.replies[&put_after],
        Err(RequestError::NoSpace)
    ));
    cluster.settle();
    cluster.assert_converged();
    for id in cluster.ids.clone() {
        let read = cluster.call(id, get("late", true)).expect("read");
        assert_eq!(value_of(&read), None, "member {id} applied a capped put");
    }
}

/// Goal: a disk that fills up stops the member with an error that says so, never a panic,
/// and never an acknowledgement of what is not durable; once space is back the member
/// reopens with every acknowledged write. Method: one member on a SimFs whose capacity is
/// cut to what it uses, puts until it stops.
#[test]
fn full_disk_stops_the_member_cleanly() {
    let disk = SimFs::with_seed(9);
    let mut config = Config::new(1, &[1], 9);
    config.tick_interval_nanos = 10_000_000;
    let mut member = Member::open(disk.clone(), &dir(), config.clone()).expect("open");
    let mut now = Instant(0);
    while !member.is_leader() {
        now = now.plus_nanos(10_000_000);
        member.handle(Event::Tick(now)).expect("tick");
    }
    let used: u64 = disk.image().files.values().map(|f| f.len() as u64).sum();
    disk.set_capacity_bytes(Some(used + 64 * 1024));
    let mut acknowledged = Vec::new();
    let mut stopped = None;
    for k in 0..10_000u64 {
        let request = put(&format!("k{k}"), &"z".repeat(512));
        match member.handle(Event::Request { id: k, request }) {
            Ok(effects) => {
                for effect in effects {
                    if let invar_node::Effect::Reply { id, result: Ok(_) } = effect {
                        acknowledged.push(id);
                    }
                }
            }
            Err(error) => {
                stopped = Some(error);
                break;
            }
        }
    }
    let error = stopped.expect("the disk never filled");
    assert!(error.is_no_space(), "not a no-space error: {error}");
    assert!(
        member.handle(Event::Tick(now)).is_err(),
        "a stopped member goes on"
    );
    drop(member);
    disk.set_capacity_bytes(None);
    let mut member = Member::open(disk.clone(), &dir(), config).expect("reopen");
    while !member.is_leader() {
        now = now.plus_nanos(10_000_000);
        member.handle(Event::Tick(now)).expect("tick");
    }
    for _ in 0..5 {
        now = now.plus_nanos(10_000_000);
        member.handle(Event::Tick(now)).expect("tick");
    }
    assert!(!acknowledged.is_empty());
    for k in acknowledged {
        let read = member
            .store()
            .range(&invar_mvcc::RangeRequest {
                key: format!("k{k}").into_bytes(),
                ..Default::default()
            })
            .expect("range");
        assert_eq!(read.kvs.len(), 1, "acknowledged put k{k} lost");
    }
}
