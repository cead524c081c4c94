//! Every test process's end is judged (issue 19): a process whose tests all
//! passed but that then aborts, changes its exit status or never exits
//! (an exit handler, a destructor, a leak checker) fails the run, as
//! `cargo test` fails the binary, and the test that causes it is found by
//! running subsets of the process's tests again and is the one failed.

mod common;

use common::*;

/// (test, expected JUnit message part or `None` for a pass).
const ENDS: &[(&str, &str, Option<&str>)] = &[
    ("truth::test/atexit_abort", "before_abort", None),
    (
        "truth::test/atexit_abort",
        "registers_abort",
        Some(
            "the test process of truth::test/atexit_abort ended badly after its last test: signal 6 (SIGABRT); it does so when this test runs alone",
        ),
    ),
    ("truth::test/atexit_abort", "zz_after_abort", None),
    ("truth::test/atexit_hang", "before_hang", None),
    (
        "truth::test/atexit_hang",
        "registers_hang",
        Some(
            "the test process of truth::test/atexit_hang ended badly after its last test: it did not exit within 2s (--timeout) and was killed; it does so when this test runs alone",
        ),
    ),
    (
        "truth::test/exit_code",
        "registers_exit_seven",
        Some(
            "the test process of truth::test/exit_code ended badly after its last test: exit code 7; it does so when this test runs alone",
        ),
    ),
    ("truth::test/exit_code", "still_fine", None),
];

fn check(run: &Run, expected: &[(&str, &str, Option<&str>)]) {
    run.assert_code(100);
    run.assert_no_panic();
    let failed = expected.iter().filter(|e| e.2.is_some()).count();
    run.assert_summary(expected.len() - failed, failed, 0);
    let junit = run.junit();
    assert_eq!(junit.cases.len(), expected.len(), "{}", run.ctx());
    for &(binary, name, want) in expected {
        let case = junit
            .get(binary, name)
            .unwrap_or_else(|| panic!("{binary} {name} missing{}", run.ctx()));
        match (want, &case.outcome) {
            (None, JOutcome::Passed) => {}
            (Some(text), JOutcome::Failed { message, .. }) if message.contains(text) => {}
            (want, got) => panic!(
                "{binary} {name}: expected {want:?}, got {got:?}{}",
                run.ctx()
            ),
        }
    }
}

#[test]
fn a_process_that_ends_badly_after_its_last_test_fails_the_test_that_causes_it() {
    let run = xdist_fixture(
        "truth",
        &[
            "-n",
            "2",
            "--timeout",
            "2s",
            "--test",
            "atexit_abort",
            "--test",
            "atexit_hang",
            "--test",
            "exit_code",
        ],
    )
    .junit()
    .run();
    check(&run, ENDS);
    // The exit handler's last words are the failure's output, without
    // libtest's closing lines.
    let junit = run.junit();
    let case = junit
        .get("truth::test/atexit_abort", "registers_abort")
        .unwrap();
    let JOutcome::Failed { description, .. } = &case.outcome else {
        unreachable!()
    };
    let out = format!(
        "{description}{}{}",
        case.system_out.as_deref().unwrap_or_default(),
        case.system_err.as_deref().unwrap_or_default()
    );
    assert!(
        out.contains("truth: exit handler aborting"),
        "{out}{}",
        run.ctx()
    );
    assert!(!out.contains("test result:"), "{out}{}", run.ctx());
    // The terminal said PASS first, then FAIL with the reason.
    assert!(
        run.stdout.lines().any(|l| l.starts_with("FAIL")
            && l.contains("registers_abort")
            && l.contains("SIGABRT")),
        "{}",
        run.ctx()
    );
}

#[test]
fn a_process_that_ends_badly_is_judged_in_one_process_per_test_and_in_json() {
    let abort_and_code: Vec<_> = ENDS
        .iter()
        .copied()
        .filter(|e| !e.0.ends_with("atexit_hang"))
        .collect();
    // The exit-status channel (no libtest logfile): one test a process.
    let run = xdist_fixture(
        "truth",
        &["-n", "2", "--test", "atexit_abort", "--test", "exit_code"],
    )
    .env("CARGO_XDIST_NO_LOGFILE", "1")
    .junit()
    .run();
    run.assert_code(100);
    run.assert_summary(3, 2, 0);
    let junit = run.junit();
    for &(binary, name, want) in &abort_and_code {
        let case = junit.get(binary, name).unwrap();
        assert_eq!(
            case.outcome.short(),
            if want.is_some() { "fail" } else { "pass" },
            "{name}{}",
            run.ctx()
        );
    }

    // JSON events: the culprit's later event amends its pass; the end
    // counts it failed.
    let run = xdist_fixture(
        "truth",
        &[
            "-n",
            "1",
            "--test",
            "atexit_abort",
            "--message-format",
            "json",
        ],
    )
    .run();
    run.assert_code(100);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}{}", run.ctx())))
        .collect();
    let of = |name: &str| -> Vec<(String, bool)> {
        events
            .iter()
            .filter(|e| e["type"] == "test-finished" && e["name"] == name)
            .map(|e| {
                (
                    e["outcome"].as_str().unwrap().to_string(),
                    e["amends"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    assert_eq!(
        of("registers_abort"),
        [("passed".to_string(), false), ("failed".to_string(), true)],
        "{}",
        run.ctx()
    );
    assert_eq!(
        of("before_abort"),
        [("passed".to_string(), false)],
        "{}",
        run.ctx()
    );
    let end = events.last().unwrap();
    assert_eq!(
        (
            end["type"].as_str(),
            end["passed"].as_u64(),
            end["failed"].as_u64()
        ),
        (Some("run-finished"), Some(2), Some(1)),
        "{}",
        run.ctx()
    );
}

/// A test that passes after closing its stdout, or putting /dev/null over
/// it (a daemonizing function's test), passes as under `cargo test`, which
/// judges the binary by its exit code 0: libtest's verdicts reach the
/// logfile, which the test does not touch. Without the logfile
/// (`CARGO_XDIST_NO_LOGFILE`, a libtest without `--logfile`) libtest's
/// closing line goes where fd 1 went, and such a test cannot be told from
/// one that called `exit(0)` (failed, fixtures/faults): it fails with a
/// reason that says both.
#[test]
fn a_test_that_takes_away_its_stdout() {
    let args = ["--test", "stdout_closed", "-n", "1"];
    let run = xdist_fixture("truth", &args).junit().run();
    run.assert_code(0);
    run.assert_no_panic();
    run.assert_summary(3, 0, 0);
    let run = xdist_fixture("truth", &args)
        .env("CARGO_XDIST_NO_LOGFILE", "1")
        .junit()
        .run();
    run.assert_code(100);
    run.assert_summary(1, 2, 0);
    let junit = run.junit();
    for name in ["a_closes_stdout", "b_nulls_stdout"] {
        match &junit
            .get("truth::test/stdout_closed", name)
            .unwrap()
            .outcome
        {
            JOutcome::Failed { message, .. } => assert!(
                message.contains("ended (exit code 0) before libtest reported this test")
                    && message.contains("called exit(0), or closed or redirected its stdout"),
                "{name}: {message}"
            ),
            other => panic!("{name}: {other:?}{}", run.ctx()),
        }
    }
}
