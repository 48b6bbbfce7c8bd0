//! Scenario tests, one per mechanism, on the scripted network. Where a test follows a figure or
//! section of the Raft paper (Ongaro & Ousterhout, 2014) or thesis, its name says so.

use invar_raft::testkit::{MemNode, MemStorage, Network};
use invar_raft::types::{ConfChange, ConfChangeKind, Entry, EntryKind, HardState, MessageBody};
use invar_raft::{Config, PersistedState, ProgressState, ProposeError, Raft, RequestError, Role};

fn elect(network: &mut Network, id: u64) {
    network.campaign(id);
    assert_eq!(network.raft(id).role(), Role::Leader, "{id} should lead");
}

fn log_terms(raft: &Raft) -> Vec<(u64, u64)> {
    raft.log_entries_from(1)
        .iter()
        .map(|e| (e.index, e.term))
        .collect()
}

fn change(kind: ConfChangeKind, node_id: u64) -> ConfChange {
    ConfChange {
        kind,
        node_id,
        context: Vec::new(),
    }
}

#[test]
fn election_randomized_timeouts_elect_exactly_one_leader() {
    let mut network = Network::new(&[1, 2, 3, 4, 5]);
    network.tick_all(30);
    let leaders: Vec<u64> = (1..=5)
        .filter(|&id| network.raft(id).role() == Role::Leader)
        .collect();
    assert_eq!(leaders.len(), 1, "leaders: {leaders:?}");
    let leader = leaders[0];
    for id in 1..=5 {
        assert_eq!(network.raft(id).leader(), leader);
    }
}

#[test]
fn single_member_cluster_leads_and_commits_alone() {
    let mut network = Network::new(&[1]);
    elect(&mut network, 1);
    let index = network.propose(1, b"x");
    assert_eq!(network.raft(1).committed(), index);
    assert_eq!(network.raft(1).applied(), index);
}

#[test]
fn proposals_on_a_follower_name_the_leader() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    let refused = network.raft_mut(2).propose(b"x".to_vec());
    assert_eq!(refused, Err(ProposeError::NotLeader { leader: 1 }));
}

/// Pre-vote and check-quorum: a member cut off from the others keeps campaigning, but only
/// in pre-vote rounds that never raise its term; when it comes back the leader stays.
#[test]
fn partitioned_candidate_rejoining_does_not_disrupt_the_leader() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    let term = network.raft(1).term();
    network.isolate(3);
    network.tick(3, 100);
    assert_eq!(
        network.raft(3).term(),
        term,
        "pre-vote must not raise the term"
    );
    network.recover();
    network.tick_all(5);
    assert_eq!(network.raft(1).role(), Role::Leader);
    assert_eq!(network.raft(1).term(), term);
    assert_eq!(network.raft(3).leader(), 1);
}

/// The same scenario without pre-vote and check-quorum shows what they prevent: the rejoining
/// member's inflated term deposes a healthy leader.
#[test]
fn without_pre_vote_a_rejoining_member_disrupts_the_leader() {
    let mut network = Network::with_config(&[1, 2, 3], |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    elect(&mut network, 1);
    let term = network.raft(1).term();
    network.isolate(3);
    network.tick(3, 100);
    assert!(network.raft(3).term() > term + 2);
    network.recover();
    network.tick_all(30);
    assert!(
        network.raft(1).term() > term + 2,
        "the leader was deposed by the higher term"
    );
}

/// Check-quorum: a leader that stops hearing from a quorum steps down within an election
/// timeout, and the majority side elects a new leader.
#[test]
fn check_quorum_leader_cut_off_steps_down() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.isolate(1);
    network.tick(1, 21);
    assert_eq!(network.raft(1).role(), Role::Follower);
    network.tick_all(30);
    let new_leader = (2..=3).find(|&id| network.raft(id).role() == Role::Leader);
    assert!(new_leader.is_some());
}

