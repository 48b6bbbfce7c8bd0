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

/// The `trace=` value of the summary line, which must be the last line.
fn summary_trace(output: &Output) -> String {
    let text = stdout(output);
    let last = text.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("sim: seeds="),
        "the last line is the summary: {text}"
    );
    for field in ["failed=", "sim_time=", "wall=", "speed=", "trace="] {
        assert!(last.contains(field), "summary without {field}: {last}");
    }
    last.split("trace=").nth(1).unwrap_or_default().to_string()
}

#[test]
fn sim_replays_a_seed_to_the_same_trace_hash() {
    let args = ["sim", "--seed", "3", "--time", "5s", "--quiet"];
    let first = invar(&args);
    let second = invar(&args);
    let other = invar(&["sim", "--seed", "4", "--time", "5s", "--quiet"]);
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    assert!(
        stdout(&first).starts_with("seed 3: ok, trace "),
        "{}",
        stdout(&first)
    );
    assert_eq!(summary_trace(&first), summary_trace(&second));
    assert_ne!(summary_trace(&first), summary_trace(&other));
}

#[test]
fn sim_results_do_not_depend_on_threads() {
    let one = invar(&["sim", "--seeds", "0..6", "--time", "5s", "--threads", "1"]);
    let two = invar(&["sim", "--seeds", "0..6", "--time", "5s", "--threads", "2"]);
    assert_eq!(one.status.code(), Some(0), "{}", stdout(&one));
    assert_eq!(two.status.code(), Some(0), "{}", stdout(&two));
    assert_eq!(summary_trace(&one), summary_trace(&two));
    let text = stdout(&one);
    assert!(text.contains("seeds=6 failed=0"), "{text}");
    assert!(
        text.contains("sometimes/reachable points hit"),
        "the points report: {text}"
    );
}

#[test]
fn sim_lists_defects_and_fault_kinds() {
    let output = invar(&["sim", "--list-defects"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let names: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    for defect in [
        "ack-before-wal-sync",
        "consistent-index-separate-txn",
        "linearizable-read-local",
        "lease-expiry-follower-clock",
        "watch-catch-up-drops-events",
        "compact-drops-latest",
        "forget-vote-on-restart",
    ] {
        assert!(names.contains(&defect), "{defect} missing from {text}");
    }
    let output = invar(&["sim", "--list-faults"]);
    assert!(
        stdout(&output)
            .lines()
            .any(|l| l.starts_with("partition\t"))
    );
}

#[test]
fn sim_bad_usage_exits_2() {
    for args in [
        &["sim", "--mode", "sideways"][..],
        &["sim", "--workload", "nope"],
        &["sim", "--faults", "loss,bogus"],
        &["sim", "--seeds", "5..5"],
        &["sim", "--time", "ten"],
        &["sim", "--defect", "no-such-defect"],
    ] {
        let output = invar(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn sim_failure_writes_a_repro_that_replays() {
    let out = std::env::temp_dir().join(format!("invar-sim-cli-{}", std::process::id()));
    let out_arg = out.to_string_lossy().into_owned();
    let output = invar(&[
        "sim",
        "--seeds",
        "0..2",
        "--time",
        "5s",
        "--workload",
        "kv",
        "--inject",
        "corrupt-read-value",
        "--shrink-runs",
        "10",
        "--out",
        &out_arg,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    let replay = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: invar sim --replay "))
        .unwrap_or_else(|| panic!("no replay command in {text}"))
        .to_string();
    assert!(text.contains("shrunk from"), "{text}");
    let again = invar(&["sim", "--replay", &replay]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert!(stdout(&again).contains("replay: reproduces the recorded failure"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn raft_sim_replays_a_seed_to_the_same_trace_hash() {
    let first = invar(&["raft-sim", "--seed", "3"]);
    let second = invar(&["raft-sim", "--seed", "3"]);
    let other = invar(&["raft-sim", "--seed", "4"]);
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
