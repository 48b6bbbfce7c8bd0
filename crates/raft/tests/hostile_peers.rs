//! Nothing a peer sends may crash a member: random, malformed and contradictory messages are
//! refused with an error or ignored, and the member's own invariants still hold afterwards.

use invar_raft::Prng;
use invar_raft::testkit::Network;
use invar_raft::types::{
    ConfState, Entry, EntryKind, Message, MessageBody, RejectHint, Snapshot, SnapshotMeta,
};

fn random_entries(rng: &mut Prng, prev_index: u64, term: u64) -> Vec<Entry> {
    let count = rng.range(0, 4);
    let contiguous = rng.chance(3, 4);
    (0..count)
        .map(|k| Entry {
            term: if contiguous {
                term
            } else {
                rng.range(0, term + 3)
            },
            index: if contiguous {
                prev_index + 1 + k
            } else {
                rng.range(0, prev_index + 6)
            },
            kind: if rng.chance(1, 5) {
                EntryKind::ConfChange
            } else {
                EntryKind::Normal
            },
            data: (0..rng.range(0, 12))
                .map(|_| rng.next_u64() as u8)
                .collect(),
        })
        .collect()
}

fn random_message(rng: &mut Prng, to: u64, last_index: u64, term: u64) -> Message {
    let from = [2, 3, 9][rng.range(0, 3) as usize];
    let term = term.saturating_sub(1) + rng.range(0, 3);
    let near = |rng: &mut Prng| (last_index + 4).saturating_sub(rng.range(0, 9));
    let body = match rng.range(0, 9) {
        0 => {
            let prev_index = near(rng);
            MessageBody::Append {
                prev_index,
                prev_term: rng.range(0, term + 2),
                entries: random_entries(rng, prev_index, term),
                commit: near(rng),
            }
        }
        1 => MessageBody::AppendResponse {
            index: near(rng),
            reject: rng.chance(1, 2).then(|| RejectHint {
                index: near(rng),
                term: rng.range(0, term + 2),
            }),
        },
        2 => MessageBody::Vote {
            pre: rng.chance(1, 2),
            force: rng.chance(1, 4),
            last_index: near(rng),
            last_term: rng.range(0, term + 2),
        },
        3 => MessageBody::VoteResponse {
            pre: rng.chance(1, 2),
            reject: rng.chance(1, 2),
        },
        4 => MessageBody::Heartbeat {
            commit: near(rng),
            read_seq: rng.range(0, 5),
        },
        5 => MessageBody::HeartbeatResponse {
            read_seq: rng.range(0, 5),
        },
        6 => MessageBody::Snapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: near(rng),
                    term: rng.range(0, term + 2),
                    conf_state: ConfState::with_voters((1..rng.range(1, 4)).collect::<Vec<_>>()),
                },
                data: vec![1, 2, 3],
            },
        },
        7 => MessageBody::ReadIndex {
            context: rng.next_u64(),
        },
        _ => MessageBody::ReadIndexResponse {
            index: near(rng),
            context: rng.next_u64(),
        },
    };
    Message {
        from,
        to,
        term,
        body,
    }
}

#[test]
fn random_and_malformed_messages_never_crash_a_member() {
    let mut refused = 0u64;
    for seed in 0..300u64 {
        let mut rng = Prng::new(seed);
        let mut network = Network::new(&[1, 2, 3]);
        network.campaign(1);
        for k in 0..rng.range(0, 6) {
            network.propose(1, &[k as u8]);
        }
        // Feed hostile messages to the leader and to a follower; keep carrying out Readies
        // (their own messages are dropped: only the hostile input matters here).
        for step in 0..200 {
            let target = if step % 2 == 0 { 1 } else { 2 };
            let raft = network.raft(target);
            let message = random_message(&mut rng, target, raft.last_index(), raft.term());
            if network.raft_mut(target).step(message).is_err() {
                refused += 1;
            }
            network.process();
            network.in_flight.clear();
            if rng.chance(1, 10) {
                network.raft_mut(target).tick();
            }
            for id in [1, 2] {
                let raft = network.raft(id);
                assert!(raft.committed() <= raft.last_index(), "seed {seed}");
                assert!(raft.applied() <= raft.committed(), "seed {seed}");
                assert!(raft.first_index() <= raft.last_index() + 1, "seed {seed}");
            }
        }
    }
    assert!(
        refused > 1000,
        "malformed messages must be refused, only {refused} were"
    );
}
