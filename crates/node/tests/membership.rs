//! The cluster API: learners are added, catch up, are promoted and vote; members (the
//! leader too) are removed; the member list survives restarts and travels in snapshots;
//! etcd's rules and error strings; MoveLeader.

mod harness;

use harness::{Cluster, get, put, value_of};
use invar_node::{
    AlarmAction, AlarmRequest, AlarmType, ClientRequest, ClientResponse, Event, MemberAddRequest,
    MemberAttributes, MemberIdRequest, MemberInfo, MemberListRequest, MoveLeaderRequest,
    RequestError,
};
use invar_raft::{ConfState, Message, MessageBody, NodeId, Snapshot, SnapshotMeta};

fn add(id: NodeId, learner: bool) -> ClientRequest {
    ClientRequest::MemberAdd(MemberAddRequest {
        peer_urls: vec![format!("http://m{id}:2380")],
        is_learner: learner,
        id,
    })
}

fn promote(id: NodeId) -> ClientRequest {
    ClientRequest::MemberPromote(MemberIdRequest { id })
}

fn remove(id: NodeId) -> ClientRequest {
    ClientRequest::MemberRemove(MemberIdRequest { id })
}

fn list(linearizable: bool) -> ClientRequest {
    ClientRequest::MemberList(MemberListRequest { linearizable })
}

fn members(response: &ClientResponse) -> Vec<MemberInfo> {
    match response {
        ClientResponse::Members(r) => r.members.clone(),
        ClientResponse::MemberAdd(r) => r.members.clone(),
        other => panic!("not a member list: {other:?}"),
    }
}

fn ids(members: &[MemberInfo]) -> Vec<(NodeId, bool)> {
    members.iter().map(|m| (m.id, m.is_learner)).collect()
}

fn named_cluster(seed: u64, tweak: impl Fn(&mut invar_node::Config)) -> Cluster {
    Cluster::new(3, seed, |config| {
        for id in 1..=3 {
            config.initial_cluster.insert(
                id,
                MemberAttributes {
                    name: format!("m{id}"),
                    peer_urls: vec![format!("http://m{id}:2380")],
                    client_urls: vec![format!("http://m{id}:2379")],
                },
            );
        }
        tweak(config);
    })
}

/// Runs until the leader knows the learner matched its whole log (settling only says the
/// learner applied it: its acknowledgement may still be on the way).
fn learner_known_caught_up(cluster: &mut Cluster, leader: NodeId, learner: NodeId) {
    cluster.run_until(20_000, "the leader knows the learner caught up", |c| {
        let raft = c.member(leader).raft();
        raft.progress(learner).map(|p| p.match_index) == Some(raft.last_index())
    });
}

fn expect_error(result: Result<ClientResponse, RequestError>, text: &str) {
    match result {
        Err(error) => assert_eq!(error.to_string(), text),
        Ok(response) => panic!("expected {text:?}, got {response:?}"),
    }
}

/// Goal: a learner is added, is refused promotion while behind, catches up, is promoted,
/// and then its vote is needed and counts. Method: add learner 4, promote it before it
/// runs (refused), start it, settle, promote; then cut the leader: the three others (4
/// among them) must elect a leader with a quorum of 3 of 4.
#[test]
fn learner_catches_up_is_promoted_and_votes() {
    let mut cluster = named_cluster(101, |_| {});
    let leader = cluster.wait_for_leader();
    for k in 0..10 {
        cluster
            .call(leader, put(&format!("k{k}"), "v"))
            .expect("put");
    }
    let added = cluster.call(leader, add(4, true)).expect("member add");
    let ClientResponse::MemberAdd(response) = &added else {
        panic!("not a member add: {added:?}");
    };
    assert_eq!(response.member.id, 4);
    assert!(response.member.is_learner);
    assert_eq!(
        response.member.peer_urls,
        vec!["http://m4:2380".to_string()]
    );
    assert_eq!(
        ids(&response.members),
        vec![(1, false), (2, false), (3, false), (4, true)]
    );
    assert_eq!(response.members[0].name, "m1");
    expect_error(
        cluster.call(leader, promote(4)),
        "etcdserver: can only promote a learner member which is in sync with leader",
    );
    cluster.join(4, |_| {});
    cluster.settle();
    cluster.assert_converged();
    let read = cluster
        .call(4, get("k9", true))
        .expect("learner serves serializable");
    assert_eq!(value_of(&read), Some(b"v".to_vec()));
    expect_error(
        cluster.call(4, get("k9", false)),
        "etcdserver: rpc not supported for learner",
    );
    let leader = cluster.wait_for_leader();
    learner_known_caught_up(&mut cluster, leader, 4);
    let promoted = cluster.call(leader, promote(4)).expect("promote");
    assert_eq!(
        ids(&members(&promoted)),
        vec![(1, false), (2, false), (3, false), (4, false)]
    );
    cluster.settle();
    assert!(cluster.member(4).raft().conf_state().voters.contains(&4));
    assert_eq!(
        cluster.member(4).members(),
        cluster.member(leader).members()
    );
    cluster.cut.insert(leader);
    let new = cluster.wait_for_leader();
    assert_ne!(new, leader);
    cluster
        .call(new, put("after", "promotion"))
        .expect("put with 3 of 4");
    let voters = cluster.member(new).raft().conf_state().voters.len();
    assert_eq!(voters, 4, "a quorum of 3 needs member 4's vote");
}

