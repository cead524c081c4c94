//! Issue 19, items 5 and 6: what a test leaves behind and what it prints
//! must not slip past the report.
//!
//! - A test process that leaves processes running (in its group, or a
//!   `setsid` daemon that escapes it) is reported as `LEAK` in the
//!   terminal, the JUnit report and the JSON events; the processes are
//!   killed and none outlives the run; `--leak-fails` fails the test.
//! - Output holding characters XML 1.0 forbids still gives a JUnit report
//!   a strict parser (expat) accepts.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Parse `file` with python3's expat-based `xml.etree`, which rejects any
/// character XML 1.0 forbids. python3 is required: a missing one fails.
fn strict_parse(file: &Path) -> Result<(), String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed for the strict XML check: {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn junit_with_forbidden_characters_parses_strictly() {
    let run = xdist_fixture(
        "truth",
        &["--test", "xml_chars", "--message-format", "json"],
    )
    .junit()
    .run();
    // 100: a test failed (a panic of cargo-xdist would be 101).
    run.assert_code(100);
    let path = run.junit_path.clone().expect("--junit was given");
    if let Err(e) = strict_parse(&path) {
        panic!("a strict parser rejects the JUnit report: {e}{}", run.ctx());
    }
    let xml = std::fs::read_to_string(&path).unwrap();
    // Each forbidden character shows, visibly, where it was.
    for shown in [
        r"nul\u{0} ",
        r"bell\u{7} ",
        r"bs\u{8} ",
        r"vt\u{b} ",
        r"ff\u{c} ",
        r"esc\u{1b} ",
        r"us\u{1f} ",
        r"fffe\u{fffe} ",
        r"ffff\u{ffff} ",
    ] {
        assert!(
            xml.contains(shown),
            "{shown} missing from the JUnit report:\n{xml}"
        );
    }
    let junit = run.junit();
    match &junit
        .get("truth::test/xml_chars", "xml_odd_chars")
        .unwrap()
        .outcome
    {
        JOutcome::Failed { message, .. } => {
            assert!(message.contains(r"fffe\u{fffe}"), "{message:?}")
        }
        other => panic!("xml_odd_chars: {other:?}{}", run.ctx()),
    }
    // The JSON events are valid UTF-8 (a lossy read would show U+FFFD)
    // and each line parses.
    assert!(!run.stdout.contains('\u{fffd}'), "{}", run.ctx());
    for line in run.stdout.lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("bad JSON event {line:?}: {e}"));
    }
}
