//! Invar's durable storage: the file-system trait, the write-ahead log and snapshot files.
//!
//! placeholder: the full crate doc comes with the snapshot files.
#![deny(missing_docs)]

pub mod fs;
pub mod rng;
pub mod wal;
