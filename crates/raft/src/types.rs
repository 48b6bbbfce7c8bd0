//! The values Raft exchanges with its caller and its peers: log entries, hard state,
//! membership, snapshots and messages.
//!
//! These are plain data. How they are framed on a disk or a wire is decided by the crates that
//! own the disk (`invar-storage`) and the wire (`invar-server`); the only encoding here is the
//! one for a [`ConfChange`] inside an entry's data, because Raft itself must read it back.

use std::collections::BTreeSet;

/// A member's identity. Zero is never a valid member: it means "none" on the wire.
pub type NodeId = u64;
/// A Raft term.
pub type Term = u64;
/// A position in the replicated log. The first entry has index 1; 0 means "before the log".
pub type Index = u64;

/// What an entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// Application data (or empty: the no-op a new leader appends in its term).
    Normal,
    /// A membership change: `data` is an encoded [`ConfChange`].
    ConfChange,
}

impl EntryKind {
    /// The byte that stands for this kind in encodings.
    pub fn to_byte(self) -> u8 {
        match self {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        }
    }

    /// The kind a byte stands for, or `None` for an unknown byte.
    pub fn from_byte(byte: u8) -> Option<EntryKind> {
        match byte {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::ConfChange),
            _ => None,
        }
    }
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: Index,
    /// What `data` holds.
    pub kind: EntryKind,
    /// Opaque application bytes, or an encoded [`ConfChange`].
    pub data: Vec<u8>,
}

impl Entry {
    /// Bytes this entry counts for in message and memory limits.
    pub fn size_bytes(&self) -> u64 {
        // Index, term and kind cost about as much as a small header on the wire.
        self.data.len() as u64 + 17
    }
}

/// The state that must be durable before any message that depends on it is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HardState {
    /// The latest term this member has seen.
    pub term: Term,
    /// The candidate this member voted for in `term`, or 0 for none.
    pub vote: NodeId,
    /// The highest index this member knows to be committed.
    pub commit: Index,
}

/// The members of the cluster: voters decide elections and commits, learners only receive
/// the log.
///
/// Invariant: `voters` and `learners` are disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfState {
    /// Members whose votes and acknowledgements count.
    pub voters: BTreeSet<NodeId>,
    /// Members that receive the log but neither vote nor count toward commit.
    pub learners: BTreeSet<NodeId>,
}

impl ConfState {
    /// A configuration of voters only.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> ConfState {
        ConfState {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// Whether `id` is a voter or a learner.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// The configuration after `change`, or why `change` cannot apply to it.
    pub fn apply(&self, change: &ConfChange) -> Result<ConfState, ConfChangeError> {
        let mut next = self.clone();
        match change.kind {
            ConfChangeKind::AddVoter => {
                // Adding an existing voter is a no-op; a learner is promoted.
                next.learners.remove(&change.node_id);
                next.voters.insert(change.node_id);
            }
            ConfChangeKind::AddLearner => {
                if self.voters.contains(&change.node_id) {
                    return Err(ConfChangeError::VoterToLearner(change.node_id));
                }
                next.learners.insert(change.node_id);
            }
            ConfChangeKind::RemoveNode => {
                next.voters.remove(&change.node_id);
                next.learners.remove(&change.node_id);
                if next.voters.is_empty() {
                    return Err(ConfChangeError::NoVotersLeft);
                }
            }
        }
        debug_assert!(next.voters.is_disjoint(&next.learners));
        Ok(next)
    }
}

/// What a membership change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeKind {
    /// Add a voter, or promote a learner to voter.
    AddVoter,
    /// Add a learner.
    AddLearner,
    /// Remove a voter or a learner.
    RemoveNode,
}

/// One membership change: one member added, promoted or removed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfChange {
    /// What the change does.
    pub kind: ConfChangeKind,
    /// The member it concerns.
    pub node_id: NodeId,
    /// Opaque application bytes (for example the member's peer addresses).
    pub context: Vec<u8>,
}

/// Why a membership change was refused or could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfChangeError {
    /// A voter cannot be demoted to a learner in one step.
    #[error("member {0:x} is a voter and cannot become a learner")]
    VoterToLearner(NodeId),
    /// The change would leave no voter.
    #[error("the change would leave the cluster without voters")]
    NoVotersLeft,
    /// The bytes are not an encoded change.
    #[error("malformed conf change: {0}")]
    Malformed(&'static str),
}

impl ConfChange {
    const ENCODED_HEADER_LEN: usize = 1 + 8;

    /// Encodes the change as entry data: kind byte, node id (little endian), context.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::ENCODED_HEADER_LEN + self.context.len());
        out.push(match self.kind {
            ConfChangeKind::AddVoter => 0,
            ConfChangeKind::AddLearner => 1,
            ConfChangeKind::RemoveNode => 2,
        });
        out.extend_from_slice(&self.node_id.to_le_bytes());
        out.extend_from_slice(&self.context);
        out
    }

    /// Decodes entry data written by [`ConfChange::encode`]. Never panics on bad bytes.
    pub fn decode(bytes: &[u8]) -> Result<ConfChange, ConfChangeError> {
        let (&kind, rest) = bytes
            .split_first()
            .ok_or(ConfChangeError::Malformed("empty"))?;
        let kind = match kind {
            0 => ConfChangeKind::AddVoter,
            1 => ConfChangeKind::AddLearner,
            2 => ConfChangeKind::RemoveNode,
            _ => return Err(ConfChangeError::Malformed("unknown kind")),
        };
        let id_bytes: [u8; 8] = rest
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(ConfChangeError::Malformed("truncated node id"))?;
        let node_id = u64::from_le_bytes(id_bytes);
        if node_id == 0 {
            return Err(ConfChangeError::Malformed("node id 0"));
        }
        Ok(ConfChange {
            kind,
            node_id,
            context: rest[8..].to_vec(),
        })
    }
}

