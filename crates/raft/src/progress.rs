//! What a leader knows about each follower's log, and the flow control that bounds how much
//! it sends.
//!
//! A follower's progress is in one of three states:
//!
//! ```text
//!            rejection / lost contact              snapshot sent
//!  Replicate ------------------------> Probe ---------------------> Snapshot
//!      ^                                 | ack                          |
//!      +---------------------------------+ <----- ack >= snapshot ------+
//! ```
//!
//! * **Probe**: the leader does not know where the logs match; one append at a time.
//! * **Replicate**: the logs match up to `match_index`; appends stream optimistically, at most
//!   `inflight_messages_max` unacknowledged.
//! * **Snapshot**: the follower needs entries the leader compacted away; nothing more is sent
//!   until the snapshot is acknowledged or its wait times out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::types::{ConfState, Index, NodeId};

/// The replication state of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// One probing append at a time until the match point is found.
    Probe,
    /// Streaming appends under the in-flight window.
    Replicate,
    /// Waiting for a snapshot to be installed.
    Snapshot {
        /// The index of the snapshot that was sent.
        pending_index: Index,
        /// Ticks spent waiting; the wait is abandoned after an election timeout.
        waited_ticks: u32,
    },
}

/// A bounded queue of the last indexes of unacknowledged appends.
#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    last_indexes: VecDeque<Index>,
    capacity: usize,
}

impl Inflights {
    pub(crate) fn new(capacity: usize) -> Inflights {
        assert!(capacity > 0);
        Inflights {
            last_indexes: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.last_indexes.len() >= self.capacity
    }

    pub(crate) fn add(&mut self, last_index: Index) {
        assert!(!self.full(), "in-flight window overflow");
        debug_assert!(self.last_indexes.back().is_none_or(|&b| b < last_index));
        self.last_indexes.push_back(last_index);
    }

    /// Forgets every append whose last index is `<= index` (they are acknowledged).
    pub(crate) fn free_to(&mut self, index: Index) {
        while self.last_indexes.front().is_some_and(|&i| i <= index) {
            self.last_indexes.pop_front();
        }
    }

    pub(crate) fn free_first(&mut self) {
        self.last_indexes.pop_front();
    }

    pub(crate) fn clear(&mut self) {
        self.last_indexes.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last_indexes.len()
    }
}

/// The leader's view of one follower.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The highest index known to match the leader's log.
    /// Invariant: `match_index < next_index`.
    pub match_index: Index,
    /// The next index to send.
    pub next_index: Index,
    /// The replication state.
    pub state: ProgressState,
    /// In Probe: an append was sent and not yet answered, so wait.
    pub(crate) probe_sent: bool,
    pub(crate) inflights: Inflights,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// The newest read sequence this follower acknowledged through a heartbeat response.
    pub(crate) read_seq_acked: u64,
}

impl Progress {
    pub(crate) fn new(next_index: Index, inflight_messages_max: usize) -> Progress {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(inflight_messages_max),
            recent_active: false,
            read_seq_acked: 0,
        }
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.inflights.clear();
        self.state = state;
    }

    pub(crate) fn become_probe(&mut self) {
        let after_snapshot = match self.state {
            ProgressState::Snapshot { pending_index, .. } => pending_index + 1,
            _ => 0,
        };
        self.reset_state(ProgressState::Probe);
        self.next_index = (self.match_index + 1).max(after_snapshot);
    }

    pub(crate) fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next_index = self.match_index + 1;
    }

    pub(crate) fn become_snapshot(&mut self, pending_index: Index) {
        self.reset_state(ProgressState::Snapshot {
            pending_index,
            waited_ticks: 0,
        });
    }

    /// Records an acknowledgement up to `index`. Returns whether it told us anything new.
    pub(crate) fn maybe_update(&mut self, index: Index) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        updated
    }

    /// Handles a rejection of the append that followed `rejected`. `hint` is the largest
    /// index where the logs may match. Returns false when the rejection is stale.
    pub(crate) fn maybe_decrease_to(&mut self, rejected: Index, hint: Index) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.match_index {
                return false;
            }
            self.next_index = self.match_index + 1;
            return true;
        }
        if self.next_index.checked_sub(1) != Some(rejected) {
            return false;
        }
        self.next_index = (rejected.min(hint) + 1).max(self.match_index + 1);
        self.probe_sent = false;
        true
    }

    /// Whether sending another append must wait.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Records that an append ending at `last_index` (or an empty probe) was sent.
    pub(crate) fn sent_append(&mut self, last_index: Option<Index>) {
        match (self.state, last_index) {
            (ProgressState::Replicate, Some(last)) => {
                self.next_index = last + 1;
                self.inflights.add(last);
            }
            (ProgressState::Probe, _) => self.probe_sent = true,
            _ => {}
        }
    }
}

/// The configuration and every member's progress, with the quorum arithmetic.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) conf: ConfState,
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// Votes received in the current election: `true` granted, `false` refused.
    pub(crate) votes: BTreeMap<NodeId, bool>,
}

/// How an election stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoteResult {
    Won,
    Lost,
    Pending,
}

impl Tracker {
    pub(crate) fn new(conf: ConfState) -> Tracker {
        Tracker {
            conf,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
        }
    }

    pub(crate) fn quorum(&self) -> usize {
        self.conf.voters.len() / 2 + 1
    }

