//! The consensus core of Invar: a deterministic Raft state machine in the style of etcd's
//! raft library.
//!
//! It does no I/O, reads no clock, starts no thread and draws no OS randomness: time moves
//! only through [`Raft::tick`], the election jitter comes from the seed in [`Config`], and
//! everything to persist, send or apply comes out as one [`Ready`] value. The same inputs
//! always give the same outputs, which is what lets `invar sim` replay a whole cluster from
//! a seed.
//!
//! # Call protocol
//!
//! 1. Create a member with [`Raft::bootstrap`] (a new cluster), or [`Raft::restart`] with what
//!    it persisted (`PersistedState::default()` for a member joining an existing cluster).
//! 2. Feed it inputs: [`Raft::tick`] at a fixed interval, [`Raft::step`] for each peer
//!    message, [`Raft::propose`] / [`Raft::propose_conf_change`] / [`Raft::read_index`] /
//!    [`Raft::transfer_leader`] for the application's requests.
//! 3. When [`Raft::has_ready`], take [`Raft::ready`] and carry it out in the order its
//!    documentation gives: persist (and sync) before sending, then apply.
//! 4. Give it back with [`Raft::advance`]. No input may be fed between steps 3 and 4.
//! 5. From time to time, [`Raft::compact`] with a snapshot of the applied state.
//!
//! # What it guarantees (and the tests check)
//!
//! * At most one leader per term; a leader's log holds every committed entry (§5.4).
//! * Logs that share an entry (index and term) are identical up to it (§5.3).
//! * Entries of earlier terms are committed only by committing an entry of the current term
//!   (§5.4.2, Figure 8).
//! * Pre-vote and check-quorum: a member that was cut off cannot depose a healthy leader
//!   when it comes back, and a leader that lost its quorum steps down.
//! * ReadIndex answers only after a heartbeat quorum confirmed leadership, and only once the
//!   leader committed an entry of its own term.
//! * Membership changes one member at a time, never two pending, never before the leader
//!   committed an entry of its term.

#![deny(missing_docs)]

mod config;
mod error;
mod log;
mod prng;
mod progress;
mod raft;
mod read;
mod ready;
mod step;
pub mod testkit;
pub mod types;

pub use config::{Config, ConfigError};
pub use prng::Prng;
pub use progress::{Progress, ProgressState};
pub use raft::{PersistedState, ProposeError, Raft, RequestError, RestoreError, Role};
pub use ready::{ReadState, Ready, SoftState};
pub use step::StepError;
pub use types::*;
