//! Invar's history checker.
//!
//! The simulator, the black-box runner and `invar check` hand their histories to this crate, so
//! its verdicts are the product's verdicts. A false `ok` is the worst bug it can have; `unknown`
//! is the honest answer when a search runs out of budget.
//!
//! What it does:
//! - reads histories: Invar's JSON-lines format ([`format`], documented in
//!   `docs/history-format.md`), and Jepsen's logs and EDN maps ([`jepsen`], [`edn`]);
//! - checks them: the general Wing–Gong/Lowe linearizability search with memoization and
//!   P-compositionality for the register and KV models ([`linearizability`]);
//! - reports: a one-line [`Verdict`].
//!
//! What it never does: read a clock, spawn a thread, touch a file or a socket, or let a hash
//! map's iteration order reach its output. The caller reads the bytes and measures wall time.
//!
//! # Call protocol
//! 1. Read the history's bytes (the caller does the I/O) and turn them into text with
//!    [`text_from_bytes`], which names the line of the first invalid UTF-8 byte.
//! 2. Parse the text with the reader for its format ([`jepsen::register_operations`],
//!    [`jepsen::kv_operations`]); a bad line is a [`ParseError`] carrying its line number.
//! 3. Build a [`Budget`]: unlimited, a step limit, or a deadline callback that the caller backs
//!    with its own clock.
//! 4. Run the checker ([`linearizability::check_operations`] with a model) and read the
//!    [`Verdict`]: `Ok`, `Violation` (with a one-line explanation and the failing operation) or
//!    `Unknown` (the budget ran out; never reported as `Ok`).

#![deny(missing_docs)]

pub mod budget;
pub mod convert;
pub mod edn;
pub mod error;
pub mod etcd;
pub mod format;
pub mod html;
pub mod jepsen;
pub mod linearizability;
pub mod report;
pub mod verdict;
pub mod watch;

pub use budget::Budget;
pub use error::ParseError;
pub use verdict::{Verdict, Violation};

/// Turns a history's bytes into text, or names the line holding the first invalid UTF-8 byte.
///
/// # Errors
/// A [`ParseError`] when the bytes are not UTF-8.
pub fn text_from_bytes(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        ParseError::new(line, format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })
}
