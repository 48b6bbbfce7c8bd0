//! Development aid: checks every file given on the command line with the register or KV model
//! and prints the verdict, the search steps and the time taken.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use invar_check::linearizability::check_operations;
use invar_check::linearizability::kv::KvModel;
use invar_check::linearizability::register::RegisterModel;
use invar_check::{Budget, jepsen};

fn main() {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_default();
    let steps_max: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    for path in args {
        let bytes = std::fs::read(&path).expect("readable file");
        let text = invar_check::text_from_bytes(&bytes).expect("utf-8");
        let start = std::time::Instant::now();
        let mut budget = Budget::with_steps_max(steps_max);
        let (n, verdict) = if model == "kv" {
            let ops = jepsen::kv_operations(text).expect("parses");
            (
                ops.len(),
                check_operations(&KvModel, &ops, &mut budget).verdict,
            )
        } else {
            let ops = jepsen::register_operations(text).expect("parses");
            (
                ops.len(),
                check_operations(&RegisterModel, &ops, &mut budget).verdict,
            )
        };
        let short: String = verdict.to_string().chars().take(60).collect();
        println!(
            "{path}: {n} ops {} steps {:?} {short}",
            budget.steps(),
            start.elapsed()
        );
    }
}