/// A follower that heard from its leader within the election timeout ignores vote requests
/// (the leader lease), so a member with a fresher log alone cannot start a term change.
#[test]
fn vote_requests_inside_the_leader_lease_are_ignored() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    let term = network.raft(1).term();
    // Member 2 campaigns without pre-vote by force of a raised term message.
    network.raft_mut(2).campaign();
    network.stabilize();
    assert_eq!(network.raft(1).role(), Role::Leader);
    assert_eq!(network.raft(1).term(), term);
}

#[test]
fn replication_commits_on_a_quorum_and_tolerates_a_minority_down() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.isolate(3);
    let index = network.propose(1, b"a");
    assert_eq!(network.raft(1).committed(), index);
    assert_eq!(network.raft(2).committed(), index);
    assert!(network.raft(3).committed() < index);
    network.recover();
    network.tick_all(2);
    assert_eq!(network.raft(3).committed(), index);
    assert_eq!(log_terms(network.raft(3)), log_terms(network.raft(1)));
}

/// Flow control: with the follower's acknowledgements withheld, the leader stops after
/// `inflight_messages_max` appends; message size bounds how many entries each carries.
#[test]
fn flow_control_bounds_in_flight_appends_and_message_size() {
    let mut network = Network::with_config(&[1, 2], |c| {
        c.inflight_messages_max = 3;
        c.message_bytes_max = 40;
    });
    elect(&mut network, 1);
    network.drop_kind("append-response");
    network.in_flight.clear();
    let before = network.raft(2).last_index();
    for k in 0..10u8 {
        network.raft_mut(1).propose(vec![k; 20]).unwrap();
    }
    network.process();
    let appends: Vec<usize> = network
        .in_flight
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } if m.to == 2 && !entries.is_empty() => {
                Some(entries.len())
            }
            _ => None,
        })
        .collect();
    assert_eq!(appends.len(), 3, "in-flight window of 3: {appends:?}");
    assert!(
        appends.iter().all(|&n| n == 1),
        "40 bytes fit one entry of 37"
    );
    network.stabilize();
    assert_eq!(network.raft(2).last_index(), before + 3);
    // Once acknowledgements flow again, the follower catches up.
    network.recover();
    network.tick_all(3);
    assert_eq!(network.raft(2).last_index(), network.raft(1).last_index());
}

fn restarted(id: u64, terms: &[u64], hard_term: u64) -> MemNode {
    let entries = terms
        .iter()
        .enumerate()
        .map(|(k, &term)| Entry {
            term,
            index: k as u64 + 1,
            kind: EntryKind::Normal,
            data: vec![term as u8, k as u8],
        })
        .collect();
    let state = MemStorage {
        hard_state: HardState {
            term: hard_term,
            vote: 0,
            commit: 0,
        },
        snapshot: Some(invar_raft::Snapshot {
            meta: invar_raft::SnapshotMeta {
                index: 0,
                term: 0,
                conf_state: invar_raft::ConfState::with_voters(1..=7),
            },
            data: vec![],
        }),
        entries,
    };
    MemNode::restart(Config::new(id, id), state)
}

/// Figure 7: followers (a)–(f) with missing and extraneous entries. Once the leader of term
/// 8 is elected, every log converges to the leader's, and fast backtracking skips whole terms.
#[test]
fn figure_7_logs_converge_to_the_leaders() {
    let leader_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [&[u64]; 6] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    let mut network = Network::new(&[]);
    network.nodes.insert(1, restarted(1, &leader_log, 7));
    for (k, log) in followers.iter().enumerate() {
        let id = k as u64 + 2;
        network.nodes.insert(id, restarted(id, log, 7));
    }
    elect(&mut network, 1);
    assert_eq!(network.raft(1).term(), 8);
    let rejections = std::cell::Cell::new(0);
    for _ in 0..50 {
        network.process();
        let messages: Vec<_> = network.in_flight.drain(..).collect();
        for message in messages {
            if let MessageBody::AppendResponse {
                reject: Some(_), ..
            } = message.body
            {
                rejections.set(rejections.get() + 1);
            }
            network.deliver(message);
        }
    }
    network.tick_all(2);
    let expected = log_terms(network.raft(1));
    assert_eq!(expected.len(), 11);
    for id in 2..=7 {
        assert_eq!(log_terms(network.raft(id)), expected, "follower {id}");
    }
    // Without term hints this would take one rejection per entry of difference (~25); with
    // them it takes at most about one per conflicting term per follower.
    assert!(rejections.get() <= 10, "{} rejections", rejections.get());
}

