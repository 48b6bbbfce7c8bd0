//! The search budget: how the caller bounds a check without the crate reading a clock.
//!
//! The check crate never reads the time. A caller that wants a wall-clock deadline measures it
//! itself (the `cli` crate does) and hands in a callback that says whether the deadline has
//! passed; a caller that wants a reproducible bound gives a step limit instead. Checkers poll the
//! budget as they work and answer [`crate::Verdict::Unknown`] when it runs out, never `Ok`.

/// How often, in search steps, the deadline callback is polled (the first poll is at step 0).
pub const DEADLINE_POLL_STEPS: u64 = 1024;

/// A bound on the work one check may do: an optional step limit and an optional deadline callback.
pub struct Budget<'a> {
    /// Invariant: `steps <= steps_max` until exhaustion is reported.
    steps: u64,
    steps_max: u64,
    deadline: Option<&'a mut dyn FnMut() -> bool>,
    exhausted: bool,
}

impl std::fmt::Debug for Budget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("steps", &self.steps)
            .field("steps_max", &self.steps_max)
            .field("has_deadline", &self.deadline.is_some())
            .field("exhausted", &self.exhausted)
            .finish()
    }
}

impl Default for Budget<'_> {
    fn default() -> Self {
        Self::unlimited()
    }
}

impl<'a> Budget<'a> {
    /// No limit at all: the check runs to its verdict.
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            steps: 0,
            steps_max: u64::MAX,
            deadline: None,
            exhausted: false,
        }
    }

    /// At most `steps_max` search steps: reproducible, independent of the machine's speed.
    #[must_use]
    pub fn with_steps_max(steps_max: u64) -> Self {
        Self {
            steps_max,
            ..Self::unlimited()
        }
    }

    /// A deadline: `expired()` returns true once the caller's time is up. It is polled every
    /// [`DEADLINE_POLL_STEPS`] steps, starting with the first.
    #[must_use]
    pub fn with_deadline(expired: &'a mut dyn FnMut() -> bool) -> Self {
        Self {
            deadline: Some(expired),
            ..Self::unlimited()
        }
    }

    /// Counts one step of work; returns true when the budget is exhausted (and stays so).
    pub fn tick(&mut self) -> bool {
        if self.exhausted {
            return true;
        }
        if self.steps >= self.steps_max {
            self.exhausted = true;
            return true;
        }
        if self.steps.is_multiple_of(DEADLINE_POLL_STEPS)
            && let Some(expired) = self.deadline.as_mut()
            && expired()
        {
            self.exhausted = true;
            return true;
        }
        self.steps += 1;
        false
    }

    /// Steps counted so far.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether the budget ran out at some point.
    #[must_use]
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// Why the budget ran out, for an `unknown` verdict.
    #[must_use]
    pub fn exhausted_reason(&self) -> String {
        if self.steps >= self.steps_max {
            format!("search step limit of {} reached", self.steps_max)
        } else {
            format!("time limit reached after {} search steps", self.steps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_limit_exhausts_and_stays_exhausted() {
        let mut budget = Budget::with_steps_max(3);
        assert!(!budget.tick());
        assert!(!budget.tick());
        assert!(!budget.tick());
        assert!(budget.tick());
        assert!(budget.tick());
        assert!(budget.exhausted_reason().contains("step limit"));
    }

    #[test]
    fn deadline_is_polled_on_the_first_step() {
        let mut expired = || true;
        let mut budget = Budget::with_deadline(&mut expired);
        assert!(budget.tick());
        assert!(budget.exhausted_reason().contains("time limit"));
    }
}
