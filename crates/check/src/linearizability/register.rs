//! A read/write/compare-and-set register (Jepsen's `cas-register`), with `nil` as the initial
//! value.

use super::{Model, Operation};

/// A register value; `None` is Jepsen's `nil`.
pub type RegisterValue = Option<i64>;

/// A request to the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Replace the value.
    Write(i64),
    /// If the value equals `from`, replace it with `to`.
    Cas {
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
    },
}

/// A register response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutput {
    /// A read's value.
    Read(RegisterValue),
    /// A write's acknowledgement.
    Written,
    /// A cas: true when it found `from` and wrote `to`, false when it found another value.
    Cas(bool),
}

/// The register model.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterModel;

impl Model for RegisterModel {
    type State = RegisterValue;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> RegisterValue {
        None
    }

    fn step(
        &self,
        state: &RegisterValue,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<RegisterValue> {
        match (input, output) {
            (RegisterInput::Read, None) => Some(*state),
            (RegisterInput::Read, Some(RegisterOutput::Read(value))) => {
                (value == state).then_some(*state)
            }
            (RegisterInput::Write(value), None | Some(RegisterOutput::Written)) => {
                Some(Some(*value))
            }
            (RegisterInput::Cas { from, to }, None) => Some(if *state == Some(*from) {
                Some(*to)
            } else {
                *state
            }),
            (RegisterInput::Cas { from, to }, Some(RegisterOutput::Cas(swapped))) => {
                let matches = *state == Some(*from);
                match (matches, swapped) {
                    (true, true) => Some(Some(*to)),
                    (false, false) => Some(*state),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn is_read(&self, input: &RegisterInput) -> bool {
        matches!(input, RegisterInput::Read)
    }

    fn describe(&self, op: &Operation<RegisterInput, RegisterOutput>) -> String {
        let input = match op.input {
            RegisterInput::Read => "read".to_owned(),
            RegisterInput::Write(v) => format!("write {v}"),
            RegisterInput::Cas { from, to } => format!("cas {from}->{to}"),
        };
        let output = match &op.output {
            None => "unknown".to_owned(),
            Some(RegisterOutput::Read(Some(v))) => v.to_string(),
            Some(RegisterOutput::Read(None)) => "nil".to_owned(),
            Some(RegisterOutput::Written) => "ok".to_owned(),
            Some(RegisterOutput::Cas(true)) => "ok".to_owned(),
            Some(RegisterOutput::Cas(false)) => "fail".to_owned(),
        };
        format!("client {} {input} -> {output}", op.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::linearizability::check_operations;

    fn op(
        client: u64,
        t: (u64, Option<u64>),
        input: RegisterInput,
        output: Option<RegisterOutput>,
    ) -> Operation<RegisterInput, RegisterOutput> {
        Operation {
            client,
            invoke_time: t.0,
            return_time: t.1,
            input,
            output,
            line: 0,
        }
    }

    #[test]
    fn concurrent_write_and_read_is_linearizable_either_way() {
        let ops = vec![
            op(
                0,
                (0, Some(10)),
                RegisterInput::Write(1),
                Some(RegisterOutput::Written),
            ),
            op(
                1,
                (1, Some(2)),
                RegisterInput::Read,
                Some(RegisterOutput::Read(Some(1))),
            ),
            op(
                2,
                (3, Some(4)),
                RegisterInput::Read,
                Some(RegisterOutput::Read(Some(1))),
            ),
        ];
        let outcome = check_operations(&RegisterModel, &ops, &mut Budget::unlimited());
        assert_eq!(outcome.verdict, crate::Verdict::Ok);
        assert_eq!(outcome.linearized.len(), 3);
    }

    #[test]
    fn stale_read_after_completed_write_is_a_violation() {
        let ops = vec![
            op(
                0,
                (0, Some(1)),
                RegisterInput::Write(1),
                Some(RegisterOutput::Written),
            ),
            op(
                1,
                (2, Some(3)),
                RegisterInput::Read,
                Some(RegisterOutput::Read(None)),
            ),
        ];
        let outcome = check_operations(&RegisterModel, &ops, &mut Budget::unlimited());
        assert!(outcome.verdict.is_violation(), "{outcome:?}");
        assert_eq!(outcome.failed_op, Some(1));
    }

    #[test]
    fn unknown_write_may_take_effect_late_or_never() {
        let ops = vec![
            op(0, (0, None), RegisterInput::Write(7), None),
            op(
                1,
                (5, Some(6)),
                RegisterInput::Read,
                Some(RegisterOutput::Read(None)),
            ),
            op(
                2,
                (7, Some(8)),
                RegisterInput::Read,
                Some(RegisterOutput::Read(Some(7))),
            ),
        ];
        let outcome = check_operations(&RegisterModel, &ops, &mut Budget::unlimited());
        assert_eq!(outcome.verdict, crate::Verdict::Ok);
    }

    #[test]
    fn failed_cas_must_have_seen_another_value() {
        let ops = vec![
            op(
                0,
                (0, Some(1)),
                RegisterInput::Write(3),
                Some(RegisterOutput::Written),
            ),
            op(
                1,
                (2, Some(3)),
                RegisterInput::Cas { from: 3, to: 4 },
                Some(RegisterOutput::Cas(false)),
            ),
        ];
        let outcome = check_operations(&RegisterModel, &ops, &mut Budget::unlimited());
        assert!(outcome.verdict.is_violation());
    }
}