/// Figure 8: the leader of a later term holds an entry of an older term that a majority has
/// acknowledged, but none of its own term yet. Counting replicas must not commit the old
/// entry (it could still be overwritten); it commits only with the new term's no-op.
#[test]
fn figure_8_old_term_entries_are_not_committed_by_counting() {
    let mut network = Network::with_config(&[1, 2, 3], |c| {
        c.pre_vote = false;
        c.check_quorum = false;
        c.message_bytes_max = 1; // one entry per append, so acks can be told apart
    });
    elect(&mut network, 1);
    let old_index = network.raft(1).last_index() + 1;
    // S1 appends an entry in its term that reaches nobody, then restarts.
    network.isolate(1);
    network.raft_mut(1).propose(b"old".to_vec()).unwrap();
    network.process();
    network.in_flight.clear();
    network.crash_and_restart(1);
    network.recover();
    // S1 wins the next term (its log is the most up to date) and replicates the old entry to
    // the others, but every acknowledgement of its new no-op is lost.
    network.raft_mut(1).campaign();
    for _ in 0..40 {
        network.process();
        let messages: Vec<_> = network.in_flight.drain(..).collect();
        for m in messages {
            let acks_noop = m.to == 1
                && matches!(m.body, MessageBody::AppendResponse { index, reject: None } if index > old_index);
            if !acks_noop {
                network.deliver(m);
            }
        }
    }
    let leader = network.raft(1);
    assert_eq!(leader.role(), Role::Leader);
    assert!(leader.term() > leader.log_term(old_index).unwrap());
    assert_eq!(
        network.raft(2).log_term(old_index),
        leader.log_term(old_index),
        "a majority holds it"
    );
    assert!(
        leader.committed() < old_index,
        "old-term entry committed by counting replicas: commit {}",
        leader.committed()
    );
    // Once the no-op of the new term is acknowledged, both commit.
    network.tick(1, 1);
    network.stabilize();
    assert_eq!(network.raft(1).committed(), old_index + 1);
}

#[test]
fn lagging_follower_catches_up_by_snapshot() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.isolate(3);
    for k in 0..20u8 {
        network.propose(1, &[k]);
    }
    let data = network.nodes[&1].state.encode();
    let meta = network
        .raft_mut(1)
        .compact(data.clone(), 0)
        .expect("snapshot");
    assert!(network.raft(1).first_index() > 2);
    network.recover();
    network.in_flight.clear();
    network.raft_mut(1).tick();
    network.process();
    // The heartbeat response reveals the follower is behind; the probe then needs a snapshot.
    let mut snapshots_sent = 0;
    for _ in 0..20 {
        network.process();
        let messages: Vec<_> = network.in_flight.drain(..).collect();
        for m in messages {
            if m.to == 3 && matches!(m.body, MessageBody::Snapshot { .. }) {
                snapshots_sent += 1;
            }
            network.deliver(m);
        }
    }
    assert_eq!(snapshots_sent, 1);
    network.tick_all(2);
    assert_eq!(network.raft(3).committed(), network.raft(1).committed());
    assert_eq!(
        network.nodes[&3]
            .storage
            .snapshot
            .as_ref()
            .map(|s| s.meta.index),
        Some(meta.index)
    );
    assert_eq!(network.nodes[&3].state, network.nodes[&1].state);
    assert_eq!(
        network.raft(1).progress(3).map(|p| p.state),
        Some(ProgressState::Replicate)
    );
}

