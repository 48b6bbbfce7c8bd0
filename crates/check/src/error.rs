//! Errors from reading histories.

/// A history that cannot be read: which line, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The 1-based line where the problem is (0 when it concerns the whole input).
    pub line: u64,
    /// What was expected and what was found.
    pub message: String,
}

impl ParseError {
    /// An error at `line`.
    #[must_use]
    pub fn new(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}
