//! A map of string keys to string values (porcupine's KV model): `get`, `put` and `append`,
//! every key starting as `""`. Keys are independent, so the history is checked key by key.

use std::collections::BTreeMap;

use super::{Model, Operation};

/// A request on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvInput {
    /// Read `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Replace `key`'s value.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to `key`'s value.
    Append {
        /// The key.
        key: String,
        /// The suffix.
        value: String,
    },
    /// Delete `key` (its value becomes `""` again).
    Delete {
        /// The key.
        key: String,
    },
}

impl KvInput {
    /// The key the request is on.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Delete { key } => key,
        }
    }
}

/// A response: a `get`'s value, or an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOutput {
    /// The value read (`""` for a missing key).
    Value(String),
    /// A write's acknowledgement.
    Done,
}

/// The KV model; its state is one key's value, since it partitions by key.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: Option<&KvOutput>) -> Option<String> {
        match (input, output) {
            (KvInput::Get { .. }, None) => Some(state.clone()),
            (KvInput::Get { .. }, Some(KvOutput::Value(v))) => (v == state).then(|| state.clone()),
            (KvInput::Put { value, .. }, None | Some(KvOutput::Done)) => Some(value.clone()),
            (KvInput::Append { value, .. }, None | Some(KvOutput::Done)) => {
                let mut next = String::with_capacity(state.len() + value.len());
                next.push_str(state);
                next.push_str(value);
                Some(next)
            }
            (KvInput::Delete { .. }, None | Some(KvOutput::Done)) => Some(String::new()),
            _ => None,
        }
    }

    fn partition(&self, ops: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(i);
        }
        by_key.into_values().collect()
    }

    fn is_read(&self, input: &KvInput) -> bool {
        matches!(input, KvInput::Get { .. })
    }

    fn describe(&self, op: &Operation<KvInput, KvOutput>) -> String {
        let input = match &op.input {
            KvInput::Get { key } => format!("get {key:?}"),
            KvInput::Put { key, value } => format!("put {key:?} {value:?}"),
            KvInput::Append { key, value } => format!("append {key:?} {value:?}"),
            KvInput::Delete { key } => format!("delete {key:?}"),
        };
        let output = match &op.output {
            None => "unknown".to_owned(),
            Some(KvOutput::Value(v)) => format!("{v:?}"),
            Some(KvOutput::Done) => "ok".to_owned(),
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
        t: (u64, u64),
        input: KvInput,
        output: KvOutput,
    ) -> Operation<KvInput, KvOutput> {
        Operation {
            client,
            invoke_time: t.0,
            return_time: Some(t.1),
            input,
            output: Some(output),
            line: 0,
        }
    }

    fn key(k: &str) -> String {
        k.to_owned()
    }

    #[test]
    fn appends_concatenate_per_key() {
        let ops = vec![
            op(
                0,
                (0, 1),
                KvInput::Append {
                    key: key("a"),
                    value: key("x"),
                },
                KvOutput::Done,
            ),
            op(
                0,
                (2, 3),
                KvInput::Append {
                    key: key("b"),
                    value: key("y"),
                },
                KvOutput::Done,
            ),
            op(
                1,
                (4, 5),
                KvInput::Append {
                    key: key("a"),
                    value: key("z"),
                },
                KvOutput::Done,
            ),
            op(
                1,
                (6, 7),
                KvInput::Get { key: key("a") },
                KvOutput::Value(key("xz")),
            ),
            op(
                1,
                (6, 7),
                KvInput::Get { key: key("b") },
                KvOutput::Value(key("y")),
            ),
        ];
        assert_eq!(KvModel.partition(&ops).len(), 2);
        let outcome = check_operations(&KvModel, &ops, &mut Budget::unlimited());
        assert_eq!(outcome.verdict, crate::Verdict::Ok);
    }

    #[test]
    fn lost_append_is_a_violation() {
        let ops = vec![
            op(
                0,
                (0, 1),
                KvInput::Append {
                    key: key("a"),
                    value: key("x"),
                },
                KvOutput::Done,
            ),
            op(
                1,
                (2, 3),
                KvInput::Append {
                    key: key("a"),
                    value: key("z"),
                },
                KvOutput::Done,
            ),
            op(
                1,
                (4, 5),
                KvInput::Get { key: key("a") },
                KvOutput::Value(key("z")),
            ),
        ];
        let outcome = check_operations(&KvModel, &ops, &mut Budget::unlimited());
        assert!(outcome.verdict.is_violation());
        assert_eq!(outcome.failed_op, Some(2));
    }
}