#[test]
fn restart_recovers_persisted_state_and_snapshot() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    for k in 0..5u8 {
        network.propose(1, &[k]);
    }
    // Member 2 takes a snapshot (keeping two entries behind it), then more entries follow.
    network.nodes.get_mut(&2).unwrap().snapshot_every = 1;
    network.nodes.get_mut(&2).unwrap().snapshot_keep = 2;
    network.propose(1, b"snap");
    network.nodes.get_mut(&2).unwrap().snapshot_every = 0;
    let snapshot_index = network.nodes[&2]
        .storage
        .snapshot
        .as_ref()
        .unwrap()
        .meta
        .index;
    network.propose(1, b"after");
    let before = (
        network.raft(2).term(),
        network.raft(2).committed(),
        network.raft(2).conf_state().clone(),
        log_terms(network.raft(2)),
    );
    network.crash_and_restart(2);
    let after = (
        network.raft(2).term(),
        network.raft(2).committed(),
        network.raft(2).conf_state().clone(),
        log_terms(network.raft(2)),
    );
    // The log restarts at the snapshot: entries kept behind it in memory are not persisted.
    assert_eq!(network.raft(2).first_index(), snapshot_index + 1);
    let expected_log: Vec<_> = before
        .3
        .iter()
        .copied()
        .filter(|(i, _)| *i > snapshot_index)
        .collect();
    assert_eq!(
        (&before.0, &before.1, &before.2),
        (&after.0, &after.1, &after.2)
    );
    assert_eq!(after.3, expected_log);
    assert_eq!(
        network.nodes[&2].state, network.nodes[&1].state,
        "restored from the snapshot, then re-applied from the log"
    );
    // It still takes part: the next entry commits everywhere.
    let index = network.propose(1, b"later");
    network.tick_all(1);
    assert_eq!(network.raft(2).committed(), index);
}

#[test]
fn restart_rejects_inconsistent_persisted_state() {
    let gap = PersistedState {
        hard_state: HardState {
            term: 1,
            vote: 0,
            commit: 0,
        },
        entries: vec![Entry {
            term: 1,
            index: 2,
            kind: EntryKind::Normal,
            data: vec![],
        }],
        ..Default::default()
    };
    assert!(Raft::restart(Config::new(1, 1), gap).is_err());
    let commit_past_log = PersistedState {
        hard_state: HardState {
            term: 1,
            vote: 0,
            commit: 5,
        },
        ..Default::default()
    };
    assert!(Raft::restart(Config::new(1, 1), commit_past_log).is_err());
}

/// A crash inside a save can keep its entries without the hard state written after them:
/// the member resumes in the entries' term without a vote (it sent none in that term), keeps
/// its log, and saves the adjusted hard state in its first Ready.
#[test]
fn restart_after_a_save_that_lost_its_hard_state_resumes_in_the_entries_term() {
    let torn = PersistedState {
        hard_state: HardState {
            term: 8,
            vote: 2,
            commit: 1,
        },
        entries: vec![
            Entry {
                term: 8,
                index: 1,
                kind: EntryKind::Normal,
                data: vec![],
            },
            Entry {
                term: 9,
                index: 2,
                kind: EntryKind::Normal,
                data: vec![],
            },
        ],
        ..Default::default()
    };
    let mut raft = Raft::restart(Config::new(1, 1), torn).expect("a torn save is recoverable");
    assert_eq!((raft.term(), raft.vote()), (9, 0));
    assert_eq!(raft.last_index(), 2);
    let ready = raft.ready();
    let saved = ready.hard_state.expect("the adjusted hard state is saved");
    assert_eq!((saved.term, saved.vote, saved.commit), (9, 0, 1));
}

/// The persistence contract: a vote and its response leave in one Ready that must be synced,
/// so the vote is durable before the candidate can count it.
#[test]
fn ready_pairs_messages_with_the_state_they_depend_on() {
    let mut network = Network::new(&[1, 2, 3]);
    network.raft_mut(1).campaign();
    network.process();
    // Deliver the pre-vote round, then look at member 2's Ready after the real vote request.
    for _ in 0..5 {
        let messages: Vec<_> = network.in_flight.drain(..).collect();
        for m in messages {
            network.deliver(m);
        }
        if network.raft(2).vote() == 1 {
            break;
        }
        network.process();
    }
    let raft = network.raft_mut(2);
    assert_eq!(raft.vote(), 1);
    let ready = raft.ready();
    assert!(ready.must_sync);
    assert_eq!(ready.hard_state.map(|h| h.vote), Some(1));
    assert!(ready.messages.iter().any(|m| matches!(
        m.body,
        MessageBody::VoteResponse {
            pre: false,
            reject: false
        }
    )));
    raft.advance(ready);
}

