//! The Wing–Gong/Lowe search over one partition, with memoization of (linearized set, state).

use super::memo::{MemoTable, key_hash, set_key};
use super::{Model, Operation};
use crate::budget::Budget;
use crate::verdict::{Verdict, Violation};

/// The end of the entry list.
const NIL: usize = usize::MAX;

/// What the search found, with what a report needs to draw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOutcome {
    /// The verdict for the whole history.
    pub verdict: Verdict,
    /// The longest linearizable prefix found, as operation indices in linearization order
    /// (per partition, concatenated; for an `Ok` verdict, a full linearization).
    pub linearized: Vec<usize>,
    /// For a violation: the operation that could not be linearized after the longest prefix.
    pub failed_op: Option<usize>,
}

/// Steps given to each unfinished partition per round; doubled every round, so that one hard
/// partition cannot starve a violation that another partition would show quickly.
const ROUND_STEPS_FIRST: u64 = 4096;

/// Checks a whole history against `model`: partitions it and searches the parts round-robin
/// (each round gives every unfinished part twice the steps of the last), so a violation in an
/// easy part is found even when another part is hard. A violation in any part wins; otherwise an
/// exhausted budget gives `Unknown`; only when every part is linearizable is the verdict `Ok`.
pub fn check_operations<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: &mut Budget<'_>,
) -> SearchOutcome {
    let mut searches: Vec<PartSearch<'_, M>> = model
        .partition(ops)
        .into_iter()
        .map(|part| PartSearch::new(model, ops, part))
        .collect();
    let mut done: Vec<Option<SearchOutcome>> = searches.iter().map(|_| None).collect();
    let mut round_steps = ROUND_STEPS_FIRST;
    while done.iter().any(Option::is_none) {
        for (search, slot) in searches.iter_mut().zip(done.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            let Some(outcome) = search.run(budget, round_steps) else {
                continue;
            };
            let violated = outcome.verdict.is_violation();
            let exhausted = outcome.verdict.is_unknown();
            *slot = Some(outcome);
            if violated || exhausted {
                return combine(searches, done);
            }
        }
        round_steps = round_steps.saturating_mul(2);
    }
    combine(searches, done)
}

/// Puts the parts' outcomes together; parts never finished count as `Unknown` with their best
/// prefix.
fn combine<M: Model>(
    searches: Vec<PartSearch<'_, M>>,
    done: Vec<Option<SearchOutcome>>,
) -> SearchOutcome {
    let mut outcome = SearchOutcome {
        verdict: Verdict::Ok,
        linearized: Vec::new(),
        failed_op: None,
    };
    let mut unfinished = 0;
    for (search, slot) in searches.iter().zip(done) {
        let part = slot.unwrap_or_else(|| {
            unfinished += 1;
            search.paused_outcome()
        });
        if part.verdict.is_violation() && !outcome.verdict.is_violation() {
            outcome.failed_op = part.failed_op;
        }
        outcome.linearized.extend(part.linearized);
        outcome.verdict = outcome.verdict.and(part.verdict);
    }
    if let Verdict::Unknown(reason) = &mut outcome.verdict
        && unfinished > 0
    {
        reason.push_str(&format!(" ({unfinished} partitions unfinished)"));
    }
    outcome
}

