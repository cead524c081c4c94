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

/// Whether process `pid` runs `command` (it may be gone, or its pid given
/// to another process since).
fn runs(pid: u32, command: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    !zombie && String::from_utf8_lossy(&cmdline).replace('\0', " ").trim() == command
}

/// The pid a fixture test wrote to `dir/file`.
fn pid_in(dir: &Path, file: &str, run: &Run) -> u32 {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}{}", path.display(), run.ctx()))
        .trim()
        .parse()
        .unwrap()
}

/// Kill `pid` if it still runs `command` (a test's own cleanup, so that a
/// failing assertion leaves nothing behind either).
fn cleanup(pid: u32, command: &str) {
    if runs(pid, command) {
        // SAFETY: a plain kill of a process just seen running `command`.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// The `LEAK` lines of the terminal report (on stdout, or on stderr under
/// `--message-format json`).
fn leak_lines(run: &Run) -> Vec<&str> {
    (run.stdout.lines().chain(run.stderr.lines()))
        .filter(|l| l.starts_with("LEAK"))
        .collect()
}

const DAEMON: &str = "sleep 3601";
const CHILD: &str = "sleep 3602";

#[test]
fn a_setsid_daemon_is_reported_killed_and_the_test_passes() {
    let dir = tempfile::tempdir().unwrap();
    let run = xdist_fixture(
        "truth",
        &["--test", "leak_daemon", "--message-format", "json"],
    )
    .env("TRUTH_LEAK_DIR", dir.path().to_str().unwrap())
    .junit()
    .run();
    let daemon = pid_in(dir.path(), "daemon.pid", &run);
    let child = pid_in(dir.path(), "child.pid", &run);
    let daemon_ran_on = runs(daemon, DAEMON);
    let child_ran_on = runs(child, CHILD);
    cleanup(daemon, DAEMON);
    cleanup(child, CHILD);
    assert!(!daemon_ran_on, "the daemon outlived the run{}", run.ctx());
    assert!(!child_ran_on, "the child outlived the run{}", run.ctx());
    // A leak is reported, not failed, by default.
    run.assert_code(0);
    run.assert_no_panic();
    let lines = leak_lines(&run);
    let daemon_line = lines
        .iter()
        .find(|l| l.contains(&format!("(pid {daemon}: {DAEMON})")))
        .unwrap_or_else(|| panic!("no LEAK line names the daemon{}", run.ctx()));
    assert!(
        daemon_line.contains("truth::test/leak_daemon")
            && daemon_line.contains("leak_b_starts_daemon")
            && daemon_line.contains("left 1 process running")
            && daemon_line.ends_with(", killed"),
        "{daemon_line}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("leak_d_leaves_child")
                && l.contains(&format!("pid {child}: {CHILD}"))),
        "no LEAK line names the child{}",
        run.ctx()
    );
    // JSON: a test-leaked event with the process.
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = events.last().unwrap();
    assert_eq!(
        (&end["type"], &end["passed"], &end["failed"]),
        (&"run-finished".into(), &4.into(), &0.into()),
        "{end}"
    );
    let leaked = events
        .iter()
        .find(|e| e["type"] == "test-leaked" && e["processes"][0]["pid"] == daemon)
        .unwrap_or_else(|| panic!("no test-leaked event for the daemon{}", run.ctx()));
    assert_eq!(leaked["binary_id"], "truth::test/leak_daemon", "{leaked}");
    assert_eq!(leaked["processes"][0]["command"], DAEMON, "{leaked}");
    assert_eq!(leaked["fails"], false, "{leaked}");
    let names = leaked["names"].as_array().unwrap();
    assert!(
        names.iter().any(|n| n == "leak_b_starts_daemon"),
        "{leaked}"
    );
    // JUnit: the test passes, with a `leaked` property and a note.
    let junit = run.junit();
    let case = junit
        .get("truth::test/leak_daemon", "leak_b_starts_daemon")
        .unwrap();
    assert!(matches!(case.outcome, JOutcome::Passed), "{case:?}");
    let err = case.system_err.as_deref().unwrap_or_default();
    assert!(err.contains(&format!("pid {daemon}: {DAEMON}")), "{case:?}");
    let suite = junit
        .report
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == "truth::test/leak_daemon")
        .unwrap();
    let tc = suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "leak_b_starts_daemon")
        .unwrap();
    assert!(
        tc.properties
            .iter()
            .any(|p| p.name.as_str() == "leaked" && p.value.contains(DAEMON)),
        "{tc:?}"
    );
}

/// `--leak-fails`, or `leak-fails = true` in a config file, fails the test
/// that leaked; the daemon is gone all the same.
#[test]
fn leak_fails_fails_the_test_that_leaked() {
    let tmp = fixture_copies("xdist-leak-", &["truth"]);
    let manifest = tmp.path().join("truth/Cargo.toml");
    let manifest = manifest.to_str().unwrap();
    let args = [
        "--manifest-path",
        manifest,
        "--test",
        "leak_daemon",
        "--exact",
        "leak_b_starts_daemon",
    ];
    for config in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut all = args.to_vec();
        if config {
            std::fs::create_dir_all(tmp.path().join("truth/.config")).unwrap();
            std::fs::write(
                tmp.path().join("truth/.config/xdist.toml"),
                "leak-fails = true\n",
            )
            .unwrap();
        } else {
            all.push("--leak-fails");
        }
        let run = xdist(&all)
            .env("TRUTH_LEAK_DIR", dir.path().to_str().unwrap())
            .junit()
            .run();
        let daemon = pid_in(dir.path(), "daemon.pid", &run);
        let ran_on = runs(daemon, DAEMON);
        cleanup(daemon, DAEMON);
        assert!(!ran_on, "the daemon outlived the run{}", run.ctx());
        run.assert_code(100);
        run.assert_summary(0, 1, 0);
        let junit = run.junit();
        match &junit
            .get("truth::test/leak_daemon", "leak_b_starts_daemon")
            .unwrap()
            .outcome
        {
            JOutcome::Failed { message, .. } => assert!(
                message.contains(&format!("left 1 process running (pid {daemon}: {DAEMON})")),
                "{message}"
            ),
            other => panic!("expected a failure, got {other:?}{}", run.ctx()),
        }
        // Alone in its process, the test is named exactly.
        let lines = leak_lines(&run);
        assert_eq!(lines.len(), 1, "{}", run.ctx());
        assert!(
            lines[0].contains(" truth::test/leak_daemon leak_b_starts_daemon: left"),
            "{}",
            run.ctx()
        );
    }
}

