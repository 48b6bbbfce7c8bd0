//! The general linearizability search (Wing–Gong with Lowe's memoization, as in porcupine and
//! Knossos' `wgl`), for histories whose responses carry no revisions.
//!
//! A [`Model`] is a sequential specification: an initial state and a partial step function that
//! says whether an output is legal for an input in a state and what the next state is. A model may
//! split a history into independent parts ([`Model::partition`], P-compositionality): a history is
//! linearizable iff every part is, so each part is searched on its own (a per-key KV history is
//! searched key by key).

pub mod kv;
mod memo;
pub mod register;
mod search;

pub use search::{SearchOutcome, check_operations};

use std::fmt::Debug;
use std::hash::Hash;

/// One client operation in a history checked by the general search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client (process) issued it; for display only.
    pub client: u64,
    /// When it was invoked.
    pub invoke_time: u64,
    /// When it returned; `None` when the outcome is unknown (it may take effect at any time
    /// after `invoke_time`, or never).
    pub return_time: Option<u64>,
    /// What was asked.
    pub input: I,
    /// What was answered; `None` when the outcome is unknown.
    pub output: Option<O>,
    /// Line in the source file (1-based) where the operation was invoked, for reports.
    pub line: u64,
}

/// A sequential specification for the search.
pub trait Model {
    /// The model's state; hashed for memoization.
    type State: Clone + Eq + Hash + Debug;
    /// An operation's request.
    type Input: Debug;
    /// An operation's response.
    type Output: Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` in `state`. `output` is `None` when the outcome is unknown: then any
    /// legal response is accepted. Returns the next state, or `None` when `output` is impossible.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether `input` never changes the state (a read). The search then never tries a read
    /// later than the first point where it can be linearized. Default: false (always safe).
    fn is_read(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// Splits the operations into independent groups (indices into `ops`), each checked alone.
    /// The default keeps them together.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..ops.len()).collect()]
    }

    /// A short human description of one operation, for violations and reports.
    fn describe(&self, op: &Operation<Self::Input, Self::Output>) -> String {
        let output = match &op.output {
            Some(o) => format!("{o:?}"),
            None => "unknown".to_owned(),
        };
        format!("client {} {:?} -> {}", op.client, op.input, output)
    }
}