/// The doubly linked list of call and return entries, in time order, that the search lifts
/// operations out of (and puts them back into) as it linearizes and backtracks.
struct Entries {
    /// Invariant: `next`/`prev` describe one list starting at `head`; node `2*i` is operation
    /// `i`'s call and `2*i + 1` its return, and a call always precedes its return.
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl Entries {
    fn new(times: &[(u64, u64)]) -> Self {
        let n = times.len();
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
        for (i, &(call, ret)) in times.iter().enumerate() {
            order.push((call, 0, 2 * i));
            order.push((ret, 1, 2 * i + 1));
        }
        // At equal times calls come first, so equal timestamps count as concurrent.
        order.sort_unstable();
        let head = 2 * n;
        let mut next = vec![NIL; 2 * n + 1];
        let mut prev = vec![NIL; 2 * n + 1];
        let mut last = head;
        for &(_, _, node) in &order {
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        Self { next, prev, head }
    }

    fn first(&self) -> usize {
        self.next[self.head]
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(2 * op);
        self.unlink(2 * op + 1);
    }

    fn unlift(&mut self, op: usize) {
        self.relink(2 * op + 1);
        self.relink(2 * op);
    }
}

/// The search over one partition, resumable: [`PartSearch::run`] works for a number of steps and
/// either finishes or pauses where it was.
struct PartSearch<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Input, M::Output>],
    /// Invariant: local operation `i` is `ops[part[i]]`.
    part: Vec<usize>,
    entries: Entries,
    /// Invariant: bit `i` is set iff local operation `i` is on `stack`.
    linearized: Vec<u64>,
    /// Invariant: the XOR of [`set_key`] over the bits set in `linearized`.
    set_hash: u64,
    memo: MemoTable<M::State>,
    state: M::State,
    /// The linearized operations, each with the state before it.
    stack: Vec<(usize, M::State)>,
    /// Invariant: how many local operations with a known outcome are not on `stack`.
    completed_left: usize,
    best: Vec<usize>,
    failed: Option<usize>,
    entry: usize,
}

impl<'a, M: Model> PartSearch<'a, M> {
    fn new(model: &'a M, ops: &'a [Operation<M::Input, M::Output>], part: Vec<usize>) -> Self {
        let times: Vec<(u64, u64)> = part
            .iter()
            .map(|&g| (ops[g].invoke_time, ops[g].return_time.unwrap_or(u64::MAX)))
            .collect();
        let entries = Entries::new(&times);
        let entry = entries.first();
        let completed_left = part.iter().filter(|&&g| !is_unknown(&ops[g])).count();
        Self {
            model,
            ops,
            linearized: vec![0_u64; part.len().div_ceil(64)],
            set_hash: 0,
            memo: MemoTable::new(part.len().div_ceil(64)),
            part,
            entries,
            state: model.init(),
            stack: Vec::new(),
            completed_left,
            best: Vec::new(),
            failed: None,
            entry,
        }
    }

    fn global(&self, locals: &[usize]) -> Vec<usize> {
        locals.iter().map(|&i| self.part[i]).collect()
    }

    /// What is known of a part that has not finished.
    fn paused_outcome(&self) -> SearchOutcome {
        let reason = "search unfinished".to_owned();
        SearchOutcome {
            verdict: Verdict::Unknown(reason),
            linearized: self.global(&self.best),
            failed_op: None,
        }
    }

    /// Searches for up to `steps` steps. Returns the outcome when the part is decided or the
    /// budget ran out, `None` when it only paused.
    fn run(&mut self, budget: &mut Budget<'_>, steps: u64) -> Option<SearchOutcome> {
        for _ in 0..steps {
            if self.completed_left == 0 {
                return Some(self.finished());
            }
            if budget.tick() {
                let verdict = Verdict::Unknown(budget.exhausted_reason());
                return Some(SearchOutcome {
                    verdict,
                    ..self.paused_outcome()
                });
            }
            if let Some(outcome) = self.step() {
                return Some(outcome);
            }
        }
        None
    }

    /// The outcome once every operation with a known outcome is linearized: the operations left
    /// have unknown outcomes, and an operation with an unknown outcome may never have taken
    /// effect, so the history is linearizable. The linearization reported appends, in time
    /// order, those left that the model accepts (all of them for the register and KV models).
    fn finished(&self) -> SearchOutcome {
        let mut linearized: Vec<usize> = self.stack.iter().map(|&(i, _)| self.part[i]).collect();
        let mut state = self.state.clone();
        let mut entry = self.entries.first();
        while entry != NIL {
            if entry.is_multiple_of(2) {
                let global = self.part[entry / 2];
                let op = &self.ops[global];
                if let Some(next) = self.model.step(&state, &op.input, op.output.as_ref()) {
                    state = next;
                    linearized.push(global);
                }
            }
            entry = self.entries.next[entry];
        }
        SearchOutcome {
            verdict: Verdict::Ok,
            linearized,
            failed_op: None,
        }
    }