/// Goal: each of etcd's member errors, with its text. Method: provoke each on a 3-member
/// cluster.
#[test]
fn member_errors_have_etcd_texts() {
    let mut cluster = named_cluster(102, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let follower = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    cluster.run_until(10_000, "the follower knows the leader", |c| {
        c.member(follower).leader() == leader
    });
    expect_error(
        cluster.call(follower, add(4, true)),
        "etcdserver: not leader",
    );
    expect_error(
        cluster.call(leader, add(2, true)),
        "etcdserver: member ID already exist",
    );
    let taken = ClientRequest::MemberAdd(MemberAddRequest {
        peer_urls: vec!["http://m1:2380".into()],
        is_learner: true,
        id: 9,
    });
    expect_error(
        cluster.call(leader, taken),
        "etcdserver: Peer URLs already exists",
    );
    let no_urls = ClientRequest::MemberAdd(MemberAddRequest::default());
    expect_error(
        cluster.call(leader, no_urls),
        "etcdserver: given member URLs are invalid",
    );
    expect_error(
        cluster.call(leader, remove(99)),
        "etcdserver: member not found",
    );
    expect_error(
        cluster.call(leader, promote(99)),
        "etcdserver: member not found",
    );
    expect_error(
        cluster.call(leader, promote(follower)),
        "etcdserver: can only promote a learner member",
    );
    cluster.call(leader, add(4, true)).expect("first learner");
    expect_error(
        cluster.call(leader, add(5, true)),
        "etcdserver: too many learner members in cluster",
    );
    // A generated id is fresh and deterministic.
    cluster.call(leader, remove(4)).expect("remove the learner");
    expect_error(
        cluster.call(leader, add(4, true)),
        "etcdserver: member ID already exist",
    );
    let generated = ClientRequest::MemberAdd(MemberAddRequest {
        peer_urls: vec!["http://new:2380".into()],
        is_learner: true,
        id: 0,
    });
    let response = cluster
        .call(leader, generated)
        .expect("add with a drawn id");
    let ClientResponse::MemberAdd(added) = &response else {
        panic!("{response:?}");
    };
    assert!(![0, 1, 2, 3, 4].contains(&added.member.id));
    // Strict reconfig: with one follower silent, adding a voter or removing the healthy
    // follower would leave too few started voters; removing the silent one is fine.
    let silent = cluster
        .ids
        .iter()
        .copied()
        .find(|&i| i != leader && i != follower)
        .unwrap();
    cluster.cut.insert(silent);
    for _ in 0..400 {
        cluster.step();
    }
    let leader = cluster.wait_for_leader();
    let healthy = [1, 2, 3]
        .into_iter()
        .find(|&i| i != leader && i != silent)
        .unwrap();
    let text = "etcdserver: re-configuration failed due to not enough started members";
    expect_error(cluster.call(leader, add(6, false)), text);
    expect_error(cluster.call(leader, remove(healthy)), text);
    let after = cluster
        .call(leader, remove(silent))
        .expect("remove the silent one");
    assert!(members(&after).iter().all(|m| m.id != silent));
}

/// Goal: removing the leader works: it answers, applies its own removal, steps down and
/// refuses everything after; the others go on without it. Method: MemberRemove of the
/// leader on the leader.
#[test]
fn removing_the_leader() {
    let mut cluster = named_cluster(103, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.call(leader, put("a", "1")).expect("put");
    cluster.settle();
    let response = cluster
        .call(leader, remove(leader))
        .expect("remove the leader");
    assert!(members(&response).iter().all(|m| m.id != leader));
    assert!(cluster.member(leader).is_removed());
    assert!(!cluster.member(leader).is_leader());
    expect_error(
        cluster.call(leader, get("a", true)),
        "etcdserver: the member has been permanently removed from the cluster",
    );
    // A shell that ticks it at its deadline sees the deadline move on (it once stayed in
    // the past for good, and the simulator spun at one instant).
    let deadline = cluster
        .member(leader)
        .next_deadline()
        .expect("a deadline after ticks");
    cluster.feed(leader, Event::Tick(deadline));
    let after = cluster.member(leader).next_deadline().expect("a deadline");
    assert!(
        after > deadline,
        "deadline {after:?} did not pass {deadline:?}"
    );
    cluster.retire(leader);
    let new = cluster.wait_for_leader();
    cluster
        .call(new, put("b", "2"))
        .expect("put without the old leader");
    cluster.settle();
    for id in [1, 2, 3].into_iter().filter(|&i| i != leader) {
        let listed = cluster.call(id, list(true)).expect("member list");
        assert_eq!(members(&listed).len(), 2);
        assert!(!cluster.member(id).is_removed());
    }
}

/// Goal: the member list is durable: a whole-cluster restart keeps it, and so does a
/// restart from a snapshot. Method: add and promote member 4, snapshot every 10 entries,
/// crash and restart everyone.
#[test]
fn restart_keeps_the_member_list() {
    let mut cluster = named_cluster(104, |config| {
        config.snapshot_entries = 10;
        config.snapshot_keep_entries = 2;
    });
    let leader = cluster.wait_for_leader();
    // A new leader takes conf changes once it committed an entry of its term.
    cluster.settle();
    cluster.call(leader, add(4, true)).expect("add");
    cluster.join(4, |config| {
        config.snapshot_entries = 10;
        config.snapshot_keep_entries = 2;
    });
    cluster.settle();
    let leader = cluster.wait_for_leader();
    learner_known_caught_up(&mut cluster, leader, 4);
    cluster.call(leader, promote(4)).expect("promote");
    for k in 0..25 {
        let leader = cluster.wait_for_leader();
        let _ = cluster.call(leader, put(&format!("k{k}"), "v"));
    }
    cluster.settle();
    let before = cluster.member(1).members();
    assert_eq!(before.len(), 4);
    for id in cluster.ids.clone() {
        assert!(cluster.member(id).snapshot_index() > 0);
        cluster.crash(id);
    }
    for id in cluster.ids.clone() {
        cluster.restart(id);
        assert_eq!(
            cluster.member(id).members(),
            before,
            "member {id} right after reopen"
        );
    }
    cluster.settle();
    for id in cluster.ids.clone() {
        assert_eq!(cluster.member(id).members(), before, "member {id}");
    }
    assert_eq!(before[0].client_urls, vec!["http://m1:2379".to_string()]);
}

/// Goal: a member joining after the log was compacted gets the member list (with every
/// member's attributes) from the leader's snapshot. Method: snapshot every 15 entries with
/// 3 kept, 60 puts, then add and start member 4.
#[test]
fn snapshot_carries_the_member_list_to_a_new_member() {
    let tweak = |config: &mut invar_node::Config| {
        config.snapshot_entries = 15;
        config.snapshot_keep_entries = 3;
    };
    let mut cluster = named_cluster(105, tweak);
    let leader = cluster.wait_for_leader();
    for k in 0..60 {
        cluster
            .call(leader, put(&format!("k{}", k % 7), "v"))
            .expect("put");
    }
    assert!(
        cluster.member(leader).raft().first_index() > 4,
        "log not compacted"
    );
    cluster.call(leader, add(4, true)).expect("add");
    cluster.join(4, tweak);
    cluster.settle();
    cluster.assert_converged();
    assert!(
        cluster.member(4).snapshot_index() > 0,
        "no snapshot installed"
    );
    assert_eq!(
        cluster.member(4).members(),
        cluster.member(leader).members()
    );
    assert_eq!(cluster.member(4).members()[1].name, "m2");
}

/// Goal: MoveLeader follows etcd: not on a follower, not to a learner, and answered once
/// the target leads. Method: each case on a 3-member cluster with a learner.
#[test]
fn move_leader() {
    let mut cluster = named_cluster(106, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let target = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    let to = |target_id| ClientRequest::MoveLeader(MoveLeaderRequest { target_id });
    expect_error(cluster.call(target, to(leader)), "etcdserver: not leader");
    cluster.call(leader, add(4, true)).expect("add learner");
    expect_error(
        cluster.call(leader, to(4)),
        "etcdserver: bad leader transferee",
    );
    expect_error(
        cluster.call(leader, to(77)),
        "etcdserver: bad leader transferee",
    );
    cluster.call(leader, to(target)).expect("move leader");
    assert_eq!(cluster.leader(), Some(target));
    cluster
        .call(target, put("x", "y"))
        .expect("put on the new leader");
}

/// Goal: a removed member cannot disturb the cluster (etcd refuses its messages: "cannot
/// process message from removed member"); one that never applied its own removal would
/// otherwise depose the leader with a higher term. Method: remove a follower, then hand the
/// leader a heartbeat from it at a higher term.
#[test]
fn messages_from_a_removed_member_are_dropped() {
    let mut cluster = named_cluster(107, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let gone = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    cluster
        .call(leader, remove(gone))
        .expect("remove a follower");
    cluster.retire(gone);
    cluster.settle();
    let term = cluster.member(leader).term();
    let heartbeat = Message {
        from: gone,
        to: leader,
        term: term + 3,
        body: MessageBody::Heartbeat {
            commit: 0,
            read_seq: 0,
        },
    };
    cluster.feed(leader, Event::Message(heartbeat));
    assert!(
        cluster.member(leader).is_leader(),
        "deposed by a removed member"
    );
    assert_eq!(cluster.member(leader).term(), term);
    cluster
        .call(leader, put("still", "leading"))
        .expect("put after the removed member spoke");
}

/// Goal: a snapshot whose data is not an envelope, or whose member list contradicts its
/// raft configuration, is dropped before raft takes it (taken, it would be made durable and
/// then stop the member, for good, or split the member list from raft's configuration).
/// Method: hand a follower both kinds from the leader, at the leader's term and past its log.
#[test]
fn a_snapshot_with_bad_data_is_dropped() {
    let mut cluster = named_cluster(108, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.call(leader, put("a", "1")).expect("put");
    cluster.settle();
    let follower = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    let blob = match cluster.call(leader, ClientRequest::Snapshot) {
        Ok(ClientResponse::Snapshot(snapshot)) => snapshot.blob,
        other => panic!("not a snapshot: {other:?}"),
    };
    let term = cluster.member(leader).term();
    let index = cluster.member(leader).raft().last_index() + 50;
    let snapshot = |data: Vec<u8>, voters: &[NodeId]| Message {
        from: leader,
        to: follower,
        term,
        body: MessageBody::Snapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index,
                    term,
                    conf_state: ConfState {
                        voters: voters.iter().copied().collect(),
                        learners: Default::default(),
                    },
                },
                data,
            },
        },
    };
    let garbage = snapshot(b"not an envelope".to_vec(), &[1, 2, 3]);
    cluster.feed(follower, Event::Message(garbage));
    let two: Vec<NodeId> = [1, 2, 3].into_iter().filter(|&i| i != follower).collect();
    let mismatched = snapshot(blob, &two);
    cluster.feed(follower, Event::Message(mismatched));
    assert!(cluster.members[(follower - 1) as usize].is_some());
    assert!(cluster.member(follower).snapshot_index() < index);
    cluster.call(leader, put("b", "2")).expect("put");
    cluster.settle();
    cluster.assert_converged();
}

/// Goal: a MoveLeader whose target never leads fails with etcd's own text for it
/// (`ErrTimeoutLeaderTransfer`, which clients tell apart from a plain timeout). Method: cut
/// the target off, then move leadership to it.
#[test]
fn move_leader_to_an_unreachable_member_times_out() {
    let mut cluster = named_cluster(109, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let target = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    cluster.cut.insert(target);
    let to = ClientRequest::MoveLeader(MoveLeaderRequest { target_id: target });
    let result = cluster.call(leader, to);
    let Err(error) = result else {
        panic!("moved leadership to a cut member: {result:?}");
    };
    assert_eq!(
        error.to_string(),
        "etcdserver: request timed out, leader transfer took too long"
    );
    assert_eq!(error.code().name(), "Unavailable");
    assert!(error.outcome_unknown());
}

/// Goal: a learner refuses a write as etcd does, "rpc not supported for learner", even when
/// the NOSPACE alarm is raised (etcd's learner check comes before its quota check). Method:
/// a learner, the alarm, a put on the learner.
#[test]
fn a_learner_refuses_writes_before_the_quota() {
    let mut cluster = named_cluster(110, |_| {});
    let leader = cluster.wait_for_leader();
    cluster.settle();
    cluster.call(leader, add(4, true)).expect("add a learner");
    cluster.join(4, |_| {});
    cluster.settle();
    let raise = ClientRequest::Alarm(AlarmRequest {
        action: AlarmAction::Activate,
        member_id: leader,
        alarm: AlarmType::NoSpace,
    });
    cluster.call(leader, raise).expect("raise NOSPACE");
    cluster.settle();
    assert!(cluster.member(4).is_learner() && !cluster.member(4).alarms().is_empty());
    expect_error(
        cluster.call(4, put("x", "y")),
        "etcdserver: rpc not supported for learner",
    );
}
