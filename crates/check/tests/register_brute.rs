//! The memoized, pruned Wing–Gong/Lowe search agrees with a brute-force search (every subset of
//! the unknown-outcome operations, every order that respects real time, no memo and no pruning)
//! on thousands of small random register histories, with unknown outcomes and equal timestamps.
//! When the search says `Ok`, its linearization is also replayed and checked.

use invar_check::linearizability::register::{RegisterInput, RegisterModel, RegisterOutput};
use invar_check::linearizability::{Model, Operation, check_operations};
use invar_check::{Budget, Verdict};
use proptest::prelude::*;

type Op = Operation<RegisterInput, RegisterOutput>;

fn random_ops(raw: &[(u8, u8, u8, u8, u8)]) -> Vec<Op> {
    raw.iter()
        .enumerate()
        .map(|(i, &(start, len, kind, a, b))| {
            let invoke_time = u64::from(start % 12);
            let unknown = kind % 4 == 3;
            let (a, b) = (i64::from(a % 3), i64::from(b % 3));
            let (input, output) = match kind % 3 {
                0 => {
                    let value = if b == 2 { None } else { Some(a) };
                    (RegisterInput::Read, RegisterOutput::Read(value))
                }
                1 => (RegisterInput::Write(a), RegisterOutput::Written),
                _ => (
                    RegisterInput::Cas { from: a, to: b },
                    RegisterOutput::Cas(len % 2 == 0),
                ),
            };
            Operation {
                client: i as u64,
                invoke_time,
                return_time: (!unknown).then_some(invoke_time + u64::from(len % 6)),
                input,
                output: (!unknown).then_some(output),
                line: i as u64 + 1,
            }
        })
        .collect()
}

fn unknown(op: &Op) -> bool {
    op.return_time.is_none()
}

/// Whether `a` must come before `b`: `a` returned strictly before `b` was invoked.
fn precedes(a: &Op, b: &Op) -> bool {
    a.return_time.is_some_and(|r| r < b.invoke_time)
}

/// Depth-first over every order of every subset of the unknown operations.
fn brute(ops: &[Op], used: &mut Vec<bool>, state: Option<i64>) -> bool {
    if ops.iter().zip(used.iter()).all(|(op, &u)| u || unknown(op)) {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] || (0..ops.len()).any(|j| !used[j] && precedes(&ops[j], &ops[i])) {
            continue;
        }
        let Some(next) = RegisterModel.step(&state, &ops[i].input, ops[i].output.as_ref()) else {
            continue;
        };
        used[i] = true;
        let found = brute(ops, used, next);
        used[i] = false;
        if found {
            return true;
        }
    }
    false
}

/// Replays a linearization: a valid order of all known operations and some unknown ones.
fn valid_linearization(ops: &[Op], order: &[usize]) -> bool {
    let mut state = None;
    let mut seen = vec![false; ops.len()];
    for &i in order {
        if seen[i] || (0..ops.len()).any(|j| !seen[j] && precedes(&ops[j], &ops[i])) {
            return false;
        }
        match RegisterModel.step(&state, &ops[i].input, ops[i].output.as_ref()) {
            Some(next) => state = next,
            None => return false,
        }
        seen[i] = true;
    }
    ops.iter().zip(&seen).all(|(op, &s)| s || unknown(op))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn search_agrees_with_brute_force(raw in proptest::collection::vec(any::<(u8, u8, u8, u8, u8)>(), 1..8)) {
        let ops = random_ops(&raw);
        let expected = brute(&ops, &mut vec![false; ops.len()], None);
        let outcome = check_operations(&RegisterModel, &ops, &mut Budget::unlimited());
        match &outcome.verdict {
            Verdict::Ok => {
                prop_assert!(expected, "search said ok, brute force found none: {ops:?}");
                prop_assert!(valid_linearization(&ops, &outcome.linearized), "{ops:?} {outcome:?}");
            }
            Verdict::Violation(_) => {
                prop_assert!(!expected, "search said violation, brute force found one: {ops:?}");
            }
            Verdict::Unknown(reason) => prop_assert!(false, "unknown without a budget: {reason}"),
        }
    }
}
