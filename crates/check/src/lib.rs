//! Invar's history checker.
//!
//! The simulator, the black-box runner and `invar check` hand their histories to this crate, so
//! its verdicts are the product's verdicts. A false `ok` is the worst bug it can have; `unknown`
//! is the honest answer when a search runs out of budget.
//!
//! What it does:
//! - reads histories: Invar's JSON-lines format ([`format`], documented in
//!   `docs/history-format.md`), and Jepsen's logs and EDN maps ([`jepsen`], [`edn`]);
//! - checks operations against etcd's model using the revisions in the responses ([`etcd`]: a
//!   near-linear fast path that branches only over unknown-outcome writes nothing reveals);
//! - checks histories without revisions with the general Wing–Gong/Lowe search, memoized and
//!   P-compositional, for the register and KV models ([`linearizability`]);
//! - checks watch streams against the linearized history ([`watch`]);
//! - reports: a one-line [`Verdict`], a [`report::Report`], a self-contained HTML page ([`html`]).
//!
//! What it never does: read a clock, spawn a thread, touch a file or a socket, or let a hash
//! map's iteration order reach its output (`clippy.toml` bans them). The caller reads the bytes
//! and measures wall time.
//!
//! Invariant: a verdict is `Ok` only when a complete check found the history consistent; a check
//! cut short by its [`Budget`] answers `Unknown`.
//!
//! # Call protocol
//! 1. Read the history's bytes (the caller does the I/O) and turn them into text with
//!    [`text_from_bytes`], which names the line of the first invalid UTF-8 byte.
//! 2. Parse the text with the reader for its format: [`format::parse_history`] (JSON lines),
//!    [`jepsen::register_operations`] or [`jepsen::kv_operations`] (Jepsen); a bad line is a
//!    [`ParseError`] carrying its line number. [`convert::kv_operations`] turns a JSON-lines
//!    history into KV-model operations.
//! 3. Build a [`Budget`]: unlimited, a step limit, or a deadline callback that the caller backs
//!    with its own clock (polled every [`budget::DEADLINE_POLL_STEPS`] steps).
//! 4. Check: [`report::check_etcd_history`] for an etcd history (operations, then watches), or
//!    [`linearizability::check_operations`] with a model ([`linearizability::register`],
//!    [`linearizability::kv`]).
//! 5. Read the [`Verdict`]: `Ok`, `Violation` (with its property, a one-line explanation and the
//!    failing operation) or `Unknown` (the budget ran out). Optionally render the page with
//!    [`html::render`] and write it (the caller does the I/O).

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
mod probe_map;
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