/// Where a snapshot sits in the log, and the membership at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SnapshotMeta {
    /// The last log index the snapshot covers.
    pub index: Index,
    /// The term of the entry at `index`.
    pub term: Term,
    /// The membership as of `index`.
    pub conf_state: ConfState,
}

/// A point-in-time image of the application's state machine, with its place in the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// Where the snapshot sits.
    pub meta: SnapshotMeta,
    /// The application's opaque image.
    pub data: Vec<u8>,
}

/// A message between two members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The sender's term (for a pre-vote: the term it would campaign in).
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// Why an append was rejected, with a hint that lets the leader skip a whole term of
/// mismatching entries at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectHint {
    /// The largest index at which the follower's log may match the leader's.
    pub index: Index,
    /// The term of the follower's entry at `index` (0 if it has none).
    pub term: Term,
}

/// The kinds of Raft messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// Leader → follower: append `entries` after (`prev_index`, `prev_term`).
    Append {
        /// Index of the entry just before `entries`.
        prev_index: Index,
        /// Term of the entry at `prev_index`.
        prev_term: Term,
        /// The entries to append, in index order.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: Index,
    },
    /// Follower → leader: the answer to an `Append` or `Snapshot`.
    AppendResponse {
        /// On success, the last index known to match the leader's log; on rejection, the
        /// `prev_index` that did not match.
        index: Index,
        /// `Some` when the append was rejected.
        reject: Option<RejectHint>,
    },
    /// Candidate → voter: a request for a vote (or, with `pre`, a pre-vote).
    Vote {
        /// A pre-vote, which changes no state of the receiver.
        pre: bool,
        /// Set by a leader transfer: the receiver must not ignore it because of a leader lease.
        force: bool,
        /// Index of the candidate's last entry.
        last_index: Index,
        /// Term of the candidate's last entry.
        last_term: Term,
    },
    /// Voter → candidate.
    VoteResponse {
        /// Answers a pre-vote.
        pre: bool,
        /// Whether the vote was refused.
        reject: bool,
    },
    /// Leader → follower: "I am still the leader". Carries the leader's read sequence so that
    /// acknowledgements confirm leadership for pending ReadIndex requests.
    Heartbeat {
        /// The commit index the follower may adopt (never past what it is known to hold).
        commit: Index,
        /// The leader's newest ReadIndex sequence number at the time of sending.
        read_seq: u64,
    },
    /// Follower → leader.
    HeartbeatResponse {
        /// Echo of the heartbeat's `read_seq`.
        read_seq: u64,
    },
    /// Leader → follower too far behind for the log: install this snapshot.
    Snapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Leader → transfer target: start an election now.
    TimeoutNow,
    /// Follower → leader: please confirm leadership and tell me the commit index.
    ReadIndex {
        /// The follower's request context, echoed back.
        context: u64,
    },
    /// Leader → follower: reads at `index` are linearizable for `context`.
    ReadIndexResponse {
        /// The read index.
        index: Index,
        /// The follower's request context.
        context: u64,
    },
}

impl MessageBody {
    /// A short name for logs and traces.
    pub fn name(&self) -> &'static str {
        match self {
            MessageBody::Append { .. } => "append",
            MessageBody::AppendResponse { .. } => "append-response",
            MessageBody::Vote { pre: true, .. } => "pre-vote",
            MessageBody::Vote { pre: false, .. } => "vote",
            MessageBody::VoteResponse { pre: true, .. } => "pre-vote-response",
            MessageBody::VoteResponse { pre: false, .. } => "vote-response",
            MessageBody::Heartbeat { .. } => "heartbeat",
            MessageBody::HeartbeatResponse { .. } => "heartbeat-response",
            MessageBody::Snapshot { .. } => "snapshot",
            MessageBody::TimeoutNow => "timeout-now",
            MessageBody::ReadIndex { .. } => "read-index",
            MessageBody::ReadIndexResponse { .. } => "read-index-response",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_change_round_trips() {
        let change = ConfChange {
            kind: ConfChangeKind::AddLearner,
            node_id: 7,
            context: b"peer=127.0.0.1:2380".to_vec(),
        };
        assert_eq!(ConfChange::decode(&change.encode()), Ok(change));
    }

    #[test]
    fn conf_change_decode_rejects_garbage_without_panicking() {
        for len in 0..24 {
            for fill in [0u8, 1, 2, 3, 0xff] {
                let bytes = vec![fill; len];
                let decoded = ConfChange::decode(&bytes);
                let valid = len >= 9 && fill != 0 && fill <= 2;
                assert_eq!(decoded.is_ok(), valid, "len {len} fill {fill}");
            }
        }
    }

    #[test]
    fn conf_state_changes() {
        let conf = ConfState::with_voters([1, 2, 3]);
        let add = |kind, node_id| ConfChange {
            kind,
            node_id,
            context: vec![],
        };
        let with_learner = conf.apply(&add(ConfChangeKind::AddLearner, 4)).unwrap();
        assert!(with_learner.learners.contains(&4));
        let promoted = with_learner
            .apply(&add(ConfChangeKind::AddVoter, 4))
            .unwrap();
        assert!(promoted.voters.contains(&4) && promoted.learners.is_empty());
        assert_eq!(
            promoted.apply(&add(ConfChangeKind::AddLearner, 4)),
            Err(ConfChangeError::VoterToLearner(4))
        );
        let single = ConfState::with_voters([1]);
        assert_eq!(
            single.apply(&add(ConfChangeKind::RemoveNode, 1)),
            Err(ConfChangeError::NoVotersLeft)
        );
    }
}
