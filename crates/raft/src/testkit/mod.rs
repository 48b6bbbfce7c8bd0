//! Test tools for the consensus core, public so that other crates and `invar sim` can use
//! them: an in-memory member driver, a scripted network for scenario tests, and a randomized,
//! seeded cluster simulation that checks Raft's safety properties after every step.
//!
//! Everything here is as deterministic as the core: no clock, no threads, no OS randomness.

mod checker;
mod network;
mod sim;

pub use checker::{Violation, ViolationKind};
pub use network::Network;
pub use sim::{SimOptions, SimReport, run_seed};

use crate::types::{Entry, EntryKind, HardState, Index, NodeId, Snapshot, Term};
use crate::{Config, PersistedState, Raft, Ready};

/// What a member has made durable: the model of a disk that never loses a synced write.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    /// The last persisted hard state.
    pub hard_state: HardState,
    /// The newest persisted snapshot.
    pub snapshot: Option<Snapshot>,
    /// The persisted entries after the snapshot.
    pub entries: Vec<Entry>,
}

impl MemStorage {
    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }

    /// Persists the durable part of a `Ready` (step 1 of its contract).
    pub fn persist(&mut self, ready: &Ready) {
        if let Some(snapshot) = &ready.snapshot {
            self.snapshot = Some(snapshot.clone());
            self.entries.clear();
        }
        if let Some(first) = ready.entries.first() {
            let keep = first.index.saturating_sub(self.snapshot_index() + 1) as usize;
            self.entries.truncate(keep);
            self.entries.extend_from_slice(&ready.entries);
        }
        if let Some(hard_state) = ready.hard_state {
            self.hard_state = hard_state;
        }
    }

    /// Records a snapshot the application took, dropping the entries it covers.
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        if index <= self.snapshot_index() {
            return;
        }
        let drop = (index - self.snapshot_index()) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = Some(snapshot);
    }

    /// What a restarted member is given back.
    pub fn persisted_state(&self) -> PersistedState {
        PersistedState {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
            applied: self.snapshot_index(),
        }
    }
}

/// The toy state machine: a count and a rolling digest of every applied entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateMachine {
    /// The last applied index.
    pub applied: Index,
    /// A digest of every applied entry, in order.
    pub digest: u64,
}

impl StateMachine {
    /// Applies one committed entry.
    pub fn apply(&mut self, entry: &Entry) {
        assert_eq!(entry.index, self.applied + 1, "applied out of order");
        self.applied = entry.index;
        self.digest = fnv(self.digest, &entry_digest(entry).to_le_bytes());
    }

    /// The snapshot image.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.applied.to_le_bytes().to_vec();
        out.extend_from_slice(&self.digest.to_le_bytes());
        out
    }

    /// Restores from a snapshot image (written by `encode`).
    pub fn decode(bytes: &[u8]) -> Option<StateMachine> {
        let applied = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let digest = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(StateMachine { applied, digest })
    }
}

/// FNV-1a, folded over `bytes` from `seed`: a stable hash for traces and digests.
pub fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut hash = seed ^ 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A digest of an entry's term, kind and data.
pub fn entry_digest(entry: &Entry) -> u64 {
    let kind = match entry.kind {
        EntryKind::Normal => 0u8,
        EntryKind::ConfChange => 1,
    };
    let head = fnv(entry.term, &[kind]);
    fnv(head, &entry.data)
}

/// A member with its durable storage and state machine, driven the way a real shell drives
/// one: persist, send, apply, advance.
#[derive(Debug)]
pub struct MemNode {
    /// The consensus state machine.
    pub raft: Raft,
    /// What survives a crash.
    pub storage: MemStorage,
    /// What the member applied.
    pub state: StateMachine,
    /// Take a snapshot once this many entries are applied past the last one (0: never).
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot.
    pub snapshot_keep: u64,
}

/// What one `Ready` produced, for the driver's caller to route and check.
#[derive(Debug, Default)]
pub struct Handled {
    /// The new leader or role, if it changed.
    pub soft_state: Option<crate::SoftState>,
    /// The entries that were persisted.
    pub entries: Vec<Entry>,
    /// Messages to deliver.
    pub messages: Vec<crate::types::Message>,
    /// (index, term, digest) of each applied entry.
    pub applied: Vec<(Index, Term, u64)>,
    /// Answers to ReadIndex requests.
    pub read_states: Vec<crate::ReadState>,
    /// Whether a new vote was made durable.
    pub vote_changed: bool,
}

impl MemNode {
    /// A member of a new cluster.
    pub fn bootstrap(config: Config, voters: &[NodeId]) -> MemNode {
        let raft = Raft::bootstrap(config, voters).expect("valid bootstrap");
        MemNode::with(raft, MemStorage::default(), StateMachine::default())
    }

    /// A member restarted from `storage` (or joining, from empty storage).
    pub fn restart(config: Config, storage: MemStorage) -> MemNode {
        let state = storage
            .snapshot
            .as_ref()
            .and_then(|s| StateMachine::decode(&s.data))
            .unwrap_or_default();
        let raft = Raft::restart(config, storage.persisted_state()).expect("valid restart");
        MemNode::with(raft, storage, state)
    }

    fn with(raft: Raft, storage: MemStorage, state: StateMachine) -> MemNode {
        MemNode {
            raft,
            storage,
            state,
            snapshot_every: 0,
            snapshot_keep: 0,
        }
    }

    /// Carries out one `Ready` if there is one.
    pub fn handle_ready(&mut self) -> Option<Handled> {
        if !self.raft.has_ready() {
            return None;
        }
        let mut ready = self.raft.ready();
        let vote_before = self.storage.hard_state.vote;
        self.storage.persist(&ready);
        if let Some(snapshot) = &ready.snapshot {
            self.state = StateMachine::decode(&snapshot.data).unwrap_or(StateMachine {
                applied: snapshot.meta.index,
                digest: 0,
            });
        }
        let mut applied = Vec::with_capacity(ready.committed_entries.len());
        for entry in &ready.committed_entries {
            self.state.apply(entry);
            applied.push((entry.index, entry.term, entry_digest(entry)));
        }
        let handled = Handled {
            soft_state: ready.soft_state,
            entries: ready.entries.clone(),
            messages: std::mem::take(&mut ready.messages),
            applied,
            read_states: ready.read_states.clone(),
            vote_changed: self.storage.hard_state.vote != vote_before,
        };
        self.raft.advance(ready);
        self.maybe_snapshot();
        Some(handled)
    }

    fn maybe_snapshot(&mut self) {
        if self.snapshot_every == 0 {
            return;
        }
        let last_snapshot = self.storage.snapshot_index();
        if self.state.applied < last_snapshot + self.snapshot_every {
            return;
        }
        let data = self.state.encode();
        if let Some(meta) = self.raft.compact(data.clone(), self.snapshot_keep) {
            self.storage.install_snapshot(Snapshot { meta, data });
        }
    }
}
