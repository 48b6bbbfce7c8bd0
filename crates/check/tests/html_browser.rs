//! The HTML report opened in headless Chromium (Debian's `chromium`): for one ok and one
//! violating history, a screenshot is taken and the DOM that the browser built is checked for the
//! rendered timeline (the SVG lanes and operation bars, the verdict line).
//!
//! Without a `chromium` on PATH the test says so and passes on a developer's machine; under CI
//! (`CI=true`, where `.ci/run` installs Debian's `chromium`) or with `INVAR_REQUIRE_BROWSER=1`, a
//! missing browser fails the test.

// The test writes the pages to disk and runs the browser; the library does neither.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use invar_check::report::check_etcd_history;
use invar_check::{Budget, html};

fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let ok = Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            ok.then(|| PathBuf::from(name))
        })
}

fn page_for(h: &H, title: &str) -> String {
    let report = check_etcd_history(&h.history, &mut Budget::unlimited());
    html::render(&html::etcd_page(title, &h.history, &report))
}

fn chromium(browser: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let profile = page.with_extension("profile");
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = browser() else {
        let required = std::env::var_os("INVAR_REQUIRE_BROWSER").is_some()
            || std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!required, "chromium is required (CI) but missing");
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    let mut ok = H::default();
    ok.ok(1, (1, 2), put("a", "1"), rev(2));
    ok.ok(2, (3, 4), get("a"), read(2, vec![kv("a", "1", 2, 2, 1)]));
    ok.unknown(3, 5, put("b", "x"));
    let mut bad = H::default();
    bad.ok(1, (1, 2), put("a", "1"), rev(2));
    bad.ok(2, (3, 4), get("a"), read(1, vec![]));
    for (name, h, verdict_class, failing) in [
        ("ok", &ok, "ok", false),
        ("violation", &bad, "violation", true),
    ] {
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, page_for(h, name)).unwrap();
        let shot = dir.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        let out = chromium(
            &browser,
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1200,800",
            ],
            &page,
        );
        assert!(
            out.status.success(),
            "screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = std::fs::read(&shot).expect("a screenshot was written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 2000,
            "{name}: screenshot of {} bytes",
            png.len()
        );
        let out = chromium(&browser, &["--dump-dom"], &page);
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(
            dom.contains("<svg id=\"clients\""),
            "{name}: the client timeline is in the DOM"
        );
        assert!(
            dom.contains("<svg id=\"keys\""),
            "{name}: the key timeline is in the DOM"
        );
        assert_eq!(
            dom.matches("<rect class=\"op").count(),
            2 * h.history.ops.len(),
            "{name}: one bar per op per timeline"
        );
        assert!(
            dom.contains(&format!("id=\"verdict\" class=\"{verdict_class}\"")),
            "{name}: verdict line"
        );
        assert_eq!(
            dom.contains("class=\"op fail"),
            failing,
            "{name}: failing op marked"
        );
    }
}