    /// One step of the search: try to linearize the current call entry, or backtrack at a
    /// return entry. Returns an outcome only for a violation.
    fn step(&mut self) -> Option<SearchOutcome> {
        let entry = self.entry;
        let local = entry / 2;
        if entry.is_multiple_of(2) {
            let op = &self.ops[self.part[local]];
            if let Some(next_state) = self.model.step(&self.state, &op.input, op.output.as_ref()) {
                // An operation with an unknown outcome that would leave the state as it is
                // need not be tried here: any way to linearize the rest after it is also a way
                // without it (it constrains no one's real-time order, and may never have taken
                // effect), and that way is searched from this very point.
                if next_state == self.state && is_unknown(op) {
                    self.entry = self.entries.next[entry];
                    return None;
                }
                set_bit(&mut self.linearized, local, true);
                let set_hash = self.set_hash ^ set_key(local);
                let hash = key_hash(set_hash, &next_state);
                if self.memo.insert(hash, &self.linearized, &next_state) {
                    self.set_hash = set_hash;
                    let previous = std::mem::replace(&mut self.state, next_state);
                    self.stack.push((local, previous));
                    if !is_unknown(op) {
                        self.completed_left -= 1;
                    }
                    self.entries.lift(local);
                    if self.stack.len() > self.best.len() {
                        self.best = self.stack.iter().map(|&(i, _)| i).collect();
                        self.failed = None;
                    }
                    self.entry = self.entries.first();
                    return None;
                }
                set_bit(&mut self.linearized, local, false);
            }
            self.entry = self.entries.next[entry];
            return None;
        }
        if self.stack.len() == self.best.len() && self.failed.is_none() {
            self.failed = Some(local);
        }
        // Backtrack. A read linearized as soon as it could be never needs its alternatives: it
        // leaves the state alone and nothing still open had to precede it, so any linearization
        // of the rest can put it first. Popping one, the search pops on to the previous choice.
        loop {
            let Some((popped, previous)) = self.stack.pop() else {
                let failed = self.failed.unwrap_or(local);
                return Some(violation(
                    self.model, self.ops, &self.part, &self.best, failed,
                ));
            };
            set_bit(&mut self.linearized, popped, false);
            self.set_hash ^= set_key(popped);
            self.state = previous;
            self.entries.unlift(popped);
            let op = &self.ops[self.part[popped]];
            if !is_unknown(op) {
                self.completed_left += 1;
            }
            if !self.model.is_read(&op.input) {
                self.entry = self.entries.next[2 * popped];
                return None;
            }
        }
    }
}

fn violation<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    part: &[usize],
    best: &[usize],
    failed_local: usize,
) -> SearchOutcome {
    let failed_op = part[failed_local];
    let op = &ops[failed_op];
    let explanation = format!(
        "not linearizable: {} (line {}) cannot be linearized after the longest linearizable \
         prefix of {} of {} operations in its partition",
        model.describe(op),
        op.line,
        best.len(),
        part.len()
    );
    SearchOutcome {
        verdict: Verdict::Violation(Violation::new(
            "linearizability",
            explanation,
            Some(failed_op),
        )),
        linearized: best.iter().map(|&i| part[i]).collect(),
        failed_op: Some(failed_op),
    }
}

/// Whether an operation's outcome is unknown: it never returned and its response is missing, so
/// it may take effect at any time after its invocation, or never.
fn is_unknown<I, O>(op: &Operation<I, O>) -> bool {
    op.return_time.is_none() && op.output.is_none()
}

fn set_bit(bits: &mut [u64], index: usize, value: bool) {
    let mask = 1_u64 << (index % 64);
    if value {
        bits[index / 64] |= mask;
    } else {
        bits[index / 64] &= !mask;
    }
}