    pub(crate) fn is_voter(&self, id: NodeId) -> bool {
        self.conf.voters.contains(&id)
    }

    /// Every member but `me`, voters and learners.
    pub(crate) fn peers(&self, me: NodeId) -> Vec<NodeId> {
        let members: BTreeSet<NodeId> = self
            .conf
            .voters
            .iter()
            .chain(self.conf.learners.iter())
            .copied()
            .collect();
        members.into_iter().filter(|&id| id != me).collect()
    }

    /// The highest index that a quorum of voters has matched.
    pub(crate) fn quorum_match_index(&self) -> Index {
        let mut matched: Vec<Index> = self
            .conf
            .voters
            .iter()
            .map(|id| self.progress.get(id).map_or(0, |p| p.match_index))
            .collect();
        if matched.is_empty() {
            return 0;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        matched[self.quorum() - 1]
    }

    pub(crate) fn record_vote(&mut self, id: NodeId, granted: bool) {
        self.votes.entry(id).or_insert(granted);
    }

    pub(crate) fn vote_result(&self) -> VoteResult {
        let granted = self
            .conf
            .voters
            .iter()
            .filter(|id| self.votes.get(id) == Some(&true))
            .count();
        let refused = self
            .conf
            .voters
            .iter()
            .filter(|id| self.votes.get(id) == Some(&false))
            .count();
        if granted >= self.quorum() {
            VoteResult::Won
        } else if self.conf.voters.len() - refused < self.quorum() {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        }
    }

    /// Whether a quorum of voters (counting `me`) has been heard from this round.
    pub(crate) fn quorum_active(&self, me: NodeId) -> bool {
        let active = self
            .conf
            .voters
            .iter()
            .filter(|&&id| id == me || self.progress.get(&id).is_some_and(|p| p.recent_active))
            .count();
        active >= self.quorum()
    }

    /// Whether a quorum of voters (counting `me`) has acknowledged read sequence `seq`.
    pub(crate) fn quorum_acked_read(&self, me: NodeId, seq: u64) -> bool {
        let acked = self
            .conf
            .voters
            .iter()
            .filter(|&&id| {
                id == me
                    || self
                        .progress
                        .get(&id)
                        .is_some_and(|p| p.read_seq_acked >= seq)
            })
            .count();
        acked >= self.quorum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(voters: &[NodeId], matches: &[Index]) -> Tracker {
        let mut t = Tracker::new(ConfState::with_voters(voters.iter().copied()));
        for (&id, &m) in voters.iter().zip(matches) {
            let mut p = Progress::new(m + 1, 4);
            p.match_index = m;
            t.progress.insert(id, p);
        }
        t
    }

    /// The fast quorum index equals the naive definition: the largest index that at least
    /// a quorum of voters has reached.
    #[test]
    fn quorum_match_index_matches_naive_definition() {
        let mut seed = crate::prng::Prng::new(7);
        for _ in 0..500 {
            let n = seed.range(1, 8) as usize;
            let voters: Vec<NodeId> = (1..=n as u64).collect();
            let matches: Vec<Index> = (0..n).map(|_| seed.range(0, 20)).collect();
            let t = tracker(&voters, &matches);
            let naive = (0..20)
                .filter(|&i| matches.iter().filter(|&&m| m >= i).count() > n / 2)
                .max()
                .unwrap_or(0);
            assert_eq!(t.quorum_match_index(), naive, "matches {matches:?}");
        }
    }

    #[test]
    fn vote_tally_wins_loses_and_waits() {
        let mut t = tracker(&[1, 2, 3, 4, 5], &[0; 5]);
        t.record_vote(1, true);
        t.record_vote(2, false);
        assert_eq!(t.vote_result(), VoteResult::Pending);
        t.record_vote(3, true);
        t.record_vote(4, true);
        assert_eq!(t.vote_result(), VoteResult::Won);
        let mut t = tracker(&[1, 2, 3], &[0; 3]);
        t.record_vote(2, false);
        t.record_vote(3, false);
        assert_eq!(t.vote_result(), VoteResult::Lost);
        // A vote from a non-voter counts for nothing.
        let mut t = tracker(&[1], &[0]);
        t.record_vote(9, true);
        assert_eq!(t.vote_result(), VoteResult::Pending);
    }

    #[test]
    fn inflight_window_bounds_and_frees() {
        let mut p = Progress::new(1, 2);
        p.become_replicate();
        p.sent_append(Some(3));
        assert!(!p.is_paused());
        p.sent_append(Some(5));
        assert!(p.is_paused());
        assert!(p.maybe_update(3));
        p.inflights.free_to(3);
        assert!(!p.is_paused());
        assert_eq!(p.inflights.len(), 1);
        assert_eq!(p.next_index, 6);
    }

    #[test]
    fn stale_rejections_are_ignored() {
        let mut p = Progress::new(10, 4);
        // Probe: only a rejection of the outstanding probe (next - 1 == 9) counts.
        assert!(!p.maybe_decrease_to(5, 2));
        assert!(p.maybe_decrease_to(9, 4));
        assert_eq!(p.next_index, 5);
        // Replicate: a rejection at or below match is stale.
        let mut p = Progress::new(10, 4);
        p.match_index = 8;
        p.become_replicate();
        assert!(!p.maybe_decrease_to(8, 0));
        p.sent_append(Some(12));
        assert!(p.maybe_decrease_to(10, 0));
        assert_eq!(p.next_index, 9);
    }
}
