//! Each deliberate defect changes behaviour at its code path. With the `defects` feature
//! (`cargo test --release -p invar-node --features defects`) every test runs with its
//! defect and asserts the wrong behaviour; without it, the same scenario runs with no
//! defect and asserts the correct one.

mod harness;

use harness::{Cluster, TICK_NANOS, dir, get, put, value_of};
use invar_mvcc::{
    CompactionRequest, LeaseGrantRequest, PutRequest, RangeRequest, Response, WatchCreateRequest,
};
use invar_node::{
    ClientRequest, ClientResponse, Config, Defect, Effect, Event, LeaseKeepAliveRequest, Member,
    MoveLeaderRequest,
};
use invar_raft::{Message, MessageBody};
use invar_storage::fs::SimFs;

const DEFECTS: bool = cfg!(feature = "defects");

/// The defect to configure: `defect` with the feature, none without.
fn chosen(defect: Defect) -> Option<Defect> {
    DEFECTS.then_some(defect)
}

fn with(defect: Defect) -> impl Fn(&mut Config) {
    move |config: &mut Config| config.defect = chosen(defect)
}

fn version_of(response: &ClientResponse) -> i64 {
    match response {
        ClientResponse::Range(range) => range.kvs.first().map_or(0, |kv| kv.version),
        other => panic!("not a range: {other:?}"),
    }
}

/// Without the feature, a member refuses to open with a defect (the build lacks it).
#[test]
fn a_defect_needs_the_feature() {
    let mut config = Config::new(1, &[1], 1);
    config.defect = Some(Defect::CompactDropsLatest);
    let opened = Member::open(SimFs::with_seed(1), &dir(), config);
    if DEFECTS {
        opened.expect("the feature is on");
    } else {
        let error = opened.expect_err("a defect without the feature");
        assert!(
            error.to_string().contains("`defects` cargo feature"),
            "{error}"
        );
    }
}

/// ack-before-wal-sync: a single member acknowledges puts whose entries were never synced;
/// a crash loses some of them (correct: none).
#[test]
fn ack_before_wal_sync_loses_acknowledged_writes() {
    let mut lost = 0;
    for round in 0..4u64 {
        let mut cluster = Cluster::new(1, 300 + round, |config| {
            config.defect = chosen(Defect::AckBeforeWalSync);
            config.mvcc.commits_per_sync = 1_000;
        });
        cluster.wait_for_leader();
        for k in 0..10 {
            cluster
                .call(1, put(&format!("k{k}"), "v"))
                .expect("acknowledged");
        }
        cluster.crash(1);
        cluster.restart(1);
        cluster.wait_for_leader();
        for k in 0..10 {
            let read = cluster.call(1, get(&format!("k{k}"), false)).expect("read");
            lost += usize::from(value_of(&read).is_none());
        }
    }
    if DEFECTS {
        assert!(lost > 0, "no acknowledged write was lost");
    } else {
        assert_eq!(lost, 0, "acknowledged writes lost");
    }
}

/// consistent-index-separate-txn: after a crash, a put whose data was durable but whose
/// consistent index was not is applied again (its version goes to 2); correct: version 1.
#[test]
fn consistent_index_separate_txn_applies_an_entry_twice() {
    let mut doubled = 0;
    for round in 0..6u64 {
        let mut cluster = Cluster::new(1, 400 + round, |config| {
            config.defect = chosen(Defect::ConsistentIndexSeparateTxn);
        });
        cluster.wait_for_leader();
        cluster.call(1, put("once", "v")).expect("put");
        cluster.crash(1);
        cluster.restart(1);
        cluster.wait_for_leader();
        let read = cluster.call(1, get("once", false)).expect("read");
        doubled += usize::from(version_of(&read) > 1);
    }
    if DEFECTS {
        assert!(doubled > 0, "no entry was applied twice");
    } else {
        assert_eq!(doubled, 0, "an entry was applied twice");
    }
}

/// linearizable-read-local: a follower cut off from the leader answers a linearizable read
/// at once with a stale value; correct: it cannot confirm the read (no answer but an
/// error).
#[test]
fn linearizable_read_local_returns_stale_data() {
    let mut cluster = Cluster::new(3, 501, with(Defect::LinearizableReadLocal));
    let leader = cluster.wait_for_leader();
    cluster.call(leader, put("x", "old")).expect("put");
    cluster.settle();
    let follower = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    cluster.cut.insert(follower);
    cluster
        .call(leader, put("x", "new"))
        .expect("put with 2 of 3");
    let read = cluster.call(follower, get("x", false));
    assert_eq!(read.is_ok(), DEFECTS, "answered at once: {read:?}");
    if let Ok(read) = read {
        assert_eq!(value_of(&read), Some(b"old".to_vec()), "stale value");
    }
}