/// A test that leaves a child in its process group (fixtures/faults) still
/// passes by default, and is reported as leaking it.
#[test]
fn a_child_left_in_the_group_is_reported_and_the_test_passes() {
    let run = xdist_fixture("faults", &["--test", "child", "--exact", "c1_leaves_child"]).run();
    run.assert_code(0);
    run.assert_no_panic();
    run.assert_summary(1, 0, 0);
    let lines = leak_lines(&run);
    assert_eq!(lines.len(), 1, "{}", run.ctx());
    assert!(
        lines[0].contains(" faults::test/child c1_leaves_child: left 1 process running (pid ")
            && lines[0].contains(": sleep 600), killed"),
        "{}",
        run.ctx()
    );
}

/// A custom harness is one test: what it leaves is its own, reported and
/// killed; `--leak-fails` fails it.
#[test]
fn a_custom_harness_that_leaves_a_daemon() {
    for fails in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--test", "leak_harness"];
        if fails {
            args.push("--leak-fails");
        }
        let run = xdist_fixture("truth", &args)
            .env("TRUTH_LEAK_DIR", dir.path().to_str().unwrap())
            .run();
        const HARNESS_DAEMON: &str = "sleep 3603";
        let daemon = pid_in(dir.path(), "harness.pid", &run);
        let ran_on = runs(daemon, HARNESS_DAEMON);
        cleanup(daemon, HARNESS_DAEMON);
        assert!(!ran_on, "the daemon outlived the run{}", run.ctx());
        let lines = leak_lines(&run);
        assert_eq!(lines.len(), 1, "{}", run.ctx());
        let want = format!(
            " truth::test/leak_harness leak_harness: left 1 process running (pid {daemon}: {HARNESS_DAEMON}), killed"
        );
        assert!(lines[0].ends_with(&want), "{}", run.ctx());
        if fails {
            run.assert_code(100);
            run.assert_summary(0, 1, 0);
        } else {
            run.assert_code(0);
            run.assert_summary(1, 0, 0);
        }
    }
}

/// A doctest (run by rustdoc under `cargo test --doc`) that leaves a
/// `setsid` daemon: reported as `LEAK` under that doctest's name, in the
/// terminal and the JSON events, and killed; `--leak-fails` fails it.
#[test]
fn a_doctest_that_leaves_a_daemon() {
    const DOCTEST: &str = "src/lib.rs - doctest_daemon (line 19)";
    const DOC_DAEMON: &str = "sleep 3605";
    for fails in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--doc", "--lib", "--message-format", "json"];
        if fails {
            args.push("--leak-fails");
        }
        let run = xdist_fixture("truth", &args)
            .env("TRUTH_LEAK_DIR", dir.path().to_str().unwrap())
            .junit()
            .run();
        let daemon = pid_in(dir.path(), "doctest.pid", &run);
        let ran_on = runs(daemon, DOC_DAEMON);
        cleanup(daemon, DOC_DAEMON);
        assert!(!ran_on, "the daemon outlived the run{}", run.ctx());
        run.assert_no_panic();
        let lines = leak_lines(&run);
        assert_eq!(lines.len(), 1, "{}", run.ctx());
        assert!(
            lines[0].contains(&format!(" truth::doc {DOCTEST}"))
                && lines[0].ends_with(&format!(
                    ": left 1 process running (pid {daemon}: {DOC_DAEMON}), killed"
                )),
            "{}",
            run.ctx()
        );
        let events: Vec<serde_json::Value> = (run.stdout.lines())
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        let leaked: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["type"] == "test-leaked")
            .collect();
        assert_eq!(leaked.len(), 1, "{}", run.ctx());
        assert_eq!(leaked[0]["processes"][0]["pid"], daemon, "{}", leaked[0]);
        assert!(
            leaked[0]["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == DOCTEST),
            "{}",
            leaked[0]
        );
        let outcome = run
            .junit()
            .get("truth::doc", DOCTEST)
            .unwrap()
            .outcome
            .short();
        let end = events.last().unwrap();
        let counts = (&end["type"], &end["passed"], &end["failed"]);
        if fails {
            run.assert_code(100);
            assert_eq!(
                counts,
                (&"run-finished".into(), &0.into(), &1.into()),
                "{end}"
            );
            assert_eq!(outcome, "fail", "{}", run.ctx());
        } else {
            run.assert_code(0);
            assert_eq!(
                counts,
                (&"run-finished".into(), &1.into(), &0.into()),
                "{end}"
            );
            assert_eq!(outcome, "pass", "{}", run.ctx());
        }
    }
}
