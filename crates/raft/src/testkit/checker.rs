//! Raft's safety properties, checked incrementally from what members report.
//!
//! The checker never looks inside a member's private state: it sees what a member persisted
//! (entries), what it applied, who became leader, and what reads returned, plus the public
//! getters (`log_term`) that any shell could call.

use std::collections::BTreeMap;

use crate::Raft;
use crate::types::{Entry, Index, NodeId, Term};

/// Which property failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ViolationKind {
    /// Two leaders in one term (§5.2).
    ElectionSafety,
    /// Two logs share an (index, term) but differ at or before it (§5.3).
    LogMatching,
    /// A leader's log lacks a committed entry (§5.4).
    LeaderCompleteness,
    /// Two members applied different entries at one index (§5.4.3).
    StateMachineSafety,
    /// A linearizable read missed a write acknowledged before the read began.
    StaleRead,
    /// After every fault healed, the cluster made no progress in time.
    Liveness,
    /// A member's own assertion fired (a panic inside the core).
    InternalAssertion,
}

/// A property that failed, with what the checker saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The seed that reproduces it.
    pub seed: u64,
    /// Which property.
    pub kind: ViolationKind,
    /// Simulated time when it was seen.
    pub time: u64,
    /// What was seen.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} at t={} (seed {}): {}",
            self.kind, self.time, self.seed, self.detail
        )
    }
}

/// The global record the properties are checked against.
#[derive(Debug, Default)]
pub(crate) struct SafetyChecker {
    /// term → the member that became leader in it.
    leaders: BTreeMap<Term, NodeId>,
    /// (index, term) → (digest of the entry, term of the entry before it), as first persisted.
    entries: BTreeMap<(Index, Term), (u64, Term)>,
    /// index → (term, digest) of the entry first applied there, and the lowest term any member
    /// was in when it applied it: an upper bound of the term in which the entry was committed
    /// (a member learns of a commit only from a leader of that term or a later one).
    applied: BTreeMap<Index, AppliedEntry>,
}

pub(crate) type Check = Result<(), (ViolationKind, String)>;

#[derive(Clone, Copy, Debug)]
struct AppliedEntry {
    term: Term,
    digest: u64,
    committed_by_term: Term,
}

impl SafetyChecker {
    /// A member reported becoming leader of its current term.
    pub(crate) fn became_leader(&mut self, raft: &Raft) -> Check {
        let (id, term) = (raft.id(), raft.term());
        if let Some(&other) = self.leaders.get(&term)
            && other != id
        {
            return Err((
                ViolationKind::ElectionSafety,
                format!("members {other} and {id} both led term {term}"),
            ));
        }
        self.leaders.insert(term, id);
        // Every entry committed so far must be in the new leader's log (those it compacted
        // it applied itself, which state-machine safety covers).
        let first = raft.first_index();
        // Only entries committed in earlier terms: the report of a leadership can arrive late (a
        // paused process), after later terms committed entries this leader never had to hold.
        for (&index, applied) in self.applied.range(first..) {
            let entry_term = applied.term;
            if applied.committed_by_term < term && raft.log_term(index) != Some(entry_term) {
                return Err((
                    ViolationKind::LeaderCompleteness,
                    format!(
                        "leader {id} of term {term} has term {:?} at committed index {index} \
                         (committed term {entry_term})",
                        raft.log_term(index)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A member persisted `entries` (its log now holds them).
    pub(crate) fn persisted(&mut self, raft: &Raft, entries: &[Entry]) -> Check {
        for entry in entries {
            let prev_term = raft.log_term(entry.index - 1).unwrap_or(0);
            let digest = super::entry_digest(entry);
            let key = (entry.index, entry.term);
            match self.entries.get(&key) {
                None => {
                    self.entries.insert(key, (digest, prev_term));
                }
                Some(&(seen_digest, seen_prev)) if seen_digest != digest => {
                    return Err((
                        ViolationKind::LogMatching,
                        format!(
                            "member {} holds a different entry at index {} term {} \
                             (digest {digest:x}, first seen {seen_digest:x}; prev term {prev_term}/{seen_prev})",
                            raft.id(),
                            entry.index,
                            entry.term
                        ),
                    ));
                }
                // A different predecessor under the same (index, term) breaks log matching
                // one entry earlier; the compaction point's term is unknown (0), so skip it.
                Some(&(_, seen_prev))
                    if seen_prev != prev_term && prev_term != 0 && seen_prev != 0 =>
                {
                    return Err((
                        ViolationKind::LogMatching,
                        format!(
                            "member {} has term {prev_term} before index {} term {}, \
                             another member had term {seen_prev}",
                            raft.id(),
                            entry.index,
                            entry.term
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A member in term `member_term` applied the entry at `index`.
    pub(crate) fn applied(
        &mut self,
        member: NodeId,
        member_term: Term,
        (index, term, digest): (Index, Term, u64),
    ) -> Check {
        let Some(seen) = self.applied.get_mut(&index) else {
            let entry = AppliedEntry {
                term,
                digest,
                committed_by_term: member_term,
            };
            self.applied.insert(index, entry);
            return Ok(());
        };
        if (seen.term, seen.digest) != (term, digest) {
            return Err((
                ViolationKind::StateMachineSafety,
                format!(
                    "member {member} applied term {term} digest {digest:x} at index {index}, \
                     another applied term {} digest {:x}",
                    seen.term, seen.digest
                ),
            ));
        }
        seen.committed_by_term = seen.committed_by_term.min(member_term);
        Ok(())
    }

    /// A committed entry became known: every current leader of a term after the one that
    /// committed it must hold it.
    pub(crate) fn check_leaders_hold(&self, leaders: &[&Raft], index: Index) -> Check {
        let Some(applied) = self.applied.get(&index) else {
            return Ok(());
        };
        for leader in leaders {
            let must_hold =
                leader.term() > applied.committed_by_term && index >= leader.first_index();
            if must_hold && leader.log_term(index) != Some(applied.term) {
                return Err((
                    ViolationKind::LeaderCompleteness,
                    format!(
                        "leader {} of term {} lacks entry {index} of term {}, committed by term {}",
                        leader.id(),
                        leader.term(),
                        applied.term,
                        applied.committed_by_term
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How many entries have been applied somewhere.
    pub(crate) fn committed_count(&self) -> usize {
        self.applied.len()
    }
}
