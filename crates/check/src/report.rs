//! One call for a whole etcd history: linearizability, then the watches, in one [`Report`].

use crate::budget::Budget;
use crate::etcd::check_etcd;
use crate::format::History;
use crate::verdict::{Verdict, Violation};
use crate::watch::check_watches;

/// Everything a check of one etcd history found, for the one-line verdict and the HTML report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The verdict: the first violation (linearizability first, then watches), else unknown or
    /// ok.
    pub verdict: Verdict,
    /// Operations (indices into `History::ops`) in linearization order, as far as it got.
    pub linearized: Vec<usize>,
    /// The operation where linearization failed, if it did.
    pub failed_op: Option<usize>,
    /// Every watch violation (empty when the operations were not linearizable: the watches are
    /// judged against the linearized history).
    pub watch_violations: Vec<Violation>,
}

/// Checks an etcd history: its operations with the etcd model, then, when they are
/// linearizable, every watch against the replayed keyspace.
#[must_use]
pub fn check_etcd_history(history: &History, budget: &mut Budget<'_>) -> Report {
    let outcome = check_etcd(history, budget);
    let watch_violations = match &outcome.store {
        Some(store) => check_watches(history, store),
        None => Vec::new(),
    };
    let verdict = match (outcome.verdict, watch_violations.first()) {
        (Verdict::Ok, Some(first)) => {
            let mut v = first.clone();
            if watch_violations.len() > 1 {
                v.explanation.push_str(&format!(
                    " (and {} more watch violations)",
                    watch_violations.len() - 1
                ));
            }
            Verdict::Violation(v)
        }
        (verdict, _) => verdict,
    };
    Report {
        verdict,
        linearized: outcome.linearized,
        failed_op: outcome.failed_op,
        watch_violations,
    }
}