#[test]
fn read_index_on_leader_and_follower_after_a_heartbeat_quorum() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    let index = network.propose(1, b"x");
    network.raft_mut(1).read_index(7).unwrap();
    network.stabilize();
    let states = network.take_read_states();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].index, states[0].context), (index, 7));
    network.raft_mut(3).read_index(8).unwrap();
    network.stabilize();
    let states = network.take_read_states();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].index, states[0].context), (index, 8));
}

#[test]
fn read_index_waits_for_a_heartbeat_quorum() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.drop_kind("heartbeat-response");
    network.raft_mut(1).read_index(1).unwrap();
    network.stabilize();
    assert!(
        network.take_read_states().is_empty(),
        "answered without confirming leadership"
    );
    network.recover();
    network.tick(1, 1);
    let states = network.take_read_states();
    assert_eq!(states.len(), 1);
}

#[test]
fn read_index_waits_for_the_first_commit_of_the_term() {
    // Without the leader lease, member 2 can take over at once.
    let mut network = Network::with_config(&[1, 2, 3], |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    elect(&mut network, 1);
    network.propose(1, b"x");
    // Member 2 wins a new term; its no-op is held back.
    network.drop_kind("append-response");
    network.raft_mut(2).campaign();
    network.stabilize();
    network.stabilize();
    if network.raft(2).role() != Role::Leader {
        network.tick_all(1);
    }
    assert_eq!(network.raft(2).role(), Role::Leader);
    network.raft_mut(2).read_index(5).unwrap();
    network.stabilize();
    assert!(network.take_read_states().is_empty());
    network.recover();
    network.tick(2, 1);
    let states = network.take_read_states();
    assert_eq!(states.len(), 1);
    assert_eq!(
        network.raft(2).log_term(states[0].index),
        Some(network.raft(2).term())
    );
}

#[test]
fn read_index_without_a_leader_is_refused() {
    let mut network = Network::new(&[1, 2, 3]);
    assert_eq!(
        network.raft_mut(1).read_index(1),
        Err(RequestError::NoLeader)
    );
}

#[test]
fn leader_transfer_to_an_up_to_date_follower() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.raft_mut(1).transfer_leader(2).unwrap();
    network.stabilize();
    assert_eq!(network.raft(2).role(), Role::Leader);
    assert_eq!(network.raft(1).leader(), 2);
}

#[test]
fn leader_transfer_catches_the_target_up_first_and_drops_proposals_meanwhile() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.isolate(3);
    for k in 0..5u8 {
        network.propose(1, &[k]);
    }
    network.recover();
    network.raft_mut(1).transfer_leader(3).unwrap();
    assert_eq!(
        network.raft_mut(1).propose(b"late".to_vec()),
        Err(ProposeError::TransferInProgress)
    );
    network.stabilize();
    assert_eq!(network.raft(3).role(), Role::Leader);
    assert_eq!(network.raft(3).committed(), network.raft(3).last_index());
}

#[test]
fn leader_transfer_to_a_non_voter_is_refused() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    assert_eq!(
        network.raft_mut(1).transfer_leader(9),
        Err(RequestError::NotAVoter(9))
    );
    assert_eq!(
        network.raft_mut(2).transfer_leader(3),
        Err(RequestError::NotLeader { leader: 1 })
    );
}

