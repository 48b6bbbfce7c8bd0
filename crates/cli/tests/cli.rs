//! The `invar` binary as a user runs it: exit codes, replayable seeds, verdict lines.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn invar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invar"))
        .args(args)
        .output()
        .expect("the invar binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn shared_data(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    assert!(
        path.exists(),
        "shared test data missing: {}",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

#[test]
fn sim_replays_a_seed_to_the_same_trace_hash() {
    let first = invar(&["sim", "--seed", "3"]);
    let second = invar(&["sim", "--seed", "3"]);
    let other = invar(&["sim", "--seed", "4"]);
    assert!(first.status.success(), "{}", stdout(&first));
    let hash_line = |o: &Output| stdout(o).lines().next().unwrap_or_default().to_string();
    assert!(hash_line(&first).starts_with("seed 3: trace hash "));
    assert_eq!(hash_line(&first), hash_line(&second));
    assert_ne!(
        hash_line(&first).split(": ").nth(1),
        hash_line(&other).split(": ").nth(1)
    );
}

#[test]
fn sim_runs_a_range_of_seeds_and_reports_speed() {
    let output = invar(&["sim", "--seeds", "20"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("20 seeds, 0 failed"), "{text}");
    assert!(text.contains("simulated ticks per wall second"), "{text}");
}

#[test]
fn check_exit_codes_follow_the_verdicts() {
    let ok = shared_data("jepsen-etcd/etcd_002.log");
    let bad = shared_data("jepsen-etcd/etcd_000.log");
    let output = invar(&["check", "--model", "register", "--format", "edn", &ok]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(": ok"));
    let output = invar(&["check", "--model", "register", "--format", "edn", &ok, &bad]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains(": violation"));
    let kv_ok = shared_data("porcupine-kv/c10-ok.txt");
    let output = invar(&["check", "--model", "kv", "--format", "edn", &kv_ok]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // Out of time is never "ok".
    let output = invar(&["check", "--format", "edn", "--timeout", "0ms", &ok]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    assert!(stdout(&output).contains(": unknown"));
    let output = invar(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    let output = invar(&[
        "check",
        "--model",
        "kv",
        "--format",
        "edn",
        "--timeout",
        "bogus",
        &ok,
    ]);
    assert_eq!(output.status.code(), Some(2));
}
