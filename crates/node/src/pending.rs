//! The client requests a member is waiting on: proposed writes (by log index) and
//! linearizable reads (by ReadIndex context, then by read index), lease keep-alives and
//! time-to-lives among them (the leader confirms it still leads before it answers).

use std::collections::{BTreeMap, BTreeSet};

use invar_mvcc::{LeaseTimeToLiveRequest, RangeRequest};
use invar_raft::{Index, NodeId, Term};

use crate::event::{Instant, LeaseKeepAliveRequest, RequestId};

/// A write proposed by this member, waiting for its entry to be applied.
#[derive(Clone, Debug)]
pub(crate) struct PendingWrite {
    pub(crate) id: RequestId,
    /// The term the entry was proposed in: an entry at its index from another term is not it.
    pub(crate) term: Term,
    pub(crate) deadline: Instant,
}

/// What a linearizable read reads once its read index is applied.
#[derive(Clone, Debug)]
pub(crate) enum ReadKind {
    /// A range of the store.
    Range(RangeRequest),
    /// The member list.
    MemberList,
    /// A keep-alive or time-to-live the leader took in `term`: answered only if this member
    /// still is the primary lessor of that term once the read is confirmed (etcd's
    /// `ensureLeadership` before `LeaseRenew`).
    Lease { request: LeaseRead, term: Term },
}

/// A lease request that waits for a ReadIndex round.
#[derive(Clone, Debug)]
pub(crate) enum LeaseRead {
    /// Renews the lease.
    KeepAlive(LeaseKeepAliveRequest),
    /// Reports the remaining TTL.
    TimeToLive(LeaseTimeToLiveRequest),
}

/// A linearizable read.
#[derive(Clone, Debug)]
pub(crate) struct PendingRead {
    pub(crate) id: RequestId,
    pub(crate) kind: ReadKind,
    pub(crate) deadline: Instant,
}

/// A MoveLeader, answered once the target leads.
#[derive(Clone, Debug)]
pub(crate) struct PendingTransfer {
    pub(crate) id: RequestId,
    pub(crate) target: NodeId,
    pub(crate) deadline: Instant,
}

/// Every request waiting for an answer.
///
/// Invariant: `ids` holds exactly the ids in `writes`, `unconfirmed`, `confirmed` and
/// `transfers`.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) writes: BTreeMap<Index, PendingWrite>,
    /// Reads waiting for their ReadIndex answer, by context.
    pub(crate) unconfirmed: BTreeMap<u64, PendingRead>,
    /// Reads with a read index, waiting for the applied index to reach it: (index, context).
    pub(crate) confirmed: BTreeMap<(Index, u64), PendingRead>,
    /// Leader transfers, by request id.
    pub(crate) transfers: BTreeMap<RequestId, PendingTransfer>,
    ids: BTreeSet<RequestId>,
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn contains(&self, id: RequestId) -> bool {
        self.ids.contains(&id)
    }

    pub(crate) fn add_write(&mut self, index: Index, write: PendingWrite) {
        assert!(
            self.ids.insert(write.id),
            "request id {} pending twice",
            write.id
        );
        let previous = self.writes.insert(index, write);
        assert!(previous.is_none(), "two pending writes at index {index}");
    }

    pub(crate) fn add_read(&mut self, context: u64, read: PendingRead) {
        assert!(
            self.ids.insert(read.id),
            "request id {} pending twice",
            read.id
        );
        let previous = self.unconfirmed.insert(context, read);
        assert!(previous.is_none(), "read context {context} reused");
    }

    pub(crate) fn add_transfer(&mut self, transfer: PendingTransfer) {
        assert!(
            self.ids.insert(transfer.id),
            "request id {} pending twice",
            transfer.id
        );
        self.transfers.insert(transfer.id, transfer);
    }

    /// Takes every pending transfer.
    pub(crate) fn take_transfers(&mut self) -> Vec<PendingTransfer> {
        let taken = std::mem::take(&mut self.transfers);
        self.forget(taken.keys().copied());
        taken.into_values().collect()
    }

    /// Takes the writes at or below `index` (they are decided: applied or overwritten).
    pub(crate) fn take_writes_through(&mut self, index: Index) -> Vec<(Index, PendingWrite)> {
        let later = self.writes.split_off(&(index + 1));
        let taken = std::mem::replace(&mut self.writes, later);
        self.forget(taken.values().map(|w| w.id));
        taken.into_iter().collect()
    }

    /// Takes the pending writes for which `doomed` holds.
    pub(crate) fn take_writes_where(
        &mut self,
        doomed: impl Fn(&PendingWrite) -> bool,
    ) -> Vec<PendingWrite> {
        let mut taken = Vec::new();
        self.writes.retain(|_, write| {
            if doomed(write) {
                taken.push(write.clone());
                false
            } else {
                true
            }
        });
        self.forget(taken.iter().map(|w| w.id));
        taken
    }

    /// Moves a read to the confirmed set once raft gave its read index; `false` if no read
    /// waits for `context` (it timed out, or failed on a leader change).
    pub(crate) fn confirm_read(&mut self, context: u64, index: Index) -> bool {
        match self.unconfirmed.remove(&context) {
            Some(read) => {
                self.confirmed.insert((index, context), read);
                true
            }
            None => false,
        }
    }

    /// Takes the unconfirmed reads (raft dropped their ReadIndex requests).
    pub(crate) fn take_unconfirmed_reads(&mut self) -> Vec<PendingRead> {
        let taken = std::mem::take(&mut self.unconfirmed);
        self.forget(taken.values().map(|r| r.id));
        taken.into_values().collect()
    }

    /// Takes the confirmed reads whose read index is at or below `applied`.
    pub(crate) fn take_readable(&mut self, applied: Index) -> Vec<PendingRead> {
        let later = self.confirmed.split_off(&(applied + 1, 0));
        let taken = std::mem::replace(&mut self.confirmed, later);
        self.forget(taken.values().map(|r| r.id));
        taken.into_values().collect()
    }

    /// Takes every request whose deadline passed.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<RequestId> {
        let mut expired = Vec::new();
        self.writes
            .retain(|_, w| keep_or_collect(w.deadline, w.id, now, &mut expired));
        self.unconfirmed
            .retain(|_, r| keep_or_collect(r.deadline, r.id, now, &mut expired));
        self.confirmed
            .retain(|_, r| keep_or_collect(r.deadline, r.id, now, &mut expired));
        self.transfers
            .retain(|_, t| keep_or_collect(t.deadline, t.id, now, &mut expired));
        self.forget(expired.iter().copied());
        expired
    }

    fn forget(&mut self, ids: impl Iterator<Item = RequestId>) {
        for id in ids {
            let known = self.ids.remove(&id);
            debug_assert!(known, "request id {id} was not pending");
        }
    }

    /// Checks the invariant on `ids`.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let count = self.writes.len()
            + self.unconfirmed.len()
            + self.confirmed.len()
            + self.transfers.len();
        if count != self.ids.len() {
            return Err(format!(
                "{count} pending requests but {} ids",
                self.ids.len()
            ));
        }
        Ok(())
    }
}

fn keep_or_collect(deadline: Instant, id: RequestId, now: Instant, out: &mut Vec<u64>) -> bool {
    if deadline <= now {
        out.push(id);
        false
    } else {
        true
    }
}