#[test]
fn learner_receives_the_log_but_neither_votes_nor_counts() {
    let mut network = Network::new(&[1, 2]);
    elect(&mut network, 1);
    network.add_empty(3);
    network
        .raft_mut(1)
        .propose_conf_change(&change(ConfChangeKind::AddLearner, 3))
        .unwrap();
    network.stabilize();
    network.tick_all(2);
    let index = network.propose(1, b"x");
    assert_eq!(
        network.raft(3).committed(),
        index,
        "the learner has the log"
    );
    assert!(network.raft(3).conf_state().learners.contains(&3));
    // With member 2 cut off, the learner's acknowledgement does not make a quorum.
    network.isolate(2);
    network.raft_mut(1).propose(b"y".to_vec()).unwrap();
    network.stabilize();
    assert_eq!(network.raft(1).committed(), index);
    // A learner never campaigns.
    network.tick(3, 50);
    assert_eq!(network.raft(3).role(), Role::Follower);
    // Promoted, it counts.
    network.recover();
    network.tick_all(2);
    network
        .raft_mut(1)
        .propose_conf_change(&change(ConfChangeKind::AddVoter, 3))
        .unwrap();
    network.stabilize();
    network.isolate(2);
    let index = network.propose(1, b"z");
    assert_eq!(network.raft(1).committed(), index);
}

#[test]
fn membership_changes_one_at_a_time() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network.add_empty(4);
    network.isolate(2);
    network.isolate(3);
    network
        .raft_mut(1)
        .propose_conf_change(&change(ConfChangeKind::AddLearner, 4))
        .unwrap();
    assert_eq!(
        network
            .raft_mut(1)
            .propose_conf_change(&change(ConfChangeKind::AddLearner, 5)),
        Err(ProposeError::ConfChangePending)
    );
    network.recover();
    network.stabilize();
    network.tick_all(2);
    assert!(network.raft(1).conf_state().learners.contains(&4));
    assert!(
        network
            .raft_mut(1)
            .propose_conf_change(&change(ConfChangeKind::AddVoter, 4))
            .is_ok()
    );
    network.stabilize();
    assert_eq!(network.raft(4).conf_state().voters.len(), 4);
}

/// A new leader must commit an entry of its own term before proposing a configuration change
/// (the fix for the single-server change bug, Ongaro's raft-dev post of 2015).
#[test]
fn new_leader_proposes_no_conf_change_before_committing_in_its_term() {
    let mut network = Network::new(&[1, 2, 3]);
    network.drop_kind("append-response");
    network.raft_mut(1).campaign();
    network.stabilize();
    assert_eq!(network.raft(1).role(), Role::Leader);
    assert_eq!(
        network
            .raft_mut(1)
            .propose_conf_change(&change(ConfChangeKind::AddLearner, 4)),
        Err(ProposeError::ConfChangePending)
    );
    network.recover();
    network.tick(1, 1);
    network.stabilize();
    assert!(
        network
            .raft_mut(1)
            .propose_conf_change(&change(ConfChangeKind::AddLearner, 4))
            .is_ok()
    );
}

#[test]
fn removing_the_leader_makes_it_step_down_and_others_elect() {
    let mut network = Network::new(&[1, 2, 3]);
    elect(&mut network, 1);
    network
        .raft_mut(1)
        .propose_conf_change(&change(ConfChangeKind::RemoveNode, 1))
        .unwrap();
    network.stabilize();
    assert_ne!(network.raft(1).role(), Role::Leader);
    assert_eq!(network.raft(2).conf_state().voters.len(), 2);
    network.tick_all(40);
    let leader = [2, 3]
        .into_iter()
        .find(|&id| network.raft(id).role() == Role::Leader);
    assert!(leader.is_some());
    assert_ne!(
        network.raft(1).role(),
        Role::Leader,
        "a removed member never leads"
    );
}

#[test]
fn step_refuses_misaddressed_messages() {
    let mut network = Network::new(&[1, 2, 3]);
    let message = invar_raft::Message {
        from: 2,
        to: 3,
        term: 1,
        body: MessageBody::TimeoutNow,
    };
    assert!(network.raft_mut(1).step(message).is_err());
}

#[test]
fn a_proposal_batch_travels_in_one_append_and_overload_is_refused() {
    let mut network = Network::with_config(&[1, 2, 3], |c| c.uncommitted_bytes_max = 4096);
    elect(&mut network, 1);
    network.in_flight.clear();
    let first = network
        .raft_mut(1)
        .propose_batch(vec![vec![1; 100]; 10])
        .unwrap();
    network.process();
    let appends: Vec<usize> = network
        .in_flight
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } if m.to == 2 => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(appends, vec![10]);
    // More than uncommitted_bytes_max pending: the next batch is refused until they commit.
    assert_eq!(
        network.raft_mut(1).propose_batch(vec![vec![2; 100]; 40]),
        Err(ProposeError::Overloaded)
    );
    network.stabilize();
    assert_eq!(network.raft(2).committed(), first + 9);
    assert!(
        network
            .raft_mut(1)
            .propose_batch(vec![vec![2; 100]; 40])
            .is_ok()
    );
}

