//! Every history under `shared/data/jepsen-etcd` and `shared/data/porcupine-kv` gets the verdict
//! that the folder's EXPECTED.md gives it. The files are read in place (never copied into the
//! repo), from `../../../shared/data` relative to this crate's directory, the layout of both a
//! developer's machine and CI (the repo cloned beside a copy of `shared/`).

// Tests read the shared data from disk; the library itself never touches files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;

use invar_check::linearizability::check_operations;
use invar_check::linearizability::kv::KvModel;
use invar_check::linearizability::register::RegisterModel;
use invar_check::{Budget, Verdict, jepsen};

fn data_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    assert!(
        dir.is_dir(),
        "shared data folder {} is missing",
        dir.display()
    );
    dir
}

fn read_text(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    invar_check::text_from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_owned()
}

/// The `name verdict` lines of the fenced block in a folder's EXPECTED.md.
fn expected_jepsen() -> Vec<(String, String)> {
    let text = read_text(&data_dir("jepsen-etcd").join("EXPECTED.md"));
    let mut expected = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            let mut parts = line.split_whitespace();
            if let (Some(name), Some(verdict)) = (parts.next(), parts.next()) {
                expected.push((name.to_owned(), verdict.to_owned()));
            }
        }
    }
    expected
}

#[test]
fn jepsen_etcd_verdicts_match_expected() {
    let expected = expected_jepsen();
    assert_eq!(expected.len(), 103, "EXPECTED.md lists etcd_000..etcd_102");
    let dir = data_dir("jepsen-etcd");
    let listed = std::fs::read_dir(&dir).unwrap().filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
    });
    assert_eq!(
        listed.count(),
        expected.len(),
        "every .log file has an expected verdict"
    );
    let mut mismatches = Vec::new();
    for (name, want) in &expected {
        let text = read_text(&dir.join(name));
        let ops = jepsen::register_operations(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let verdict = if ops.is_empty() {
            Verdict::Unknown("empty history".into())
        } else {
            check_operations(&RegisterModel, &ops, &mut Budget::unlimited()).verdict
        };
        let got = match verdict {
            Verdict::Ok => "linearizable",
            Verdict::Violation(_) => "violation",
            Verdict::Unknown(_) => "none",
        };
        if got != want {
            mismatches.push(format!("{name}: expected {want}, got {got}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn porcupine_kv_verdicts_match_expected() {
    let dir = data_dir("porcupine-kv");
    let expected_text = read_text(&dir.join("EXPECTED.md"));
    assert!(expected_text.contains("`*-ok` files are linearizable, `*-bad` files are not"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 6);
    for name in names {
        let text = read_text(&dir.join(&name));
        let ops = jepsen::kv_operations(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ops.is_empty(), "{name}");
        let verdict = check_operations(&KvModel, &ops, &mut Budget::unlimited()).verdict;
        if name.ends_with("-ok.txt") {
            assert_eq!(verdict, Verdict::Ok, "{name}");
        } else {
            assert!(verdict.is_violation(), "{name}: {verdict}");
        }
    }
}

#[test]
fn too_small_budget_gives_unknown_never_ok() {
    let dir = data_dir("jepsen-etcd");
    for (name, want) in expected_jepsen().iter().take(10) {
        let ops = jepsen::register_operations(&read_text(&dir.join(name))).unwrap();
        if ops.is_empty() {
            continue;
        }
        let mut expired = || true;
        let verdict = check_operations(
            &RegisterModel,
            &ops,
            &mut Budget::with_deadline(&mut expired),
        )
        .verdict;
        assert!(
            verdict.is_unknown(),
            "{name} ({want}) with an expired deadline: {verdict}"
        );
        let verdict =
            check_operations(&RegisterModel, &ops, &mut Budget::with_steps_max(5)).verdict;
        assert!(
            verdict.is_unknown(),
            "{name} ({want}) with 5 steps: {verdict}"
        );
    }
    let ops =
        jepsen::kv_operations(&read_text(&data_dir("porcupine-kv").join("c50-ok.txt"))).unwrap();
    let verdict = check_operations(&KvModel, &ops, &mut Budget::with_steps_max(1000)).verdict;
    assert!(verdict.is_unknown(), "c50-ok with 1000 steps: {verdict}");
}
