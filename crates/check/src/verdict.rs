//! Verdicts: what a check concludes about one history.

use std::fmt;

/// The conclusion of a check. A false `Ok` is the worst bug this crate can have, so every
/// checker answers `Unknown` rather than `Ok` when it could not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The history is consistent with the model (linearizable, watch guarantees kept).
    Ok,
    /// The history breaks the model; the violation says where and why.
    Violation(Violation),
    /// The checker could not decide (time or step budget ran out); the string says why.
    Unknown(String),
}

impl Verdict {
    /// True only for [`Verdict::Ok`].
    #[must_use]
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    /// True only for [`Verdict::Violation`].
    #[must_use]
    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::Violation(_))
    }

    /// True only for [`Verdict::Unknown`].
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(self, Verdict::Unknown(_))
    }

    /// Combines two verdicts on parts of one history: any violation wins, then unknown, then ok.
    #[must_use]
    pub fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (v @ Verdict::Violation(_), _) | (_, v @ Verdict::Violation(_)) => v,
            (u @ Verdict::Unknown(_), _) | (_, u @ Verdict::Unknown(_)) => u,
            (Verdict::Ok, Verdict::Ok) => Verdict::Ok,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => write!(f, "ok"),
            Verdict::Violation(v) => write!(f, "violation {}", v.explanation),
            Verdict::Unknown(reason) => write!(f, "unknown {reason}"),
        }
    }
}

/// What was broken, and by which operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The property or model rule that failed, e.g. `linearizability`, `watch ordered`.
    pub property: String,
    /// One line (no newline) saying what went wrong.
    pub explanation: String,
    /// The index (in the checked history's operations) of the operation where it failed.
    pub op: Option<usize>,
}

impl Violation {
    /// A violation of `property`, explained in one line, optionally at operation `op`.
    #[must_use]
    pub fn new(property: &str, explanation: impl Into<String>, op: Option<usize>) -> Self {
        let explanation = explanation.into().replace('\n', " ");
        Self {
            property: property.to_owned(),
            explanation,
            op,
        }
    }
}