#[test]
fn one_ready_hands_out_a_bounded_amount_of_committed_entries() {
    let mut network = Network::with_config(&[1], |c| c.committed_bytes_per_ready_max = 300);
    elect(&mut network, 1);
    let raft = network.raft_mut(1);
    let first = raft.propose_batch(vec![vec![7; 100]; 10]).unwrap();
    let mut sizes = Vec::new();
    while raft.has_ready() {
        let ready = raft.ready();
        sizes.push(ready.committed_entries.len());
        raft.advance(ready);
    }
    // 117 bytes per entry: two fit in 300 bytes, so ten entries take five Readies.
    assert_eq!(
        sizes
            .iter()
            .filter(|&&n| n > 0)
            .copied()
            .collect::<Vec<_>>(),
        vec![2; 5]
    );
    assert_eq!(raft.applied(), first + 9);
}

/// Regression (found by the randomized harness): appends lost while the in-flight window was
/// full wedged the follower forever, because nothing acknowledged them and nothing more was
/// sent. A heartbeat response now frees one slot, the next append reveals the gap, and the
/// leader goes back to probing.
#[test]
fn lost_appends_with_a_full_window_do_not_wedge_the_follower() {
    let mut network = Network::with_config(&[1, 2, 3], |c| {
        c.inflight_messages_max = 2;
    });
    elect(&mut network, 1);
    // Leave the replicate state's window full of appends that never arrive.
    network.process();
    network.in_flight.clear();
    for k in 0..6u8 {
        network.raft_mut(1).propose(vec![k]).unwrap();
        network.process();
        network
            .in_flight
            .retain(|m| !(m.to == 2 && matches!(m.body, MessageBody::Append { .. })));
    }
    network.stabilize();
    assert!(network.raft(2).last_index() < network.raft(1).last_index());
    network.tick_all(3);
    assert_eq!(network.raft(2).last_index(), network.raft(1).last_index());
    assert_eq!(network.raft(2).committed(), network.raft(1).committed());
}

/// Goal: a leader that removes itself tells the remaining voters the commit index before it
/// leaves. With two voters, the one left cannot be elected under the old configuration (it
/// needs the removed leader's vote) until it applies the removal; the removed member takes
/// no further part, so the commit index must reach it before. Method: two voters; the
/// leader removes itself; the only message after its removal is what it sent while
/// applying it; then the removed member is cut off for good.
#[test]
fn a_leader_removing_itself_tells_the_others_the_commit_first() {
    let mut network = Network::new(&[1, 2]);
    elect(&mut network, 1);
    network
        .raft_mut(1)
        .propose_conf_change(&change(ConfChangeKind::RemoveNode, 1))
        .unwrap();
    // Deliver until the leader applied its removal.
    network.process();
    for _ in 0..1_000 {
        if network.raft(1).role() != Role::Leader {
            break;
        }
        if let Some(message) = network.in_flight.pop_front() {
            network.deliver(message);
        }
        network.process();
    }
    assert_ne!(
        network.raft(1).role(),
        Role::Leader,
        "the leader applied its removal"
    );
    // The appends that carried the commit index are lost; what it sent on leaving is not.
    network
        .in_flight
        .retain(|m| m.from == 1 && !matches!(m.body, MessageBody::Append { .. }));
    while let Some(message) = network.in_flight.pop_front() {
        network.deliver(message);
        network.process();
    }
    network.isolate(1);
    network.tick_all(60);
    assert_eq!(
        network.raft(2).role(),
        Role::Leader,
        "the last voter learned the removal committed and leads alone"
    );
    assert_eq!(network.raft(2).conf_state().voters.len(), 1);
}