/// lease-expiry-follower-clock: a lease kept alive on the leader is revoked by the next
/// leader at the expiry its follower clock set at the grant; correct: the new leader renews
/// every lease, so it survives the transfer.
#[test]
fn lease_expiry_on_follower_clock_revokes_a_kept_lease() {
    let mut cluster = Cluster::new(3, 601, with(Defect::LeaseExpiryFollowerClock));
    let leader = cluster.wait_for_leader();
    cluster.settle();
    let grant = ClientRequest::LeaseGrant(LeaseGrantRequest { ttl: 3, id: 0 });
    let granted = cluster.call(leader, grant).expect("grant");
    let ClientResponse::Applied(Response::LeaseGrant(lease)) = granted else {
        panic!("not a grant");
    };
    let leased = ClientRequest::Put(PutRequest {
        key: b"leased".to_vec(),
        value: b"v".to_vec(),
        lease: lease.id,
        ..PutRequest::default()
    });
    cluster.call(leader, leased).expect("put");
    // Keep it alive on the leader for 6 s (twice its TTL).
    for _ in 0..12 {
        let until = cluster.now.plus_nanos(500_000_000);
        cluster.run_until(100_000, "half a second", |c| c.now >= until);
        let keep = ClientRequest::LeaseKeepAlive(LeaseKeepAliveRequest { id: lease.id });
        cluster.call(leader, keep).expect("keep-alive");
    }
    cluster.settle();
    let target = cluster.ids.iter().copied().find(|&i| i != leader).unwrap();
    let to = ClientRequest::MoveLeader(MoveLeaderRequest { target_id: target });
    cluster.call(leader, to).expect("move leader");
    let until = cluster.now.plus_nanos(100 * TICK_NANOS);
    cluster.run_until(100_000, "one second on the new leader", |c| c.now >= until);
    cluster.settle();
    let read = cluster.call(target, get("leased", false)).expect("read");
    if DEFECTS {
        assert_eq!(value_of(&read), None, "the lease survived the defect");
    } else {
        assert_eq!(value_of(&read), Some(b"v".to_vec()), "a kept lease expired");
    }
}

/// watch-catch-up-drops-events: a watcher starting in the past misses events; correct: it
/// gets every revision in order.
#[test]
fn watch_catch_up_drops_events() {
    let mut cluster = Cluster::new(1, 701, |config| {
        config.defect = chosen(Defect::WatchCatchUpDropsEvents);
        config.mvcc.watch_catch_up_revisions_max = 3;
    });
    cluster.wait_for_leader();
    let mut revisions = Vec::new();
    for k in 0..10 {
        let response = cluster.call(1, put(&format!("w{k}"), "v")).expect("put");
        revisions.push(response.header().revision);
    }
    let create = WatchCreateRequest {
        key: b"w".to_vec(),
        range_end: b"x".to_vec(),
        start_revision: revisions[0],
        ..WatchCreateRequest::default()
    };
    cluster.feed(
        1,
        Event::WatchCreate {
            stream: 1,
            request: create,
        },
    );
    for _ in 0..50 {
        cluster.step();
    }
    let seen: Vec<i64> = cluster.watch[&(1, 1)]
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.kv.mod_revision))
        .collect();
    if DEFECTS {
        assert!(seen.len() < revisions.len(), "no event lost: {seen:?}");
    } else {
        assert_eq!(seen, revisions);
    }
}

/// compact-drops-latest: compaction removes a live key whose latest revision is below the
/// compaction revision; correct: the key stays readable.
#[test]
fn compact_drops_latest_loses_a_live_key() {
    let mut cluster = Cluster::new(1, 801, with(Defect::CompactDropsLatest));
    cluster.wait_for_leader();
    cluster.call(1, put("old", "v")).expect("put");
    let last = cluster.call(1, put("other", "w")).expect("put");
    let compact = ClientRequest::Compact(CompactionRequest {
        revision: last.header().revision,
        physical: true,
    });
    cluster.call(1, compact).expect("compact");
    let read = cluster.call(1, get("old", false)).expect("read");
    let range = ClientRequest::Range(RangeRequest {
        key: b"o".to_vec(),
        range_end: b"p".to_vec(),
        ..RangeRequest::default()
    });
    let all = cluster.call(1, range).expect("range");
    if DEFECTS {
        assert_eq!(value_of(&read), None, "the defect kept the key");
    } else {
        assert_eq!(value_of(&read), Some(b"v".to_vec()));
        let ClientResponse::Range(all) = all else {
            panic!("not a range");
        };
        assert_eq!(all.count, 2);
    }
}

fn vote_request(from: u64, term: u64) -> Event {
    Event::Message(Message {
        from,
        to: 1,
        term,
        body: MessageBody::Vote {
            pre: false,
            force: false,
            last_index: 10,
            last_term: 1,
        },
    })
}

fn granted(effects: &[Effect], to: u64) -> Option<bool> {
    effects.iter().find_map(|effect| match effect {
        Effect::Send(Message {
            to: target,
            body: MessageBody::VoteResponse { pre: false, reject },
            ..
        }) if *target == to => Some(!reject),
        _ => None,
    })
}

/// forget-vote-on-restart: a member votes for 2 in term 5, restarts, and votes for 3 in the
/// same term; correct: the second vote is refused.
#[test]
fn forget_vote_on_restart_votes_twice() {
    let disk = SimFs::with_seed(5);
    let mut config = Config::new(1, &[1, 2, 3], 5);
    config.defect = chosen(Defect::ForgetVoteOnRestart);
    let mut member = Member::open(disk.clone(), &dir(), config.clone()).expect("open");
    let effects = member.handle(vote_request(2, 5)).expect("vote for 2");
    assert_eq!(granted(&effects, 2), Some(true));
    drop(member);
    let _ = disk.crash();
    let mut member = Member::open(disk, &dir(), config).expect("reopen");
    let effects = member.handle(vote_request(3, 5)).expect("vote for 3");
    let second = granted(&effects, 3).expect("an answer to 3");
    assert_eq!(second, DEFECTS, "second vote in term 5 granted: {second}");
}
