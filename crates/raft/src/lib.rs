//! The consensus core of Invar: a deterministic Raft state machine.
//!
//! Types only for now; the state machine lands in the following commits.

#![deny(missing_docs)]

pub mod types;

pub use types::*;
