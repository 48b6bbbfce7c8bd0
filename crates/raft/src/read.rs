//! ReadIndex: linearizable reads without writing to the log (Raft thesis §6.4).
//!
//! The leader records its commit index for the request, then confirms it is still the leader
//! with a round of heartbeats acknowledged by a quorum; only then may the requester read once
//! its applied index reaches the recorded index. A new leader does not know the latest commit
//! index until it has committed an entry of its own term, so requests wait for that first.
//!
//! Each request gets a sequence number; heartbeats carry the newest one, and a quorum of
//! acknowledgements of sequence `s` confirms every request up to `s` (they were all pending
//! before that heartbeat left).

use std::collections::VecDeque;

use crate::raft::Raft;
use crate::ready::ReadState;
use crate::types::{Index, MessageBody, NodeId};

#[derive(Clone, Debug)]
struct PendingRead {
    seq: u64,
    index: Index,
    requester: NodeId,
    context: u64,
}

/// The leader's ReadIndex requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadQueue {
    /// Requests that wait for a heartbeat quorum, in sequence order.
    confirming: VecDeque<PendingRead>,
    /// Requests that wait for the first commit of this leader's term: (requester, context).
    before_first_commit: Vec<(NodeId, u64)>,
    /// The sequence of the newest request. Never reset, so a stale acknowledgement from an
    /// earlier term can never confirm a newer request.
    newest_seq: u64,
}

impl ReadQueue {
    pub(crate) fn newest_seq(&self) -> u64 {
        self.newest_seq
    }

    /// Drops every pending request (leadership changed; requesters will time out and retry).
    pub(crate) fn clear(&mut self) {
        self.confirming.clear();
        self.before_first_commit.clear();
    }
}

impl Raft {
    /// Asks for a linearizable read point. The answer arrives in a later `Ready` as a
    /// [`ReadState`] with this `context` (a value unique to the requester); the caller reads
    /// once its applied index reaches the read state's index. Without an answer (the leader
    /// changed, a message was lost) the caller times out and retries.
    pub fn read_index(&mut self, context: u64) -> Result<(), crate::raft::RequestError> {
        self.assert_accepting_input();
        if self.role == crate::raft::Role::Leader {
            self.handle_read_request(self.id, context);
            return Ok(());
        }
        if self.leader == 0 {
            return Err(crate::raft::RequestError::NoLeader);
        }
        self.send(self.leader, MessageBody::ReadIndex { context });
        Ok(())
    }

    pub(crate) fn handle_read_request(&mut self, requester: NodeId, context: u64) {
        let committed = self.log.committed();
        if self.tracker.conf.voters.len() == 1 && self.tracker.is_voter(self.id) {
            // Alone, this member is the quorum.
            self.answer_read(requester, committed, context);
            return;
        }
        if cfg!(feature = "defect-read-index-without-heartbeat") {
            self.answer_read(requester, committed, context);
            return;
        }
        if self.log.term(committed) != Some(self.term) {
            self.reads.before_first_commit.push((requester, context));
            return;
        }
        self.reads.newest_seq += 1;
        let seq = self.reads.newest_seq;
        self.reads.confirming.push_back(PendingRead {
            seq,
            index: committed,
            requester,
            context,
        });
        self.broadcast_heartbeat();
    }

    /// Called when the commit index moves: a leader's first commit in its term releases the
    /// requests that waited for it.
    pub(crate) fn release_reads_waiting_for_commit(&mut self) {
        if self.reads.before_first_commit.is_empty()
            || self.log.term(self.log.committed()) != Some(self.term)
        {
            return;
        }
        for (requester, context) in std::mem::take(&mut self.reads.before_first_commit) {
            self.handle_read_request(requester, context);
        }
    }

    /// Answers every request whose heartbeat round a quorum has acknowledged.
    pub(crate) fn release_confirmed_reads(&mut self) {
        while let Some(front) = self.reads.confirming.front() {
            if !self.tracker.quorum_acked_read(self.id, front.seq) {
                break;
            }
            let read = self.reads.confirming.pop_front().expect("front exists");
            self.answer_read(read.requester, read.index, read.context);
        }
    }

    fn answer_read(&mut self, requester: NodeId, index: Index, context: u64) {
        if requester == self.id {
            self.read_states.push(ReadState { index, context });
        } else {
            self.send(requester, MessageBody::ReadIndexResponse { index, context });
        }
    }
}
