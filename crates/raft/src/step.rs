//! Handling of peer messages: the term rules first, then one step function per role.

use crate::progress::ProgressState;
use crate::raft::{Raft, Role};
use crate::types::{Index, Message, MessageBody, NodeId, RejectHint, Snapshot, Term};

/// Why a message was refused before any state changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The message is addressed to another member.
    #[error("message for {to:x} delivered to {me:x}")]
    WrongRecipient {
        /// The addressee.
        to: NodeId,
        /// This member.
        me: NodeId,
    },
    /// The message claims to come from member 0 or from this member.
    #[error("message from invalid sender {0:x}")]
    InvalidSender(NodeId),
    /// The message contradicts itself (a peer's bug or corruption); nothing was changed.
    #[error("malformed {kind} message from {from:x}: {reason}")]
    Malformed {
        /// The message kind.
        kind: &'static str,
        /// The sender.
        from: NodeId,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Checks what a message says about itself, so that no peer can trip an assertion.
fn validate(message: &Message) -> Result<(), &'static str> {
    match &message.body {
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            ..
        } => {
            if *prev_term > message.term {
                return Err("previous entry's term is after the message's term");
            }
            let mut expected_index = *prev_index;
            let mut last_term = *prev_term;
            for entry in entries {
                expected_index = expected_index.checked_add(1).ok_or("index overflow")?;
                if entry.index != expected_index {
                    return Err("entries are not contiguous after prev_index");
                }
                if entry.term < last_term || entry.term > message.term {
                    return Err("entry terms out of order or after the message's term");
                }
                last_term = entry.term;
            }
            Ok(())
        }
        MessageBody::Snapshot { snapshot } => {
            let meta = &snapshot.meta;
            if meta.term > message.term || (meta.index == 0) != (meta.term == 0) {
                return Err("snapshot index and term disagree");
            }
            if meta.conf_state.voters.is_empty()
                || !meta
                    .conf_state
                    .voters
                    .is_disjoint(&meta.conf_state.learners)
            {
                return Err("snapshot membership is not a valid configuration");
            }
            Ok(())
        }
        MessageBody::Vote {
            last_index,
            last_term,
            ..
        } => {
            if *last_term > message.term || (*last_index == 0 && *last_term != 0) {
                return Err("candidate's last entry is inconsistent");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Raft {
    /// Handles one message from a peer. Messages may arrive late, twice, or out of order.
    pub fn step(&mut self, message: Message) -> Result<(), StepError> {
        self.assert_accepting_input();
        if message.to != self.id {
            return Err(StepError::WrongRecipient {
                to: message.to,
                me: self.id,
            });
        }
        if message.from == 0 || message.from == self.id {
            return Err(StepError::InvalidSender(message.from));
        }
        validate(&message).map_err(|reason| StepError::Malformed {
            kind: message.body.name(),
            from: message.from,
            reason,
        })?;
        if message.term > self.term {
            if !self.accept_higher_term(&message) {
                return Ok(());
            }
        } else if message.term < self.term {
            self.answer_lower_term(&message);
            return Ok(());
        }
        if let MessageBody::Vote {
            pre,
            last_index,
            last_term,
            ..
        } = message.body
        {
            self.handle_vote_request(message.from, message.term, pre, last_index, last_term);
            return Ok(());
        }
        match self.role {
            Role::Leader => self.step_leader(message),
            Role::Candidate | Role::PreCandidate => self.step_candidate(message),
            Role::Follower => self.step_follower(message),
        }
        Ok(())
    }

    /// Whether this member heard from a live leader within an election timeout; if so it
    /// ignores vote requests, so a member that was cut off cannot depose a healthy leader.
    fn in_leader_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader != 0
            && self.election_elapsed_ticks < self.config.election_timeout_ticks
    }

    /// Applies the rules for a message from a higher term. Returns whether to go on handling it.
    fn accept_higher_term(&mut self, message: &Message) -> bool {
        match message.body {
            MessageBody::Vote { force, .. } if !force && self.in_leader_lease() => false,
            // A pre-vote, or a granted pre-vote response, carries the term a candidate would
            // use; it changes nothing here.
            MessageBody::Vote { pre: true, .. } => true,
            MessageBody::VoteResponse {
                pre: true,
                reject: false,
            } => true,
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => {
                self.become_follower(message.term, message.from);
                true
            }
            _ => {
                self.become_follower(message.term, 0);
                true
            }
        }
    }

    fn answer_lower_term(&mut self, message: &Message) {
        match message.body {
            // A stale leader (e.g. one that was partitioned) learns the new term from this
            // answer and steps down; without it, pre-vote could keep it in place forever.
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                if self.config.check_quorum || self.config.pre_vote =>
            {
                self.send(
                    message.from,
                    MessageBody::AppendResponse {
                        index: 0,
                        reject: None,
                    },
                );
            }
            MessageBody::Vote { pre: true, .. } => {
                self.send(
                    message.from,
                    MessageBody::VoteResponse {
                        pre: true,
                        reject: true,
                    },
                );
            }
            _ => {}
        }
    }

    fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        pre: bool,
        last_index: Index,
        last_term: Term,
    ) {
        let can_vote =
            self.vote == from || (self.vote == 0 && self.leader == 0) || (pre && term > self.term);
        let up_to_date = cfg!(feature = "defect-vote-without-log-check")
            || self.log.is_up_to_date(last_index, last_term);
        let grant = can_vote && up_to_date;
        let response_term = if grant && pre { term } else { self.term };
        self.outbox.push_back(Message {
            from: self.id,
            to: from,
            term: response_term,
            body: MessageBody::VoteResponse {
                pre,
                reject: !grant,
            },
        });
        if grant && !pre {
            self.election_elapsed_ticks = 0;
            self.vote = from;
        }
    }

    fn step_leader(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::AppendResponse { index, reject } => {
                self.handle_append_response(from, index, reject);
            }
            MessageBody::HeartbeatResponse { read_seq } => {
                let last_index = self.log.last_index();
                let Some(progress) = self.tracker.progress.get_mut(&from) else {
                    return;
                };
                progress.recent_active = true;
                progress.probe_sent = false;
                progress.read_seq_acked = progress.read_seq_acked.max(read_seq);
                if progress.state == ProgressState::Replicate && progress.inflights.full() {
                    // Appends may have been lost: let one more out so that a gap is noticed
                    // (the follower rejects it and the leader goes back to probing).
                    progress.inflights.free_first();
                }
                let behind = progress.match_index < last_index;
                if behind {
                    self.send_append(from, true);
                }
                self.release_confirmed_reads();
            }
            MessageBody::ReadIndex { context } => self.handle_read_request(from, context),
            // Vote responses after winning, and anything meant for followers, are stale.
            _ => {}
        }
    }

    fn step_candidate(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => {
                // A leader of this term exists: follow it.
                self.become_follower(message.term, from);
                self.step_follower(message);
            }
            MessageBody::VoteResponse { pre, reject } => {
                let campaigning_pre = self.role == Role::PreCandidate;
                if pre == campaigning_pre {
                    self.tracker.record_vote(from, !reject);
                    self.tally_votes(pre);
                }
            }
            _ => {}
        }
    }

    fn step_follower(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.heard_from_leader(from);
                self.handle_append(from, prev_index, prev_term, &entries, commit);
            }
            MessageBody::Heartbeat { commit, read_seq } => {
                self.heard_from_leader(from);
                self.log.commit_to(commit.min(self.log.last_index()));
                self.send(from, MessageBody::HeartbeatResponse { read_seq });
            }
            MessageBody::Snapshot { snapshot } => {
                self.heard_from_leader(from);
                self.handle_snapshot(from, snapshot);
            }
            MessageBody::TimeoutNow => self.hup(true),
            MessageBody::ReadIndexResponse { index, context } => {
                self.read_states
                    .push(crate::ready::ReadState { index, context });
            }
            _ => {}
        }
    }

    fn heard_from_leader(&mut self, leader: NodeId) {
        self.election_elapsed_ticks = 0;
        self.leader = leader;
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: Index,
        prev_term: Term,
        entries: &[crate::types::Entry],
        commit: Index,
    ) {
        let committed = self.log.committed();
        if prev_index < committed {
            self.acknowledge(from, committed);
            return;
        }
        if let Some(last_new_index) = self
            .log
            .maybe_append(prev_index, prev_term, commit, entries)
        {
            self.acknowledge(from, last_new_index);
            return;
        }
        // Rejected: hint where the logs may agree, skipping a whole term per round trip.
        let probe = prev_index.min(self.log.last_index());
        let (index, term) = self.log.find_conflict_by_term(probe, prev_term);
        let body = MessageBody::AppendResponse {
            index: prev_index,
            reject: Some(RejectHint { index, term }),
        };
        self.send(from, body);
    }

    fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if index <= self.log.committed() {
            self.acknowledge(from, self.log.committed());
            return;
        }
        if self.log.match_term(index, term) {
            // The log already holds the snapshot's last entry: just commit up to it. Only that
            // far is known to match the leader; entries after it may be from older terms.
            self.log.commit_to(index);
        } else {
            self.tracker.conf = snapshot.meta.conf_state.clone();
            self.log.restore(snapshot);
        }
        self.acknowledge(from, index);
    }

    /// Tells the leader that this log matches its own up to `index`.
    fn acknowledge(&mut self, leader: NodeId, index: Index) {
        let body = MessageBody::AppendResponse {
            index,
            reject: None,
        };
        self.send(leader, body);
    }

    fn handle_append_response(&mut self, from: NodeId, index: Index, reject: Option<RejectHint>) {
        let last_index = self.log.last_index();
        let hint = reject.map(|hint| {
            if hint.term > 0 {
                self.log.find_conflict_by_term(hint.index, hint.term).0
            } else {
                hint.index
            }
        });
        let Some(progress) = self.tracker.progress.get_mut(&from) else {
            return;
        };
        progress.recent_active = true;
        if index > last_index {
            // Acknowledges entries this leader never had: a confused peer. Recording it would
            // put the follower's match (and next probe) past the end of the log.
            return;
        }
        if let Some(hint) = hint {
            if progress.maybe_decrease_to(index, hint) {
                if progress.state == ProgressState::Replicate {
                    progress.become_probe();
                }
                self.send_append(from, true);
            }
            return;
        }
        let was_paused = progress.is_paused();
        if !progress.maybe_update(index) {
            return;
        }
        match progress.state {
            ProgressState::Probe => progress.become_replicate(),
            ProgressState::Snapshot { pending_index, .. }
                if progress.match_index >= pending_index =>
            {
                progress.become_probe();
                progress.become_replicate();
            }
            ProgressState::Replicate => progress.inflights.free_to(index),
            ProgressState::Snapshot { .. } => {}
        }
        let caught_up = progress.match_index == last_index;
        if self.maybe_commit() {
            self.broadcast_append();
        } else if was_paused {
            self.send_append(from, false);
        }
        // The window may have room for several more messages now.
        while self.send_append(from, false) {}
        if caught_up && self.transferee.is_some_and(|(t, _)| t == from) {
            self.send(from, MessageBody::TimeoutNow);
        }
    }

    /// Sends `to` the entries it lacks (or a snapshot). With `allow_empty`, an append without
    /// entries is sent too (a probe, or news of the commit index). Returns whether a message
    /// with entries or a snapshot was sent.
    pub(crate) fn send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        let last_index = self.log.last_index();
        let committed = self.log.committed();
        let bytes_max = self.config.message_bytes_max;
        let Some(progress) = self.tracker.progress.get(&to) else {
            return false;
        };
        if progress.is_paused() {
            return false;
        }
        let next = progress.next_index;
        let prev_index = next - 1;
        let prev_term = match self.log.term(prev_index) {
            Some(term) => term,
            None => return self.send_snapshot(to),
        };
        let entries = if next <= last_index {
            self.log.slice(next, last_index + 1, bytes_max)
        } else {
            Vec::new()
        };
        if entries.is_empty() && !allow_empty {
            return false;
        }
        let sent_last = entries.last().map(|e| e.index);
        if let Some(progress) = self.tracker.progress.get_mut(&to) {
            progress.sent_append(sent_last);
        }
        self.send(
            to,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit: committed,
            },
        );
        sent_last.is_some()
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let Some(snapshot) = self.log.snapshot().cloned() else {
            return false;
        };
        if let Some(progress) = self.tracker.progress.get_mut(&to) {
            progress.become_snapshot(snapshot.meta.index);
        }
        self.send(to, MessageBody::Snapshot { snapshot });
        true
    }

    pub(crate) fn broadcast_append(&mut self) {
        for peer in self.tracker.peers(self.id) {
            self.send_append(peer, true);
        }
    }

    pub(crate) fn broadcast_heartbeat(&mut self) {
        let committed = self.log.committed();
        let read_seq = self.reads.newest_seq();
        for peer in self.tracker.peers(self.id) {
            let match_index = self
                .tracker
                .progress
                .get(&peer)
                .map_or(0, |p| p.match_index);
            self.send(
                peer,
                MessageBody::Heartbeat {
                    // Never tell a follower to commit past what it is known to hold.
                    commit: committed.min(match_index),
                    read_seq,
                },
            );
        }
    }
}
